package ledger_test

import (
	"context"
	"fmt"
	"log"

	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/ledger"
	"github.com/antimony-ledger/provenance/tlog"
)

func Example() {
	ctx := context.Background()
	skey, vkey, err := tlog.GenerateNoteKey("log.example/demo")
	if err != nil {
		log.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		log.Fatal(err)
	}
	l, err := ledger.Open(ctx, "", ledger.Options{Origin: "log.example/demo", Signer: signer, InMemory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	for _, s := range []string{"first", "second", "third"} {
		if _, _, err := l.Append(ctx, []byte(s)); err != nil {
			log.Fatal(err)
		}
	}
	e, dup, err := l.Append(ctx, []byte("second"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("index:", e.Index, "duplicate:", dup)

	// A client checks the entry is in the tree the signed checkpoint commits to.
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		log.Fatal(err)
	}
	c, err := tlog.OpenCheckpoint(l.Checkpoint(), verifier)
	if err != nil {
		log.Fatal(err)
	}
	proof, err := l.InclusionProof(ctx, e.Index, c.Size)
	if err != nil {
		log.Fatal(err)
	}
	// The leaf commits the entry's id (the hash of its bytes) and the time
	// the log integrated it.
	if e.ID != tlog.RecordIDOf([]byte("second")) {
		log.Fatal("the entry is not the bytes appended")
	}
	err = tlog.VerifyInclusion(e.Leaf().Hash(), e.Index, c.Size, proof, c.Root)
	fmt.Println("size:", c.Size, "inclusion verified:", err == nil)
	// Output:
	// index: 1 duplicate: true
	// size: 3 inclusion verified: true
}
