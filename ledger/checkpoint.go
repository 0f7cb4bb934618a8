package ledger

import (
	"bytes"
	"errors"
)

// noteBody returns the unverified body of a signed note the log itself wrote.
func noteBody(msg []byte) (string, error) {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return "", errors.New("malformed signed note")
	}
	return string(msg[:i+1]), nil
}
