//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// TestDaemonFullDisk runs the binary on a 64 MiB tmpfs with
// --min-free-bytes 24MiB, fills the disk under it and checks that appends
// are refused (ResourceExhausted, REST 507) with a message naming the
// directory, that reads and proofs go on, that a SIGKILL and a restart on
// the still-full disk serve reads, and that once space is freed appends
// are taken again with every acknowledged record there. It skips where it
// cannot mount a tmpfs (not root).
func TestDaemonFullDisk(t *testing.T) {
	fs := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(fs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", fs, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("skipping: cannot mount a 64 MiB tmpfs to fill (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(fs, syscall.MNT_DETACH) })
	const min = 24 << 20 // over what a write-back after a SIGKILL needs
	data := filepath.Join(fs, "data")
	regArgs, regKey := offlineRegistrar(t)
	args := append([]string{"--data", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "warn", "--min-free-bytes", "24MiB"}, regArgs...)
	d := startDaemon(t, args...)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	mineKey := ed25519Key(t)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	reg, err := record.Sign(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: timestamppb.New(start),
		Body: &pb.Statement_PartyRegistration{PartyRegistration: &pb.PartyRegistration{
			PartyId: "mine-qa", Name: "Qila Abdullah Mine", Roles: []pb.Role{pb.Role_ROLE_MINE}, Country: "PK",
			Mine: &pb.MineProfile{AnnualOreCapacityKg: 1e9, GradeMinPct: 5, GradeMaxPct: 15},
			Keys: []*pb.PartyKey{{PublicKey: mineKey.Public().(ed25519.PublicKey), NotBefore: timestamppb.New(start)}},
		}}}, regKey)
	if err != nil {
		t.Fatal(err)
	}
	lc := d.ledgerClient(t)
	r, err := lc.Submit(ctx, &apipb.SubmitRequest{Envelope: reg})
	if err != nil {
		t.Fatalf("registration: %v", err)
	}
	acked := []string{r.GetLeafHash()}
	extraction := func(lot string) *pb.Envelope {
		env, err := record.Sign(&pb.Statement{PartyId: "mine-qa", EventTime: timestamppb.New(start.Add(time.Hour)),
			Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
				LotId: lot, MassKg: 100, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE,
				Site: &pb.Location{Lat: 30.7, Lon: 66.6},
			}}}, mineKey)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}

	// Leave 3 MiB over the threshold, then append until refused.
	free := freeSpace(t, fs)
	filler := filepath.Join(fs, "filler")
	allocate(t, filler, free-(min+3<<20))
	var (
		mu      sync.Mutex
		refusal error
		wg      sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				r, err := lc.Submit(ctx, &apipb.SubmitRequest{Envelope: extraction(fmt.Sprintf("L-%d-%d", w, i))})
				mu.Lock()
				if err != nil {
					if status.Code(err) != codes.ResourceExhausted {
						t.Errorf("Submit on a filling disk: %v, want ResourceExhausted", err)
					} else if refusal == nil {
						refusal = err
					}
					mu.Unlock()
					return
				}
				acked = append(acked, r.GetLeafHash())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() || refusal == nil {
		t.Fatalf("no refusal: %v\n%s", ctx.Err(), d.stderr)
	}
	left := freeSpace(t, fs)
	t.Logf("%d records acknowledged, then refused with %v free: %v", len(acked), left, refusal)
	ldir := filepath.Join(data, ledgerDir)
	if msg := status.Convert(refusal).Message(); !strings.Contains(msg, ldir) || !strings.Contains(msg, "free") || !server.InsufficientStorage(refusal) {
		t.Errorf("refusal %v does not name %s and the space left, or lacks its ErrorInfo", refusal, ldir)
	}
	if left == 0 {
		t.Errorf("the disk filled up before the refusal")
	}

	// REST: 507 with the message.
	creds := operatorCreds(t, data)
	postREST := func(d *daemon, env *pb.Envelope) (int, string) {
		t.Helper()
		body, err := protojson.Marshal(&apipb.SubmitRequest{Envelope: env})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", d.httpURL+"/v1/envelopes", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		md, err := creds.GetRequestMetadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", md["authorization"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := postREST(d, extraction("L-rest")); code != http.StatusInsufficientStorage || !strings.Contains(body, "free") {
		t.Errorf("POST /v1/envelopes on a full disk: %d %s, want 507 naming the space left", code, body)
	}
	if m := getOK(t, d.adminURL+"/metrics"); !strings.Contains(m, "provenance_ledger_appends_refused_for_space 1") {
		t.Errorf("admin /metrics does not show appends refused for space")
	}
	checkDaemonReads(t, ctx, d, acked)

	// SIGKILL on the full disk, and restart on it: the store, not closed
	// cleanly, is written back in the space kept; reads are served,
	// appends refused until space is freed, then taken.
	d.cmd.Process.Kill()
	d.cmd.Wait()
	// The store's and the flags' files may give back some space when
	// their process ends: keep the disk 2 MiB under the threshold, so
	// that the start is on a full disk.
	filler2 := filepath.Join(fs, "filler2")
	if f := freeSpace(t, fs); f > min-2<<20 {
		allocate(t, filler2, f-(min-2<<20))
	}
	d = startDaemon(t, args...)
	if !strings.Contains(d.stderr.String(), "disk is nearly full") {
		t.Errorf("a start on a full disk does not say so:\n%s", d.stderr)
	}
	if m := getOK(t, d.adminURL+"/metrics"); !strings.Contains(m, "\nprovenance_flags_follower_running 0\n") {
		t.Errorf("admin /metrics does not show the flag follower stopped on a full disk")
	}
	lc = d.ledgerClient(t)
	checkDaemonReads(t, ctx, d, acked)
	_, err = lc.Submit(ctx, &apipb.SubmitRequest{Envelope: extraction("L-full")})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("Submit after a start on a full disk: %v, want ResourceExhausted", err)
	}
	for _, f := range []string{filler, filler2} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	r, err = lc.Submit(ctx, &apipb.SubmitRequest{Envelope: extraction("L-freed")})
	if err != nil {
		t.Fatalf("Submit after freeing space: %v", err)
	}
	acked = append(acked, r.GetLeafHash())
	d.stop(t)

	// Stopped cleanly, started on a full disk: read-only, reads served.
	allocate(t, filler, freeSpace(t, fs)-4<<20)
	d = startDaemon(t, args...)
	if !strings.Contains(d.stderr.String(), "open read-only") {
		t.Errorf("a start on a full disk does not say so:\n%s", d.stderr)
	}
	lc = d.ledgerClient(t)
	checkDaemonReads(t, ctx, d, acked)
	_, err = lc.Submit(ctx, &apipb.SubmitRequest{Envelope: extraction("L-readonly")})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "restart") {
		t.Errorf("Submit on a store opened read-only: %v, want ResourceExhausted saying to restart", err)
	}
	if code, body := postREST(d, extraction("L-rest")); code != http.StatusInsufficientStorage {
		t.Errorf("POST /v1/envelopes on a store opened read-only: %d %s, want 507", code, body)
	}
	d.stop(t)

	// Space freed: appends are taken, and nothing acknowledged is lost.
	for _, f := range []string{filler, filler2} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	d = startDaemon(t, args...)
	lc = d.ledgerClient(t)
	if _, err := lc.Submit(ctx, &apipb.SubmitRequest{Envelope: extraction("L-after")}); err != nil {
		t.Fatalf("Submit after freeing space: %v", err)
	}
	if code, body := postREST(d, extraction("L-rest")); code != http.StatusOK {
		t.Errorf("POST /v1/envelopes after freeing space: %d %s", code, body)
	}
	checkDaemonReads(t, ctx, d, acked)
	d.stop(t)
}

