package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestStrangerLabCannotFlood (issue 15): a LAB that the holder of a lot
// did not name cannot assay it, so it can neither flood a competitor's
// lot with assays (the issue appended 6,000 in 1.7 s, after which the
// downstream lot's bundle outgrew gRPC's 4 MiB) nor pin an Afghan-pattern
// assay on it. Every attempt is refused with PermissionDenied (403) and
// writes nothing; once the holder names the lab, its assay is taken.
func TestStrangerLabCannotFlood(t *testing.T) {
	c := ct.New()
	h := start(t, c, t.TempDir(), func(o *server.Options) {
		b := backend.New(o.Store, verifier.Trust{Log: c.LogVerifier, Registrar: c.RegistrarPublic()}, verifier.DefaultConfig())
		t.Cleanup(b.Close)
		o.Verifier = b
	})
	mine := c.AddParty("mine-qa", "Qila Abdullah Mine", "PK", pb.Role_ROLE_MINE)
	exporter := c.AddParty("exp-kar", "Karachi Exporter", "PK", pb.Role_ROLE_EXPORTER)
	rival := c.AddParty("rival-lab", "A Competitor's Lab", "PK", pb.Role_ROLE_LAB)
	lab := c.AddParty("karachi-assay", "Karachi Assay Laboratory", "PK", pb.Role_ROLE_LAB)
	for _, p := range []*ct.Party{mine, exporter, rival, lab} {
		h.submitGRPC(c.Register(p))
	}
	ext := h.submitGRPC(c.Sign(mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L1", MassKg: 10000, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6},
	}}})).GetLeafHash()
	assay := func(by *ct.Party, n int, els ...*pb.ElementConcentration) *pb.Envelope {
		if len(els) == 0 {
			els = []*pb.ElementConcentration{{Element: "Sb", Pct: 9}}
		}
		return c.Sign(by, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Assay{Assay: &pb.Assay{
			LotId: "L1", SubjectLink: ext, SampleId: fmt.Sprintf("S-%d", n), Elements: els,
		}}})
	}
	log := h.store.Log()
	size0, root0 := log.Root()

	// A flood over one stream: every assay refused, in order, nothing written.
	const flood = 500
	stream, err := h.ledger.SubmitStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := range flood {
			if err := stream.Send(&apipb.SubmitStreamRequest{Envelope: assay(rival, i)}); err != nil {
				return
			}
		}
		stream.CloseSend()
	}()
	for i := range flood {
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if codes.Code(r.GetCode()) != codes.PermissionDenied || !strings.Contains(r.GetMessage(), `lab "rival-lab" may not assay lot "L1": its holder has not named it`) {
			t.Fatalf("answer %d: %v %q, want PermissionDenied", i, codes.Code(r.GetCode()), r.GetMessage())
		}
	}
	// The Afghan pattern, over gRPC and REST.
	afghan := assay(rival, flood, &pb.ElementConcentration{Element: "As", Pct: 3}, &pb.ElementConcentration{Element: "Hg", Pct: 0.8})
	if _, err := h.ledger.Submit(t.Context(), &apipb.SubmitRequest{Envelope: afghan}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("gRPC: a stranger lab's Afghan-pattern assay: %v, want PermissionDenied", err)
	}
	body, err := protojson.Marshal(&apipb.SubmitRequest{Envelope: afghan})
	if err != nil {
		t.Fatal(err)
	}
	h.expectHTTPError("POST", "/v1/envelopes", body, http.StatusForbidden, "has not named it")
	// A nomination by someone other than the holder.
	byRival := c.Sign(rival, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_LabNomination{LabNomination: &pb.LabNomination{
		LotId: "L1", CustodyLink: ext, LabPartyIds: []string{lab.ID},
	}}})
	if _, err := h.ledger.Submit(t.Context(), &apipb.SubmitRequest{Envelope: byRival}); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "only the holder names") {
		t.Fatalf("gRPC: a nomination by a non-holder: %v, want PermissionDenied", err)
	}
	if size, root := log.Root(); size != size0 || root != root0 {
		t.Fatalf("refused submissions changed the log: size %d -> %d", size0, size)
	}
	var lot apipb.GetLotResponse
	h.getJSON("/v1/lots/L1", &lot)
	if n := len(lot.GetHistory()); n != 1 {
		t.Fatalf("the lot's history after the attack has %d records, want its extraction only", n)
	}
	rep, err := h.verifier.VerifyLot(t.Context(), &apipb.VerifyLotRequest{LotId: "L1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.GetReport().GetFlags() {
		if f.GetRule() == "ASSAY_MISMATCH" || f.GetRule() == verifier.RuleUnnamedLab {
			t.Fatalf("the stranger's assay reached the lot's verification: %s", rep.GetReport().GetText())
		}
	}

	// The holder names its lab (over REST); the lab's assay is taken, the
	// rival's still is not.
	h.submitHTTP(c.Sign(mine, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_LabNomination{LabNomination: &pb.LabNomination{
		LotId: "L1", CustodyLink: ext, LabPartyIds: []string{lab.ID},
	}}}))
	h.submitGRPC(assay(lab, 0))
	if _, err := h.ledger.Submit(t.Context(), &apipb.SubmitRequest{Envelope: assay(rival, flood+1)}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the rival after the holder named another lab: %v", err)
	}
	h.getJSON("/v1/lots/L1", &lot)
	if got := lot.GetLot().GetNamedLabs(); len(got) != 1 || got[0] != lab.ID {
		t.Fatalf("GET /v1/lots/L1: named labs %v, want [%s]", got, lab.ID)
	}
}
