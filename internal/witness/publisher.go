// Package witness sends the log's checkpoints to its witnesses, following
// c2sp.org/tlog-witness, and keeps the cosignatures they return, which the
// server serves with the checkpoint and in every bundle.
//
// A witness cosigns a checkpoint only after checking, with a consistency
// proof, that its tree extends the last one it cosigned for this log. So
// an operator holding the log key cannot show two histories: the witnesses
// cosign at most one of them, and a client that requires a quorum of
// cosignatures (tlog.Policy) refuses the other.
//
// The publisher runs beside the log, never on its append path: at most one
// round per interval (default 1 s) sends the latest checkpoint to every
// witness at once. A witness that is down or answers garbage is logged and
// tried again next round; appends go on, and checkpoints go out with the
// cosignatures they have.
package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/ledger"
	"github.com/antimony-ledger/provenance/tlog"
)

// DefaultInterval is the default time between two rounds.
const DefaultInterval = time.Second

// Config configures a [Publisher].
type Config struct {
	// Witnesses are the witnesses to send checkpoints to; each needs a URL
	// (the prefix of its add-checkpoint endpoint).
	Witnesses []tlog.Witness
	// Interval is the least time between two rounds; zero means
	// DefaultInterval.
	Interval time.Duration
	// Timeout bounds one request to one witness; zero means 5 s.
	Timeout time.Duration
	// Client makes the requests; nil means a client of its own.
	Client *http.Client
	Logger *slog.Logger
}

// Cosigned is a checkpoint with the cosignatures of the witnesses that
// gave one.
type Cosigned struct {
	// Signed is the log's signed note followed by the witnesses'
	// cosignature lines.
	Signed []byte
	Size   uint64
	// By names the witnesses that cosigned it.
	By []string
	// Snapshot is the log's snapshot of this checkpoint, with its map: a
	// bundle is built at it, so that what the witnesses vouch for is the
	// tree the bundle's proofs lead to.
	Snapshot ledger.Snapshot
}

// A Status is what the publisher knows of one witness.
type Status struct {
	Name string
	// Size is the tree size the witness last cosigned (or said it had).
	Size        uint64
	Err         string
	LastSuccess time.Time
}

// A Publisher sends checkpoints to witnesses. It is safe for concurrent
// use.
type Publisher struct {
	log    *ledger.Log
	cfg    Config
	logger *slog.Logger
	peers  []*peer
	kick   chan struct{}

	mu sync.Mutex
	// cur is the checkpoint of the round in progress (or the last one)
	// with the cosignatures it has so far, each added as it arrives; done
	// is the last round's that got any, kept while cur has fewer.
	cur, done Cosigned
	// covered is the tree size of the last round that finished.
	covered  uint64
	statuses []Status
	changed  chan struct{} // closed and replaced when any of the above changes
}

type peer struct {
	tlog.Witness
	size uint64 // the size the witness has, as far as we know
}

// New returns a publisher for log's checkpoints. Start it with Run.
func New(log *ledger.Log, cfg Config) (*Publisher, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Publisher{log: log, cfg: cfg, logger: cfg.Logger, kick: make(chan struct{}, 1), changed: make(chan struct{})}
	for _, w := range cfg.Witnesses {
		if w.URL == "" {
			return nil, fmt.Errorf("witness %s has no URL", w.Name)
		}
		p.peers = append(p.peers, &peer{Witness: w})
		p.statuses = append(p.statuses, Status{Name: w.Name})
	}
	return p, nil
}

