package main

import (
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
)

// rawCodec passes messages through a proxy as the bytes they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// staleTokenProxy forwards every call to upstream, except that it adds a
// next page token to a listing's first page that answers none: the token
// of a server that restarted (or of another replica) before the listing's
// next page was asked for. The real server then refuses the token, as it
// refuses every token it did not seal since it started.
func staleTokenProxy(t *testing.T, upstream string) string {
	t.Helper()
	cc, err := grpc.NewClient(upstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	const stale = "c2VhbGVkLWJ5LXRoZS1zZXJ2ZXItYmVmb3JlLWl0cy1yZXN0YXJ0LS0tLS0tLS0tLS0"
	handler := func(_ any, ss grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(ss)
		in, _ := metadata.FromIncomingContext(ss.Context())
		out := metadata.MD{}
		if v := in.Get("authorization"); len(v) > 0 {
			out.Set("authorization", v...)
		}
		cs, err := cc.NewStream(metadata.NewOutgoingContext(ss.Context(), out),
			&grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			return err
		}
		var req []byte
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		if err := cs.SendMsg(&req); err != nil {
			return err
		}
		if err := cs.CloseSend(); err != nil {
			return err
		}
		for {
			var resp []byte
			if err := cs.RecvMsg(&resp); err == io.EOF {
				return nil
			} else if err != nil {
				return err // the upstream's status, as it is
			}
			var m interface {
				proto.Message
				GetNextPageToken() string
			}
			switch {
			case strings.HasSuffix(method, "/ListLots"):
				m = &apipb.ListLotsResponse{}
			case strings.HasSuffix(method, "/ListFlags"):
				m = &apipb.ListFlagsResponse{}
			}
			if m != nil {
				if err := proto.Unmarshal(resp, m); err != nil {
					return err
				}
				if m.GetNextPageToken() == "" && !strings.Contains(string(req), stale) {
					switch r := m.(type) {
					case *apipb.ListLotsResponse:
						r.NextPageToken = stale
					case *apipb.ListFlagsResponse:
						r.NextPageToken = stale
					}
				}
				if resp, err = proto.Marshal(m); err != nil {
					return err
				}
			}
			if err := ss.SendMsg(&resp); err != nil {
				return err
			}
		}
	}
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(handler))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// TestListingStaleTokenIsNotUsage_review12: provctl now makes every
// InvalidArgument a listing's RPC answers a usage error (exit 2,
// usageIfInvalid), including the refusal of a page token provctl did not
// get from its user but from the server's previous page. The server's
// tokens are sealed under a key made when the process starts
// (internal/backend/listing.go: "tokens do not outlive a server restart"),
// so a server restarted, or another replica answering, between two pages
// of `provctl list-lots` or `provctl flags` (no --page-token given) makes
// provctl exit 2, "usage": a script told its command line is wrong, which
// it is not, and which it would not retry; the run failed (exit 1), and
// running it again works.
func TestListingStaleTokenIsNotUsage_review12(t *testing.T) {
	c := newCLI(t)
	c.setup()
	t.Setenv("PROVCTL_ADDR", staleTokenProxy(t, os.Getenv("PROVCTL_ADDR")))
	for _, cmd := range []string{"list-lots", "flags"} {
		code, _, errs := c.run(cmd)
		if !strings.Contains(errs, "page_token") {
			t.Fatalf("provctl %s through the proxy: exit %d %s; want the server's refusal of the stale page token", cmd, code, errs)
		}
		if code == exitUsage {
			t.Errorf("provctl %s (no --page-token), whose second page's token (the server's own) the restarted server refuses: exit %d (usage); want %d (failed): %s", cmd, code, exitFailed, errs)
		}
	}
}
