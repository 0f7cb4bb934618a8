// Package backup is the file format of a provenanced backup: the ledger's
// Badger backup stream ([ledger.Log.Backup]), the data directory's key
// files, and a manifest, with checksums over all of it.
//
// A backup file is:
//
//	magic   "PROVBAK1"
//	records kind (1 byte) | payload length (uint32, big-endian) | payload
//
// Records come in this order: key files ('F'), the store ('S', the Badger
// backup stream cut into pieces of at most 1 MiB), the manifest ('M', JSON)
// and the end ('E'), whose payload is the SHA-256 of every byte of the
// file before the end record; nothing follows it. A file payload is the
// name's length (1 byte), the name and the content. The manifest gives the
// SHA-256 and length of the store stream and of each file.
//
// [Read] checks all of it, and the manifest's checkpoint against the
// backup's own log.pub; a file that fails any check is refused whole.
package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/antimony-ledger/provenance/internal/datadir"
	"github.com/antimony-ledger/provenance/ledger"
	"github.com/antimony-ledger/provenance/tlog"
)

// Version is the backup format version this package writes and reads.
const Version = 1

const (
	magic       = "PROVBAK1"
	kindFile    = 'F'
	kindStore   = 'S'
	kindMeta    = 'M'
	kindEnd     = 'E'
	kindError   = 'X' // the writer failed after it began: why, and nothing after
	maxError    = 4 << 10
	headerSize  = 5
	maxPiece    = 1 << 20 // store piece
	maxFile     = 1 << 20 // key file
	maxManifest = 4 << 20
)

// ErrStopped is wrapped by Read's refusal of a backup whose writer
// failed once it had begun, and said why in the stream.
var ErrStopped = errors.New("the server stopped the backup")

// ErrCorrupt is wrapped by every refusal of a backup file that is not
// what Write wrote: cut, altered, or not a backup at all.
var ErrCorrupt = errors.New("backup file is damaged or not a backup")

// A Manifest describes a backup.
type Manifest struct {
	Version int `json:"version"`
	// Origin, TreeSize and Root are the log's as of the backup, and
	// Checkpoint the signed checkpoint that commits them.
	Origin     string `json:"origin"`
	TreeSize   uint64 `json:"tree_size"`
	Root       string `json:"root"` // hex
	Checkpoint string `json:"checkpoint"`
	// StoreFormat is the ledger store's format version.
	StoreFormat int `json:"store_format"`
	// StoreBytes and StoreSHA256 are the Badger backup stream's.
	StoreBytes  int64  `json:"store_bytes"`
	StoreSHA256 string `json:"store_sha256"`
	StoreKeys   uint64 `json:"store_keys"`
	// Files maps each key file's name to its SHA-256.
	Files map[string]string `json:"files"`
	// PrivateKeys reports whether private key files are in the backup.
	PrivateKeys bool      `json:"private_keys"`
	Created     time.Time `json:"created"`
}

// Private key files, which a backup holds only when asked.
var privateFiles = []string{datadir.LogKeyFile, datadir.RegistrarKeyFile}

// allowedFiles are the only names a backup may hold.
var allowedFiles = []string{datadir.LogPubFile, datadir.RegistrarPubFile, datadir.LogKeyFile, datadir.RegistrarKeyFile}

// IsPrivate reports whether name is a private key file.
func IsPrivate(name string) bool { return slices.Contains(privateFiles, name) }

// A File is a key file of the data directory.
type File struct {
	Name string
	Data []byte
}

// Write writes a backup of l and files to w: the files first, then the
// store as [ledger.Log.Backup] streams it (appends go on meanwhile), then
// the manifest and the checksum of it all. It returns the manifest.
//
// Nothing reaches w until the store's stream begins: Log.Backup first
// checks the store, and if it refuses (a damaged store) w has had no
// byte, so that a server can still answer with an error status.
func Write(ctx context.Context, w io.Writer, l *ledger.Log, files []File, now time.Time) (Manifest, error) {
	m := Manifest{Version: Version, Files: map[string]string{}, Created: now.UTC().Round(time.Second)}
	held := &heldWriter{w: w}
	fw := &frameWriter{w: held, sum: sha256.New()}
	if _, err := fw.write([]byte(magic)); err != nil {
		return m, err
	}
	for _, f := range files {
		if !slices.Contains(allowedFiles, f.Name) {
			return m, fmt.Errorf("backup: %q is not a file a backup holds", f.Name)
		}
		if len(f.Data) > maxFile {
			return m, fmt.Errorf("backup: %s is %d bytes", f.Name, len(f.Data))
		}
		if _, dup := m.Files[f.Name]; dup {
			return m, fmt.Errorf("backup: %s given twice", f.Name)
		}
		p := append([]byte{byte(len(f.Name))}, f.Name...)
		if err := fw.record(kindFile, append(p, f.Data...)); err != nil {
			return m, err
		}
		h := sha256.Sum256(f.Data)
		m.Files[f.Name] = hex.EncodeToString(h[:])
		m.PrivateKeys = m.PrivateKeys || IsPrivate(f.Name)
	}
	sw := &storeWriter{fw: fw, sum: sha256.New()}
	held.hold = true
	info, err := l.Backup(ctx, sw)
	if err == nil {
		err = sw.flush()
	}
	if err != nil {
		if held.sent {
			// Begun: say why in the stream, for the reader to report
			// (a caller then cuts the transfer short, so that a plain
			// download fails too). Nothing is sent before: the caller
			// can still answer with an error of its own.
			msg := []byte(err.Error())
			fw.record(kindError, msg[:min(len(msg), maxError)])
		}
		return m, err
	}
	m.Origin, m.TreeSize, m.Root = info.Origin, info.Size, hex.EncodeToString(info.Root[:])
	m.Checkpoint, m.StoreFormat = string(info.Checkpoint), info.StoreFormat
	m.StoreBytes, m.StoreSHA256, m.StoreKeys = info.Bytes, hex.EncodeToString(sw.sum.Sum(nil)), info.Keys
	js, err := json.Marshal(m)
	if err != nil {
		return m, err
	}
	if err := fw.record(kindMeta, js); err != nil {
		return m, err
	}
	if err := fw.record(kindEnd, fw.sum.Sum(nil)); err != nil {
		return m, err
	}
	return m, nil
}

