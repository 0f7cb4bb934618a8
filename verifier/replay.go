package verifier

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/index"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/registry"
	"github.com/antimony-ledger/provenance/tlog"
)

// Replay: the flags of every lot of a log, kept current one record at a
// time, for a server that lists them. [Verify] replays a bundle's records
// in log order; a Replay runs the same steps (the same code: step,
// timeChecks, keyChecks, and the volume rules from the same running
// tallies) on one record at a time, reading the state the record
// continues from a [ReplayStore] and writing back the state it leaves, so
// a record costs the same whatever the size of the log, and the state
// survives a restart.
//
// What it keeps (keys of the store):
//
//	s/REC\x00LOT  a lot's state as record REC left it (a node): the flow's
//	              lotState, the flags of its ancestry, its origin mines'
//	              latest extractions, and the nodes that continue it
//	c/REC\x00LOT  how often that state was continued, and by which first
//	i/REC         what a custody record's successors need of it
//	n/LOT         the record that created the lot
//	t/LOT         the lot's custody term (holder, named labs)
//	h/LOT         the lot's head: its latest record, and its node
//	w/KEY\x00T\x00I the running tally KEY after the extraction at index I,
//	              taken at log time T: the capacity windows
//	x/REC         the window flags of extraction REC
//	F/FLAGKEY     a flag ([ReplayFlagKey]), listed once
//	cf/FLAGKEY    set when a correction withdrew the flag
//	L/LOT         the lot's summary ([ReplayLot])
//
// A flag raised by a record joins the nodes the record makes for the lots
// it names; a flag raised later on an earlier state (a second
// continuation of a record, an assay of an earlier state) joins that node
// and every node that continues it, so that a lot's flags are exactly the
// flags of its ancestry, as [Verify] finds them in its bundle.
//
// What a Replay does not follow: a registry record that, logged later,
// changes how earlier records are judged (a revocation dating a key's
// compromise back, a rotation whose consent turns out revoked). Those
// raise KEY_MISUSE, KEY_RECOVERY or REVOCATION_BACKDATED on records the
// Replay has already passed: [ReplayResult.Parties] names the party, so
// that its lots can be verified in full.
type Replay struct {
	r *run
	// pending are the lots whose summaries [Replay.ApplyDeferred] left
	// to [Replay.Flush].
	pending map[string]bool
}

// A ReplayStore holds a Replay's state. Writes must be visible to later
// reads (a transaction that reads its own writes).
type ReplayStore interface {
	// Get returns key's value, or nil if it has none.
	Get(key []byte) ([]byte, error)
	Set(key, value []byte) error
	Delete(key []byte) error
	// Last returns the value of the last key with prefix that sorts
	// before before, or nil if there is none.
	Last(prefix, before []byte) ([]byte, error)
}

// A ReplayRecord is one record of the log, as a Replay takes it.
type ReplayRecord struct {
	Index   uint64
	ID      tlog.RecordID
	Env     *pb.Envelope
	St      *pb.Statement
	LogTime time.Time // when the log integrated it (its leaf's time)
	Extra   []byte    // its leaf's extra: the running tallies
	// Corrects is, for a correction, the record it corrects, and Later
	// the records of the correction's lot between the two, in log order,
	// which the caller reads from the log ([Replay.Apply] needs them).
	Corrects *ReplayRecord
	Later    []ReplayRecord
}

// ReplayResult says what one record changed.
type ReplayResult struct {
	// Lots are the lots whose summaries changed.
	Lots []string
	// Registry is set for a registry record.
	Registry bool
	// Parties names a party whose earlier records the record may judge
	// anew (a key revocation or rotation): their flags need a full
	// verification of the party's lots.
	Parties []string
	// Corrected names a lot whose correction the replay did not follow
	// (of a record the lot had moved on from through a transformation, or
	// a state continued twice): its listed flags are those of the records
	// as first signed, which only a full verification of the lot brings up
	// to date.
	Corrected []string
}

// A ReplayLot is a lot's summary as a Replay keeps it.
type ReplayLot struct {
	Verdict pb.Verdict
	// Rules are the rules of the flags that count in the verdict: not
	// those of flags a correction withdrew.
	Rules       []string
	Holder      string
	InTransitTo string
	Product     pb.Product
	// Keys are the keys of the lot's flags (as many as it has); Derived those of them that
	// the lot's head makes (in transit, a lot's Sb per mine), which go
	// when the head moves on.
	Keys    []string
	Derived []string
	// Extra are the keys of flags a full verification found that stay
	// with the lot (INVALID).
	Extra []string
	// Held are the keys of lot-year flags a full verification found of
	// the lot as its head record HeldAt left it, which the replay does not
	// derive itself (of corrected values it did not follow): listed until
	// the head moves on.
	Held   []string
	HeldAt string
}

// Key prefixes a reader of a Replay's store lists.
const (
	ReplayFlagPrefix = "F/"
	ReplayLotPrefix  = "L/"
)

// ReplayFlagKey is the key a flag is listed under: log index
// (zero-padded, so keys sort as the log), rule, lot, and a hash of the
// message.
func ReplayFlagKey(f *pb.Flag) string {
	h := sha256.Sum256([]byte(f.GetMessage()))
	return fmt.Sprintf("%020d|%s|%s|%x", f.GetIndex(), f.GetRule(), f.GetLotId(), h[:8])
}

// NewReplay returns a Replay of a log whose first registrar key is
// registrar, under cfg. Its registry starts empty: a Replay resumed from a
// store must be given the log's registry records again first
// ([Replay.ApplyRegistry]), which are few.
func NewReplay(registrar ed25519.PublicKey, cfg Config) *Replay {
	r := &run{cfg: cfg, reg: registry.NewMemory(), retiredBy: map[string]string{}, reached: map[string]reach{}, addedBy: map[string]*entry{}}
	r.rules = registry.Registry{Registrar: registry.NewRegistrar(registrar), Reader: r.reg, RevocationReach: cfg.RevocationReach}
	return &Replay{r: r, pending: map[string]bool{}}
}

