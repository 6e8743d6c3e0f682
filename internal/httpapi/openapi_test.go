package httpapi

import (
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/engine"
)

// TestOpenAPIDescribesEveryRoute keeps openapi.json true: a route added
// without its description, or a description left after its route went,
// fails here.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openapiJSON, &doc))
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	s := New(Deps{DB: unreachableDB(t), Log: slog.New(slog.DiscardHandler), Engine: &engine.Engine{}})
	param := regexp.MustCompile(`:(\w+)`)
	served := map[string]bool{}
	for _, r := range s.echo.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == echo.RouteNotFound {
			continue
		}
		key := r.Method + " " + param.ReplaceAllString(strings.TrimPrefix(r.Path, "/api/v1"), "{$1}")
		served[key] = true
		require.True(t, documented[key], "route %s is not in openapi.json", key)
	}
	for key := range documented {
		require.True(t, served[key], "openapi.json describes %s, which is not served", key)
	}
}
