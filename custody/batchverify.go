package custody

import (
	"sync"
	"time"

	"github.com/antimony-ledger/provenance/record"
)

// maxBatchSignatures caps the signatures verified as one batch: enough to
// get most of batching's gain, small enough to bound the wait.
const maxBatchSignatures = 64

// A new leader that finds fewer than lingerSignatures waiting waits
// lingerTime for more before it verifies.
const (
	lingerSignatures = 8
	lingerTime       = 200 * time.Microsecond
)

// A verifyReq is one submission's signatures waiting to be verified.
type verifyReq struct {
	checks []record.SignatureCheck
	keyIDs []string
	taken  bool        // a leader has taken it; guarded by batchVerifier.mu
	reply  chan []bool // buffered 1
}

// A batchVerifier verifies the signatures of concurrent submissions in
// batches, with no goroutine of its own and no waiting to fill a batch.
// A submitter that finds fewer than maxLeaders batches running becomes a
// leader: it takes every waiting request (up to maxBatchSignatures
// signatures), its own included, and verifies them with
// [VerifySignatures], which falls back to one by one only when a batch
// fails, so each request gets exactly its own verdicts. Requests arriving
// meanwhile wait for the next batch. So under light load a submission is
// verified at once on its own goroutine, and under heavy load batches grow.
// A leader whose own request is answered leaves; if requests are still
// waiting it hands the lead to a new goroutine first.
type batchVerifier struct {
	maxLeaders int

	mu      sync.Mutex
	queue   []*verifyReq
	leaders int
}

func newBatchVerifier(maxLeaders int) *batchVerifier {
	return &batchVerifier{maxLeaders: max(maxLeaders, 1)}
}

// verify returns, for each of req's checks, whether it is valid.
func (v *batchVerifier) verify(req *verifyReq) []bool {
	req.reply = make(chan []bool, 1)
	v.mu.Lock()
	v.queue = append(v.queue, req)
	lead := v.leaders < v.maxLeaders
	if lead {
		v.leaders++
	}
	v.mu.Unlock()
	if lead {
		v.lead(req)
	}
	return <-req.reply
}

// lead verifies batches of waiting requests until own has been taken (or,
// with own nil, until none is waiting).
func (v *batchVerifier) lead(own *verifyReq) {
	var (
		batch  []*verifyReq
		checks []record.SignatureCheck
	)
	for first := true; ; first = false {
		if first && v.waiting() < lingerSignatures {
			// Under load, a short wait lets the batch grow: a batch of 16
			// costs about half as much per signature as one by one. A
			// lone request pays at most lingerTime.
			time.Sleep(lingerTime)
		}
		v.mu.Lock()
		if len(v.queue) == 0 {
			v.leaders--
			v.mu.Unlock()
			return
		}
		if own != nil && own.taken {
			// Work remains: pass the lead on rather than make this
			// caller wait for others' signatures.
			v.mu.Unlock()
			go v.lead(nil)
			return
		}
		batch, checks = batch[:0], checks[:0]
		n := 0
		for n < len(v.queue) && (len(checks) == 0 || len(checks)+len(v.queue[n].checks) <= maxBatchSignatures) {
			r := v.queue[n]
			r.taken = true
			batch, checks = append(batch, r), append(checks, r.checks...)
			n++
		}
		v.queue = append(v.queue[:0], v.queue[n:]...)
		v.mu.Unlock()

		ok := record.VerifySignatures(checks)
		for _, r := range batch {
			r.reply <- ok[:len(r.checks):len(r.checks)]
			ok = ok[len(r.checks):]
		}
		clear(checks) // drop references to envelopes
		clear(batch)
	}
}

// waiting returns the number of signatures queued.
func (v *batchVerifier) waiting() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, r := range v.queue {
		n += len(r.checks)
	}
	return n
}