func (p *Replay) entry(in ReplayRecord) *entry {
	return &entry{idx: in.Index, rid: in.ID, id: in.ID.String(), env: in.Env, st: in.St, time: in.St.GetEventTime().AsTime(),
		leaf: tlog.Leaf{Time: in.LogTime, Record: in.ID, Extra: in.Extra}}
}

// ApplyRegistry applies a registry record to the Replay's registry only:
// for resuming from a store.
func (p *Replay) ApplyRegistry(in ReplayRecord) error {
	_, err := p.r.applyRegistry(p.entry(in), nil)
	return err
}

// Apply replays one record, the next of the log, against the state in s,
// and writes the summaries of the lots it touched.
func (p *Replay) Apply(s ReplayStore, in ReplayRecord) (ReplayResult, error) {
	res, err := p.ApplyDeferred(s, in)
	if err != nil {
		return res, err
	}
	return res, p.Flush(s)
}

// ApplyDeferred replays one record as Apply does, but leaves the
// summaries of the lots it touched (ReplayResult.Lots) to [Replay.Flush],
// so that a batch of records writes each lot's summary once: call Flush
// before the state in s is taken as replayed up to the record (committed
// with the position past it). A summary is a function of the lot's
// stored state alone (its head, its node, its windows, the flags marked
// corrected) and the registry, so the summary Flush writes is the one
// Apply would have written after the last record of the batch that
// touched the lot; a registry record or a correction flushes what is
// pending first.
func (p *Replay) ApplyDeferred(s ReplayStore, in ReplayRecord) (ReplayResult, error) {
	r := p.r
	if registry.IsRegistryStatement(in.St) || in.St.GetCorrection() != nil {
		if err := p.Flush(s); err != nil {
			return ReplayResult{}, err
		}
	}
	e := p.entry(in)
	r.recs, r.byID, r.cands, r.errs = []*entry{e}, map[string]*entry{e.id: e}, nil, nil
	if len(r.geo) > 4096 {
		r.geo = nil
	}
	if _, err := r.applyRegistry(e, nil); err != nil {
		return ReplayResult{}, fmt.Errorf("index %d: %w", e.idx, err)
	}
	if registry.IsRegistryStatement(e.st) {
		res := ReplayResult{Registry: true}
		switch b := e.st.GetBody().(type) {
		case *pb.Statement_KeyRevocation:
			res.Parties = []string{b.KeyRevocation.GetPartyId()}
		case *pb.Statement_KeyRotation:
			res.Parties = []string{b.KeyRotation.GetPartyId()}
		}
		return res, nil
	}
	if c := e.st.GetCorrection(); c != nil {
		res, err := p.correct(s, in, c)
		if err != nil {
			return res, err
		}
		// The correction's own checks, as a full verification makes them
		// of every record in a lot's ancestry: its time, and its keys as
		// the registry stands (a key the registrar added alone, say).
		r.recs, r.byID, r.cands, r.errs = []*entry{e}, map[string]*entry{e.id: e}, nil, nil
		r.timeChecks()
		r.keyChecks()
		var own []FlagAt
		for _, cd := range r.cands {
			own = append(own, FlagAt{Flag: cd.flag, Rec: e.id, St: e.st})
		}
		if len(own) > 0 {
			lots, err := p.addFlagsTouched(s, c.GetLotId(), own, true)
			if err != nil {
				return res, err
			}
			res.Lots = union(res.Lots, lots)
		}
		return res, nil
	}
	x := &replayTx{p: p, s: s, e: e, f: &flow{states: map[skey]*lotState{}, conts: map[skey][]*entry{}, created: map[string]*entry{}, custody: map[string]*custodyTerm{}, usedUp: map[skey]bool{}},
		nodes: map[skey]*node{}, loadedTerms: map[string]*custodyTerm{}, touched: map[string]bool{}}
	if err := x.load(); err != nil {
		return ReplayResult{}, err
	}
	r.step(x.f, e)
	r.timeChecks()
	r.keyChecks()
	if len(r.errs) > 0 {
		return ReplayResult{}, fmt.Errorf("index %d: %s", e.idx, r.errs[0])
	}
	if err := x.harvest(); err != nil {
		return ReplayResult{}, err
	}
	return ReplayResult{Lots: slices.Sorted(maps.Keys(x.touched))}, nil
}

// A node is one lot's state as one record left it, with what a lot's
// summary needs of its ancestry.
type node struct {
	Lot     string
	Holder  string
	Wet     float64
	Moist   float64
	Sb      float64
	Comp    map[string]float64
	Product pb.Product
	Transit string // the dispatch awaiting its receipt
	Loc     []byte
	Gained  float64
	Lost    map[string]float64
	// Flags are the keys of the flags of the node's ancestry.
	Flags []string
	// Mines are the origin mines' latest extractions in the ancestry;
	// National the latest extraction in the national country.
	Mines    map[string]extRef
	National *extRef
	// Next are the nodes that continue this one.
	Next []nodeRef
}

type extRef struct {
	ID  string
	Idx uint64
}

type nodeRef struct {
	Rec string
	Lot string
}

// recInfo is what a custody record's successors need of it.
type recInfo struct {
	Idx   uint64
	Party string
	T     int64  // event time, Unix ns
	LT    int64  // log time, Unix ns
	St    []byte // a dispatch's statement
}

// maxContinuations bounds the continuations of one state the replay
// takes from its store: far more than any log holds (each is a record
// that spends the same material again), and a guard against a damaged
// count.
const maxContinuations = 1 << 20

type contInfo struct {
	N     int
	First string
	Last  string // the record counted last
}

type headInfo struct {
	Rec      string
	Node     string // the record of the lot's node
	Consumed bool
}

type windowFlags struct {
	Mine     string
	National string
}

func nodeKey(k skey) []byte { return []byte("s/" + k.rec + "\x00" + k.lot) }

