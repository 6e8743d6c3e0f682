package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openapiJSON describes every endpoint of the API; extend it with every
// addition (API.md: "Document every addition in the OpenAPI description").
//
//go:embed openapi.json
var openapiJSON []byte

func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", openapiJSON)
}
