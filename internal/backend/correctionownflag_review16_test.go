package backend_test

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// withdrawnBy returns the flag keys the follower's state marks withdrawn
// (cf/KEY), with the correction that withdrew each.
func withdrawnBy(t *testing.T, b *backend.Backend) map[string]string {
	t.Helper()
	state, err := backend.Dump(b)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range state {
		if key, ok := strings.CutPrefix(k, "cf/"); ok {
			out[key] = v
		}
	}
	return out
}

// TestCorrectionWithdrawsItsOwnFlag_review16: since 0edb476 a flag a
// full verification finds on a correction record is propagated into the
// node of the record it corrects (addFlagsTouched: at = {c.Corrects,
// c.LotId}), where before it stayed in the lot's Extra. verifyQueued
// verifies a queued party's lots from the store as it is now, ahead of
// the follower (as TestFlagOfALotNotReplayedYet_review15 models it with
// ReplayN): when the follower has reached the corrected record but not
// the correction, the node exists and takes the flag. When the follower
// then replays the correction and follows it, Replay.correct
// (replay_correction.go) snapshots the flags of the chain's nodes
// (was), replays the corrected record anew, and marks every flag missing
// from the new node whose index is >= the corrected record's as
// withdrawn by the correction: the correction's own flag (its index is
// the correction's) is marked withdrawn by the correction itself (cf/),
// so it counts in no verdict. The follower's own check of the correction
// (ApplyDeferred) and the later full verification put the flag back
// (putFlag, without corrected_by) but never clear cf/: the lot is listed
// VERIFIED, its flag listed uncorrected, where a full verification says
// FLAGGED, for good.
//
// KEY_MISUSE: the mine's key, revoked (logged after the correction) as of
// a time between the extraction and its correction; the mine is queued
// for a full verification by an earlier key rotation. KEY_RECOVERY: the
// correction signed with a key the registrar added alone (as in
// TestFlagOfALotNotReplayedYet_review15).
func TestCorrectionWithdrawsItsOwnFlag_review16(t *testing.T) {
	cases := []struct {
		name string
		// log logs what queues the mine and the extraction it returns;
		// correct the correction of it, and what follows.
		log     func(x *lottest.H) string
		correct func(x *lottest.H, ext string)
	}{
		{
			name: "KEY_MISUSE",
			log: func(x *lottest.H) string {
				k2 := ed25519.NewKeyFromSeed(make([]byte, 32))
				rot := x.C.RegistrarSign(&pb.Statement{EventTime: x.Day(0.5), Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
					PartyId: x.Mine.ID, NewKey: &pb.PartyKey{PublicKey: k2.Public().(ed25519.PublicKey), NotBefore: x.Day(0)},
				}}})
				x.Submit(record.Cosign(rot, x.Mine.Key)) // consented; queues the mine
				return x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
			},
			correct: func(x *lottest.H, ext string) {
				x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: ext, MassKg: lottest.Kg(9900)}, 2)
				revokeMineAsOf(x, 1.5)
			},
		},
		{
			name: "KEY_RECOVERY",
			log: func(x *lottest.H) string {
				forged := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
				x.Submit(x.C.RegistrarSign(&pb.Statement{EventTime: x.Day(0.5), Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
					PartyId: x.Mine.ID, NewKey: &pb.PartyKey{PublicKey: forged.Public().(ed25519.PublicKey), NotBefore: x.Day(0)},
				}}}))
				return x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
			},
			correct: func(x *lottest.H, ext string) {
				forged := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
				imposter := &ct.Party{ID: x.Mine.ID, Key: forged, Reg: x.Mine.Reg}
				x.Correct(imposter, &pb.Correction{LotId: "X", Corrects: ext, MassKg: lottest.Kg(9900)}, 2)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := lottest.New(t)
			b := paused(t, x)
			ext := tc.log(x)
			reached := x.S.Log().Size() // the follower is past the extraction, not its correction
			tc.correct(x, ext)
			if err := backend.ReplayN(t.Context(), b, reached); err != nil {
				t.Fatal(err)
			}
			if err := backend.VerifyQueued(t.Context(), b); err != nil { // beside the follower, ahead of it
				t.Fatal(err)
			}
			rep := agrees(t, b, "X") // the follower reads the log to its end; the mine is verified again
			if len(lottest.Flagged(rep, tc.name)) == 0 {
				t.Fatalf("a full verification of X does not report %s on the correction:\n%s", tc.name, rep.GetText())
			}
			for _, f := range lottest.Flagged(rep, tc.name) {
				if by, ok := withdrawnBy(t, b)[verifier.ReplayFlagKey(f)]; ok {
					t.Errorf("the follower marks the correction's %s withdrawn, by correction %s (the correction itself), where a full verification counts it", tc.name, by)
				}
			}
		})
	}
}

