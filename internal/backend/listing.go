package backend

import (
	"cmp"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"context"

	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// Page sizes of the listings: the default for 0, and the most.
const (
	DefaultFlagPage = 500
	MaxFlagPage     = 5000
	DefaultLotPage  = 100
	MaxLotPage      = 1000
)

// maxLotScan bounds the lots one page of ListLots reads before it answers
// with what it found and a token to go on from there, so a filter that
// matches few lots of a large store answers in bounded time.
const maxLotScan = 50000

// pageSize returns the page size a request asks for.
func pageSize(n int32, def, most int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%w: page_size %d is negative", record.ErrMalformed, n)
	case n == 0:
		return def, nil
	case int(n) > most:
		return most, nil
	}
	return int(n), nil
}

// Page tokens hold "kind|key", where key is what the next page starts
// after: the last lot id read, or the last flag's sort key, which may be
// another party's lot or flag that the read policy took out of the page.
// So they are sealed (AES-GCM, under a key made when the process starts):
// a client learns nothing from one and cannot make one, and a token does
// not outlive a restart.
var tokenAEAD = func() cipher.AEAD {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}()

func pageToken(kind, key string) string {
	nonce := make([]byte, tokenAEAD.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(tokenAEAD.Seal(nonce, nonce, []byte(kind+"|"+key), nil))
}

func parsePageToken(kind, tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	bad := fmt.Errorf("%w: page_token is not a token this listing gave (tokens do not outlive a server restart: list again from the first page)", record.ErrMalformed)
	b, err := base64.RawURLEncoding.DecodeString(tok)
	n := tokenAEAD.NonceSize()
	if err != nil || len(b) < n {
		return "", bad
	}
	plain, err := tokenAEAD.Open(nil, b[:n], b[n:], nil)
	if err != nil {
		return "", bad
	}
	key, ok := strings.CutPrefix(string(plain), kind+"|")
	if !ok {
		return "", bad
	}
	return key, nil
}

// flagKey is the order of the flag listing, as a string that sorts the
// same way: log index (zero-padded), rule, lot.
func flagKey(f *pb.Flag) string {
	return fmt.Sprintf("%020d|%s|%s|%s", f.GetIndex(), f.GetRule(), f.GetLotId(), f.GetMessage())
}

// checkRule refuses a rule id no rule has.
func checkRule(r string) error {
	if r == "" || r == RuleInvalid || slices.ContainsFunc(verifier.Rules(), func(x verifier.RuleInfo) bool { return x.ID == r }) {
		return nil
	}
	ids := []string{RuleInvalid}
	for _, x := range verifier.Rules() {
		ids = append(ids, x.ID)
	}
	slices.Sort(ids)
	return fmt.Errorf("%w: unknown rule %q; the rules are %s", record.ErrMalformed, r, strings.Join(ids, ", "))
}

// verdictOf returns a lot's current verdict and the rules of its flags;
// VERDICT_UNSPECIFIED if it has not been verified since its last record.
// b.mu must be held.
func (b *Backend) verdictOf(lot string) (pb.Verdict, []string, int) {
	fs, ok := b.flags[lot]
	if !ok || b.stale[lot] {
		return pb.Verdict_VERDICT_UNSPECIFIED, nil, 0
	}
	var rules []string
	v := pb.Verdict_VERDICT_VERIFIED
	for _, f := range fs {
		if !slices.Contains(rules, f.GetRule()) {
			rules = append(rules, f.GetRule())
		}
		if f.GetRule() == RuleInvalid {
			v = pb.Verdict_VERDICT_INVALID
		} else if v == pb.Verdict_VERDICT_VERIFIED {
			v = pb.Verdict_VERDICT_FLAGGED
		}
	}
	slices.Sort(rules)
	return v, rules, len(fs)
}

// ListLots brings stale lots up to date as ListFlags does, then lists the
// lots that match req in id order, a page at a time, each with its
// current verdict.
func (b *Backend) ListLots(ctx context.Context, req *apipb.ListLotsRequest) (*apipb.ListLotsResponse, error) {
	if err := checkRule(req.GetRule()); err != nil {
		return nil, err
	}
	if _, ok := pb.Verdict_name[int32(req.GetVerdict())]; !ok {
		return nil, fmt.Errorf("%w: unknown verdict %d", record.ErrMalformed, req.GetVerdict())
	}
	if _, ok := pb.Product_name[int32(req.GetProduct())]; !ok {
		return nil, fmt.Errorf("%w: unknown product %d", record.ErrMalformed, req.GetProduct())
	}
	size, err := pageSize(req.GetPageSize(), DefaultLotPage, MaxLotPage)
	if err != nil {
		return nil, err
	}
	after, err := parsePageToken("lots", req.GetPageToken())
	if err != nil {
		return nil, err
	}
	pending, unread, err := b.catchUp(ctx, b.listBudget, listWorkers())
	if err != nil {
		return nil, err
	}
	resp := &apipb.ListLotsResponse{PendingLots: uint64(pending), UnreadRecords: unread}
	last, scanned, more := "", 0, false
	for lot, err := range b.store.Lots(ctx, after) {
		if err != nil {
			return nil, err
		}
		if len(resp.Lots) == size || scanned == maxLotScan {
			more = true
			break
		}
		last = lot.GetLotId()
		scanned++
		if h := req.GetHolderPartyId(); h != "" && lot.GetHolderPartyId() != h && lot.GetInTransitTo() != h {
			continue
		}
		if p := req.GetProduct(); p != pb.Product_PRODUCT_UNSPECIFIED && lot.GetProduct() != p {
			continue
		}
		b.mu.Lock()
		v, rules, n := b.verdictOf(lot.GetLotId())
		b.mu.Unlock()
		if req.GetVerdict() != pb.Verdict_VERDICT_UNSPECIFIED && v != req.GetVerdict() {
			continue
		}
		if r := req.GetRule(); r != "" && !slices.Contains(rules, r) {
			continue
		}
		resp.Lots = append(resp.Lots, &apipb.LotSummary{Lot: lot, Verdict: v, Rules: rules, FlagCount: uint32(n)})
	}
	if more {
		resp.NextPageToken = pageToken("lots", last)
	}
	return resp, nil
}

// pageFlags returns the page of at most size of the sorted flags whose
// keys sort after after ("" for the first page), and the token of the next.
func pageFlags(flags []*pb.Flag, size int, after string) ([]*pb.Flag, string) {
	i := 0
	if after != "" {
		i, _ = slices.BinarySearchFunc(flags, after, func(f *pb.Flag, k string) int { return cmp.Compare(flagKey(f), k) })
		for i < len(flags) && flagKey(flags[i]) <= after {
			i++
		}
	}
	end := min(len(flags), i+size)
	next := ""
	if end < len(flags) {
		next = pageToken("flags", flagKey(flags[end-1]))
	}
	return flags[i:end], next
}
