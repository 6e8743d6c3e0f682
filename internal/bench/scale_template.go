package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/workflow"
)

// The scale bench does not invent its data: it copies the demo county
// (internal/demo), which the engine played through every programme as the
// people concerned would have, with their forms, comments, scores, draws,
// notices and objections. A family is a demo application with everything
// that depends on it or it on (a challenge and the applications taking it,
// an envoy with the services and assessments under the appointment, a
// talent with the instalments): the unit that is copied. Each copy gets its
// own ids, its own people (a county and one of its replicas of the demo's
// organisations), and its own place in time, and its audit chains are
// hashed anew with the copy's content.

// idSpace is a kind of bigint id that other rows refer to.
type idSpace int

const (
	noSpace idSpace = iota
	stageSpace
	drawSpace
	noticeSpace
	spaces
)

// clonedTable is a table whose rows belong to applications and are copied
// with them, the columns read from the catalogue so that a column added by
// a later migration is copied too.
type clonedTable struct {
	name string
	// owner is the SQL (over t) of the application a row belongs to.
	owner string
	// ids are the bigint columns that hold an id of a space.
	ids map[string]idSpace
	// cols are the table's columns (generated ones left out), filled by
	// loadTemplates.
	cols []column
}

// column is one column of a cloned table and what copying does to it.
type column struct {
	name  string
	shift bool    // a timestamptz: moved by the copy's offset in time
	space idSpace // a bigint id: renumbered for the copy
	raw   bool    // bytea: copied as it is (no ids inside)
}

// clonedTables are copied per family, in this order: a table comes after
// the tables its foreign keys point to.
func clonedTables() []*clonedTable {
	return []*clonedTable{
		{name: "applications", owner: "t.id"},
		{name: "attachments", owner: "t.application_id"},
		{name: "review_stages", owner: "t.application_id", ids: map[string]idSpace{"id": stageSpace}},
		{name: "expert_draws", owner: "(SELECT s.application_id FROM review_stages s WHERE s.id = t.stage_id)",
			ids: map[string]idSpace{"id": drawSpace, "stage_id": stageSpace}},
		{name: "review_tasks", owner: "t.application_id", ids: map[string]idSpace{"stage_id": stageSpace, "draw_id": drawSpace}},
		{name: "review_questions", owner: "t.application_id"},
		{name: "notices", owner: "t.application_id", ids: map[string]idSpace{"id": noticeSpace}},
		{name: "objections", owner: "t.application_id", ids: map[string]idSpace{"notice_id": noticeSpace}},
	}
}

// The sequences behind the id spaces, set past the copies' ids at the end.
var spaceTables = [spaces]string{stageSpace: "review_stages", drawSpace: "expert_draws", noticeSpace: "notices"}

// templateRow is one row of a cloned table, each value as PostgreSQL's text
// (timestamps as microseconds since the epoch), nil for NULL.
type templateRow []*string

// templateEntry is one entry of a family's chains, decoded.
type templateEntry struct {
	app   int // index of its application in the family
	entry audit.Entry
	// mapped says its data holds ids a copy must replace.
	mapped bool
}

// family is a template: demo applications copied together.
type family struct {
	// apps are the template applications' ids, oldest first.
	apps []string
	// programme is the root application's workflow, for the mix.
	programme string
	// inflight: some application is where someone still has to act (a
	// review or a 公示); a copy of it is placed in the last days, so that
	// its tasks are not overdue and its notice is open. Others are history.
	inflight bool
	// notices counts its 公示 open now.
	notices int
	rows    map[string][]templateRow // by table
	entries []templateEntry          // by the order they were written
	// first and last are the times of its first and last entries (µs).
	first, last int64
	// lo and hi bound an in-flight copy's offset back in time (µs): its
	// entries stay in the past and its tasks and notices open.
	lo, hi int64
	tasks  int
}