// replayTx is the replay of one record.
type replayTx struct {
	p *Replay
	s ReplayStore
	e *entry
	f *flow
	// nodes are the loaded and new nodes, by key.
	nodes       map[skey]*node
	loadedTerms map[string]*custodyTerm
	conts       []skey          // the states the record continues
	touched     map[string]bool // lots whose summaries change
}

func (x *replayTx) get(key []byte, v codable) (bool, error) {
	b, err := x.s.Get(key)
	if err != nil || b == nil {
		return false, err
	}
	if err := decodeInto(b, v); err != nil {
		return false, fmt.Errorf("replay state %q: %w", key, err)
	}
	return true, nil
}

func (x *replayTx) set(key []byte, v codable) error { return x.s.Set(key, encode(v)) }

// rec returns the entry of a custody record the log holds, from its info.
func (x *replayTx) rec(id string) (*entry, error) {
	if e := x.p.r.byID[id]; e != nil {
		return e, nil
	}
	var ri recInfo
	ok, err := x.get([]byte("i/"+id), &ri)
	if err != nil || !ok {
		return nil, err
	}
	e := &entry{idx: ri.Idx, id: id, time: time.Unix(0, ri.T).UTC(), leaf: tlog.Leaf{Time: time.Unix(0, ri.LT).UTC()}}
	e.st = &pb.Statement{PartyId: ri.Party, EventTime: timestamppb.New(e.time)}
	if len(ri.St) > 0 {
		st := &pb.Statement{}
		if err := proto.Unmarshal(ri.St, st); err != nil {
			return nil, fmt.Errorf("replay state of record %s: %w", id, err)
		}
		e.st = st
	}
	x.p.r.byID[id] = e
	return e, nil
}

// node loads the node of k, or nil.
func (x *replayTx) node(k skey) (*node, error) {
	if n, ok := x.nodes[k]; ok {
		return n, nil
	}
	n := &node{}
	ok, err := x.get(nodeKey(k), n)
	if err != nil {
		return nil, err
	}
	if !ok {
		n = nil
	}
	x.nodes[k] = n
	return n, nil
}

func (x *replayTx) state(n *node) (*lotState, error) {
	s := &lotState{lot: n.Lot, holder: n.Holder, wet: n.Wet, moist: n.Moist, sb: n.Sb, comp: maps.Clone(n.Comp), product: n.Product, gained: n.Gained, lost: maps.Clone(n.Lost)}
	if s.comp == nil {
		s.comp = map[string]float64{}
	}
	if len(n.Loc) > 0 {
		s.loc = &pb.Location{}
		if err := proto.Unmarshal(n.Loc, s.loc); err != nil {
			return nil, err
		}
	}
	if n.Transit != "" {
		t, err := x.rec(n.Transit)
		if err != nil {
			return nil, err
		}
		s.transit = t
	}
	return s, nil
}

// links returns the (record, lot) states a statement continues or
// assays.
func links(st *pb.Statement) []skey {
	switch b := st.GetBody().(type) {
	case *pb.Statement_Dispatch:
		return []skey{{b.Dispatch.GetCustodyLink(), b.Dispatch.GetLotId()}}
	case *pb.Statement_Receipt:
		return []skey{{b.Receipt.GetDispatchLink(), b.Receipt.GetLotId()}}
	case *pb.Statement_Assay:
		return []skey{{b.Assay.GetSubjectLink(), b.Assay.GetLotId()}}
	case *pb.Statement_Transformation:
		var out []skey
		for _, in := range b.Transformation.GetInputs() {
			out = append(out, skey{in.GetLink(), in.GetLotId()})
		}
		return out
	}
	return nil
}

// created returns the lots a statement creates.
func created(st *pb.Statement) []string {
	switch b := st.GetBody().(type) {
	case *pb.Statement_Extraction:
		return []string{b.Extraction.GetLotId()}
	case *pb.Statement_Transformation:
		var out []string
		for _, o := range b.Transformation.GetOutputs() {
			out = append(out, o.GetLotId())
		}
		return out
	}
	return nil
}

// load fills the flow with the states, continuations, creations and
// custody terms the record reads.
func (x *replayTx) load() error {
	f := x.f
	_, isAssay := x.e.st.GetBody().(*pb.Statement_Assay)
	for _, k := range links(x.e.st) {
		t, err := x.rec(k.rec)
		if err != nil {
			return err
		}
		n, err := x.node(k)
		if err != nil {
			return err
		}
		if t == nil || n == nil {
			continue // the flow treats it as a link outside the log
		}
		s, err := x.state(n)
		if err != nil {
			return err
		}
		f.states[k] = s
		if isAssay {
			continue
		}
		x.conts = append(x.conts, k)
		var c contInfo
		if _, err := x.get([]byte("c/"+k.rec+"\x00"+k.lot), &c); err != nil {
			return err
		}
		if c.Last == x.e.id {
			// Replayed again (a batch cut short by a crash): this record
			// was counted already.
			c.N--
		}
		if c.N > maxContinuations {
			return fmt.Errorf("replay state %q: %d continuations", "c/"+k.rec+"\x00"+k.lot, c.N)
		}
		if c.N > 0 {
			first, err := x.rec(c.First)
			if err != nil {
				return err
			}
			if first == nil {
				first = t
			}
			for range c.N {
				f.conts[k] = append(f.conts[k], first)
			}
		}
	}
	for _, lot := range created(x.e.st) {
		b, err := x.s.Get([]byte("n/" + lot))
		if err != nil {
			return err
		}
		if b != nil && string(b) != x.e.id { // not this record, replayed again
			prev, err := x.rec(string(b))
			if err != nil {
				return err
			}
			if prev != nil {
				f.created[lot] = prev
			}
		}
	}
	var lots []string
	switch b := x.e.st.GetBody().(type) {
	case *pb.Statement_Assay:
		lots = []string{b.Assay.GetLotId()}
	case *pb.Statement_LabNomination:
		lots = []string{b.LabNomination.GetLotId()}
	}
	for _, lot := range lots {
		var t custodyTerm
		var tj termInfo
		ok, err := x.get([]byte("t/"+lot), &tj)
		if err != nil {
			return err
		}
		if ok {
			t = custodyTerm{holder: tj.Holder, labs: tj.Labs}
			f.custody[lot] = &t
			x.loadedTerms[lot] = &t
		}
	}
	return nil
}

