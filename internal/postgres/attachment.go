package postgres

import (
	"context"
	"database/sql"
	"time"
)

// Attachment is a stored file's description.
type Attachment struct {
	ID            string    `db:"id"`
	ApplicationID string    `db:"application_id"`
	Name          string    `db:"name"`
	Label         string    `db:"label"`
	Size          int64     `db:"size"`
	SHA256        string    `db:"sha256"`
	ContentType   string    `db:"content_type"`
	Confidential  bool      `db:"confidential"`
	UploadedBy    string    `db:"uploaded_by"`
	Created       time.Time `db:"created_at"`
	// Redacted is when the file's content and name were removed
	// (RedactAttachments), nil while it is kept.
	Redacted *time.Time `db:"redacted_at"`
}

const attachmentColumns = `id, application_id, name, label, size, sha256, content_type, confidential, uploaded_by, created_at,
redacted_at`

// InsertAttachment stores a file and its description.
func (tx *Tx) InsertAttachment(ctx context.Context, a Attachment, content []byte) (Attachment, error) {
	const q = `
INSERT INTO attachments (application_id, name, label, size, sha256, content_type, confidential, content, uploaded_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING ` + attachmentColumns
	var out Attachment
	err := tx.GetContext(ctx, &out, q, a.ApplicationID, a.Name, a.Label, a.Size, a.SHA256, a.ContentType,
		a.Confidential, content, a.UploadedBy)
	if err != nil {
		return Attachment{}, mapError("insert attachment", err)
	}
	return out, nil
}

// AttachmentMeta reads a file's description, without its content.
func (db *DB) AttachmentMeta(ctx context.Context, id string) (Attachment, error) {
	if !isUUID(id) {
		return Attachment{}, mapError("get attachment", sql.ErrNoRows)
	}
	const q = `SELECT ` + attachmentColumns + ` FROM attachments WHERE id = $1`
	var a Attachment
	if err := db.GetContext(ctx, &a, q, id); err != nil {
		return Attachment{}, mapError("get attachment", err)
	}
	return a, nil
}

// AttachmentContent reads a file's bytes.
func (db *DB) AttachmentContent(ctx context.Context, id string) ([]byte, error) {
	var content []byte
	if err := db.GetContext(ctx, &content, `SELECT content FROM attachments WHERE id = $1`, id); err != nil {
		return nil, mapError("read attachment", err)
	}
	return content, nil
}

// Attachments lists an application's files, oldest first, without content.
func (db *DB) Attachments(ctx context.Context, appID string) ([]Attachment, error) {
	const q = `SELECT ` + attachmentColumns + ` FROM attachments WHERE application_id = $1 ORDER BY created_at, id`
	var out []Attachment
	if err := db.SelectContext(ctx, &out, q, appID); err != nil {
		return nil, mapError("list attachments", err)
	}
	return out, nil
}

// AttachmentLabels lists the distinct labels (slots) an application's
// files are in.
func (tx *Tx) AttachmentLabels(ctx context.Context, appID string) ([]string, error) {
	var out []string
	if err := tx.SelectContext(ctx, &out, `SELECT DISTINCT label FROM attachments WHERE application_id = $1`, appID); err != nil {
		return nil, mapError("list attachment labels", err)
	}
	return out, nil
}
