package dbtest

import (
	"context"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestNewIsMigratedAndFresh(t *testing.T) {
	db := New(t)
	var n int
	if err := db.GetContext(context.Background(), &n, `SELECT count(*) FROM orgs`); err != nil {
		t.Fatalf("migrated table missing: %v", err)
	}
	if n != 0 {
		t.Fatalf("a fresh database has %d orgs", n)
	}
}

// BenchmarkNew measures what one fresh database costs a test.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		NewDSN(b)
	}
}