// harvest writes what the record changed: its nodes and their flags, the
// flags it raised on earlier states, continuations, creations, custody
// terms, heads, windows and the summaries of the lots it touched.
func (x *replayTx) harvest() error {
	r, e, f := x.p.r, x.e, x.f
	// The record's nodes, inheriting their ancestry's flags and mines.
	var mine []skey
	for k := range f.states {
		if k.rec == e.id {
			mine = append(mine, k)
		}
	}
	slices.SortFunc(mine, func(a, b skey) int { return strings.Compare(a.lot, b.lot) })
	inflow := func(lot string) []skey {
		t := e.st.GetTransformation()
		if t == nil {
			return x.conts
		}
		isOut := slices.ContainsFunc(t.GetOutputs(), func(o *pb.TransformationOutput) bool { return o.GetLotId() == lot })
		var out []skey
		for _, k := range x.conts {
			if isOut || k.lot == lot {
				out = append(out, k)
			}
		}
		return out
	}
	for _, k := range mine {
		s := f.states[k]
		n := &node{Lot: s.lot, Holder: s.holder, Wet: s.wet, Moist: s.moist, Sb: s.sb, Comp: s.comp, Product: s.product, Gained: s.gained, Lost: s.lost}
		if s.transit != nil {
			n.Transit = s.transit.id
		}
		if s.loc != nil {
			b, err := proto.Marshal(s.loc)
			if err != nil {
				return err
			}
			n.Loc = b
		}
		for _, in := range inflow(k.lot) {
			prev, err := x.node(in)
			if err != nil {
				return err
			}
			if prev == nil {
				continue
			}
			n.Flags = union(n.Flags, prev.Flags)
			for m, ref := range prev.Mines {
				if cur, ok := n.Mines[m]; !ok || ref.Idx > cur.Idx {
					if n.Mines == nil {
						n.Mines = map[string]extRef{}
					}
					n.Mines[m] = ref
				}
			}
			if prev.National != nil && (n.National == nil || prev.National.Idx > n.National.Idx) {
				nat := *prev.National
				n.National = &nat
			}
			if nx := (nodeRef{k.rec, k.lot}); !slices.Contains(prev.Next, nx) {
				prev.Next = append(prev.Next, nx)
			}
			if err := x.set(nodeKey(in), prev); err != nil {
				return err
			}
		}
		if xt := e.st.GetExtraction(); xt != nil {
			p := r.party(e.st.GetPartyId())
			if registry.HasRole(p, pb.Role_ROLE_MINE) {
				n.Mines = map[string]extRef{e.st.GetPartyId(): {e.id, e.idx}}
				if p.GetRegistration().GetCountry() == r.cfg.NationalCountry {
					n.National = &extRef{e.id, e.idx}
				}
			}
		}
		x.nodes[k] = n
	}
	// A transformation's inputs it used up: the lot as it was, which is
	// what the lot's summary reports, with the transformation in its
	// history (its flags are the lot's too).
	consumed := map[string]bool{}
	if t := e.st.GetTransformation(); t != nil {
		for _, in := range t.GetInputs() {
			k := skey{e.id, in.GetLotId()}
			if _, ok := f.states[k]; ok || consumed[k.lot] {
				continue
			}
			prev, err := x.node(skey{in.GetLink(), in.GetLotId()})
			if err != nil {
				return err
			}
			if prev == nil {
				continue
			}
			n := *prev
			n.Flags, n.Next = slices.Clone(prev.Flags), nil
			if nx := (nodeRef{k.rec, k.lot}); !slices.Contains(prev.Next, nx) {
				prev.Next = append(prev.Next, nx)
			}
			if err := x.set(nodeKey(skey{in.GetLink(), in.GetLotId()}), prev); err != nil {
				return err
			}
			x.nodes[k] = &n
			mine = append(mine, k)
			consumed[k.lot] = true
		}
	}
	// Flags: on the record's nodes, or (raised later on an earlier
	// state) on that state and every state continuing it.
	type late struct {
		at  skey
		key string
	}
	var lates []late
	for _, c := range r.cands {
		var at []skey
		switch {
		case c.rec == e && len(mine) > 0:
			for _, k := range mine {
				if len(c.lots) == 0 || slices.Contains(c.lots, k.lot) {
					at = append(at, k)
				}
			}
		case c.rec == e:
			// A record that makes no state: an assay joins the history
			// of its subject.
			if a := e.st.GetAssay(); a != nil {
				at = []skey{{a.GetSubjectLink(), a.GetLotId()}}
			}
		default:
			for _, l := range c.lots {
				at = append(at, skey{c.rec.id, l})
			}
		}
		if len(at) == 0 {
			continue
		}
		key, err := x.putFlag(c.flag)
		if err != nil {
			return err
		}
		for _, k := range at {
			if k.rec == e.id {
				x.nodes[k].Flags = union(x.nodes[k].Flags, []string{key})
			} else {
				lates = append(lates, late{k, key})
			}
		}
	}
	for _, k := range mine {
		if err := x.set(nodeKey(k), x.nodes[k]); err != nil {
			return err
		}
	}
	for _, l := range lates {
		if err := x.propagate(l.at, l.key); err != nil {
			return err
		}
	}
	// Continuations, creations, custody terms, the record's info.
	for _, k := range x.conts {
		c := contInfo{N: len(f.conts[k])}
		if c.N == 0 {
			continue
		}
		c.First, c.Last = f.conts[k][0].id, e.id
		if err := x.set([]byte("c/"+k.rec+"\x00"+k.lot), &c); err != nil {
			return err
		}
	}
	for _, lot := range created(e.st) {
		if f.created[lot] == e {
			if err := x.s.Set([]byte("n/"+lot), []byte(e.id)); err != nil {
				return err
			}
		}
	}
	for lot, t := range f.custody {
		if x.loadedTerms[lot] == t {
			continue
		}
		if err := x.set([]byte("t/"+lot), &termInfo{t.holder, t.labs}); err != nil {
			return err
		}
	}
	switch e.st.GetBody().(type) {
	case *pb.Statement_Extraction, *pb.Statement_Dispatch, *pb.Statement_Receipt, *pb.Statement_Transformation:
		ri := recInfo{Idx: e.idx, Party: e.st.GetPartyId(), T: e.time.UnixNano(), LT: e.logTime().UnixNano()}
		if e.st.GetDispatch() != nil {
			b, err := proto.Marshal(e.st)
			if err != nil {
				return err
			}
			ri.St = b
		}
		if err := x.set([]byte("i/"+e.id), &ri); err != nil {
			return err
		}
	}
	if xt := e.st.GetExtraction(); xt != nil {
		if err := x.windows(xt); err != nil {
			return err
		}
	}
	// Heads: the record is the head of every lot it names (not an assay's
	// or a nomination's).
	for _, lot := range statementLots(e.st) {
		h := headInfo{Rec: e.id, Node: e.id, Consumed: consumed[lot]}
		if err := x.set([]byte("h/"+lot), &h); err != nil {
			return err
		}
		x.touched[lot] = true
	}
	for lot := range x.touched {
		x.p.pending[lot] = true
	}
	return nil
}

