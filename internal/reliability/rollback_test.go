package reliability

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/testserver"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/tlog"
)

// serve starts a real server (gRPC and HTTP on loopback) on dir with w's
// keys, and a real client of it.
func serve(t *testing.T, w *world, dir string) (*testserver.Server, *client.Client) {
	t.Helper()
	s := testserver.StartDir(t, w.c, dir)
	cl, err := client.Dial(s.GRPCAddr, nil, s.Operator().DialOption())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return s, cl
}

func stop(t *testing.T, s *testserver.Server) {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping server: %v", err)
	}
}

// submitAll submits envs over gRPC, in order.
func submitAll(t *testing.T, cl *client.Client, envs []*pb.Envelope) {
	t.Helper()
	for i, env := range envs {
		if _, err := cl.Submit(t.Context(), env); err != nil {
			t.Fatalf("submitting record %d: %v", i, err)
		}
	}
}

// fetchAndCheck asks the server for its checkpoint and runs the client's
// check against what cps remembers.
func fetchAndCheck(t *testing.T, w *world, cl *client.Client, cps client.CheckpointStore) (tlog.Checkpoint, []byte, error) {
	t.Helper()
	r, err := cl.Ledger.GetCheckpoint(t.Context(), &apipb.GetCheckpointRequest{})
	if err != nil {
		t.Fatalf("GetCheckpoint: %v", err)
	}
	note := []byte(r.GetCheckpoint())
	cp, err := cl.CheckCheckpoint(t.Context(), w.c.LogVerifier, cps, note)
	return cp, note, err
}

// remembered returns the checkpoint cps holds for the chain's log.
func remembered(t *testing.T, w *world, cps client.CheckpointStore) tlog.Checkpoint {
	t.Helper()
	n, err := cps.Last(w.c.LogVerifier.Name())
	if err != nil || n == nil {
		t.Fatalf("remembered checkpoint: %q, %v", n, err)
	}
	cp, err := tlog.OpenCheckpoint(n, w.c.LogVerifier)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// TestClientDetectsRollbackAndFork runs the real server on a data
// directory, lets a client (client.CheckCheckpoint with a
// DirCheckpointStore) follow it, and then serves other data under the same
// origin and log key:
//
//   - an old copy of the data directory, restored: ErrRollback;
//   - a fork of the old copy grown to the size the client saw, with
//     different records: ErrFork (two roots for one size);
//   - a fork grown beyond it: ErrFork (the consistency proof fails);
//   - a log rebuilt from scratch, larger, with a different history from
//     index 2 on: ErrFork;
//   - a fork grown past the old copy but not to the size the client saw:
//     ErrRollback.
//
// Every impostor's checkpoint carries a valid signature by the log key:
// only the remembered checkpoint reveals it. The remembered checkpoint is
// never replaced by a rejected one, and the honest server, resumed on its
// own data and grown further, still passes.
func TestClientDetectsRollbackAndFork(t *testing.T) {
	w := newWorld()
	root := t.TempDir()
	live := filepath.Join(root, "live")
	cps := client.DirCheckpointStore{Dir: filepath.Join(root, "client")}

	// Size N: registrations and 5 lots.
	s, cl := serve(t, w, live)
	submitAll(t, cl, append(w.registrations, w.lots("L", 5)...))
	cpN, _, err := fetchAndCheck(t, w, cl, cps)
	if err != nil {
		t.Fatalf("first check: %v", err)
	}
	stop(t, s)
	old := filepath.Join(root, "old")
	copyDir(t, live, old) // the backup at size N

	// Size N+M on the live data; the client sees it.
	s, cl = serve(t, w, live)
	submitAll(t, cl, w.lots("M", 4))
	cpSeen, seenNote, err := fetchAndCheck(t, w, cl, cps)
	if err != nil {
		t.Fatalf("check after growth: %v", err)
	}
	if cpSeen.Size != cpN.Size+12 || remembered(t, w, cps) != cpSeen {
		t.Fatalf("client saw size %d (remembers %+v), want %d", cpSeen.Size, remembered(t, w, cps), cpN.Size+12)
	}
	stop(t, s)

	// impostor serves dir and checks what the client makes of it.
	impostor := func(t *testing.T, dir string, grow []*pb.Envelope, wantSize uint64, want error) {
		t.Helper()
		s, cl := serve(t, w, dir)
		defer stop(t, s)
		submitAll(t, cl, grow)
		cp, note, err := fetchAndCheck(t, w, cl, cps)
		if _, verr := tlog.OpenCheckpoint(note, w.c.LogVerifier); verr != nil {
			t.Fatalf("the impostor's checkpoint does not even verify: %v", verr)
		}
		if cp.Size != 0 || !errors.Is(err, want) {
			t.Fatalf("CheckCheckpoint of a log at size %d, after seeing size %d: %+v, %v; want %v", wantSize, cpSeen.Size, cp, err, want)
		}
		if got := s.Store.Log().Size(); got != wantSize {
			t.Fatalf("impostor at size %d, want %d", got, wantSize)
		}
		if got := remembered(t, w, cps); got != cpSeen {
			t.Fatalf("a rejected checkpoint replaced the remembered one: %+v", got)
		}
		// The server-side audit of the impostor's store against the
		// checkpoint the client holds fails too.
		if err := s.Store.Log().Audit(t.Context(), seenNote, w.c.LogVerifier, nil); err == nil {
			t.Fatalf("Audit of the impostor's store against the client's checkpoint passed")
		}
		t.Logf("size %d: %v", wantSize, err)
	}
	forkOf := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "fork")
		copyDir(t, old, dir)
		return dir
	}

	t.Run("old copy restored", func(t *testing.T) {
		dir := forkOf(t) // served as is
		impostor(t, dir, nil, cpN.Size, client.ErrRollback)
	})
	t.Run("fork of the same size", func(t *testing.T) {
		impostor(t, forkOf(t), w.lots("F", 4), cpSeen.Size, client.ErrFork)
	})
	t.Run("larger fork", func(t *testing.T) {
		impostor(t, forkOf(t), w.lots("G", 7), cpSeen.Size+9, client.ErrFork)
	})
	t.Run("fork just one record ahead", func(t *testing.T) {
		impostor(t, forkOf(t), append(w.lots("H", 4), w.extraction("H-x")), cpSeen.Size+1, client.ErrFork)
	})
	t.Run("log rebuilt from scratch", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "scratch")
		impostor(t, dir, append(w.registrations, w.lots("R", 10)...), 2+30, client.ErrFork)
	})
	t.Run("shorter fork", func(t *testing.T) {
		impostor(t, forkOf(t), w.lots("S", 2), cpN.Size+6, client.ErrRollback)
	})

	// The honest log, resumed and grown, is still accepted.
	s, cl = serve(t, w, live)
	submitAll(t, cl, w.lots("N", 2))
	cp, _, err := fetchAndCheck(t, w, cl, cps)
	if err != nil || cp.Size != cpSeen.Size+6 {
		t.Fatalf("honest log after the impostors: %+v, %v", cp, err)
	}
	if got := remembered(t, w, cps); got != cp {
		t.Fatalf("remembered %+v after the honest check, want %+v", got, cp)
	}
	// And its own audit passes against the checkpoint the client held.
	if err := s.Store.Log().Audit(t.Context(), seenNote, w.c.LogVerifier, nil); err != nil {
		t.Fatalf("audit of the honest log: %v", err)
	}
	stop(t, s)
}
