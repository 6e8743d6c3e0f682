package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/sciflow/sciflow/internal/postgres"
)

// KindRedact: an application's personal data redacted after its retention
// period, from its form and from its chain's entries.
const KindRedact = "application.redact"

// Redaction keeps the chain verifiable without the original content. An
// entry's hash covers its original content, which is gone; the redaction
// keeps the original's SHA-256 (so whoever still holds the original can show
// it is the one) and signs, with the chain's key, the entry's links and hash
// with that digest and the redacted content. Verification checks that
// signature where it can no longer check the hash: the redacted content
// stands in the original's place, and neither can change unnoticed.

// intact says whether a stored entry is the one its hash was made for: its
// content hashes to it or, once redacted, the redaction's signature binds
// the content to it.
func (c *Chain) intact(row postgres.AuditRow) bool {
	if row.RedactedSHA256 != nil || row.RedactionSig != nil {
		return hmac.Equal(c.redactionSignature(row, row.Content), row.RedactionSig)
	}
	return hmac.Equal(c.entryHash(row.PrevHash, []byte(row.Content)), row.Hash)
}

func (c *Chain) redactionSignature(row postgres.AuditRow, content string) []byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte("sciflow redaction\x00"))
	for _, b := range [][]byte{row.PrevHash, row.Hash, row.RedactedSHA256} {
		m.Write([]byte{byte(len(b))})
		m.Write(b)
	}
	m.Write([]byte(content))
	return m.Sum(nil)
}

// Redact rewrites a stored entry without what strip removes from its data
// (strip is handed the entry's kind, subject and data and says whether it
// removed anything), inside tx. The entry must be intact: a redaction never
// launders a tampered entry. Everything but the data stays as written (the
// table's trigger insists). It reports whether the entry changed.
func (c *Chain) Redact(ctx context.Context, tx *postgres.Tx, row postgres.AuditRow, strip func(kind, subject string, data map[string]any) bool) (bool, error) {
	if !c.intact(row) {
		return false, fmt.Errorf("audit entry %d does not verify: redacting it would hide that; run sciflow audit verify", row.Seq)
	}
	var content map[string]any
	dec := json.NewDecoder(bytes.NewReader([]byte(row.Content)))
	dec.UseNumber() // numbers stay as written
	if err := dec.Decode(&content); err != nil {
		return false, fmt.Errorf("decode audit entry %d: %w", row.Seq, err)
	}
	data, _ := content["data"].(map[string]any)
	kind, _ := content["kind"].(string)
	subject, _ := content["subject"].(string)
	if data == nil || !strip(kind, subject, data) {
		return false, nil
	}
	if len(data) == 0 {
		delete(content, "data")
	}
	redacted, err := json.Marshal(content)
	if err != nil {
		return false, fmt.Errorf("encode redacted audit entry %d: %w", row.Seq, err)
	}
	if row.RedactedSHA256 == nil {
		sum := sha256.Sum256([]byte(row.Content))
		row.RedactedSHA256 = sum[:]
	}
	sig := c.redactionSignature(row, string(redacted))
	if err := tx.RedactAuditEntry(ctx, row.Seq, string(redacted), row.RedactedSHA256, sig); err != nil {
		return false, err
	}
	return true, nil
}
