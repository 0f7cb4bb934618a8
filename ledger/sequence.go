package ledger

import (
	"context"
	"sync"
)

// A Sequence orders appends: an append made with a [Turn] from
// [Sequence.Next] ([AppendOptions.Turn]) reaches the log after the one
// made with the turn before it, however long the work before each append
// takes, so that an entry can be appended right behind the one it refers
// to, without waiting for that one's answer. The appends of a sequence
// still run, and wait for durability, concurrently: a turn is over once its
// append is queued for the committer, which takes appends in the order
// queued, so the appends of one sequence can fill one commit group. The
// zero Sequence is ready to use.
type Sequence struct {
	last chan struct{}
}

// A Turn is one place in a [Sequence], for one append.
type Turn struct {
	after <-chan struct{} // closed when the previous turn is over
	done  chan struct{}
	once  sync.Once
}

// Next returns the sequence's next turn. Calls must be made one at a
// time, in the order the appends are to reach the log.
func (q *Sequence) Next() *Turn {
	t := &Turn{after: q.last, done: make(chan struct{})}
	q.last = t.done
	return t
}

func (t *Turn) release() { t.once.Do(func() { close(t.done) }) }

// Pass gives up t without appending, for a caller that decides not to
// append after all (say, its input was refused before it reached the
// log): the next turn goes ahead once the previous one is over, or ctx is
// done; Pass returns then. It may be called on a nil turn, where it does
// nothing, and on a turn already over (its append was queued, or it was
// passed), where it changes nothing. The turns of a sequence must share one
// ctx: once it is done, none of them goes on.
func (t *Turn) Pass(ctx context.Context) { t.pass(ctx, nil) }

// pass is Pass that also stops waiting once stop is closed.
func (t *Turn) pass(ctx context.Context, stop <-chan struct{}) {
	if t == nil {
		return
	}
	if t.after != nil {
		select {
		case <-t.after:
		case <-ctx.Done():
		case <-stop:
		}
	}
	t.release()
}