// correctionRecords returns the log's records as the backend gives them
// to its Replay (backend.corrected): a correction with the record it
// corrects and its lot's records between the two.
func correctionRecords(t *testing.T, x *lottest.H) []verifier.ReplayRecord {
	t.Helper()
	recs := logRecords(t, x)
	for i, rec := range recs {
		c := rec.St.GetCorrection()
		if c == nil {
			continue
		}
		var orig *verifier.ReplayRecord
		for j := range recs[:i] {
			if recs[j].ID.String() == c.GetCorrects() {
				o := recs[j]
				orig = &o
			}
		}
		if orig == nil {
			t.Fatalf("index %d corrects %s, not in the log", rec.Index, c.GetCorrects())
		}
		recs[i].Corrects = orig
		_, hist, err := x.S.Lot(t.Context(), c.GetLotId())
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hist {
			if h.Index > orig.Index && h.Index < rec.Index {
				recs[i].Later = append(recs[i].Later, recs[h.Index])
			}
		}
	}
	return recs
}

// TestCorrectionReplayedTwice_review16: a record replayed a second time,
// as the record in flight is after a crash once a transaction that filled
// up committed part of its writes (TestReplayCrashMidRecord,
// TestReplayTwiceIsOnce: the workload they replay holds no correction),
// must leave the state as one replay does. Since 0edb476 the follower
// puts a correction's own TIMELINE (backdated) into the node of the
// record it corrects; replayed again, Replay.correct finds that flag in
// the node (was), not in the node the corrected record makes anew, and
// marks it withdrawn by the correction itself: the lot goes from FLAGGED
// to VERIFIED. (Before 0edb476 a correction replayed twice left the same
// summary.)
func TestCorrectionReplayedTwice_review16(t *testing.T) {
	x := lottest.New(t)
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 10000, 2)
	x.Receive(x.Exp, "X", d, 10000, 3)
	x.Extract(x.Mn2, "Z", 100, 3, 9, lottest.MineSite, 60) // the log's clock moves on to day 60
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: ext, MassKg: lottest.Kg(9900)}, 4)
	once, twice := mapStore{}, mapStore{}
	r1 := verifier.NewReplay(x.C.RegistrarPublic(), verifier.DefaultConfig())
	r2 := verifier.NewReplay(x.C.RegistrarPublic(), verifier.DefaultConfig())
	for _, rec := range correctionRecords(t, x) {
		if _, err := r1.Apply(once, rec); err != nil {
			t.Fatal(err)
		}
		if _, err := r2.Apply(twice, rec); err != nil {
			t.Fatal(err)
		}
		if rec.St.GetCorrection() == nil {
			continue
		}
		if _, err := r2.Apply(twice, rec); err != nil {
			t.Fatalf("index %d again: %v", rec.Index, err)
		}
	}
	a, err := verifier.DecodeReplayLot(once[verifier.ReplayLotPrefix+"X"])
	if err != nil {
		t.Fatal(err)
	}
	b, err := verifier.DecodeReplayLot(twice[verifier.ReplayLotPrefix+"X"])
	if err != nil {
		t.Fatal(err)
	}
	if a.Verdict != pb.Verdict_VERDICT_FLAGGED {
		t.Fatalf("replayed once, X is %v, want FLAGGED (the correction's TIMELINE)", a.Verdict)
	}
	if b.Verdict != a.Verdict || strings.Join(b.Rules, ",") != strings.Join(a.Rules, ",") {
		t.Errorf("the correction replayed twice leaves X %v %v, once %v %v", b.Verdict, b.Rules, a.Verdict, a.Rules)
	}
	for k := range twice {
		if strings.HasPrefix(k, "cf/") && once[k] == nil {
			t.Errorf("replayed twice, %s is marked withdrawn by %s", strings.TrimPrefix(k, "cf/"), twice[k])
		}
	}
}