// Flush writes the summaries [Replay.ApplyDeferred] left pending.
func (p *Replay) Flush(s ReplayStore) error {
	if len(p.pending) == 0 {
		return nil
	}
	r := p.r
	r.byID, r.cands, r.errs = map[string]*entry{}, nil, nil
	x := &replayTx{p: p, s: s, nodes: map[skey]*node{}, touched: map[string]bool{}}
	for _, lot := range slices.Sorted(maps.Keys(p.pending)) {
		if err := x.summarize(lot); err != nil {
			return err
		}
		delete(p.pending, lot)
	}
	return nil
}

// union returns a with the keys of b it lacks.
func union(a, b []string) []string {
	for _, k := range b {
		if !slices.Contains(a, k) {
			a = append(a, k)
		}
	}
	return a
}

func (x *replayTx) putFlag(f *pb.Flag) (string, error) {
	key := ReplayFlagKey(f)
	b, err := proto.Marshal(f)
	if err != nil {
		return "", err
	}
	for _, k := range flagKeys(f, key) {
		v := b
		if k[0] != 'F' {
			v = nil // an index entry
		}
		if err := x.s.Set([]byte(k), v); err != nil {
			return "", err
		}
	}
	return key, nil
}

// deleteFlag deletes the flag listed under key, and its index entries.
func (x *replayTx) deleteFlag(key string) error {
	b, err := x.s.Get([]byte(ReplayFlagPrefix + key))
	if err != nil || b == nil {
		return err
	}
	f := &pb.Flag{}
	if err := proto.Unmarshal(b, f); err != nil {
		return err
	}
	// The index entries first, the flag last: a store committed between
	// two of these deletes (a transaction that filled up) and replayed
	// again finds the flag and deletes what is left.
	keys := flagKeys(f, key)
	for i := len(keys) - 1; i >= 0; i-- {
		if err := x.s.Delete([]byte(keys[i])); err != nil {
			return err
		}
	}
	return nil
}

// flagKeys returns the keys a flag is stored under: its own, and its
// index entries by rule and by party.
func flagKeys(f *pb.Flag, key string) []string {
	out := []string{ReplayFlagPrefix + key, ReplayFlagIndex(f.GetRule(), "") + key}
	if p := f.GetPartyId(); p != "" {
		out = append(out, ReplayFlagIndex("", p)+key)
	}
	return out
}

// ReplayFlagIndex returns the prefix of the keys to list flags of rule,
// or else of party, or else all flags, from: each key is the prefix and
// a flag key, under which [ReplayFlagPrefix] holds the flag.
func ReplayFlagIndex(rule, party string) string {
	switch {
	case rule != "":
		return "R/" + rule + "\x00"
	case party != "":
		return "P/" + party + "\x00"
	}
	return ReplayFlagPrefix
}

// ReplayLotIndex returns the prefix of the keys to list lots of a rule,
// or else of a verdict, or else held by (or in transit to) party, or
// else all lots, from: each key is the prefix and a lot id, under which
// [ReplayLotPrefix] holds the lot's summary.
func ReplayLotIndex(rule string, verdict pb.Verdict, party string) string {
	switch {
	case rule != "":
		return "LR/" + rule + "\x00"
	case verdict != pb.Verdict_VERDICT_UNSPECIFIED:
		return fmt.Sprintf("LV/%d\x00", verdict)
	case party != "":
		return "LH/" + party + "\x00"
	}
	return ReplayLotPrefix
}

// lotIndexKeys returns the index entries of a lot's summary.
func lotIndexKeys(lot string, sum ReplayLot) []string {
	out := []string{ReplayLotIndex("", sum.Verdict, "") + lot}
	for _, r := range sum.Rules {
		out = append(out, ReplayLotIndex(r, 0, "")+lot)
	}
	for _, p := range []string{sum.Holder, sum.InTransitTo} {
		if p != "" {
			out = append(out, ReplayLotIndex("", 0, p)+lot)
		}
	}
	return out
}

