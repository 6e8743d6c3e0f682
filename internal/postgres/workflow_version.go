package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// WorkflowVersion is one stored, immutable version of a definition.
type WorkflowVersion struct {
	Key     string
	Version int
	Hash    string
	Source  map[string][]byte
	Created time.Time
}

type workflowVersionRow struct {
	Key     string    `db:"key"`
	Version int       `db:"version"`
	Hash    string    `db:"hash"`
	Source  []byte    `db:"source"`
	Created time.Time `db:"created_at"`
}

func toWorkflowVersion(r workflowVersionRow) (WorkflowVersion, error) {
	var files map[string]string
	if err := json.Unmarshal(r.Source, &files); err != nil {
		return WorkflowVersion{}, fmt.Errorf("decode source of %s v%d: %w", r.Key, r.Version, err)
	}
	src := make(map[string][]byte, len(files))
	for name, content := range files {
		src[name] = []byte(content)
	}
	return WorkflowVersion{Key: r.Key, Version: r.Version, Hash: r.Hash, Source: src, Created: r.Created}, nil
}

// EnsureWorkflowVersion finds the version of key with this hash, or stores
// the source as the next version. created says which happened.
func (tx *Tx) EnsureWorkflowVersion(ctx context.Context, key, hash string, source map[string][]byte) (version int, created bool, err error) {
	// Versions of one key are numbered one at a time.
	if err := tx.LockKey(ctx, "workflow_version:"+key); err != nil {
		return 0, false, err
	}
	const find = `SELECT version FROM workflow_versions WHERE key = $1 AND hash = $2`
	err = tx.GetContext(ctx, &version, find, key, hash)
	if err == nil {
		return version, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, mapError("find workflow version", err)
	}
	files := make(map[string]string, len(source))
	for name, content := range source {
		files[name] = string(content)
	}
	raw, err := json.Marshal(files)
	if err != nil {
		return 0, false, fmt.Errorf("encode workflow source: %w", err)
	}
	const ins = `
INSERT INTO workflow_versions (key, version, hash, source)
SELECT $1, coalesce(max(version), 0) + 1, $2, $3 FROM workflow_versions WHERE key = $1
RETURNING version`
	if err := tx.GetContext(ctx, &version, ins, key, hash, string(raw)); err != nil {
		return 0, false, mapError("insert workflow version", err)
	}
	return version, true, nil
}

// WorkflowVersion loads one stored version.
func (db *DB) WorkflowVersion(ctx context.Context, key string, version int) (WorkflowVersion, error) {
	const q = `SELECT key, version, hash, source, created_at FROM workflow_versions WHERE key = $1 AND version = $2`
	var r workflowVersionRow
	if err := db.GetContext(ctx, &r, q, key, version); err != nil {
		return WorkflowVersion{}, mapError(fmt.Sprintf("load workflow %s v%d", key, version), err)
	}
	return toWorkflowVersion(r)
}