// heldWriter keeps what is written while hold is set, until the first
// write after the store's stream has produced its first piece (see
// Write), then passes everything on. Before hold is set it keeps
// everything too: the magic and the files, a few KB.
type heldWriter struct {
	w    io.Writer
	buf  []byte
	hold bool // set once the store's stream is about to begin
	sent bool
}

func (h *heldWriter) Write(p []byte) (int, error) {
	if h.sent {
		return h.w.Write(p)
	}
	h.buf = append(h.buf, p...)
	if !h.hold {
		return len(p), nil
	}
	// The store's stream has begun: Log.Backup's checks passed.
	h.sent = true
	b := h.buf
	h.buf = nil
	if _, err := h.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// frameWriter writes records, hashing every byte written.
type frameWriter struct {
	w   io.Writer
	sum hash.Hash
}

func (f *frameWriter) write(p []byte) (int, error) {
	f.sum.Write(p)
	return f.w.Write(p)
}

func (f *frameWriter) record(kind byte, payload []byte) error {
	var h [headerSize]byte
	h[0] = kind
	binary.BigEndian.PutUint32(h[1:], uint32(len(payload)))
	if _, err := f.write(h[:]); err != nil {
		return err
	}
	_, err := f.write(payload)
	return err
}

// storeWriter cuts the store stream into records of at most maxPiece.
type storeWriter struct {
	fw  *frameWriter
	sum hash.Hash
	buf []byte
}

func (s *storeWriter) Write(p []byte) (int, error) {
	s.sum.Write(p)
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), maxPiece-len(s.buf))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if len(s.buf) == maxPiece {
			if err := s.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (s *storeWriter) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	err := s.fw.record(kindStore, s.buf)
	s.buf = s.buf[:0]
	return err
}

// Contents is what [Read] found in a backup.
type Contents struct {
	Manifest Manifest
	Files    map[string][]byte
	// Checkpoint is the manifest's checkpoint, verified with the
	// backup's log.pub.
	Checkpoint tlog.Checkpoint
	// Verifier is the backup's log.pub.
	Verifier *tlog.Verifier
}

