// Package errs names the kinds of failure that cross package boundaries (not
// found, conflict, invalid input...), so that storage and the engine can say
// what went wrong and the HTTP layer can answer with API.md's code and a
// message in the caller's language, without parsing strings.
package errs

import (
	"errors"
	"time"
)

// Code is an error code of API.md.
type Code string

// The codes of API.md's error shape.
const (
	BadRequest      Code = "bad_request"
	Unauthenticated Code = "unauthenticated"
	Forbidden       Code = "forbidden"
	NotFound        Code = "not_found"
	Conflict        Code = "conflict"
	Invalid         Code = "invalid"
	TooLarge        Code = "too_large"
	TooMany         Code = "too_many"
	Internal        Code = "internal"
	// Unavailable is a database that does not answer (restarting, out of
	// reach) or a request that ran out of its time. The request may be tried
	// again; one whose commit the database lost the connection during may
	// have taken effect, which the same Idempotency-Key makes safe to retry.
	Unavailable Code = "unavailable"
	// Gone is something the caller may see that was removed on purpose
	// and will not come back: a file redacted once its retention period
	// passed.
	Gone Code = "gone"
)

// Text is a message in both of sciflow's languages.
type Text struct {
	Zh string
	En string
}

// In picks the language: English when asked for, Chinese otherwise.
func (t Text) In(english bool) string {
	if english && t.En != "" {
		return t.En
	}
	return t.Zh
}

// Error is a failure the caller is meant to see.
type Error struct {
	Code Code
	Msg  Text
	// Fields says which input was wrong, keyed by its path ("data.budget").
	Fields map[string]Text
	// RetryAfter tells a throttled caller when to come back.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Msg.En }

// E builds an Error with a message in Chinese and English.
func E(code Code, zh, en string) *Error {
	return &Error{Code: code, Msg: Text{Zh: zh, En: en}}
}

// Field adds a field-level message and returns e, for chaining.
func (e *Error) Field(path, zh, en string) *Error {
	if e.Fields == nil {
		e.Fields = map[string]Text{}
	}
	e.Fields[path] = Text{Zh: zh, En: en}
	return e
}

// Sentinels for the common cases; wrap them with %w to add the operation.
var (
	ErrNotFound = E(NotFound, "未找到该记录", "not found")
	ErrConflict = E(Conflict, "记录已被他人修改，请刷新后重试", "it was changed by someone else; reload and try again")
)

// As finds the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CodeOf is err's code; anything unnamed is internal.
func CodeOf(err error) Code {
	if e := As(err); e != nil {
		return e.Code
	}
	return Internal
}
