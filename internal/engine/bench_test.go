package engine_test

import (
	"testing"

	"github.com/sciflow/sciflow/internal/engine"
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

// BenchmarkDecide is a staff member's decision on the project's formal
// review (或签): the vote, the policy, the outcome fired as the system, the
// other staff task cancelled, and the expert stage opened with a draw of
// five and their tasks, in one transaction.
func BenchmarkDecide(b *testing.B) {
	w := reviewWorld(b)
	tasks := make([]string, b.N)
	for i := range tasks {
		app := w.submitProject("applicant")
		for _, u := range []string{"unit_reviewer", "unit_reviewer2", "multi"} {
			w.mustDecide(u, app.ID, "recommend")
		}
		tasks[i] = w.taskOf(app.ID, "staff").ID
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := w.eng.Decide(w.ctx, w.users["staff"], tasks[i], engine.DecisionInput{Decision: "formal_pass"}); err != nil {
			b.Fatal(err)
		}
	}
}