// Run sends checkpoints until ctx is done: a round at once, then one per
// interval while the log's checkpoint changes or a witness has not
// cosigned it, and one soon after [Publisher.Kick].
func (p *Publisher) Run(ctx context.Context) {
	if len(p.peers) == 0 {
		return
	}
	var sent []byte // the checkpoint every witness cosigned last round
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		snap, err := p.log.Snapshot()
		if err != nil {
			p.logger.Error("witness: reading the checkpoint", slog.Any("error", err))
		} else if !bytes.Equal(snap.Signed, sent) && snap.Checkpoint.Size > 0 {
			if p.round(ctx, snap) {
				sent = snap.Signed
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
			// At most one round per interval, kicked or not.
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}
}

// Kick asks for a round soon.
func (p *Publisher) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// round sends snap to every witness at once, and keeps each cosignature
// as it arrives (a witness that hangs does not hold back the others'). It
// reports whether every witness cosigned.
func (p *Publisher) round(ctx context.Context, snap ledger.Snapshot) bool {
	p.mu.Lock()
	if len(p.cur.By) > 0 {
		p.done = p.cur
	}
	p.cur = Cosigned{Signed: bytes.Clone(snap.Signed), Size: snap.Checkpoint.Size, Snapshot: snap}
	p.mu.Unlock()
	ok := make([]bool, len(p.peers))
	var wg sync.WaitGroup
	for i, w := range p.peers {
		wg.Go(func() {
			line, err := p.send(ctx, w, snap)
			p.record(i, snap, line, err)
			ok[i] = err == nil
		})
	}
	wg.Wait()
	p.mu.Lock()
	p.covered = snap.Checkpoint.Size
	p.broadcast()
	p.mu.Unlock()
	return !slices.Contains(ok, false)
}

// record keeps witness i's answer to snap.
func (p *Publisher) record(i int, snap ledger.Snapshot, line []byte, err error) {
	w := p.peers[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	st := &p.statuses[i]
	st.Size = w.size
	if err != nil {
		st.Err = err.Error()
		p.logger.Warn("witness: no cosignature", slog.String("witness", w.Name), slog.Uint64("size", snap.Checkpoint.Size), slog.Any("error", err))
		return
	}
	st.Err, st.LastSuccess = "", time.Now()
	p.cur.Signed = append(p.cur.Signed, line...)
	p.cur.By = append(p.cur.By, w.Name)
	p.broadcast()
}

// broadcast wakes AtLeast's waiters; p.mu is held.
func (p *Publisher) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// best returns the cosigned checkpoint with the most cosignatures (the
// newest of equals) that covers size entries, or false. p.mu is held.
func (p *Publisher) best(size uint64) (Cosigned, bool) {
	var b Cosigned
	for _, c := range []Cosigned{p.cur, p.done} {
		if len(c.By) == 0 || c.Size < size {
			continue
		}
		if len(c.By) > len(b.By) || (len(c.By) == len(b.By) && c.Size > b.Size) {
			b = c
		}
	}
	return cloneCosigned(b), len(b.By) > 0
}

func cloneCosigned(c Cosigned) Cosigned {
	return Cosigned{Signed: bytes.Clone(c.Signed), Size: c.Size, By: slices.Clone(c.By), Snapshot: c.Snapshot}
}

// send sends snap to w, and returns w's cosignature line. On a 409 (the
// witness has another size for this log) it learns the size and tries once
// more.
func (p *Publisher) send(ctx context.Context, w *peer, snap ledger.Snapshot) ([]byte, error) {
	for try := 0; ; try++ {
		line, size, err := p.post(ctx, w, snap)
		if err == nil {
			w.size = snap.Checkpoint.Size
			return line, nil
		}
		if !errors.Is(err, errConflict) || try > 0 {
			return nil, err
		}
		if size > snap.Checkpoint.Size {
			return nil, fmt.Errorf("the witness has cosigned a tree of %d entries of this log, larger than the log's %d: this log was rolled back or forked", size, snap.Checkpoint.Size)
		}
		w.size = size
	}
}

var errConflict = errors.New("the witness has another tree size")

// post makes one add-checkpoint request. On a 409 it returns errConflict
// and the size the witness has.
func (p *Publisher) post(ctx context.Context, w *peer, snap ledger.Snapshot) ([]byte, uint64, error) {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", w.size)
	if w.size > 0 && w.size < snap.Checkpoint.Size {
		proof, err := p.log.ConsistencyProof(ctx, w.size, snap.Checkpoint.Size)
		if err != nil {
			return nil, 0, fmt.Errorf("consistency proof from %d to %d: %w", w.size, snap.Checkpoint.Size, err)
		}
		for _, h := range proof {
			body.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
		}
	}
	body.WriteString("\n")
	body.Write(snap.Signed)
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(w.URL, "/")+"/add-checkpoint", &body)
	if err != nil {
		return nil, 0, err
	}
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		line, err := cosignature(w.WitnessKey, snap, reply)
		return line, 0, err
	case http.StatusConflict:
		size, err := strconv.ParseUint(strings.TrimSpace(string(reply)), 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("409 with a malformed size %q", clip(reply))
		}
		return nil, size, errConflict
	case http.StatusUnprocessableEntity:
		return nil, 0, fmt.Errorf("the witness refused the consistency proof from %d to %d (%s): it has seen another tree of this log", w.size, snap.Checkpoint.Size, clip(reply))
	default:
		return nil, 0, fmt.Errorf("%s: %s", resp.Status, clip(reply))
	}
}

// cosignature finds the witness's cosignature of snap among the lines of
// reply, and returns it as a note signature line. A reply without one that
// verifies is an error: the witness answered garbage.
func cosignature(w tlog.WitnessKey, snap ledger.Snapshot, reply []byte) ([]byte, error) {
	body := snap.Checkpoint.Marshal()
	for ln := range strings.Lines(string(reply)) {
		ln = strings.TrimSuffix(ln, "\n")
		name, b64, ok := strings.Cut(strings.TrimPrefix(ln, "— "), " ")
		if !ok || !strings.HasPrefix(ln, "— ") {
			continue
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || len(raw) < 4 {
			continue
		}
		s := note.Signature{Name: name, Hash: uint32(raw[0])<<24 | uint32(raw[1])<<16 | uint32(raw[2])<<8 | uint32(raw[3]), Base64: b64}
		if _, good := w.Cosigned(body, s); good {
			return []byte(ln + "\n"), nil
		}
	}
	return nil, fmt.Errorf("the answer holds no valid cosignature by %s: %q", w.Name, clip(reply))
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// Latest returns the cosigned checkpoint with the most cosignatures of
// the last two rounds (zero if none yet), and each witness's status.
func (p *Publisher) Latest() (Cosigned, []Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, _ := p.best(0)
	return c, slices.Clone(p.statuses)
}

// AtLeast returns a cosigned checkpoint that covers size entries, asking
// for a round if none does yet. It returns as soon as one carries the
// cosignature of every witness whose last answer was one (it does not
// wait for witnesses that are failing), or once a round that covered
// size has finished; when ctx ends, it returns the best it has. False if
// there is none.
func (p *Publisher) AtLeast(ctx context.Context, size uint64) (Cosigned, bool) {
	if len(p.peers) == 0 {
		return Cosigned{}, false
	}
	for {
		p.mu.Lock()
		c, ok := p.best(size)
		healthy := true
		for i, st := range p.statuses {
			if st.Err == "" && !slices.Contains(c.By, p.peers[i].Name) {
				healthy = false
			}
		}
		covered, changed := p.covered > 0 && p.covered >= size, p.changed
		p.mu.Unlock()
		if ok && healthy {
			return c, true
		}
		if covered {
			return c, ok
		}
		p.Kick()
		select {
		case <-ctx.Done():
			return c, ok
		case <-changed:
		}
	}
}
