package postgres_test

import (
	"testing"

	"github.com/sciflow/sciflow/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