// Read reads a backup from r, writing the store stream to store as it
// goes (nil discards it), and checks everything: the records' order and
// sizes, the checksum of the whole file, the store's and each file's
// checksum against the manifest, the format versions, and the manifest's
// checkpoint against the backup's log.pub and the manifest's tree size
// and root. It reads r to its end. A failure wraps [ErrCorrupt] when the
// file is not what Write wrote; store may have been given part of the
// stream by then.
func Read(r io.Reader, store io.Writer) (Contents, error) {
	c := Contents{Files: map[string][]byte{}}
	if store == nil {
		store = io.Discard
	}
	sum := sha256.New()
	tr := io.TeeReader(r, sum)
	corrupt := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, a...))
	}
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(tr, head); err != nil {
		return c, readErr(err, "the header")
	}
	if string(head) != magic {
		if strings.HasPrefix(string(head), "PROVBAK") {
			return c, fmt.Errorf("%w: backup format %q; this build reads %q", ErrCorrupt, head, magic)
		}
		return c, corrupt("it does not start with %q", magic)
	}
	storeSum := sha256.New()
	var (
		storeBytes int64
		meta       []byte
		stage      byte = kindFile
	)
	order := map[byte]int{kindFile: 0, kindStore: 1, kindMeta: 2, kindEnd: 3}
	for {
		// The end record's checksum covers everything before it.
		before := sum.Sum(nil)
		var h [headerSize]byte
		if _, err := io.ReadFull(tr, h[:]); err != nil {
			return c, readErr(err, "a record header")
		}
		kind, n := h[0], binary.BigEndian.Uint32(h[1:])
		if kind == kindError && n <= maxError && stage == kindStore {
			// Only where Write puts it: after a piece of the store.
			p := make([]byte, n)
			if _, err := io.ReadFull(tr, p); err != nil {
				return c, readErr(err, "the writer's error")
			}
			text := strings.Map(func(r rune) rune {
				if !unicode.IsPrint(r) {
					return '?' // no terminal control from a file's bytes
				}
				return r
			}, strings.ToValidUTF8(string(p), "?"))
			return c, fmt.Errorf("%w after it began: %s", ErrStopped, text)
		}
		o, known := order[kind]
		if !known {
			return c, corrupt("a record of unknown kind %q", kind)
		}
		if o < order[stage] || (kind == kindEnd && meta == nil) || (kind == kindMeta && meta != nil) {
			return c, corrupt("a %q record out of order", kind)
		}
		stage = kind
		limit := map[byte]uint32{kindFile: maxFile + 256, kindStore: maxPiece, kindMeta: maxManifest, kindEnd: sha256.Size}[kind]
		if n > limit {
			return c, corrupt("a %q record of %d bytes", kind, n)
		}
		if kind == kindStore {
			if _, err := io.CopyN(io.MultiWriter(store, storeSum), tr, int64(n)); err != nil {
				return c, readErr(err, "the store")
			}
			storeBytes += int64(n)
			continue
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(tr, p); err != nil {
			return c, readErr(err, fmt.Sprintf("a %q record", kind))
		}
		switch kind {
		case kindFile:
			if n < 1 || int(p[0]) > len(p)-1 {
				return c, corrupt("a malformed file record")
			}
			name := string(p[1 : 1+p[0]])
			if !slices.Contains(allowedFiles, name) {
				return c, corrupt("a file named %q", name)
			}
			if _, dup := c.Files[name]; dup {
				return c, corrupt("%s twice", name)
			}
			c.Files[name] = p[1+p[0]:]
		case kindMeta:
			meta = p
		case kindEnd:
			if !bytes.Equal(p, before) {
				return c, corrupt("the checksum of the file is %x, the backup says %x", before, p)
			}
			var extra [1]byte
			if k, _ := io.ReadFull(r, extra[:]); k > 0 {
				return c, corrupt("bytes after the end record")
			}
			return c, c.check(meta, storeBytes, storeSum.Sum(nil))
		}
	}
}

// readErr names what a read failed in; a short read is a cut file.
func readErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: it ends in %s (cut short?)", ErrCorrupt, what)
	}
	return fmt.Errorf("reading the backup: %w", err)
}

// check checks the manifest against what was read.
func (c *Contents) check(meta []byte, storeBytes int64, storeSum []byte) error {
	m := &c.Manifest
	if err := json.Unmarshal(meta, m); err != nil {
		return fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	if m.Version != Version {
		return fmt.Errorf("%w: backup format version %d; this build reads %d", ErrCorrupt, m.Version, Version)
	}
	if m.StoreFormat != ledger.StoreFormat {
		return fmt.Errorf("%w: the backup holds a store of format %d; this build reads format %d only", ledger.ErrFormat, m.StoreFormat, ledger.StoreFormat)
	}
	if m.StoreBytes != storeBytes || m.StoreSHA256 != hex.EncodeToString(storeSum) {
		return fmt.Errorf("%w: the store stream is %d bytes with SHA-256 %x; the manifest says %d bytes, %s", ErrCorrupt, storeBytes, storeSum, m.StoreBytes, m.StoreSHA256)
	}
	if len(m.Files) != len(c.Files) {
		return fmt.Errorf("%w: the manifest lists %d files, the backup holds %d", ErrCorrupt, len(m.Files), len(c.Files))
	}
	for name, data := range c.Files {
		h := sha256.Sum256(data)
		if m.Files[name] != hex.EncodeToString(h[:]) {
			return fmt.Errorf("%w: %s does not match its checksum in the manifest", ErrCorrupt, name)
		}
		if IsPrivate(name) && !m.PrivateKeys {
			return fmt.Errorf("%w: %s is in a backup whose manifest says it holds no private keys", ErrCorrupt, name)
		}
	}
	for _, need := range []string{datadir.LogPubFile, datadir.RegistrarPubFile} {
		if c.Files[need] == nil {
			return fmt.Errorf("%w: no %s", ErrCorrupt, need)
		}
	}
	v, err := tlog.NewVerifier(strings.TrimSpace(string(c.Files[datadir.LogPubFile])))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, datadir.LogPubFile, err)
	}
	c.Verifier = v
	cp, err := tlog.OpenCheckpoint([]byte(m.Checkpoint), v)
	if err != nil {
		return fmt.Errorf("%w: the manifest's checkpoint does not verify with the backup's %s: %v", ErrCorrupt, datadir.LogPubFile, err)
	}
	c.Checkpoint = cp
	if cp.Origin != m.Origin || cp.Size != m.TreeSize || hex.EncodeToString(cp.Root[:]) != m.Root {
		return fmt.Errorf("%w: the manifest's checkpoint (%s, size %d, root %x) is not its origin, tree size and root (%s, %d, %s)",
			ErrCorrupt, cp.Origin, cp.Size, cp.Root, m.Origin, m.TreeSize, m.Root)
	}
	return nil
}
