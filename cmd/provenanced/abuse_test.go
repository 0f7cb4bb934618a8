//go:build !race

package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/client"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// Bounds the abuse test holds the server to.
const (
	abuseP99   = 100 * time.Millisecond // the legitimate client's submit
	abuseRSSMB = 512                    // the server's peak RSS (VmHWM), MiB
)

// legitDialOptions are the legitimate client's dial options, in one place:
// plaintext on loopback, authenticated as its party.
func legitDialOptions(creds *client.Credentials) []grpc.DialOption {
	return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), creds.DialOption()}
}

// originOf returns the origin of a log verifier key (its name).
func originOf(vkey string) string { name, _, _ := strings.Cut(vkey, "+"); return name }

// TestAbuse is issue 15's abuse test, against the real binary with its
// default limits: at once, 2,000 idle connections (1,000 gRPC clients
// after one call, 1,000 raw HTTP/2 connections that sent their preface and
// nothing more) and 10 connections filled with idle streams, one party
// submitting as fast as it can, 100 MB request bodies (REST with and
// without Content-Length, and a gRPC message), and slow readers of the
// whole log (REST and gRPC), while a legitimate party submits 50 records
// a second. The legitimate submits must keep p99 under abuseP99 and the
// server's peak RSS must stay under abuseRSSMB.
//
// The attackers run in a second process (this test binary again), the
// legitimate client and the measurements in this one. It takes 30-70 s and
// 5,000 sockets, so it runs only with PROVENANCED_ABUSE=1
// (PROVENANCED_ABUSE_DURATION sets the measured time, 20s by default):
//
//	PROVENANCED_ABUSE=1 go test -count=1 -run TestAbuse -v ./cmd/provenanced/
func TestAbuse(t *testing.T) {
	// PROVENANCED_ABUSE_ONLY=idle,flood,big,slow runs only those attacks.
	only := os.Getenv("PROVENANCED_ABUSE_ONLY")
	on := func(kind string) bool { return only == "" || slices.Contains(strings.Split(only, ","), kind) }
	if addrs := os.Getenv("PROVENANCED_ABUSE_ATTACK"); addrs != "" { // the attacker process
		seed, err := hex.DecodeString(os.Getenv("PROVENANCED_ABUSE_FLOOD_SEED"))
		if err != nil || len(seed) != ed25519.SeedSize {
			t.Fatalf("PROVENANCED_ABUSE_FLOOD_SEED: %v", err)
		}
		grpcAddr, httpURL, _ := strings.Cut(addrs, " ")
		runAttacker(t, grpcAddr, httpURL, ed25519.NewKeyFromSeed(seed), on)
		return
	}
	if os.Getenv("PROVENANCED_ABUSE") == "" || testing.Short() {
		t.Skip("set PROVENANCED_ABUSE=1 to run (about 40 s, 5,000 sockets)")
	}
	dur := 20 * time.Second
	if v := os.Getenv("PROVENANCED_ABUSE_DURATION"); v != "" {
		var err error
		if dur, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(t.TempDir(), "data")
	regArgs, regKey := offlineRegistrar(t)
	// PROVENANCED_ABUSE_SERVER_FLAGS adds server flags, to see what a
	// limit is worth: "--party-rate off", for instance.
	args := append([]string{"--data", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "error"}, regArgs...)
	d := startDaemon(t, append(args, strings.Fields(os.Getenv("PROVENANCED_ABUSE_SERVER_FLAGS"))...)...)
	defer d.stop(t)
	pid := d.cmd.Process.Pid
	rss := func(field string) int { // KiB
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				n, _ := strconv.Atoi(strings.Fields(v)[0])
				return n
			}
		}
		return 0
	}
	t.Logf("server RSS at start: %d MiB", rss("VmRSS")>>10)

	admin := d.ledgerClient(t)
	register := func(id string, key ed25519.PrivateKey) {
		reg, err := record.Sign(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: timestamppb.New(abuseStart),
			Body: &pb.Statement_PartyRegistration{PartyRegistration: &pb.PartyRegistration{
				PartyId: id, Name: id, Roles: []pb.Role{pb.Role_ROLE_MINE}, Country: "PK",
				Mine: &pb.MineProfile{AnnualOreCapacityKg: 1e12, GradeMinPct: 5, GradeMaxPct: 15},
				Keys: []*pb.PartyKey{{PublicKey: key.Public().(ed25519.PublicKey), NotBefore: timestamppb.New(abuseStart)}},
			}}}, regKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Submit(t.Context(), &apipb.SubmitRequest{Envelope: reg}); err != nil {
			t.Fatalf("registering %s: %v", id, err)
		}
	}
	legitKey, floodKey := ed25519Key(t), ed25519Key(t)
	register("mine-legit", legitKey)
	register("mine-flood", floodKey)

	// The attackers run in a process of their own, as they would on
	// other machines: their garbage and goroutines are not the
	// legitimate client's. They share this machine's CPUs with it and
	// the server all the same.
	atk := exec.Command(os.Args[0], "-test.run=^TestAbuse$", "-test.count=1", "-test.timeout=0")
	atk.Env = append(os.Environ(), "PROVENANCED_ABUSE_ATTACK="+d.grpcAddr+" "+d.httpURL,
		"PROVENANCED_ABUSE_FLOOD_SEED="+hex.EncodeToString(floodKey.Seed()))
	atkErr := &syncWriter{w: &strings.Builder{}}
	atk.Stderr = atkErr
	atkIn, err := atk.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	atkOut, err := atk.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := atk.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		atkIn.Close()
		if atk.ProcessState == nil {
			atk.Process.Kill()
			atk.Wait()
		}
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(atkOut)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(prefix string) string {
		for {
			select {
			case ln, ok := <-lines:
				if !ok {
					t.Fatalf("the attacker exited before %s\n%s", prefix, atkErr)
				}
				if v, ok := strings.CutPrefix(ln, prefix+" "); ok {
					return v
				}
			case <-time.After(2 * time.Minute):
				t.Fatalf("no %s from the attacker in 2 min\n%s", prefix, atkErr)
			}
		}
	}
	t.Logf("idle: %s connections open; server RSS %d MiB", next("ABUSE-READY"), rss("VmRSS")>>10)
	time.Sleep(2 * time.Second) // let the attack build up

	// The legitimate party: 50 submits a second on its own connection.
	legitConn, err := grpc.NewClient(d.grpcAddr, legitDialOptions(&client.Credentials{PartyID: "mine-legit", Key: legitKey, Origin: originOf(d.verifierKey)})...)
	if err != nil {
		t.Fatal(err)
	}
	defer legitConn.Close()
	legit := apipb.NewLedgerServiceClient(legitConn)
	var lat []time.Duration
	var legitErrs []error
	peakRSS := 0
	tick := time.NewTicker(20 * time.Millisecond)
	deadline := time.Now().Add(dur)
	for i := 0; time.Now().Before(deadline); i++ {
		<-tick.C
		env := abuseExtraction(t, "mine-legit", legitKey, fmt.Sprintf("G-%d", i))
		callCtx, callCancel := context.WithTimeout(t.Context(), 10*time.Second)
		t0 := time.Now()
		_, err := legit.Submit(callCtx, &apipb.SubmitRequest{Envelope: env})
		lat = append(lat, time.Since(t0))
		callCancel()
		if err != nil {
			legitErrs = append(legitErrs, err)
		}
		if i%25 == 0 {
			peakRSS = max(peakRSS, rss("VmRSS"))
		}
	}
	tick.Stop()
	hwm := rss("VmHWM")
	health := ""
	if resp, err := http.Get(d.adminURL + "/healthz"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		health = strings.TrimSpace(string(b))
	}
	atkIn.Close()
	var rep attackReport
	if err := json.Unmarshal([]byte(next("ABUSE-REPORT")), &rep); err != nil {
		t.Fatal(err)
	}
	atk.Wait()

	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	t.Logf("legitimate submits: %d in %v, %d errors; p50 %v, p90 %v, p99 %v, max %v",
		len(lat), dur, len(legitErrs), pct(.5), pct(.9), pct(.99), lat[len(lat)-1])
	t.Logf("server: peak RSS %d MiB (VmHWM; sampled VmRSS peak %d MiB); admin health %s", hwm>>10, peakRSS>>10, health)
	t.Logf("flood: %d accepted, %d rate limited, %d other; 100 MB bodies refused: %d REST with length, %d chunked, %d gRPC; idle streams held %d; slow readers got %d bytes/messages",
		rep.FloodOK, rep.FloodLimited, rep.FloodOther, rep.BigREST, rep.BigChunked, rep.BigGRPC, rep.IdleStreams, rep.Slow)
	if len(legitErrs) > 0 {
		t.Errorf("legitimate submits failed %d times, first: %v", len(legitErrs), legitErrs[0])
	}
	if p := pct(.99); p > abuseP99 {
		t.Errorf("legitimate submit p99 %v, bound %v", p, abuseP99)
	}
	if hwm>>10 > abuseRSSMB {
		t.Errorf("server peak RSS %d MiB, bound %d MiB", hwm>>10, abuseRSSMB)
	}
	if only == "" && os.Getenv("PROVENANCED_ABUSE_SERVER_FLAGS") == "" && (rep.FloodLimited == 0 || rep.BigREST == 0 || rep.BigChunked == 0 || rep.BigGRPC == 0 || rep.IdleOpen < 2000) {
		t.Errorf("an attack did not reach the server: %+v", rep)
	}
}

