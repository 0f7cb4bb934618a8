package record

import (
	"crypto/ed25519"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// VerifySignature reports whether sig is a valid signature of env's PAE by
// pub, under the ZIP-215 rules (ed25519consensus) that every verifier here
// uses, so single and batch verification never disagree.
func VerifySignature(env *pb.Envelope, pub ed25519.PublicKey, sig []byte) bool {
	return Signed{pub, PAE(env.GetPayloadType(), env.GetPayload()), sig}.Valid()
}

// AdmitSignature reports whether the log may admit sig, a signature of
// env's PAE by pub: whether it is valid under both the ZIP-215 rules of
// [VerifySignature] and the RFC 8032 rules of crypto/ed25519.Verify, so
// that every verifier, ZIP-215 or standard, accepts every stored record
// ([Signed.Admissible]). Only admission is strict: the audit and the
// verifier check stored records with [VerifySignature] and
// [VerifySignatures], whose verdicts never depend on which library
// signed.
func AdmitSignature(env *pb.Envelope, pub ed25519.PublicKey, sig []byte) bool {
	return Signed{pub, PAE(env.GetPayloadType(), env.GetPayload()), sig}.Admissible()
}

// A SignatureCheck is one signature to verify: Sig by PublicKey over the
// PAE of Envelope.
type SignatureCheck struct {
	Envelope  *pb.Envelope
	PublicKey ed25519.PublicKey
	Sig       []byte
}

// VerifySignatures reports, for each check, whether its signature is
// valid, exactly as [VerifySignature] would. It verifies the checks as one
// ZIP-215 batch (batchValid), about twice as fast per signature as one by
// one, and faster still when keys repeat; only if the batch fails does it
// verify each check alone, to find the bad ones. ZIP-215 makes batch and
// single verification agree: a batch passes only if every signature in it
// does.
func VerifySignatures(checks []SignatureCheck) []bool {
	ok := make([]bool, len(checks))
	if len(checks) == 1 {
		c := checks[0]
		ok[0] = VerifySignature(c.Envelope, c.PublicKey, c.Sig)
		return ok
	}
	if len(checks) > 0 && batchValid(checks) {
		for i := range ok {
			ok[i] = true
		}
		return ok
	}
	for i, c := range checks {
		ok[i] = VerifySignature(c.Envelope, c.PublicKey, c.Sig)
	}
	return ok
}
