//go:build js && wasm

// Command wasm is the console's WebAssembly module: the buyer's verifier
// (package verifier, the same code as `provctl verify`) and the API's
// bearer tokens (package authtoken, the same code as `provctl token`),
// run in the browser. The page calls the functions it sets on the
// global object "provenance":
//
//	verify(lotId, bundleJSON, logKey, registrarPEM, witnessPolicy, keySource) -> {report, fragment, records} | {readError} | {error}
//	loadKey(pem) -> {keyId, publicKey} | {error}
//	token(origin, party) -> {token, expires} | {error}
//	forgetKey() -> {}
//
// The private key given to loadKey stays in this module's memory: no
// function returns it.
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall/js"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/antimony-ledger/provenance/authtoken"
	"github.com/antimony-ledger/provenance/internal/report"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
	"github.com/antimony-ledger/provenance/verifier"
)

// key is the signed-in party's private key, or nil.
var key ed25519.PrivateKey

func main() {
	api := js.Global().Get("Object").New()
	api.Set("verify", fn(verify))
	api.Set("loadKey", fn(loadKey))
	api.Set("token", fn(token))
	api.Set("forgetKey", fn(func([]js.Value) (map[string]any, error) {
		clear(key)
		key = nil
		return map[string]any{}, nil
	}))
	js.Global().Set("provenance", api)
	if ready := js.Global().Get("provenanceReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {} // keep the functions alive
}

// fn wraps f as a JS function that returns an object: f's result, or
// {error: message}. A panic is reported the same way rather than killing
// the module, so one bad bundle does not break the page.
func fn(f func(args []js.Value) (map[string]any, error)) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) (out any) {
		defer func() {
			if r := recover(); r != nil {
				out = js.ValueOf(map[string]any{"error": "internal error in the verifier module"})
			}
		}()
		res, err := f(args)
		if err != nil {
			return js.ValueOf(map[string]any{"error": err.Error()})
		}
		return js.ValueOf(res)
	})
}

func str(args []js.Value, i int) string {
	if i >= len(args) || args[i].Type() != js.TypeString {
		return ""
	}
	return args[i].String()
}

// verify runs verifier.VerifyLot on a bundle (the JSON of GET
// /v1/lots/{lot}/bundle) against the given keys and returns the report
// as protojson, and the lot's report as the compliance file has it
// (report.Fragment, HTML) of the bundle and verdict of this verification.
// keySource says where the keys came from: "pinned" (by the user) or
// "server" (the server's own, /console/server-keys.json); the report
// names them.
func verify(args []js.Value) (map[string]any, error) {
	lot, bundleJSON, logKey, regPEM, policy := str(args, 0), str(args, 1), strings.TrimSpace(str(args, 2)), str(args, 3), strings.TrimSpace(str(args, 4))
	keySource := str(args, 5)
	if keySource != "pinned" && keySource != "server" {
		return nil, errors.New(`key source: want "pinned" or "server"`)
	}
	if lot == "" {
		return nil, errors.New("no lot id")
	}
	lv, err := tlog.NewVerifier(logKey)
	if err != nil {
		return nil, errors.New("log key: " + err.Error())
	}
	reg, err := record.ParsePublicKey([]byte(regPEM))
	if err != nil {
		return nil, errors.New("registrar key: " + err.Error())
	}
	trust := verifier.Trust{Log: lv, Registrar: reg}
	if policy != "" {
		p, err := tlog.ParsePolicy(policy)
		if err != nil {
			return nil, errors.New("witness policy: " + err.Error())
		}
		if err := p.CheckLog(lv.VKey()); err != nil {
			return nil, errors.New("witness policy: " + err.Error())
		}
		trust.Witnesses = p
	}
	cfg := verifier.DefaultConfig()
	// A bundle that cannot be read is INVALID, as VerifyLot says of one
	// that can be read but not verified: the page shows the reason.
	b, err := verifier.UnmarshalBundle([]byte(bundleJSON))
	if err != nil {
		return map[string]any{"readError": err.Error()}, nil
	}
	rep := verifier.VerifyLot(lot, b, trust, cfg)
	out, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(rep)
	if err != nil {
		return nil, err
	}
	recs, err := json.Marshal(decodeRecords(b))
	if err != nil {
		return nil, err
	}
	var frag strings.Builder
	if err := report.Fragment(&frag, report.Input{Lot: lot, Bundle: b, Report: rep, Generated: time.Now(), Source: source(trust, keySource)}); err != nil {
		return nil, err
	}
	return map[string]any{"report": string(out), "fragment": frag.String(), "records": string(recs)}, nil
}

