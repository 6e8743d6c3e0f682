package engine_test

import (
	"testing"
)

// BenchmarkFire is one event fired in-process: the transaction with its
// lock, checks, update, history entry and audit append.
// go run ./cmd/testpg -- go test -run XXX -bench Fire ./internal/engine
func BenchmarkFire(b *testing.B) {
	w := newWorld(b)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = w.create("applicant", validData).ID
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := w.fire("applicant", ids[i], "submit", "", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreate is one application started in-process.
func BenchmarkCreate(b *testing.B) {
	w := newWorld(b)
	b.ResetTimer()
	for range b.N {
		w.create("applicant", validData)
	}
}