// templates is what the generator copies.
type templates struct {
	tables   []*clonedTable
	families []*family
	// local numbers every id that belongs to one family (applications,
	// tasks, attachments...): a copy's id for it is derived from the copy
	// and this number.
	local map[string]int
	// spaceIDs number the template ids of each bigint space.
	spaceIDs [spaces]map[int64]int
	people   *peopleTemplate
}

// loadTemplates reads the demo county's applications into families. The
// demo must be there and nothing else: the generator copies every
// application it finds.
func loadTemplates(ctx context.Context, db *sqlx.DB, eng *engine.Engine, now time.Time) (*templates, error) {
	t := &templates{tables: clonedTables(), local: map[string]int{}}
	for s := range t.spaceIDs {
		t.spaceIDs[s] = map[int64]int{}
	}
	for _, tab := range t.tables {
		if err := tab.readColumns(ctx, db); err != nil {
			return nil, err
		}
	}
	apps, err := readFamilies(ctx, db)
	if err != nil {
		return nil, err
	}
	if len(apps) == 0 {
		return nil, fmt.Errorf("no applications to copy: seed the demo county first")
	}
	owner := map[string]*family{}
	for _, ids := range apps {
		f := &family{apps: ids, rows: map[string][]templateRow{}}
		for _, id := range ids {
			owner[id] = f
		}
		t.families = append(t.families, f)
	}
	for _, tab := range t.tables {
		if err := t.readRows(ctx, db, tab, owner); err != nil {
			return nil, err
		}
	}
	if err := t.readEntries(ctx, db, owner); err != nil {
		return nil, err
	}
	for _, f := range t.families {
		if err := t.classify(ctx, f, eng, now); err != nil {
			return nil, err
		}
	}
	if t.people, err = loadPeople(ctx, db); err != nil {
		return nil, err
	}
	return t, nil
}

// readColumns reads the table's columns from the catalogue.
func (tab *clonedTable) readColumns(ctx context.Context, db *sqlx.DB) error {
	const q = `
SELECT column_name, data_type FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'
ORDER BY ordinal_position`
	var cols []struct {
		Name string `db:"column_name"`
		Type string `db:"data_type"`
	}
	if err := db.SelectContext(ctx, &cols, q, tab.name); err != nil {
		return fmt.Errorf("columns of %s: %w", tab.name, err)
	}
	if len(cols) == 0 {
		return fmt.Errorf("table %s has no columns", tab.name)
	}
	for _, c := range cols {
		tab.cols = append(tab.cols, column{name: c.Name, shift: c.Type == "timestamp with time zone",
			space: tab.ids[c.Name], raw: c.Type == "bytea"})
	}
	return nil
}

// selectList reads every column as text, timestamps as microseconds.
func (tab *clonedTable) selectList() string {
	parts := make([]string, len(tab.cols))
	for i, c := range tab.cols {
		if c.shift {
			parts[i] = fmt.Sprintf("(extract(epoch FROM t.%s) * 1000000)::bigint::text", pqIdent(c.name))
		} else {
			parts[i] = fmt.Sprintf("t.%s::text", pqIdent(c.name))
		}
	}
	return strings.Join(parts, ", ")
}

func pqIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// readFamilies groups the applications: two are in one family when one is
// the other's parent or its data names the other (a challenge taken), and
// families are the connected groups, each oldest first.
func readFamilies(ctx context.Context, db *sqlx.DB) ([][]string, error) {
	const q = `
SELECT a.id, coalesce(a.parent_id::text, '') AS parent_id,
    coalesce((SELECT array_to_string(array_agg(b.id::text), ',') FROM applications b
              WHERE b.id <> a.id AND a.data::text LIKE '%' || b.id::text || '%'), '') AS refs
FROM applications a ORDER BY a.created_at, a.id`
	var rows []struct {
		ID     string `db:"id"`
		Parent string `db:"parent_id"`
		Refs   string `db:"refs"`
	}
	if err := db.SelectContext(ctx, &rows, q); err != nil {
		return nil, fmt.Errorf("read template applications: %w", err)
	}
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if p, ok := parent[x]; ok && p != x {
			root := find(p)
			parent[x] = root
			return root
		}
		return x
	}
	union := func(a, b string) {
		if ra, rb := find(a), find(b); ra != rb {
			parent[rb] = ra
		}
	}
	for _, r := range rows {
		parent[r.ID] = r.ID
	}
	for _, r := range rows {
		if r.Parent != "" {
			union(r.Parent, r.ID)
		}
		for ref := range strings.SplitSeq(r.Refs, ",") {
			if ref != "" {
				union(ref, r.ID)
			}
		}
	}
	groups := map[string][]string{}
	var roots []string
	for _, r := range rows {
		root := find(r.ID)
		if _, ok := groups[root]; !ok {
			roots = append(roots, root)
		}
		groups[root] = append(groups[root], r.ID)
	}
	out := make([][]string, len(roots))
	for i, root := range roots {
		out[i] = groups[root]
	}
	return out, nil
}

// readRows reads a cloned table's template rows into their families, and
// numbers the ids they own.
func (t *templates) readRows(ctx context.Context, db *sqlx.DB, tab *clonedTable, owner map[string]*family) error {
	q := `SELECT ` + tab.owner + `::text AS owner, ` + tab.selectList() + ` FROM ` + tab.name + ` t ORDER BY 1`
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("read template %s: %w", tab.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]sql.NullString, len(tab.cols)+1)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read template %s: %w", tab.name, err)
		}
		f := owner[vals[0].String]
		if f == nil {
			return fmt.Errorf("template %s row of an unknown application %q", tab.name, vals[0].String)
		}
		row := make(templateRow, len(tab.cols))
		for i, v := range vals[1:] {
			if !v.Valid {
				continue
			}
			s := v.String
			row[i] = &s
			c := tab.cols[i]
			switch {
			case c.space != noSpace && (c.name == "id"):
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return fmt.Errorf("template %s id %q: %w", tab.name, s, err)
				}
				if _, ok := t.spaceIDs[c.space][n]; !ok {
					t.spaceIDs[c.space][n] = len(t.spaceIDs[c.space])
				}
			case c.name == "id":
				if _, ok := t.local[s]; !ok {
					t.local[s] = len(t.local)
				}
			}
		}
		if tab.name == "expert_draws" {
			if i := slices.IndexFunc(tab.cols, func(c column) bool { return c.name == "replaces_task" }); i >= 0 && row[i] != nil {
				// Draws and tasks point at each other; the copies are
				// written draws first, which a replacement draw would break.
				return fmt.Errorf("template draw %s replaces a task: the generator cannot copy replacement draws", *row[0])
			}
		}
		f.rows[tab.name] = append(f.rows[tab.name], row)
	}
	return rows.Err()
}

// readEntries reads the families' chains, in the order they were written.
func (t *templates) readEntries(ctx context.Context, db *sqlx.DB, owner map[string]*family) error {
	const q = `
SELECT l.seq, l.application_id::text AS application_id, l.content FROM audit_log l
WHERE l.application_id IS NOT NULL AND l.chain = l.application_id::text
ORDER BY l.seq`
	rows, err := db.QueryxContext(ctx, q)
	if err != nil {
		return fmt.Errorf("read template entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r struct {
			Seq     int64  `db:"seq"`
			App     string `db:"application_id"`
			Content string `db:"content"`
		}
		if err := rows.StructScan(&r); err != nil {
			return fmt.Errorf("read template entry: %w", err)
		}
		f := owner[r.App]
		if f == nil {
			return fmt.Errorf("template entry %d of an unknown application %s", r.Seq, r.App)
		}
		var e audit.Entry
		dec := json.NewDecoder(strings.NewReader(r.Content))
		dec.UseNumber()
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("decode template entry %d: %w", r.Seq, err)
		}
		if _, ok := t.local[e.Subject]; !ok && e.Subject != "" && isUUIDText(e.Subject) {
			// An entry about a row of its own (an objection filed) that
			// no cloned table holds: numbered so that copies differ.
			t.local[e.Subject] = len(t.local)
		}
		if len(f.entries) == 0 {
			f.first = e.AtMicros
		}
		f.last = max(f.last, e.AtMicros)
		f.entries = append(f.entries, templateEntry{app: slices.Index(f.apps, r.App), entry: e,
			mapped: e.Data != nil && dataNeedsMapping(e.Data)})
	}
	return rows.Err()
}