// source says who verified and against which keys, for the report's
// header, as provctl report does.
func source(trust verifier.Trust, keySource string) string {
	keys := fmt.Sprintf("the log key %s+%08x and the registrar key %s", trust.Log.Name(), trust.Log.KeyHash(), record.KeyID(trust.Registrar))
	var s string
	if keySource == "pinned" {
		s = "Verified in this browser (the verifier compiled to WebAssembly), trusting only the keys pinned in this browser: " + keys
	} else {
		s = "Verified in this browser (the verifier compiled to WebAssembly) against the keys the server reports, " + keys +
			": NOT independent of the server, whose word on its own keys this takes; pin keys received out of band for an independent verdict"
	}
	if trust.Witnesses != nil {
		s += ", with the witness policy " + trust.Witnesses.Quorum()
	} else {
		s += ", with no witness policy"
	}
	return s + "."
}

// A decodedRecord is one record of a bundle as the page lists it: decoded
// for display, not verified (the report says whether it verified).
type decodedRecord struct {
	Index     uint64          `json:"index"`
	ID        string          `json:"id,omitempty"`
	KeyIDs    []string        `json:"keyIds,omitempty"`
	Statement json.RawMessage `json:"statement,omitempty"`
	Error     string          `json:"error,omitempty"`
	LeafOnly  bool            `json:"leafOnly,omitempty"`
}

func decodeRecords(b *pb.Bundle) []decodedRecord {
	var out []decodedRecord
	for _, r := range b.GetRecords() {
		d := decodedRecord{Index: r.GetIndex()}
		if len(r.GetData()) == 0 {
			d.LeafOnly = true // a leaf that bounds a window, shown without its record
			out = append(out, d)
			continue
		}
		env, st, err := record.Decode(r.GetData())
		if err != nil {
			d.Error = err.Error()
			out = append(out, d)
			continue
		}
		if id, err := record.IDOf(env); err == nil {
			d.ID = id.String()
		}
		for _, s := range env.GetSignatures() {
			d.KeyIDs = append(d.KeyIDs, s.GetKeyid())
		}
		if j, err := protojson.Marshal(st); err == nil {
			d.Statement = j
		}
		out = append(out, d)
	}
	return out
}

// loadKey keeps a private key for token: a party's PEM key file, or the
// log's signer key (DATA/log.key), with which the operator signs in as
// party "operator".
func loadKey(args []js.Value) (map[string]any, error) {
	text := strings.TrimSpace(str(args, 0))
	var k ed25519.PrivateKey
	if strings.HasPrefix(text, "PRIVATE+KEY+") {
		ls, err := tlog.NewSigner(text)
		if err != nil {
			return nil, err
		}
		k = ls.PrivateKey()
	} else {
		var err error
		if k, err = record.ParsePrivateKey([]byte(text)); err != nil {
			return nil, err
		}
	}
	key = k
	pub := k.Public().(ed25519.PublicKey)
	return map[string]any{"keyId": record.KeyID(pub), "publicKey": base64.StdEncoding.EncodeToString(pub)}, nil
}

// token makes a bearer token for party with the loaded key, for the
// ledger named origin, valid for authtoken.DefaultLifetime.
func token(args []js.Value) (map[string]any, error) {
	if key == nil {
		return nil, errors.New("no key loaded")
	}
	now := time.Now()
	t, err := authtoken.Make(str(args, 0), str(args, 1), key, now, 0)
	if err != nil {
		return nil, err
	}
	return map[string]any{"token": t, "expires": now.Add(authtoken.DefaultLifetime).Unix()}, nil
}
