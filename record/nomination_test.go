package record_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// TestLabNomination: a lab nomination names a lot by id, links to its
// custody record, and names at most MaxNamedLabs valid party ids, each
// once and none the signer's own.
func TestLabNomination(t *testing.T) {
	c := ct.New()
	link := ct.ID(c.Register(c.AddParty("mine-qa", "Mine", "PK", pb.Role_ROLE_MINE)))
	nomination := func(lot, link string, labs ...string) *pb.Statement {
		return &pb.Statement{PartyId: "exp-kar", EventTime: c.At(ct.Day), Body: &pb.Statement_LabNomination{LabNomination: &pb.LabNomination{
			LotId: lot, CustodyLink: link, LabPartyIds: labs}}}
	}
	many := make([]string, record.MaxNamedLabs+1)
	for i := range many {
		many[i] = fmt.Sprintf("lab-%d", i)
	}
	for _, st := range []*pb.Statement{
		nomination("L1", link, "lab-karachi"),
		nomination("L1", link, many[:record.MaxNamedLabs]...),
		nomination("L1", link), // withdraws every lab
	} {
		if err := admit(marshalStatement(t, st)); err != nil {
			t.Errorf("%v: %v", st.GetLabNomination(), err)
		}
	}
	for _, tc := range []struct {
		name, want string
		st         *pb.Statement
	}{
		{"no lot", "lab_nomination.lot_id: missing", nomination("", link, "lab")},
		{"a lot id of other letters", "lab_nomination.lot_id", nomination("L\u04261", link, "lab")},
		{"no link", "lab_nomination.custody_link: missing link", nomination("L1", "", "lab")},
		{"a link that is no record id", "lab_nomination.custody_link", nomination("L1", "QmNotAHash", "lab")},
		{"a lab id with a space", "lab_nomination.lab_party_ids[1]", nomination("L1", link, "lab", "lab two")},
		{"an empty lab id", "lab_nomination.lab_party_ids[0]: missing", nomination("L1", link, "")},
		{"a lab twice", `lab_nomination.lab_party_ids[1]: party "lab" named twice`, nomination("L1", link, "lab", "lab")},
		{"the signer", `lab_nomination.lab_party_ids[0]: "exp-kar" is the signer`, nomination("L1", link, "exp-kar")},
		{"too many", "lab_nomination.lab_party_ids: 17 labs, limit 16", nomination("L1", link, many...)},
	} {
		err := admit(marshalStatement(t, tc.st))
		if !errors.Is(err, record.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a refusal saying %q", tc.name, err, tc.want)
		}
	}
	// The deterministic encoding: a nested field out of order is named.
	head := marshalStatement(t, &pb.Statement{PartyId: "exp-kar", EventTime: c.At(ct.Day)})
	inner := protowire.AppendTag(nil, 3, protowire.BytesType)
	inner = protowire.AppendString(inner, "lab")
	inner = protowire.AppendTag(inner, 1, protowire.BytesType)
	inner = protowire.AppendString(inner, "L1")
	inner = protowire.AppendTag(inner, 2, protowire.BytesType)
	inner = protowire.AppendString(inner, link)
	payload := protowire.AppendBytes(protowire.AppendTag(head, 19, protowire.BytesType), inner)
	var got pb.Statement
	if err := proto.Unmarshal(payload, &got); err != nil || !proto.Equal(&got, nomination("L1", link, "lab")) {
		t.Fatalf("the reordered payload does not decode to the nomination: %v", err)
	}
	if err := admit(payload); !errors.Is(err, record.ErrMalformed) || !strings.Contains(err.Error(), "lab_nomination.") {
		t.Fatalf("a nomination with its fields out of order: %v", err)
	}
}
