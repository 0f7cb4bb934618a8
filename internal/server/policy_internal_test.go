package server

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
)

// TestEveryMethodHasARule: every method the public listener serves has a
// line in methodAccess, and check, filter and the stream wrapper have a
// case for its request and answer types, so that none is open by
// omission; a method not served (reflection) has none. A new RPC fails
// this test until the policy is given its rule.
func TestEveryMethodHasARule(t *testing.T) {
	served := map[string]bool{}
	for _, svc := range []string{
		apipb.LedgerService_ServiceDesc.ServiceName, apipb.CustodyService_ServiceDesc.ServiceName,
		apipb.VerifierService_ServiceDesc.ServiceName, healthpb.Health_ServiceDesc.ServiceName,
	} {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		if err != nil {
			t.Fatal(err)
		}
		ms := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range ms.Len() {
			m := ms.Get(i)
			name := "/" + svc + "/" + string(m.Name())
			served[name] = true
			if methodAccess[name] == 0 {
				t.Errorf("%s has no line in methodAccess", name)
			}
			p := &policy{}
			c := caller{party: "someone"}
			in, out := newMessage(t, m.Input()), newMessage(t, m.Output())
			if m.IsStreamingServer() {
				s := &policyStream{c: c, p: p, lots: map[string]bool{}}
				if !m.IsStreamingClient() && m.Output().FullName() == "provenance.v1.StreamEntriesResponse" {
					continue // reduced entry by entry (TestReadPolicyReducesAnswers)
				}
				if err := s.reduce(out); isNoRule(err) {
					t.Errorf("%s: the stream has no rule for %T", name, out)
				}
				continue
			}
			if err := p.check(t.Context(), c, in); isNoRule(err) {
				t.Errorf("%s: check has no rule for %T", name, in)
			}
			if err := p.filter(t.Context(), c, out); isNoRule(err) {
				t.Errorf("%s: filter has no rule for %T", name, out)
			}
		}
	}
	for name := range methodAccess {
		if !served[name] {
			t.Errorf("methodAccess lists %s, which no service has", name)
		}
	}
	if methodAccess["/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"] != 0 {
		t.Errorf("reflection is open on the public listener")
	}
}

func newMessage(t *testing.T, d protoreflect.MessageDescriptor) any {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil {
		t.Fatal(err)
	}
	return mt.New().Interface()
}

func isNoRule(err error) bool {
	var st interface{ GRPCStatus() *status.Status }
	return errors.As(err, &st) && st.GRPCStatus().Code() == codes.PermissionDenied && strings.Contains(st.GRPCStatus().Message(), "no rule")
}