// runAttacker runs the attacks of TestAbuse on the server at grpcAddr
// and httpURL until its stdin closes, then prints what it saw.
func runAttacker(t *testing.T, grpcAddr, httpURL string, floodKey ed25519.PrivateKey, on func(string) bool) {
	// Distinct records, more than the flooder gets accepted with the
	// default limits (about 3,200 in a run); past them it sends them
	// again, and duplicates cost the server an index lookup.
	flood := make([]*pb.Envelope, 20_000)
	for i := range flood {
		flood[i] = abuseExtraction(t, "mine-flood", floodKey, fmt.Sprintf("F-%d", i))
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { io.Copy(io.Discard, os.Stdin); cancel() }() // the parent closes it
	var wg sync.WaitGroup
	var (
		floodOK, floodLimited, floodOther atomic.Int64
		bigREST, bigChunked, bigGRPC      atomic.Int64 // refusals seen
		slowBytes                         atomic.Int64
		idleOpen                          atomic.Int64
		idleStreams                       atomic.Int64
	)
	var closers []io.Closer
	var closersMu sync.Mutex
	keep := func(c io.Closer) {
		closersMu.Lock()
		closers = append(closers, c)
		closersMu.Unlock()
	}
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	dial := func() *grpc.ClientConn {
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		keep(conn)
		return conn
	}

	// 1,000 gRPC clients, idle after one call.
	for range 1000 {
		if !on("idle") {
			break
		}
		conn := dial()
		if _, err := apipb.NewLedgerServiceClient(conn).GetCheckpoint(ctx, &apipb.GetCheckpointRequest{}); err == nil {
			idleOpen.Add(1)
		}
	}
	// 1,000 raw connections that sent the HTTP/2 preface and settings,
	// then nothing.
	preface := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)
	for range 1000 {
		if !on("idle") {
			break
		}
		c, err := net.Dial("tcp", grpcAddr)
		if err != nil {
			t.Fatalf("idle connection: %v", err)
		}
		keep(c)
		if _, err := c.Write(preface); err == nil {
			idleOpen.Add(1)
		}
	}
	// The flooding party authenticates as itself: it learns the ledger's
	// origin from the public checkpoint, as any client may.
	cp, err := apipb.NewLedgerServiceClient(dial()).GetCheckpoint(ctx, &apipb.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	floodCreds := &client.Credentials{PartyID: "mine-flood", Key: floodKey, Origin: cp.GetOrigin()}
	// 10 connections, authenticated, each holding as many silent
	// SubmitStreams as the server admits (and 32 more waiting for a slot).
	for range 10 {
		if !on("idle") {
			break
		}
		sc, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), floodCreds.DialOption())
		if err != nil {
			t.Fatal(err)
		}
		keep(sc)
		lc := apipb.NewLedgerServiceClient(sc)
		for range 160 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := lc.SubmitStream(ctx)
				if err != nil {
					return
				}
				if s.Send(&apipb.SubmitStreamRequest{}) == nil {
					if _, err := s.Recv(); err == nil {
						idleStreams.Add(1)
					}
				}
				<-ctx.Done()
			}()
		}
	}
	fmt.Printf("ABUSE-READY %d\n", idleOpen.Load())

	// One party submitting as fast as it can: 16 Submit loops and a
	// SubmitStream.
	floodRaw, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), floodCreds.DialOption())
	if err != nil {
		t.Fatal(err)
	}
	keep(floodRaw)
	floodConn := apipb.NewLedgerServiceClient(floodRaw)
	for w := range 16 {
		if !on("flood") {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i += 16 {
				_, err := floodConn.Submit(ctx, &apipb.SubmitRequest{Envelope: flood[i%len(flood)]})
				switch status.Code(err) {
				case codes.OK:
					floodOK.Add(1)
				case codes.ResourceExhausted:
					floodLimited.Add(1)
				default:
					floodOther.Add(1)
				}
			}
		}()
	}
	floodStream, err := floodConn.SubmitStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if on("flood") {
		wg.Add(2)
	} else {
		floodStream.CloseSend()
	}
	go func() {
		if !on("flood") {
			return
		}
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			if floodStream.Send(&apipb.SubmitStreamRequest{Envelope: flood[(i*7)%len(flood)]}) != nil {
				return
			}
		}
	}()
	go func() {
		if !on("flood") {
			return
		}
		defer wg.Done()
		for {
			r, err := floodStream.Recv()
			if err != nil {
				return
			}
			switch {
			case r.GetResult() != nil:
				floodOK.Add(1)
			case codes.Code(r.GetCode()) == codes.ResourceExhausted:
				floodLimited.Add(1)
			default:
				floodOther.Add(1)
			}
		}
	}()

	// 100 MB bodies, each kind again as soon as it is refused.
	const big = 100 << 20
	httpc := &http.Client{Timeout: 60 * time.Second}
	postBig := func(n *atomic.Int64, chunked bool) {
		defer wg.Done()
		for ctx.Err() == nil {
			var body io.Reader = io.LimitReader(zeros{}, big)
			if chunked {
				body = io.MultiReader(body) // hides the length: chunked
			}
			req, _ := http.NewRequestWithContext(ctx, "POST", httpURL+"/v1/envelopes", body)
			if !chunked {
				req.ContentLength = big
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := httpc.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusRequestEntityTooLarge || resp.StatusCode == http.StatusBadRequest {
					n.Add(1)
				}
			}
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}
	if on("big") {
		wg.Add(3)
		go postBig(&bigREST, false)
		go postBig(&bigChunked, true)
	}
	go func() {
		if !on("big") {
			return
		}
		defer wg.Done()
		conn := dial()
		msg, err := proto.Marshal(&apipb.SubmitRequest{Envelope: &pb.Envelope{PayloadType: record.StatementPayloadType, Payload: make([]byte, big)}})
		if err != nil {
			t.Error(err)
			return
		}
		raw := &rawMessage{msg}
		for ctx.Err() == nil {
			err := conn.Invoke(ctx, apipb.LedgerService_Submit_FullMethodName, raw, &apipb.SubmitResponse{}, grpc.ForceCodec(rawCodec{}))
			if status.Code(err) == codes.ResourceExhausted {
				bigGRPC.Add(1)
			}
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}()

	// Slow readers of the whole log: 50 over REST (raw connections
	// reading 512 bytes every 500 ms) and 50 over gRPC (a message every
	// 500 ms).
	for range 50 {
		if !on("slow") {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", strings.TrimPrefix(httpURL, "http://"))
			if err != nil {
				return
			}
			keep(c)
			fmt.Fprintf(c, "GET /v1/entries HTTP/1.1\r\nHost: x\r\n\r\n")
			buf := make([]byte, 512)
			for ctx.Err() == nil {
				n, err := c.Read(buf)
				slowBytes.Add(int64(n))
				if err != nil {
					return
				}
				sleepCtx(ctx, 500*time.Millisecond)
			}
		}()
	}
	slowConn := apipb.NewLedgerServiceClient(dial())
	for range 50 {
		if !on("slow") {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := slowConn.StreamEntries(ctx, &apipb.StreamEntriesRequest{})
			if err != nil {
				return
			}
			for ctx.Err() == nil {
				if _, err := s.Recv(); err != nil {
					return
				}
				slowBytes.Add(1)
				sleepCtx(ctx, 500*time.Millisecond)
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()
	rep, _ := json.Marshal(attackReport{
		FloodOK: floodOK.Load(), FloodLimited: floodLimited.Load(), FloodOther: floodOther.Load(),
		BigREST: bigREST.Load(), BigChunked: bigChunked.Load(), BigGRPC: bigGRPC.Load(),
		Slow: slowBytes.Load(), IdleOpen: idleOpen.Load(), IdleStreams: idleStreams.Load(),
	})
	fmt.Printf("ABUSE-REPORT %s\n", rep)
}

// attackReport is what the attacker process saw.
type attackReport struct {
	FloodOK, FloodLimited, FloodOther int64
	BigREST, BigChunked, BigGRPC      int64 // 100 MB bodies refused
	Slow                              int64 // bytes (REST) and messages (gRPC) the slow readers got
	IdleOpen, IdleStreams             int64
}

// abuseStart is the time the abuse test's records are dated from.
var abuseStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// abuseExtraction signs an extraction of lot by party.
func abuseExtraction(t *testing.T, party string, key ed25519.PrivateKey, lot string) *pb.Envelope {
	env, err := record.Sign(&pb.Statement{PartyId: party, EventTime: timestamppb.New(abuseStart.Add(time.Hour)),
		Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: lot, MassKg: 100, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE,
			Site: &pb.Location{Lat: 30.7, Lon: 66.6},
		}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// rawCodec sends a message already encoded, so that the attacker does not
// encode 100 MB again for each try.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.(*rawMessage); ok {
		return b.b, nil
	}
	return proto.Marshal(v.(proto.Message))
}
func (rawCodec) Unmarshal(b []byte, v any) error { return proto.Unmarshal(b, v.(proto.Message)) }
func (rawCodec) Name() string                    { return "proto" }

type rawMessage struct{ b []byte }

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
