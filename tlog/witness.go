package tlog

import (
	"bufio"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// A WitnessKey is a witness's cosignature verifier key, in the signed-note
// form of c2sp.org/tlog-cosignature: "<name>+<hash>+<base64(0x04 ||
// 32-byte Ed25519 public key)>", as litewitness prints it.
type WitnessKey struct {
	Name string
	Hash uint32
	Key  ed25519.PublicKey
	// VKey is the key as written.
	VKey string
}

// ParseWitnessKey parses a witness's cosignature verifier key.
func ParseWitnessKey(vkey string) (WitnessKey, error) {
	name, rest, ok := strings.Cut(vkey, "+")
	hash16, b64, ok2 := strings.Cut(rest, "+")
	if !ok || !ok2 || name == "" || strings.ContainsAny(name, " \t\n") || len(hash16) != 8 {
		return WitnessKey{}, fmt.Errorf("witness key %q: want <name>+<8 hex digits>+<base64 key>", vkey)
	}
	h, err := strconv.ParseUint(hash16, 16, 32)
	if err != nil {
		return WitnessKey{}, fmt.Errorf("witness key %q: malformed key hash", vkey)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algCosignature {
		return WitnessKey{}, fmt.Errorf("witness key %q: not an Ed25519 cosignature/v1 key (algorithm 0x04)", vkey)
	}
	pub := ed25519.PublicKey(raw[1:])
	if keyHash(name, algCosignature, pub) != uint32(h) {
		return WitnessKey{}, fmt.Errorf("witness key %q: key hash does not match the name and key", vkey)
	}
	return WitnessKey{Name: name, Hash: uint32(h), Key: pub, VKey: vkey}, nil
}

// Cosigned returns the time a cosignature line by this witness states, if
// it is this witness's (name and key hash) and verifies over the
// checkpoint body: the witness saw the checkpoint at that time and checked
// it is consistent with every earlier one it cosigned.
func (w WitnessKey) Cosigned(body string, s note.Signature) (time.Time, bool) {
	if s.Name != w.Name || s.Hash != w.Hash {
		return time.Time{}, false
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(s.Base64)
	if err != nil || len(raw) != 4+8+ed25519.SignatureSize {
		return time.Time{}, false
	}
	t := binary.BigEndian.Uint64(raw[4:12])
	if t > 1<<63-1 || !ed25519.Verify(w.Key, cosignedMessage(int64(t), []byte(body)), raw[12:]) {
		return time.Time{}, false
	}
	return time.Unix(int64(t), 0).UTC(), true
}

// A Witness is one witness of a [Policy]: its key and, where the policy
// gives one, the URL prefix of its c2sp.org/tlog-witness API.
type Witness struct {
	WitnessKey
	URL string
}

// A Policy says which witnesses' cosignatures a checkpoint needs: the
// witness policy text format of C2SP (as Sigsum and torchwood write it):
//
//	# comments and blank lines are ignored
//	log <log vkey> [url]
//	witness <name> <witness vkey> [url]
//	group <name> <k|any|all> <member> ...
//	quorum <name>|none
//
// A member is a witness or a group named on an earlier line; a group is
// satisfied when k of its members are (any: 1, all: every one); the
// quorum line, exactly one, names the witness or group that must be
// satisfied, or none. log lines, if any, must name the pinned log key
// ([Policy.CheckLog]).
type Policy struct {
	Witnesses []Witness
	logs      []string
	nodes     map[string]*policyNode
	quorum    string
}

type policyNode struct {
	witness   *Witness // nil for a group
	threshold int
	members   []string
}

// ParsePolicy parses a witness policy.
func ParsePolicy(text string) (*Policy, error) {
	p := &Policy{nodes: map[string]*policyNode{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("witness policy line %d: %s", n, fmt.Sprintf(format, args...))
		}
		define := func(name string, node *policyNode) error {
			if name == "none" || p.nodes[name] != nil {
				return fail("name %q is used already", name)
			}
			p.nodes[name] = node
			return nil
		}
		switch f[0] {
		case "log":
			if len(f) < 2 || len(f) > 3 {
				return nil, fail("want: log <vkey> [url]")
			}
			p.logs = append(p.logs, f[1])
		case "witness":
			if len(f) < 3 || len(f) > 4 {
				return nil, fail("want: witness <name> <vkey> [url]")
			}
			k, err := ParseWitnessKey(f[2])
			if err != nil {
				return nil, fail("%v", err)
			}
			w := Witness{WitnessKey: k}
			if len(f) == 4 {
				w.URL = f[3]
			}
			p.Witnesses = append(p.Witnesses, w)
			if err := define(f[1], &policyNode{witness: &w}); err != nil {
				return nil, err
			}
		case "group":
			if len(f) < 4 {
				return nil, fail("want: group <name> <k|any|all> <member> ...")
			}
			members := f[3:]
			for _, m := range members {
				if p.nodes[m] == nil {
					return nil, fail("group %q: member %q is not a witness or group defined earlier", f[1], m)
				}
			}
			if len(slices.Compact(slices.Sorted(slices.Values(members)))) != len(members) {
				return nil, fail("group %q lists a member twice", f[1])
			}
			var k int
			switch f[2] {
			case "any":
				k = 1
			case "all":
				k = len(members)
			default:
				v, err := strconv.Atoi(f[2])
				if err != nil || v < 1 || v > len(members) {
					return nil, fail("group %q: threshold %q is not any, all or 1..%d", f[1], f[2], len(members))
				}
				k = v
			}
			if err := define(f[1], &policyNode{threshold: k, members: members}); err != nil {
				return nil, err
			}
		case "quorum":
			if len(f) != 2 {
				return nil, fail("want: quorum <name>|none")
			}
			if p.quorum != "" {
				return nil, fail("a second quorum line")
			}
			if f[1] != "none" && p.nodes[f[1]] == nil {
				return nil, fail("quorum %q is not a witness or group defined earlier", f[1])
			}
			p.quorum = f[1]
		default:
			return nil, fail("unknown keyword %q (want log, witness, group or quorum)", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("witness policy: %w", err)
	}
	if p.quorum == "" {
		return nil, errors.New("witness policy: no quorum line")
	}
	// One key is one witness, whatever its names: else one key holder
	// would meet a 2-of-2 quorum alone.
	for i, w := range p.Witnesses {
		for _, o := range p.Witnesses[:i] {
			if o.Key.Equal(w.Key) || (o.Name == w.Name && o.Hash == w.Hash) {
				return nil, fmt.Errorf("witness policy: witness key %s is listed twice (as %s)", w.VKey, o.VKey)
			}
		}
	}
	return p, nil
}

// CheckLog fails if the policy names logs and logVKey is not one of them.
func (p *Policy) CheckLog(logVKey string) error {
	if len(p.logs) == 0 || slices.Contains(p.logs, logVKey) {
		return nil
	}
	return fmt.Errorf("the witness policy is for log %s, not %s", strings.Join(p.logs, ", "), logVKey)
}

// Quorum is the policy's quorum line: a witness or group name, or "none".
func (p *Policy) Quorum() string { return p.quorum }

// Check verifies the cosignatures among sigs (a checkpoint note's
// signatures) over body against the policy's witnesses and reports
// whether the quorum is satisfied, which witnesses cosigned, and which of
// the rest could still satisfy it: the witnesses whose cosignatures are
// missing. A cosignature that does not verify counts as missing, and so
// does one whose time fresh (if not nil) refuses.
func (p *Policy) Check(body string, sigs []note.Signature, fresh func(time.Time) bool) (ok bool, cosigned, missing []string) {
	have := map[string]bool{}
	for _, w := range p.Witnesses {
		for _, s := range sigs {
			if t, good := w.Cosigned(body, s); good && (fresh == nil || fresh(t)) {
				have[w.VKey] = true
				cosigned = append(cosigned, w.Name)
				break
			}
		}
	}
	if p.quorum == "none" {
		return true, cosigned, nil
	}
	var sat func(name string) bool
	sat = func(name string) bool {
		n := p.nodes[name]
		if n.witness != nil {
			return have[n.witness.VKey]
		}
		k := 0
		for _, m := range n.members {
			if sat(m) {
				k++
			}
		}
		return k >= n.threshold
	}
	ok = sat(p.quorum)
	if !ok {
		var walk func(name string)
		walk = func(name string) {
			n := p.nodes[name]
			if n.witness != nil {
				if !have[n.witness.VKey] && !slices.Contains(missing, n.witness.Name) {
					missing = append(missing, n.witness.Name)
				}
				return
			}
			for _, m := range n.members {
				walk(m)
			}
		}
		walk(p.quorum)
	}
	return ok, cosigned, missing
}

// OpenWitnessed opens a checkpoint as [OpenCheckpoint] does and checks its
// witnesses' cosignatures against p, counting only those whose time
// fresh accepts (nil: any). It fails, naming the witnesses whose
// cosignatures are missing, if they do not satisfy p's quorum; otherwise
// it returns the checkpoint and the names of the witnesses that cosigned.
//
// A witness's time says when it last saw the log at this tree: the log's
// own checkpoint time is the operator's word, and an operator could
// re-sign an old tree at a fresh time (a frozen view), but not make a
// witness cosign it again once the witness has seen a larger tree.
func OpenWitnessed(signedNote []byte, v *Verifier, p *Policy, fresh func(time.Time) bool) (Checkpoint, []string, error) {
	c, err := OpenCheckpoint(signedNote, v)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	n, err := note.Open(signedNote, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("opening checkpoint note: %w", err)
	}
	ok, cosigned, missing := p.Check(n.Text, n.UnverifiedSigs, fresh)
	if !ok {
		return c, cosigned, &QuorumError{Quorum: p.quorum, Cosigned: cosigned, Missing: missing}
	}
	return c, cosigned, nil
}

// Missing returns the witnesses the quorum needs when no one has
// cosigned: what a checkpoint without cosignatures lacks.
func (p *Policy) Missing() []string {
	_, _, missing := p.Check("", nil, nil)
	return missing
}

// A QuorumError is a checkpoint without its witness policy's quorum.
type QuorumError struct {
	Quorum            string
	Cosigned, Missing []string
}

func (e *QuorumError) Error() string {
	have := "no witness cosigned it recently enough"
	if len(e.Cosigned) > 0 {
		have = "cosigned by " + strings.Join(e.Cosigned, ", ")
	}
	return fmt.Sprintf("the checkpoint lacks the witness quorum %q (%s; missing cosignatures of %s)", e.Quorum, have, strings.Join(e.Missing, ", "))
}
