package backend

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/antimony-ledger/provenance/internal/scope"
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

// Page tokens hold "kind|position|key" (kind: the listing and a digest of
// its filters, listKind), where key is what the next page starts
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

func pageToken(kind, key string, from uint64) string {
	nonce := make([]byte, tokenAEAD.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	plain := kind + "|" + strconv.FormatUint(from, 10) + "|" + key
	return base64.RawURLEncoding.EncodeToString(tokenAEAD.Seal(nonce, nonce, []byte(plain), nil))
}

// listKind is the kind of page token of listing base with req's filters
// (every field but the page token and size): a token goes on only with
// the filters of the listing that gave it (a new user's trial took a
// token of an unfiltered listing on with ?verdict=VERIFIED, and was
// answered from that position).
func listKind(base string, req proto.Message) string {
	m := proto.Clone(req).ProtoReflect()
	for _, name := range []protoreflect.Name{"page_token", "page_size"} {
		if fd := m.Descriptor().Fields().ByName(name); fd != nil {
			m.Clear(fd)
		}
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Interface())
	if err != nil {
		panic(err) // a request the server has just unmarshalled
	}
	sum := sha256.Sum256(b)
	return base + ":" + hex.EncodeToString(sum[:8])
}

// parsePageToken returns the key a listing goes on after, and the
// position of the follower's state the listing's earlier pages were read
// from (math.MaxUint64 on the first page).
func parsePageToken(kind, tok string) (string, uint64, error) {
	if tok == "" {
		return "", math.MaxUint64, nil
	}
	bad := fmt.Errorf("%w: page_token is not a token this listing gave (a token goes on only with the listing that gave it, lots or flags, and does not outlive a server restart: list again from the first page)", record.ErrMalformed)
	b, err := base64.RawURLEncoding.DecodeString(tok)
	n := tokenAEAD.NonceSize()
	if err != nil || len(b) < n {
		return "", 0, bad
	}
	plain, err := tokenAEAD.Open(nil, b[:n], b[n:], nil)
	if err != nil {
		return "", 0, bad
	}
	rest, ok := strings.CutPrefix(string(plain), kind+"|")
	if !ok {
		base, _, _ := strings.Cut(kind, ":")
		if strings.HasPrefix(string(plain), base+":") {
			return "", 0, fmt.Errorf("%w: page_token was given by this listing with other filters: a token goes on only with the filters of the listing that gave it (list again from the first page for these)", record.ErrMalformed)
		}
		return "", 0, bad
	}
	pos, key, ok := strings.Cut(rest, "|")
	from, err := strconv.ParseUint(pos, 10, 64)
	if !ok || err != nil {
		return "", 0, bad
	}
	return key, from, nil
}

// canonRule returns the rule id r names, in any case (a rule id is upper
// case, and the listings' other enum values are taken in either: a new
// user's trial asked for rule=origin_volume), and refuses one no rule
// has.
func canonRule(r string) (string, error) {
	u := strings.ToUpper(r)
	if u == "" || u == RuleInvalid || slices.ContainsFunc(verifier.Rules(), func(x verifier.RuleInfo) bool { return x.ID == u }) {
		return u, nil
	}
	ids := []string{RuleInvalid}
	for _, x := range verifier.Rules() {
		ids = append(ids, x.ID)
	}
	slices.Sort(ids)
	return "", fmt.Errorf("%w: unknown rule %q; the rules are %s", record.ErrMalformed, r, strings.Join(ids, ", "))
}

// maxFlagScan bounds the flags one page of ListFlags reads, as maxLotScan
// bounds ListLots.
const maxFlagScan = 50000

// listed is what a listing answers beside its page: how far the follower
// is behind.
//
// from is where the follower stood when the listing's earlier pages were
// read (parsePageToken): a page counts the records not reflected in it or
// in any page before it, so that a listing read page by page while the
// follower catches up does not end on a page that says it is complete.
// at is where this page reads from, for the next page's token; now is
// where the follower stands as this page is read, which the state this
// page reads reflects at least.
func (b *Backend) listed(ctx context.Context, from uint64) (pending, unread, at, now uint64) {
	size := b.store.Log().Size()
	b.wait(ctx, size)
	now = b.next.Load()
	at = min(now, from)
	if at < size {
		unread = size - at
	}
	return uint64(max(0, b.pendingLots.Load())), unread, at, now
}

// ListFlags lists the flags that match req, each once (a flag on an
// ancestor shows in every descendant's report), ordered by log index, a
// page at a time (req.page_size and page_token), from the follower's
// state. It first waits, up to the listing wait, for the follower to
// replay the records appended before it was asked; if it is still
// behind, the response counts the records it has not replayed (and the
// parties whose lots await a full verification).
func (b *Backend) ListFlags(ctx context.Context, req *apipb.ListFlagsRequest) (*apipb.ListFlagsResponse, error) {
	if err := b.damage(); err != nil {
		return nil, err
	}
	if r, err := canonRule(req.GetRule()); err != nil {
		return nil, err
	} else if r != req.GetRule() {
		req = proto.CloneOf(req)
		req.Rule = r
	}
	if s, u := req.GetSince(), req.GetUntil(); s != nil && u != nil && !u.AsTime().After(s.AsTime()) {
		// An empty range is a mistake, not a question with no answer.
		return nil, fmt.Errorf("%w: until (%s, exclusive) must be after since (%s): both are event times", record.ErrMalformed,
			u.AsTime().UTC().Format(time.RFC3339), s.AsTime().UTC().Format(time.RFC3339))
	}
	size, err := pageSize(req.GetPageSize(), DefaultFlagPage, MaxFlagPage)
	if err != nil {
		return nil, err
	}
	kind := listKind("flags", req)
	after, from, err := parsePageToken(kind, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	pending, unread, at, _ := b.listed(ctx, from)
	resp := &apipb.ListFlagsResponse{PendingLots: pending, UnreadRecords: unread, FollowerOff: !b.FollowerRunning()}
	take := func(key string, v []byte) (bool, error) {
		f := &pb.Flag{}
		if err := proto.Unmarshal(v, f); err != nil {
			return false, fmt.Errorf("reading flag %q: %w", key, err)
		}
		if !matches(f, req) {
			return false, nil
		}
		resp.Flags = append(resp.Flags, f)
		return true, nil
	}
	lots, ok := scope.Lots(ctx)
	if l := req.GetLotId(); l != "" {
		// One lot's flags are in its summary: its report's keys.
		lots, ok = []string{l}, true
	}
	if ok {
		// The flags in the reports of the lots the listing is limited to,
		// unless their summaries hold more keys than a scan is worth.
		keys, err := b.flagKeysOf(ctx, lots)
		if err == nil {
			resp.NextPageToken, err = b.pageOf(ctx, kind, at, verifier.ReplayFlagPrefix, keys, after, size, maxFlagScan, take)
			if err != nil {
				return nil, err
			}
			return resp, nil
		} else if !errors.Is(err, errScopeKeys) {
			return nil, err
		}
	}
	// From the index of the rule, or else of the party, asked for.
	prefix := verifier.ReplayFlagIndex(req.GetRule(), req.GetPartyId())
	resp.NextPageToken, err = b.scanPage(ctx, kind, at, prefix, verifier.ReplayFlagPrefix, after, size, maxFlagScan, take)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// maxScopedFlagKeys bounds the flag keys a scoped flag page reads from
// the summaries of its lots: a summary holds the keys of the flags of the
// lot's whole ancestry, so 2,000 lots split from one lot assayed 200 times
// hold 400,000 (a review: 40-70 ms a page, against 0.4 ms for a scan).
// Past it, the page is read from a scan of every flag, reduced by the
// read policy, as for a party with many lots.
const maxScopedFlagKeys = 20000

// errScopeKeys is flagKeysOf's answer past maxScopedFlagKeys.
var errScopeKeys = errors.New("more flag keys than a scoped listing reads")

// scopedKeysRead counts the flag keys flagKeysOf read, for tests.
var scopedKeysRead atomic.Int64

// flagKeysOf returns, in key order, the keys of the flags in the reports
// of lots, as the follower's summaries of them hold them, or errScopeKeys
// once it has read more than maxScopedFlagKeys.
func (b *Backend) flagKeysOf(ctx context.Context, lots []string) ([]string, error) {
	keys := map[string]bool{}
	read := 0
	err := b.db.View(func(txn *badger.Txn) error {
		for _, lot := range lots {
			if err := ctx.Err(); err != nil {
				return err
			}
			item, err := txn.Get([]byte(verifier.ReplayLotPrefix + lot))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue // not reached by the follower yet
			} else if err != nil {
				return fmt.Errorf("reading lot %q: %w", lot, err)
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("reading lot %q: %w", lot, err)
			}
			sum, err := verifier.DecodeReplayLot(v)
			if err != nil {
				return fmt.Errorf("reading lot %q: %w", lot, err)
			}
			// Extra is in Keys but for a lot the follower has not reached
			// (flags a full verification beside it found).
			ks := sum.Keys
			if sum.Verdict == pb.Verdict_VERDICT_UNSPECIFIED {
				ks = sum.Extra
			}
			read += len(ks)
			scopedKeysRead.Add(int64(len(ks)))
			if read > maxScopedFlagKeys {
				return errScopeKeys
			}
			for _, k := range ks {
				keys[k] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(keys)), nil
}

// pageOf is scanPage over the keys under main given in keys, in key
// order, rather than over an index: a key with no value under main is
// passed over.
func (b *Backend) pageOf(ctx context.Context, kind string, at uint64, main string, keys []string, after string, size, maxScan int, take func(key string, v []byte) (bool, error)) (string, error) {
	i, found := slices.BinarySearch(keys, after)
	if found {
		i++
	}
	var next string
	err := b.db.View(func(txn *badger.Txn) error {
		var err error
		next, err = readPage(ctx, txn, kind, at, main, func(yield func(string, *badger.Item) bool) {
			for _, key := range keys[i:] {
				if !yield(key, nil) {
					return
				}
			}
		}, size, maxScan, take)
		return err
	})
	return next, err
}

// scanPage reads the replay's state under prefix, an index of main (each
// key the prefix and a key under main) or main itself, from the key after
// after, in key order, and gives each key under main and its value to
// take, which says whether it took it for the page. It stops once take
// has taken size or maxScan keys were read, and returns the page token of
// kind to go on from there; "" at the end.
func (b *Backend) scanPage(ctx context.Context, kind string, at uint64, prefix, main, after string, size, maxScan int, take func(key string, v []byte) (bool, error)) (string, error) {
	indexed := prefix != main
	var next string
	err := b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: !indexed, PrefetchSize: 100})
		defer it.Close()
		var err error
		next, err = readPage(ctx, txn, kind, at, main, func(yield func(string, *badger.Item) bool) {
			for it.Seek([]byte(prefix + after)); it.Valid(); it.Next() {
				key := string(it.Item().Key()[len(prefix):])
				if key == after {
					continue
				}
				var item *badger.Item // read from main
				if !indexed {
					item = it.Item()
				}
				if !yield(key, item) {
					return
				}
			}
		}, size, maxScan, take)
		return err
	})
	return next, err
}

// readPage gives take each key keys yields, in key order, with its value:
// the item keys gives, or else the key's under main, passing over a key
// with none there (an index entry a batch cut short left behind, or a lot
// the follower has not reached). It stops once take has taken size or
// maxScan keys were read, and returns the page token of kind to go on
// from there; "" at the end.
func readPage(ctx context.Context, txn *badger.Txn, kind string, at uint64, main string, keys iter.Seq2[string, *badger.Item], size, maxScan int, take func(key string, v []byte) (bool, error)) (string, error) {
	last, scanned, taken := "", 0, 0
	for key, item := range keys {
		if taken == size || scanned == maxScan {
			return pageToken(kind, last, at), nil
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
		last = key
		scanned++
		if item == nil {
			var err error
			item, err = txn.Get([]byte(main + key))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			} else if err != nil {
				return "", fmt.Errorf("reading %q: %w", main+key, err)
			}
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return "", fmt.Errorf("reading %q: %w", main+key, err)
		}
		ok, err := take(key, v)
		if err != nil {
			return "", err
		}
		if ok {
			taken++
		}
	}
	return "", nil
}

func matches(f *pb.Flag, req *apipb.ListFlagsRequest) bool {
	switch {
	case req.GetPartyId() != "" && f.GetPartyId() != req.GetPartyId():
		return false
	case req.GetRule() != "" && f.GetRule() != req.GetRule():
		return false
	case req.GetLotId() != "" && f.GetLotId() != req.GetLotId():
		return false
	case f.GetSeverity() < req.GetMinSeverity():
		return false
	case req.GetSince() != nil && f.GetEventTime().AsTime().Before(req.GetSince().AsTime()):
		return false
	case req.GetUntil() != nil && !f.GetEventTime().AsTime().Before(req.GetUntil().AsTime()):
		return false
	}
	return true
}

// ListLots lists the lots that match req in id order, a page at a time,
// each with its current verdict, from the follower's state, after waiting
// for it as ListFlags does. A lot the follower has not reached yet is not
// listed.
func (b *Backend) ListLots(ctx context.Context, req *apipb.ListLotsRequest) (*apipb.ListLotsResponse, error) {
	if err := b.damage(); err != nil {
		return nil, err
	}
	if r, err := canonRule(req.GetRule()); err != nil {
		return nil, err
	} else if r != req.GetRule() {
		req = proto.CloneOf(req)
		req.Rule = r
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
	kind := listKind("lots", req)
	after, from, err := parsePageToken(kind, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	pending, unread, at, now := b.listed(ctx, from)
	resp := &apipb.ListLotsResponse{PendingLots: pending, UnreadRecords: unread, FollowerOff: !b.FollowerRunning()}
	// From the index of the rule, or else of the verdict, or else of the
	// holder, asked for.
	prefix := verifier.ReplayLotIndex(req.GetRule(), req.GetVerdict(), req.GetHolderPartyId())
	type hit struct {
		lot string
		sum verifier.ReplayLot
	}
	var hits []hit
	take := func(lot string, v []byte) (bool, error) {
		sum, err := verifier.DecodeReplayLot(v)
		if err != nil {
			return false, fmt.Errorf("reading lot %q: %w", lot, err)
		}
		switch {
		case sum.Verdict == pb.Verdict_VERDICT_UNSPECIFIED:
			// Flags kept for a lot the follower has not reached yet (a
			// full verification beside it): not listed until it has.
			return false, nil
		case req.GetHolderPartyId() != "" && sum.Holder != req.GetHolderPartyId() && sum.InTransitTo != req.GetHolderPartyId(),
			req.GetProduct() != pb.Product_PRODUCT_UNSPECIFIED && sum.Product != req.GetProduct(),
			req.GetVerdict() != pb.Verdict_VERDICT_UNSPECIFIED && sum.Verdict != req.GetVerdict(),
			req.GetRule() != "" && !slices.Contains(sum.Rules, req.GetRule()):
			return false, nil
		}
		hits = append(hits, hit{lot, sum})
		return true, nil
	}
	if lots, ok := scope.Lots(ctx); ok {
		resp.NextPageToken, err = b.pageOf(ctx, kind, at, verifier.ReplayLotPrefix, lots, after, size, maxLotScan, take)
	} else {
		resp.NextPageToken, err = b.scanPage(ctx, kind, at, prefix, verifier.ReplayLotPrefix, after, size, maxLotScan, take)
	}
	if err != nil {
		return nil, err
	}
	for _, h := range hits {
		st, err := b.store.LotState(h.lot)
		if err != nil {
			return nil, fmt.Errorf("lot %q: %w", h.lot, err)
		}
		row := &apipb.LotSummary{Lot: st, Verdict: h.sum.Verdict, Rules: h.sum.Rules, FlagCount: uint32(len(h.sum.Keys))}
		// The lot's state is read now; its verdict is as the follower
		// stood: count the records naming it that the state has and the
		// verdict may not (one appended since the listing began too).
		n, err := b.store.LotRecordsFrom(ctx, h.lot, now)
		if err != nil {
			return nil, fmt.Errorf("lot %q: %w", h.lot, err)
		}
		row.UnreadRecords = uint32(n)
		resp.Lots = append(resp.Lots, row)
	}
	// Records appended as the page was read count too.
	if size := b.store.Log().Size(); size > at {
		resp.UnreadRecords = max(resp.UnreadRecords, size-at)
	}
	return resp, nil
}