// dataNeedsMapping reports whether an entry's data holds an id or a draw.
func dataNeedsMapping(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "draw_id" || dataNeedsMapping(e) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(x, dataNeedsMapping)
	case string:
		return containsUUID(x)
	}
	return false
}

// classify says whether a family is in flight, and when its copies may be
// placed: entries in the past, open tasks not yet due, open notices still
// running (so no copy is reminded or escalated while the bench reads).
func (t *templates) classify(ctx context.Context, f *family, eng *engine.Engine, now time.Time) error {
	appCol := t.col("applications")
	nowUS := now.UnixMicro()
	f.lo, f.hi = f.last-nowUS+int64(time.Minute/time.Microsecond), int64(1<<62)
	for _, row := range f.rows["applications"] {
		wf, st := *row[appCol["workflow"]], *row[appCol["state"]]
		version, err := strconv.Atoi(*row[appCol["workflow_version"]])
		if err != nil {
			return fmt.Errorf("template application version: %w", err)
		}
		if *row[appCol["id"]] == f.apps[0] {
			f.programme = wf // the story's first application: its programme
		}
		def, err := eng.Definition(ctx, wf, version)
		if err != nil {
			return err
		}
		if s, ok := def.State(st); ok && (s.Kind == workflow.KindReview || s.Kind == workflow.KindNotice) {
			f.inflight = true
		}
	}
	taskCol := t.col("review_tasks")
	for _, row := range f.rows["review_tasks"] {
		f.tasks++
		status := *row[taskCol["status"]]
		if due := row[taskCol["due_at"]]; due != nil && (status == "open" || status == "waiting") {
			f.hi = min(f.hi, micros(*due)-nowUS-int64(time.Hour/time.Microsecond))
		}
	}
	noticeCol := t.col("notices")
	for _, row := range f.rows["notices"] {
		if end := micros(*row[noticeCol["ends_at"]]); end > nowUS {
			f.notices++
			f.hi = min(f.hi, end-nowUS-int64(time.Hour/time.Microsecond))
		}
	}
	if f.hi <= f.lo || f.hi == 1<<62 {
		// Nothing due (a service awaiting its target's word), or due
		// already in the demo: a day's spread.
		f.hi = f.lo + int64(24*time.Hour/time.Microsecond)
	}
	return nil
}

// col maps a cloned table's column names to their positions.
func (t *templates) col(table string) map[string]int {
	for _, tab := range t.tables {
		if tab.name == table {
			m := make(map[string]int, len(tab.cols))
			for i, c := range tab.cols {
				m[c.name] = i
			}
			return m
		}
	}
	return nil
}

