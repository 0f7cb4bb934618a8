package reliability

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/antimony-ledger/provenance/custody"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// Badger keys of the ledger, as laid out in ledger/keys.go. They are
// repeated here on purpose: these tests attack the stored bytes the way an
// operator with disk access would, not through the package's API.
func entryKey(index uint64) []byte { return binary.BigEndian.AppendUint64([]byte("e/"), index) }

func hashKey(leaf [32]byte) []byte { return append([]byte("h/"), leaf[:]...) }

func nodeKey(level uint8, index uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{'n', '/', level}, index)
}

// world is a chain with a mine and an exporter.
type world struct {
	c             *ct.Chain
	mine, exp     *ct.Party
	registrations []*pb.Envelope
}

func newWorld() *world {
	c := ct.New()
	w := &world{c: c}
	w.mine = c.AddParty("mine-qa", "Qila Abdullah Mine", "PK", pb.Role_ROLE_MINE)
	w.exp = c.AddParty("exp-kar", "Karachi Exporter", "PK", pb.Role_ROLE_EXPORTER)
	w.registrations = []*pb.Envelope{c.Register(w.mine), c.Register(w.exp)}
	return w
}

// extraction returns the mine's extraction of lot.
func (w *world) extraction(lot string) *pb.Envelope {
	return w.c.Sign(w.mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: lot, MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE,
		Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}})
}

// chain returns lot's extraction, dispatch to the exporter and receipt.
func (w *world) chain(lot string) []*pb.Envelope {
	ext := w.extraction(lot)
	disp := w.c.Sign(w.mine, &pb.Statement{EventTime: w.c.At(2 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: lot, CustodyLink: ct.ID(ext), ToPartyId: w.exp.ID, MassKg: 1000, Seals: []string{"S-" + lot}}}})
	rec := w.c.Sign(w.exp, &pb.Statement{EventTime: w.c.At(3 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
		LotId: lot, DispatchLink: ct.ID(disp), MassKg: 998, SealsIntact: true}}})
	return []*pb.Envelope{ext, disp, rec}
}

// openStore opens the custody store in dir with w's keys.
func (w *world) openStore(t *testing.T, dir string) *custody.Store {
	t.Helper()
	s, err := w.tryOpen(dir)
	if err != nil {
		t.Fatalf("opening store in %s: %v", dir, err)
	}
	return s
}

func (w *world) tryOpen(dir string) (*custody.Store, error) {
	return w.tryOpenCheck(dir, 0)
}

// tryOpenCheck opens the store checking the newest n entries at start
// (custody.Config.OpenCheck): -1 for none, as an audit opens it.
func (w *world) tryOpenCheck(dir string, n int) (*custody.Store, error) {
	return custody.Open(context.Background(), dir, custody.Config{
		Origin: ct.Origin, LogSigner: w.c.LogSigner, Registrar: w.c.RegistrarPublic(), OpenCheck: n,
	})
}

// lots returns the custody chains of n lots named prefix-0 ... prefix-(n-1).
func (w *world) lots(prefix string, n int) []*pb.Envelope {
	var envs []*pb.Envelope
	for i := range n {
		envs = append(envs, w.chain(fmt.Sprintf("%s-%d", prefix, i))...)
	}
	return envs
}

// editBadger opens the (closed) Badger store in dir directly and runs fn
// in one read-write transaction.
func editBadger(t *testing.T, dir string, fn func(txn *badger.Txn) error) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatalf("opening badger directly: %v", err)
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("editing badger: %v", err)
	}
}

// getValue returns a copy of the value at key.
func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", key, err)
	}
	return item.ValueCopy(nil)
}

// copyDir copies the regular files of a closed store directory.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatalf("copying %s to %s: %v", src, dst, err)
	}
}
