package auth

import (
	"strings"
	"testing"
)

func TestHashAndCheck(t *testing.T) {
	h, err := HashPassword("Yunyang-2026!")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("unexpected hash format %q", h)
	}
	if strings.Contains(h, "Yunyang") {
		t.Fatal("the hash contains the password")
	}
	ok, err := CheckPassword(h, "Yunyang-2026!")
	if err != nil || !ok {
		t.Fatalf("right password refused: %v %v", ok, err)
	}
	ok, err = CheckPassword(h, "yunyang-2026!")
	if err != nil || ok {
		t.Fatalf("wrong password accepted: %v %v", ok, err)
	}
	h2, _ := HashPassword("Yunyang-2026!")
	if h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestCheckRejectsMalformedHashes(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=18$m=1,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=x,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=1,t=1,p=1$!!$a2V5"} {
		if _, err := CheckPassword(h, "pw"); err == nil {
			t.Errorf("malformed hash %q accepted", h)
		}
	}
}

// BenchmarkHashPassword is the cost an attacker pays per guess (and a user
// per login); docs/BENCHMARKS.md records it.
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("Yunyang-2026!"); err != nil {
			b.Fatal(err)
		}
	}
}
