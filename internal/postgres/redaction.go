package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/sciflow/sciflow/internal/errs"
)

// RedactAuditEntry replaces the content of entry seq by its redacted form,
// keeping digest (the SHA-256 of the original content) and sig (the chain
// key's signature over the entry's hash, the digest and the new content).
// The table's trigger refuses anything but that: the entry's links,
// position and derived fields cannot change, nor a digest once kept.
func (tx *Tx) RedactAuditEntry(ctx context.Context, seq int64, content string, digest, sig []byte) error {
	const q = `UPDATE audit_log SET content = $2, redacted_sha256 = $3, redaction_sig = $4 WHERE seq = $1`
	res, err := tx.ExecContext(ctx, q, seq, content, digest, sig)
	if err != nil {
		return mapError("redact audit entry", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("redact audit entry %d: %w", seq, errs.ErrNotFound)
	}
	return nil
}

// RedactApplication stores an application's form without its personal data,
// when that was done and what was checked (the personal fields and slots),
// if the application is still at version.
func (tx *Tx) RedactApplication(ctx context.Context, id string, version int, data map[string]any, checked []string, at time.Time) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode data: %w", err)
	}
	const q = `
UPDATE applications SET data = $3, redacted_at = $4, redacted_personal = $5, updated_at = $4, version = version + 1
WHERE id = $1 AND version = $2`
	res, err := tx.ExecContext(ctx, q, id, version, string(raw), at, pq.StringArray(checked))
	if err != nil {
		return mapError("redact application", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.ErrConflict
	}
	return nil
}

// RedactObjections removes the objectors' names, phones and addresses
// from an application's objections not yet redacted, keeping their reasons
// and outcomes, and returns how many it changed.
func (tx *Tx) RedactObjections(ctx context.Context, appID string, at time.Time) (int, error) {
	const q = `
UPDATE objections SET name = '', phone = '', address = '', redacted_at = $2
WHERE application_id = $1 AND redacted_at IS NULL`
	res, err := tx.ExecContext(ctx, q, appID, at)
	if err != nil {
		return 0, mapError("redact objections", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// RedactAttachments removes the content and the name of an application's
// files in the given slots that still have them (the name becomes the
// slot's key), and returns each one's id with its slot.
func (tx *Tx) RedactAttachments(ctx context.Context, appID string, slots []string, at time.Time) (map[string]string, error) {
	const q = `
UPDATE attachments SET content = '', name = label, redacted_at = $3
WHERE application_id = $1 AND label = ANY ($2) AND redacted_at IS NULL
RETURNING id, label`
	var rows []struct {
		ID    string `db:"id"`
		Label string `db:"label"`
	}
	if err := tx.SelectContext(ctx, &rows, q, appID, pq.StringArray(slots), at); err != nil {
		return nil, mapError("redact attachments", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Label
	}
	return out, nil
}

// RedactedPersonal is what an application's last redaction checked
// (RedactApplication); nil when it has not been redacted, or was before
// that was kept.
func (tx *Tx) RedactedPersonal(ctx context.Context, id string) ([]string, error) {
	var checked pq.StringArray
	if err := tx.GetContext(ctx, &checked, `SELECT redacted_personal FROM applications WHERE id = $1`, id); err != nil {
		return nil, mapError("read what the redaction checked", err)
	}
	return checked, nil
}

// Retention is what a retention sweep needs to know of a workflow: its
// final states and what it marks personal now (form fields, and slots as
// attachments.KEY).
type Retention struct {
	Final    []string `json:"final"`
	Personal []string `json:"personal"`
}

// Redactable lists the applications of the given workflows in one of their
// final states, whose last transition is older than before, and whose
// personal data is still kept, or was redacted before their workflow
// marked more than that redaction checked: what a retention sweep redacts.
func (tx *Tx) Redactable(ctx context.Context, workflows map[string]Retention, before time.Time) ([]string, error) {
	spec, err := json.Marshal(workflows)
	if err != nil {
		return nil, fmt.Errorf("encode final states: %w", err)
	}
	const q = `
SELECT a.id FROM applications a
WHERE a.state_entered_at < $2
  AND (($1::jsonb) -> a.workflow -> 'final') ? a.state
  AND (a.redacted_at IS NULL OR a.redacted_personal IS NULL
       OR NOT a.redacted_personal @> ARRAY(SELECT jsonb_array_elements_text(($1::jsonb) -> a.workflow -> 'personal')))
ORDER BY a.state_entered_at, a.id`
	var ids []string
	if err := tx.SelectContext(ctx, &ids, q, string(spec), before); err != nil {
		return nil, mapError("list redactable applications", err)
	}
	return ids, nil
}