// checkDaemonReads checks that every acknowledged record is served, with
// proofs and the checkpoint.
func checkDaemonReads(t *testing.T, ctx context.Context, d *daemon, acked []string) {
	t.Helper()
	lc := d.ledgerClient(t)
	for _, id := range acked {
		if _, err := lc.GetRecord(ctx, &apipb.GetRecordRequest{LeafHash: id}); err != nil {
			t.Fatalf("acknowledged record %s: %v", id, err)
		}
	}
	ck, err := lc.GetCheckpoint(ctx, &apipb.GetCheckpointRequest{})
	if err != nil {
		t.Fatalf("GetCheckpoint: %v", err)
	}
	size := ck.GetTreeSize()
	if size < uint64(len(acked)) {
		t.Fatalf("tree size %d, %d records acknowledged", size, len(acked))
	}
	if _, err := lc.GetInclusionProof(ctx, &apipb.GetInclusionProofRequest{Index: size / 2, TreeSize: size}); err != nil {
		t.Errorf("GetInclusionProof: %v", err)
	}
	if _, err := lc.GetConsistencyProof(ctx, &apipb.GetConsistencyProofRequest{First: 1, Second: size}); err != nil {
		t.Errorf("GetConsistencyProof: %v", err)
	}
	getOK(t, d.httpURL+"/v1/checkpoint")
}

func operatorCreds(t *testing.T, data string) *client.Credentials {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, logKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.OperatorCredentials(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func freeSpace(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

func allocate(t *testing.T, path string, n uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, int64(n)); err != nil {
		t.Fatalf("allocating %d bytes: %v", n, err)
	}
}
