package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/jmoiron/sqlx"
)

// CalendarOverride is the county's own answer for one day, ahead of the
// national working-day table: a local holiday or a make-up working day.
type CalendarOverride struct {
	// Day is the date as YYYY-MM-DD: a date has no zone, and a string
	// keeps the driver from inventing one.
	Day     string
	Working bool
	Note    string
	// CreatedBy is the administrator who last set it; empty for the console.
	CreatedBy string
	// CreatedAt is when it was last set (setting a day again replaces it).
	CreatedAt time.Time
}

type calendarOverrideRow struct {
	Day       string         `db:"day"`
	Working   bool           `db:"working"`
	Note      string         `db:"note"`
	CreatedBy sql.NullString `db:"created_by"`
	CreatedAt time.Time      `db:"created_at"`
}

func toCalendarOverride(r calendarOverrideRow) CalendarOverride {
	return CalendarOverride{Day: r.Day, Working: r.Working, Note: r.Note, CreatedBy: r.CreatedBy.String, CreatedAt: r.CreatedAt}
}

const calendarOverrideColumns = `to_char(day, 'YYYY-MM-DD') AS day, working, note, created_by, created_at`

// CalendarOverrides is every override, by day.
func (db *DB) CalendarOverrides(ctx context.Context) ([]CalendarOverride, error) {
	const q = `SELECT ` + calendarOverrideColumns + ` FROM calendar_overrides ORDER BY calendar_overrides.day`
	var rows []calendarOverrideRow
	if err := db.SelectContext(ctx, &rows, q); err != nil {
		return nil, mapError("list calendar overrides", err)
	}
	out := make([]CalendarOverride, len(rows))
	for i, r := range rows {
		out[i] = toCalendarOverride(r)
	}
	return out, nil
}

// CalendarOverride is the override for day (YYYY-MM-DD), or ErrNotFound.
func (tx *Tx) CalendarOverride(ctx context.Context, day string) (CalendarOverride, error) {
	const q = `SELECT ` + calendarOverrideColumns + ` FROM calendar_overrides WHERE calendar_overrides.day = $1::date`
	var r calendarOverrideRow
	if err := sqlx.GetContext(ctx, tx, &r, q, day); err != nil {
		return CalendarOverride{}, mapError("find calendar override "+day, err)
	}
	return toCalendarOverride(r), nil
}

// UpsertCalendarOverride sets o.Day's override, replacing any there was.
func (tx *Tx) UpsertCalendarOverride(ctx context.Context, o CalendarOverride) (CalendarOverride, error) {
	const q = `
INSERT INTO calendar_overrides (day, working, note, created_by, created_at)
VALUES ($1::date, $2, $3, $4, $5)
ON CONFLICT (day) DO UPDATE
SET working = EXCLUDED.working, note = EXCLUDED.note, created_by = EXCLUDED.created_by, created_at = EXCLUDED.created_at
RETURNING ` + calendarOverrideColumns
	var r calendarOverrideRow
	err := sqlx.GetContext(ctx, tx, &r, q, o.Day, o.Working, o.Note, nullString(o.CreatedBy), o.CreatedAt)
	if err != nil {
		return CalendarOverride{}, mapError("upsert calendar override "+o.Day, err)
	}
	return toCalendarOverride(r), nil
}

// DeleteCalendarOverride removes day's override and returns what it was;
// ErrNotFound when there was none.
func (tx *Tx) DeleteCalendarOverride(ctx context.Context, day string) (CalendarOverride, error) {
	const q = `DELETE FROM calendar_overrides WHERE day = $1::date RETURNING ` + calendarOverrideColumns
	var r calendarOverrideRow
	if err := sqlx.GetContext(ctx, tx, &r, q, day); err != nil {
		return CalendarOverride{}, mapError("delete calendar override "+day, err)
	}
	return toCalendarOverride(r), nil
}