// propagate adds flag key to the node at k and every node continuing it,
// and marks their lots for a new summary.
func (x *replayTx) propagate(k skey, key string) error {
	stack := []skey{k}
	seen := map[skey]bool{}
	for len(stack) > 0 {
		k := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[k] {
			continue
		}
		seen[k] = true
		n, err := x.node(k)
		if err != nil {
			return err
		}
		if n == nil {
			continue
		}
		if !slices.Contains(n.Flags, key) {
			n.Flags = append(n.Flags, key)
			if err := x.set(nodeKey(k), n); err != nil {
				return err
			}
		}
		x.touched[k.lot] = true
		for _, nx := range n.Next {
			stack = append(stack, skey{nx.Rec, nx.Lot})
		}
	}
	return nil
}

func be8(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// windows keeps the running tallies of extraction e's leaf by log time,
// and flags its mine's and its country's capacity windows that end at it,
// as volume does.
func (x *replayTx) windows(xt *pb.Extraction) error {
	r, e := x.p.r, x.e
	tallies, err := index.ParseExtra(e.leaf.Extra)
	if err != nil {
		return nil // a log that does not tally: no windows
	}
	for _, t := range tallies {
		k := append([]byte("w/"+t.Key+"\x00"), be8(uint64(e.logTime().UnixNano()))...)
		k = append(append(k, 0), be8(e.idx)...)
		if err := x.s.Set(k, encode(&tallyInfo{t, e.id})); err != nil {
			return err
		}
	}
	if r.cfg.CapacityWindow <= 0 {
		return nil
	}
	window := func(key string) (windowTotal, bool, error) {
		last, ok := index.Find(tallies, key)
		if !ok {
			return windowTotal{}, false, nil
		}
		start := e.logTime().Add(-r.cfg.CapacityWindow)
		prefix := []byte("w/" + key + "\x00")
		b, err := x.s.Last(prefix, append(slices.Clone(prefix), be8(uint64(start.UnixNano()))...))
		if err != nil {
			return windowTotal{}, false, err
		}
		w := windowTotal{evidence: []string{e.id}}
		var first index.Tally
		if b != nil {
			var v tallyInfo
			if err := decodeInto(b, &v); err != nil {
				return windowTotal{}, false, err
			}
			first = v.T
			w.evidence = append(w.evidence, v.Rec)
		}
		w.between(first, last)
		return w, true, nil
	}
	m := e.st.GetPartyId()
	p := r.party(m)
	if !registry.HasRole(p, pb.Role_ROLE_MINE) {
		return nil
	}
	var wf windowFlags
	// raised stores the flag check raises, if it raises one, and returns
	// its key.
	raised := func(check func()) (string, error) {
		n0 := len(r.cands)
		defer func() { r.cands = r.cands[:n0] }()
		if check(); len(r.cands) == n0 {
			return "", nil
		}
		return x.putFlag(r.cands[n0].flag)
	}
	if prof := p.GetRegistration().GetMine(); prof != nil {
		w, ok, err := window(index.MineTally(m))
		if err != nil {
			return err
		}
		if ok {
			if wf.Mine, err = raised(func() { r.capacityCheck(e, m, prof, w, w.evidence) }); err != nil {
				return err
			}
		}
	}
	if p.GetRegistration().GetCountry() == r.cfg.NationalCountry && r.cfg.NationalOutputKgSbPerYear > 0 {
		w, ok, err := window(index.CountryTally(r.cfg.NationalCountry))
		if err != nil {
			return err
		}
		if ok {
			if wf.National, err = raised(func() { r.nationalCheck(e, w) }); err != nil {
				return err
			}
		}
	}
	if wf == (windowFlags{}) {
		return nil
	}
	return x.set([]byte("x/"+e.id), &wf)
}

// summarize writes a lot's summary from its head: the flags of its
// ancestry, its origin mines' windows, and what the head itself makes (in
// transit; more Sb from one mine than a year of it), as analyse and
// volume report them for the lot.
func (x *replayTx) summarize(lot string) error {
	r := x.p.r
	var h headInfo
	ok, err := x.get([]byte("h/"+lot), &h)
	if err != nil || !ok {
		return err
	}
	n, err := x.node(skey{h.Node, lot})
	if err != nil || n == nil {
		return err
	}
	var old ReplayLot
	if _, err := x.get([]byte(ReplayLotPrefix+lot), &old); err != nil {
		return err
	}
	keys := slices.Clone(n.Flags)
	addWindow := func(id string, national bool) error {
		var wf windowFlags
		ok, err := x.get([]byte("x/"+id), &wf)
		if err != nil || !ok {
			return err
		}
		if k := wf.Mine; !national && k != "" {
			keys = union(keys, []string{k})
		}
		if k := wf.National; national && k != "" {
			keys = union(keys, []string{k})
		}
		return nil
	}
	if r.cfg.CapacityWindow > 0 {
		for _, m := range slices.Sorted(maps.Keys(n.Mines)) {
			if err := addWindow(n.Mines[m].ID, false); err != nil {
				return err
			}
		}
		if n.National != nil {
			if err := addWindow(n.National.ID, true); err != nil {
				return err
			}
		}
	}
	// What the head makes.
	n0 := len(r.cands)
	head, err := x.rec(h.Rec)
	if err != nil {
		return err
	}
	if !h.Consumed && n.Transit != "" && n.Transit == h.Rec && head != nil {
		r.inTransit(head, lot)
	}
	if r.cfg.CapacityWindow > 0 {
		for _, m := range slices.Sorted(maps.Keys(n.Mines)) {
			prof := r.party(m).GetRegistration().GetMine()
			if prof == nil {
				continue
			}
			last, err := x.rec(n.Mines[m].ID)
			if err != nil || last == nil {
				return err
			}
			r.lotYearCheck(last, lot, m, prof, n.Comp[m], nil)
		}
	}
	var derived []string
	for _, c := range r.cands[n0:] {
		k, err := x.putFlag(c.flag)
		if err != nil {
			return err
		}
		derived = append(derived, k)
	}
	r.cands = r.cands[:n0]
	for _, k := range old.Derived {
		if slices.Contains(derived, k) {
			continue
		}
		if slices.Contains(old.Extra, k) {
			// A flag a correction withdrew (keepDerived) that the lot
			// raised again and raises no more: listed, withdrawn, again.
			corr, err := x.s.Get([]byte(correctedFlagPrefix + k))
			if err != nil {
				return err
			}
			if corr != nil {
				if err := x.withdraw(k, string(corr)); err != nil {
					return err
				}
			}
			continue
		}
		if err := x.deleteFlag(k); err != nil {
			return err
		}
	}
	keys = union(keys, derived)
	keys = union(keys, old.Extra)
	sum := ReplayLot{Holder: n.Holder, Product: n.Product, Keys: keys, Derived: derived, Extra: old.Extra}
	if old.HeldAt == h.Rec {
		sum.Held, sum.HeldAt = old.Held, old.HeldAt
		sum.Keys = union(sum.Keys, old.Held)
	} else {
		for _, k := range old.Held {
			if !slices.Contains(sum.Keys, k) {
				if err := x.deleteFlag(k); err != nil {
					return err
				}
			}
		}
	}
	keys = sum.Keys
	if head != nil && n.Transit == h.Rec && !h.Consumed {
		sum.InTransitTo = head.st.GetDispatch().GetToPartyId()
	}
	sum.Verdict = pb.Verdict_VERDICT_VERIFIED
	for _, k := range keys {
		rule := flagKeyRule(k)
		if fixed, err := x.s.Get([]byte(correctedFlagPrefix + k)); err != nil {
			return err
		} else if fixed != nil && !slices.Contains(derived, k) {
			// Listed, but withdrawn by a correction: not in the verdict
			// nor the lot's rules, unless the lot's state raises it
			// again now.
			continue
		}
		if !slices.Contains(sum.Rules, rule) {
			sum.Rules = append(sum.Rules, rule)
		}
		if rule == RuleInvalid {
			sum.Verdict = pb.Verdict_VERDICT_INVALID
		} else if sum.Verdict == pb.Verdict_VERDICT_VERIFIED {
			sum.Verdict = pb.Verdict_VERDICT_FLAGGED
		}
	}
	slices.Sort(sum.Rules)
	oldIdx, newIdx := lotIndexKeys(lot, old), lotIndexKeys(lot, sum)
	if old.Verdict == pb.Verdict_VERDICT_UNSPECIFIED {
		oldIdx = nil // no summary yet
	}
	for _, k := range oldIdx {
		if !slices.Contains(newIdx, k) {
			if err := x.s.Delete([]byte(k)); err != nil {
				return err
			}
		}
	}
	for _, k := range newIdx {
		if !slices.Contains(oldIdx, k) {
			if err := x.s.Set([]byte(k), nil); err != nil {
				return err
			}
		}
	}
	return x.set([]byte(ReplayLotPrefix+lot), &sum)
}

// flagKeyRule returns the rule of a flag key.
func flagKeyRule(k string) string {
	if parts := strings.SplitN(k, "|", 3); len(parts) == 3 {
		return parts[1]
	}
	return ""
}

// headDerived reports whether f is a flag a lot's summary derives from
// its head, and drops once the head moves on: the lot in transit
// (inTransit), or holding more of a mine's Sb than a year of its capacity
// (lotYearCheck). A full verification reports them too, from its own
// values (a lot's Sb, in the message, may differ from the follower's), so
// addFlags does not fix them into a record's state, where they would
// reach every lot made from it.
func headDerived(f *pb.Flag) bool {
	switch f.GetRule() {
	case RuleUnconfirmedCustody:
		return strings.Contains(f.GetMessage(), inTransitMark)
	case RuleOriginVolume:
		return strings.Contains(f.GetMessage(), lotYearMark)
	}
	return false
}

// A FlagAt is a flag found outside the replay, by a full verification
// of a lot, with the record it is about.
type FlagAt struct {
	Flag *pb.Flag
	Rec  string        // the id of the record at the flag's index
	St   *pb.Statement // its statement
}

// ReplayedElsewhere says whether the replay leaves rule to a full
// verification: the judgements of keys by registry records logged after
// the records they judge ([ReplayResult.Parties]), and a verification
// that fails.
func ReplayedElsewhere(rule string) bool {
	switch rule {
	case RuleKeyMisuse, RuleKeyRecovery, RuleRevocationBackdated, RuleInvalid:
		return true
	}
	return false
}

// AddFlags adds flags a full verification of lot found, of the rules the
// replay leaves to one ([ReplayedElsewhere]; others are ignored): a
// flag about a record joins the states that record left (an assay's, the
// state it assays) and every state continuing them, as a flag the replay
// raises does, so that every lot descending from the record has it; an
// INVALID verdict stays with the lot. Adding a flag twice changes nothing.
func (p *Replay) AddFlags(s ReplayStore, lot string, flags []FlagAt) error {
	return p.addFlags(s, lot, flags, false)
}

// AddAllFlags adds every flag a full verification of lot found, of any
// rule, as AddFlags adds those of the rules it takes: for a lot with a
// correction the replay did not follow ([ReplayResult.Corrected]), whose
// state keeps the flags of its records as first signed, so that its
// listing is never laxer than a full verification (a correction can raise
// flags). Give it no flag the verification marked corrected.
func (p *Replay) AddAllFlags(s ReplayStore, lot string, flags []FlagAt) error {
	return p.addFlags(s, lot, flags, true)
}

func (p *Replay) addFlags(s ReplayStore, lot string, flags []FlagAt, all bool) error {
	_, err := p.addFlagsTouched(s, lot, flags, all)
	return err
}

// addFlagsTouched is addFlags, returning the lots whose summaries it made
// again.
func (p *Replay) addFlagsTouched(s ReplayStore, lot string, flags []FlagAt, all bool) ([]string, error) {
	if err := p.Flush(s); err != nil {
		return nil, err
	}
	x := &replayTx{p: p, s: s, nodes: map[skey]*node{}, touched: map[string]bool{}}
	p.r.byID, p.r.cands = map[string]*entry{}, nil
	// The flags lot's head derives (in transit, a lot-year's volume) are
	// the summary's to make and to drop: not fixed into a node.
	var cur ReplayLot
	if _, err := x.get([]byte(ReplayLotPrefix+lot), &cur); err != nil {
		return nil, err
	}
	// Flags that stay with a lot's summary (Extra), by lot: INVALID with
	// the lot verified, and a flag on a record of no lot's state (a
	// registry record) with the lot verified or the lot it names; and
	// lot-year flags the summary does not derive, held while its head
	// stays (Held).
	stay := map[string][]string{}
	var held []string
	for _, fa := range flags {
		rule := fa.Flag.GetRule()
		if !all && !ReplayedElsewhere(rule) {
			continue
		}
		derived := headDerived(fa.Flag)
		if slices.Contains(cur.Derived, ReplayFlagKey(fa.Flag)) || derived && rule == RuleUnconfirmedCustody {
			continue // the summary's to make, and to drop
		}
		k, err := x.putFlag(fa.Flag)
		if err != nil {
			return nil, err
		}
		if derived {
			// A lot-year flag the summary does not make (of the values as
			// corrected, where the follower did not follow the
			// correction) is the lot's, as it stands: not its records'
			// states (the lots made from them have their own), and not
			// once the lot moves on.
			held = append(held, k)
			continue
		}
		if rule == RuleInvalid {
			stay[lot] = append(stay[lot], k)
			continue
		}
		var at []skey
		switch {
		case fa.St.GetAssay() != nil:
			a := fa.St.GetAssay()
			at = []skey{{a.GetSubjectLink(), a.GetLotId()}}
		case fa.St.GetCorrection() != nil:
			// As a full verification shows a correction with the record
			// it corrects: in the reports of that record's lot state and
			// of every state that continues it, descendants included.
			// (A state the follower has not reached yet gets the flag when
			// it does: its own checks of the correction raise it.)
			c := fa.St.GetCorrection()
			at = []skey{{c.GetCorrects(), c.GetLotId()}}
		case fa.St.GetTransformation() != nil && !ReplayedElsewhere(rule):
			// A flag of the mass flow on a transformation (AddAllFlags):
			// the flag's own lot and the lots the transformation made,
			// not its other inputs, which the flow does not flag with it
			// (a differential test found an input listed with a
			// MASS_SURPLUS of another lot's output). Judgements of keys
			// are of every lot the record names.
			at = []skey{{fa.Rec, fa.Flag.GetLotId()}}
			for _, l := range created(fa.St) {
				if l != fa.Flag.GetLotId() {
					at = append(at, skey{fa.Rec, l})
				}
			}
		default:
			for _, l := range statementLots(fa.St) {
				at = append(at, skey{fa.Rec, l})
			}
		}
		if len(at) == 0 {
			l := fa.Flag.GetLotId()
			if l == "" {
				l = lot
			}
			stay[l] = append(stay[l], k)
		}
		for _, k2 := range at {
			if err := x.propagate(k2, k); err != nil {
				return nil, err
			}
		}
	}
	for _, l := range slices.Sorted(maps.Keys(stay)) {
		var sum ReplayLot
		// A lot the follower has not reached yet (verified beside it) gets
		// a summary of these alone, kept when it gets there; listings
		// pass over it until then (Verdict unspecified).
		if _, err := x.get([]byte(ReplayLotPrefix+l), &sum); err != nil {
			return nil, err
		}
		sum.Extra = union(sum.Extra, stay[l])
		if err := x.set([]byte(ReplayLotPrefix+l), &sum); err != nil {
			return nil, err
		}
		x.touched[l] = true
	}
	if len(held) > 0 {
		var h headInfo
		if ok, err := x.get([]byte("h/"+lot), &h); err != nil {
			return nil, err
		} else if ok {
			var sum ReplayLot
			if _, err := x.get([]byte(ReplayLotPrefix+lot), &sum); err != nil {
				return nil, err
			}
			if sum.HeldAt != h.Rec {
				sum.Held = nil
			}
			sum.Held, sum.HeldAt = union(sum.Held, held), h.Rec
			if err := x.set([]byte(ReplayLotPrefix+lot), &sum); err != nil {
				return nil, err
			}
			x.touched[lot] = true
		}
	}
	touched := slices.Sorted(maps.Keys(x.touched))
	for _, l := range touched {
		if err := x.summarize(l); err != nil {
			return nil, err
		}
	}
	return touched, nil
}

// statementLots returns the lots a custody statement makes states of: the
// lots it is the head record of (an assay or a nomination is not one).
// RecordLots returns every lot a statement names: an extraction's,
// dispatch's, receipt's, assay's, lab nomination's or correction's lot, a
// transformation's inputs and outputs.
func RecordLots(st *pb.Statement) []string {
	switch {
	case st.GetAssay() != nil:
		return []string{st.GetAssay().GetLotId()}
	case st.GetLabNomination() != nil:
		return []string{st.GetLabNomination().GetLotId()}
	case st.GetCorrection() != nil:
		return []string{st.GetCorrection().GetLotId()}
	}
	return statementLots(st)
}

func statementLots(st *pb.Statement) []string {
	switch b := st.GetBody().(type) {
	case *pb.Statement_Extraction:
		return []string{b.Extraction.GetLotId()}
	case *pb.Statement_Dispatch:
		return []string{b.Dispatch.GetLotId()}
	case *pb.Statement_Receipt:
		return []string{b.Receipt.GetLotId()}
	case *pb.Statement_Transformation:
		out := created(st)
		for _, in := range b.Transformation.GetInputs() {
			out = append(out, in.GetLotId())
		}
		return out
	}
	return nil
}

// RuleInvalid is the rule of the flag a server lists for a lot whose
// verification fails (verdict INVALID).
const RuleInvalid = "INVALID"
