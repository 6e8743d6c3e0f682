// Package migrations embeds sciflow's numbered SQL migrations, applied in order
// by the postgres package (pressly/goose), each in its own transaction.
package migrations

import "embed"

// FS holds every migration file, NNN_name.sql.
//
//go:embed *.sql
var FS embed.FS
