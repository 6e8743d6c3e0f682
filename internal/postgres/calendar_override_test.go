package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/postgres"
)

func TestCalendarOverrides(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	at := time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)

	write := func(fn func(tx *postgres.Tx) error) error {
		tx, err := db.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit()
	}

	list, err := db.CalendarOverrides(ctx)
	require.NoError(t, err)
	require.Empty(t, list)

	require.NoError(t, write(func(tx *postgres.Tx) error {
		for _, o := range []postgres.CalendarOverride{
			{Day: "2026-11-28", Working: true, Note: "补班", CreatedAt: at},
			{Day: "2026-09-30", Working: false, Note: "县庆", CreatedAt: at},
		} {
			got, err := tx.UpsertCalendarOverride(ctx, o)
			require.NoError(t, err)
			require.Equal(t, o.Day, got.Day)
			require.True(t, got.CreatedAt.Equal(at))
		}
		// Setting a day again replaces it.
		got, err := tx.UpsertCalendarOverride(ctx, postgres.CalendarOverride{Day: "2026-09-30", Working: true, CreatedAt: at.Add(time.Hour)})
		require.NoError(t, err)
		require.True(t, got.Working)
		require.Empty(t, got.Note)
		return nil
	}))

	list, err = db.CalendarOverrides(ctx)
	require.NoError(t, err)
	require.Equal(t, []postgres.CalendarOverride{
		{Day: "2026-09-30", Working: true, Note: "", CreatedAt: list[0].CreatedAt},
		{Day: "2026-11-28", Working: true, Note: "补班", CreatedAt: list[1].CreatedAt},
	}, list, "by day, the replaced one changed")
	require.True(t, list[0].CreatedAt.Equal(at.Add(time.Hour)), "when it was last set")

	require.NoError(t, write(func(tx *postgres.Tx) error {
		o, err := tx.CalendarOverride(ctx, "2026-11-28")
		require.NoError(t, err)
		require.Equal(t, "补班", o.Note)
		removed, err := tx.DeleteCalendarOverride(ctx, "2026-11-28")
		require.NoError(t, err)
		require.Equal(t, "补班", removed.Note, "what was removed")
		_, err = tx.DeleteCalendarOverride(ctx, "2026-11-28")
		require.ErrorIs(t, err, errs.ErrNotFound)
		_, err = tx.CalendarOverride(ctx, "2026-11-28")
		require.ErrorIs(t, err, errs.ErrNotFound)
		return nil
	}))

	// The table is the authority on the note's length (in characters) and
	// on who set it.
	err = write(func(tx *postgres.Tx) error {
		_, err := tx.UpsertCalendarOverride(ctx, postgres.CalendarOverride{Day: "2026-10-09", Note: strings.Repeat("假", 201), CreatedAt: at})
		return err
	})
	require.Error(t, err)
	err = write(func(tx *postgres.Tx) error {
		_, err := tx.UpsertCalendarOverride(ctx, postgres.CalendarOverride{Day: "2026-10-09", CreatedBy: "00000000-0000-0000-0000-000000000000", CreatedAt: at})
		return err
	})
	require.Equal(t, errs.Invalid, errs.CodeOf(err))

	list, err = db.CalendarOverrides(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
}