func micros(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// history is the family as it was before anyone had anything left to do:
// without its in-flight applications and whatever depends on them. Nil
// when nothing is left.
func (t *templates) history(ctx context.Context, f *family, eng *engine.Engine) (*family, error) {
	if !f.inflight {
		return f, nil
	}
	appCol := t.col("applications")
	drop := map[string]bool{}
	for _, row := range f.rows["applications"] {
		version, _ := strconv.Atoi(*row[appCol["workflow_version"]])
		def, err := eng.Definition(ctx, *row[appCol["workflow"]], version)
		if err != nil {
			return nil, err
		}
		if s, ok := def.State(*row[appCol["state"]]); ok && (s.Kind == workflow.KindReview || s.Kind == workflow.KindNotice) {
			drop[*row[appCol["id"]]] = true
		}
	}
	// Whatever depends on a dropped application goes with it.
	for changed := true; changed; {
		changed = false
		for _, row := range f.rows["applications"] {
			id := *row[appCol["id"]]
			if drop[id] {
				continue
			}
			parent := row[appCol["parent_id"]]
			data := *row[appCol["data"]]
			for d := range drop {
				if parent != nil && *parent == d || strings.Contains(data, d) {
					drop[id], changed = true, true
					break
				}
			}
		}
	}
	h := &family{programme: f.programme, rows: map[string][]templateRow{}, lo: 0, hi: 0}
	var keep []int // old index → new index, -1 dropped
	for _, id := range f.apps {
		if drop[id] {
			keep = append(keep, -1)
			continue
		}
		keep = append(keep, len(h.apps))
		h.apps = append(h.apps, id)
	}
	if len(h.apps) == 0 {
		return nil, nil
	}
	owned := func(table string, row templateRow) bool {
		switch table {
		case "applications":
			return !drop[*row[appCol["id"]]]
		case "expert_draws":
			return true // filtered below by stage
		}
		i := slices.IndexFunc(t.tableOf(table).cols, func(c column) bool { return c.name == "application_id" })
		return !drop[*row[i]]
	}
	keptStages := map[string]bool{}
	for _, tab := range t.tables {
		for _, row := range f.rows[tab.name] {
			if !owned(tab.name, row) {
				continue
			}
			if tab.name == "review_stages" {
				keptStages[*row[t.col(tab.name)["id"]]] = true
			}
			if tab.name == "expert_draws" && !keptStages[*row[t.col(tab.name)["stage_id"]]] {
				continue
			}
			h.rows[tab.name] = append(h.rows[tab.name], row)
		}
	}
	h.tasks = len(h.rows["review_tasks"])
	for _, e := range f.entries {
		if keep[e.app] < 0 {
			continue
		}
		e.app = keep[e.app]
		if len(h.entries) == 0 {
			h.first = e.entry.AtMicros
		}
		h.last = max(h.last, e.entry.AtMicros)
		h.entries = append(h.entries, e)
	}
	return h, nil
}

func (t *templates) tableOf(name string) *clonedTable {
	for _, tab := range t.tables {
		if tab.name == name {
			return tab
		}
	}
	return nil
}

// isUUIDText reports whether s is a UUID as PostgreSQL prints one.
func isUUIDText(s string) bool {
	return len(s) == 36 && uuidAt(s, 0)
}

// uuidAt reports whether a UUID as PostgreSQL prints one starts at s[i].
func uuidAt(s string, i int) bool {
	if len(s)-i < 36 {
		return false
	}
	for j := range 36 {
		c := s[i+j]
		switch j {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func containsUUID(s string) bool {
	for i := 0; i+36 <= len(s); i++ {
		if s[i+8] == '-' && uuidAt(s, i) {
			return true
		}
	}
	return false
}

// replaceUUIDs replaces every UUID in s that m maps.
func replaceUUIDs(s string, m func(string) (string, bool)) string {
	if len(s) < 36 || strings.IndexByte(s, '-') < 0 {
		return s
	}
	var b *bytes.Buffer
	last := 0
	for i := 0; i+36 <= len(s); {
		if s[i+8] == '-' && uuidAt(s, i) {
			if to, ok := m(s[i : i+36]); ok {
				if b == nil {
					b = bytes.NewBuffer(make([]byte, 0, len(s)))
				}
				b.WriteString(s[last:i])
				b.WriteString(to)
				last = i + 36
			}
			i += 36
			continue
		}
		i++
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// sortedKeys are a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
