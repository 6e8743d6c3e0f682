// Package apitest holds what the API's tests and the whole server's tests
// both check an answer against: ../shared/API.md's error shape. It is the
// contract's own copy, not the server's (httpapi's statusOf), so that a
// server that drifts from the contract fails.
package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Statuses are the error codes API.md names, with the status each comes
// with, and those the served OpenAPI adds (unavailable, gone).
var Statuses = map[string]int{"bad_request": 400, "unauthenticated": 401, "forbidden": 403, "not_found": 404,
	"conflict": 409, "gone": 410, "too_large": 413, "invalid": 422, "too_many": 429, "internal": 500,
	"unavailable": 503}

// ErrorCode reads an answer that must be API.md's error and nothing else: a
// JSON body {"error": {"code", "message", "fields"?}} with a message and the
// code of its status. It returns the code, or what is wrong with the answer.
func ErrorCode(status int, header http.Header, body []byte) (string, error) {
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return "", fmt.Errorf("status %d with Content-Type %q: %s", status, ct, body)
	}
	var shape struct {
		Error *struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&shape); err != nil || shape.Error == nil {
		return "", fmt.Errorf("status %d without the error shape (%v): %s", status, err, body)
	}
	if want, ok := Statuses[shape.Error.Code]; !ok || want != status {
		return "", fmt.Errorf("status %d with code %q: %s", status, shape.Error.Code, body)
	}
	if shape.Error.Message == "" {
		return "", fmt.Errorf("status %d without a message: %s", status, body)
	}
	return shape.Error.Code, nil
}
