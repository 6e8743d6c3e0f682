package postgres

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

// Application is one stored application, with the names a view needs.
type Application struct {
	ID              string
	Workflow        string
	WorkflowVersion int
	State           string
	Version         int
	Data            map[string]any
	OrgID           string
	OrgName         string
	OrgKind         string
	OrgParentID     string
	ApplicantID     string
	ApplicantName   string
	ApplicantLogin  string
	ParentID        string
	PartyOrgID      string
	SubmittedAt     *time.Time
	StateEnteredAt  time.Time
	Deadline        *time.Time
	Created         time.Time
	Updated         time.Time
	// RedactedAt is when the application's personal data was redacted
	// after its retention period; nil while it is kept.
	RedactedAt *time.Time
	// ScopeRoles are the viewer's roles through which the application is
	// visible to them; empty when read by the system.
	ScopeRoles []identity.Role
}

type applicationRow struct {
	ID              string         `db:"id"`
	Workflow        string         `db:"workflow"`
	WorkflowVersion int            `db:"workflow_version"`
	State           string         `db:"state"`
	Version         int            `db:"version"`
	Data            []byte         `db:"data"`
	OrgID           string         `db:"org_id"`
	OrgName         string         `db:"org_name"`
	OrgKind         string         `db:"org_kind"`
	OrgParentID     sql.NullString `db:"org_parent_id"`
	ApplicantID     string         `db:"applicant_id"`
	ApplicantName   string         `db:"applicant_name"`
	ApplicantLogin  string         `db:"applicant_username"`
	ParentID        sql.NullString `db:"parent_id"`
	PartyOrgID      sql.NullString `db:"party_org_id"`
	SubmittedAt     sql.NullTime   `db:"submitted_at"`
	StateEnteredAt  time.Time      `db:"state_entered_at"`
	Deadline        sql.NullTime   `db:"deadline"`
	Created         time.Time      `db:"created_at"`
	Updated         time.Time      `db:"updated_at"`
	RedactedAt      sql.NullTime   `db:"redacted_at"`
	ScopeRoles      pq.StringArray `db:"scope_roles"`
	// The application's audit chain head, read (and locked) only by
	// LockApplication.
	ChainCount sql.NullInt64 `db:"chain_count"`
	ChainHash  []byte        `db:"chain_hash"`
	// Its transitions and the chain position they were read at.
	HistSeqs     pq.Int64Array  `db:"hist_seqs"`
	HistContents pq.StringArray `db:"hist_contents"`
	HistHashes   pq.ByteaArray  `db:"hist_hashes"`
	HistLast     sql.NullInt64  `db:"hist_last"`
	// Whether the locking applicant's registration is pending, read only
	// by LockApplicationWithHistory when a gate is set.
	RegistrationPending sql.NullBool `db:"registration_pending"`
}

func toApplication(r applicationRow) (Application, error) {
	a := Application{ID: r.ID, Workflow: r.Workflow, WorkflowVersion: r.WorkflowVersion, State: r.State,
		Version: r.Version, OrgID: r.OrgID, OrgName: r.OrgName, OrgKind: r.OrgKind, OrgParentID: r.OrgParentID.String,
		ApplicantID: r.ApplicantID, ApplicantName: r.ApplicantName, ApplicantLogin: r.ApplicantLogin,
		ParentID: r.ParentID.String, PartyOrgID: r.PartyOrgID.String, StateEnteredAt: r.StateEnteredAt, Created: r.Created,
		Updated: r.Updated}
	if r.SubmittedAt.Valid {
		a.SubmittedAt = &r.SubmittedAt.Time
	}
	if r.Deadline.Valid {
		a.Deadline = &r.Deadline.Time
	}
	if r.RedactedAt.Valid {
		a.RedactedAt = &r.RedactedAt.Time
	}
	if err := json.Unmarshal(r.Data, &a.Data); err != nil {
		return a, fmt.Errorf("decode data of %s: %w", r.ID, err)
	}
	a.ScopeRoles = toRoles(r.ScopeRoles)
	return a, nil
}

func toRoles(names []string) []identity.Role {
	var out []identity.Role
	for _, s := range names {
		out = append(out, identity.Role(s))
	}
	return out
}

// Visibility, enforced in the queries themselves: each role reaches the
// applications its condition selects. The same list makes the WHERE clause
// (any condition) and scope_roles (which conditions), so what a user can see
// and what they can do through each role cannot drift apart.
type scopeRule struct {
	role identity.Role
	// cond is SQL over a (applications) and o (orgs); %[1]s is the
	// viewer's org, %[2]s the viewer's own id.
	cond string
	// individual replaces cond for accounts registered by one person.
	individual string
	// wide says the rule selects most applications (everything submitted):
	// a list through it reads the newest first and filters as it goes; a
	// list through narrow rules alone gathers each rule's newest from its
	// own index instead (Applications).
	wide bool
}

var scopeRules = []scopeRule{
	// An applicant sees their own organisation's applications, drafts
	// included; a person who registered alone sees only their own.
	{identity.Applicant, "a.org_id = %[1]s", "a.applicant_id = %[2]s", false},
	// A recommending unit sees what its own organisation or those under it
	// submitted, never their unsubmitted drafts.
	{identity.UnitReviewer, "a.submitted_at IS NOT NULL AND (a.org_id = %[1]s OR o.parent_id = %[1]s)", "", false},
	// The bureau sees everything submitted to its programmes, and its own
	// drafts (a challenge being written), never an applicant's.
	{identity.Staff, "(a.submitted_at IS NOT NULL OR a.org_id = %[1]s)", "", true},
	{identity.Leader, "(a.submitted_at IS NOT NULL OR a.org_id = %[1]s)", "", true},
	// Oversight sees everything, read-only (no workflow lets it act).
	{identity.Auditor, "true", "", true},
	// Administrators see that submitted applications exist and where they
	// stand, never their content (the engine withholds data and files) and
	// never act on them (no workflow may name the role).
	{identity.Admin, "a.submitted_at IS NOT NULL", "", true},
	// Experts see only what they are assigned to review, while the task is
	// theirs (not after they recused or handed it on).
	{identity.Expert, `EXISTS (SELECT 1 FROM review_tasks rt WHERE rt.application_id = a.id
        AND rt.assignee_id = %[2]s AND rt.status IN ('waiting', 'open', 'decided'))`, "", false},
	// The people of an application's third party (an envoy's service
	// target) see it once submitted, and act where an event allows party;
	// a person who registered alone speaks for nobody.
	{identity.Party, "a.submitted_at IS NOT NULL AND a.party_org_id = %[1]s", "false", false},
}

// partyRoles are the roles through which someone of a party organisation
// acts for it.
var partyRoles = []identity.Role{identity.Applicant, identity.UnitReviewer}

// Public is the role through which every signed-in user reads an
// application in one of its workflow's public states (a published
// challenge); no event is ever fired through it.
const Public identity.Role = "public"

// SetPublicStates says which "workflow:state" pairs every signed-in user
// may read; the engine sets it from the definitions it runs.
func (db *DB) SetPublicStates(pairs []string) { db.public.Store(&pairs) }

// publicStates are the pairs SetPublicStates gave; none before.
func publicStates(p *atomic.Pointer[[]string]) []string {
	if v := p.Load(); v != nil {
		return *v
	}
	return nil
}

// scopeSQL returns the viewer's scope_roles expression and visibility
// predicate, adding the viewer's org and id to args as its conditions use
// them. A nil viewer is the system: it sees everything through no role.
// The SQL depends only on which rules hold and where the arguments start,
// so it is built once per shape and kept (every request asks).
func scopeSQL(viewer *identity.User, public []string, args *[]any) (scope, visible string) {
	sh := scopeOf(viewer, public, args)
	return sh.scope, sh.visible
}

// scopeOf is scopeSQL's shape, with the alternatives of its predicate.
func scopeOf(viewer *identity.User, public []string, args *[]any) scopeShape {
	if viewer == nil {
		return scopeShape{scope: "ARRAY[]::text[]", visible: "true", wide: true}
	}
	key := scopeKey{pos: len(*args), individual: viewer.Individual, public: len(public) > 0}
	for i, r := range scopeRules {
		if viewer.Has(r.role) || r.role == identity.Party && slices.ContainsFunc(partyRoles, viewer.Has) {
			key.rules |= 1 << i
		}
	}
	shape, ok := scopeShapes.Load(key)
	if !ok {
		shape, _ = scopeShapes.LoadOrStore(key, newScopeShape(key))
	}
	sh := shape.(scopeShape)
	for _, b := range sh.binds {
		v := viewer.OrgID
		if b == 1 {
			v = viewer.ID
		}
		*args = append(*args, v)
	}
	if key.public {
		*args = append(*args, pq.StringArray(public))
	}
	return sh
}

// scopeKey is what the SQL of a viewer's scope depends on.
type scopeKey struct {
	pos        int    // arguments before the scope's
	rules      uint16 // bit i: scopeRules[i] holds
	individual bool
	public     bool
}

// scopeShape is the SQL of one scopeKey and the viewer values it binds, in
// order (0: org, 1: id).
type scopeShape struct {
	scope, visible string
	binds          []int
	// conds are visible's alternatives, one per rule that holds; wide says
	// one of them is a wide rule; public is the alternative of the public
	// states, -1 without.
	conds  []string
	wide   bool
	public int
}

var scopeShapes sync.Map // scopeKey → scopeShape

func newScopeShape(k scopeKey) scopeShape {
	sh := scopeShape{public: -1}
	var cases, conds []string
	n := k.pos
	for i, r := range scopeRules {
		if k.rules&(1<<i) == 0 {
			continue
		}
		cond := r.cond
		if k.individual && r.individual != "" {
			cond = r.individual
		}
		for b := range 2 {
			ph := fmt.Sprintf("%%[%d]s", b+1)
			if strings.Contains(cond, ph) {
				n++
				sh.binds = append(sh.binds, b)
				cond = strings.ReplaceAll(cond, ph, fmt.Sprintf("$%d::uuid", n))
			}
		}
		cases = append(cases, fmt.Sprintf("CASE WHEN %s THEN '%s' END", cond, r.role))
		conds = append(conds, "("+cond+")")
		sh.wide = sh.wide || r.wide
	}
	if k.public {
		n++
		cond := fmt.Sprintf("(a.workflow || ':' || a.state) = ANY ($%d)", n)
		cases = append(cases, fmt.Sprintf("CASE WHEN %s THEN '%s' END", cond, Public))
		sh.public = len(conds)
		conds = append(conds, "("+cond+")")
	}
	if len(conds) == 0 {
		sh.scope, sh.visible = "ARRAY[]::text[]", "false"
		return sh
	}
	sh.scope = "array_remove(ARRAY[" + strings.Join(cases, ", ") + "]::text[], NULL)"
	sh.visible = "(" + strings.Join(conds, " OR ") + ")"
	sh.conds = conds
	return sh
}

const applicationColumns = `
a.id, a.workflow, a.workflow_version, a.state, a.version, a.data, a.org_id, o.name AS org_name, o.kind AS org_kind,
o.parent_id AS org_parent_id, a.applicant_id, u.name AS applicant_name, u.username AS applicant_username, a.parent_id,
a.party_org_id, a.submitted_at, a.state_entered_at, a.deadline, a.created_at, a.updated_at, a.redacted_at`

const applicationFrom = `
FROM applications a
JOIN orgs o ON o.id = a.org_id
JOIN users u ON u.id = a.applicant_id`

// appRead says how getApplication reads an application and what else the
// same statement does.
type appRead struct {
	// lock is "" (none), "UPDATE" or "SHARE". UPDATE also locks the
	// application's audit chain head.
	lock string
	// history (with UPDATE) reads the application's history too.
	history bool
	// with is a WITH clause of data-modifying statements run by the same
	// statement (the transaction's audit entries), its arguments withArgs
	// numbered from $1.
	with     string
	withArgs []any
	// gate (with UPDATE) reads whether the viewer's registration is
	// pending too (SetRegistrationGate).
	gate *RegistrationGate
}

func getApplication(ctx context.Context, q sqlx.QueryerContext, public []string, viewer *identity.User, id string, how appRead) (Application, []AuditRow, error) {
	if !isUUID(id) {
		return Application{}, nil, fmt.Errorf("application %q: %w", id, errs.ErrNotFound)
	}
	args := append(how.withArgs, id)
	idParam := "$" + strconv.Itoa(len(args))
	scope, visible := scopeSQL(viewer, public, &args)
	query := how.with + ` SELECT ` + applicationColumns + `, ` + scope + ` AS scope_roles `
	where := ` WHERE a.id = ` + idParam + ` AND ` + visible
	switch how.lock {
	case "UPDATE":
		// The application's chain head is locked with it: under the row
		// lock a concurrent writer's commit is re-read for both rows, so
		// the head is never older than the application. The history, when
		// asked for, comes in the same statement; it is read as of the
		// statement's start, so when a writer committed before the lock was
		// granted its entries are missing, and the chain's position (last,
		// against the locked head) says so.
		query += `, ch.count AS chain_count, ch.last_hash AS chain_hash`
		from := applicationFrom + ` JOIN audit_chains ch ON ch.chain = a.id::text`
		if gate := how.gate; gate != nil {
			args = append(args, viewer.ID)
			query += `, ` + pendingRegistration(*gate, "$"+strconv.Itoa(len(args))) + ` AS registration_pending`
		}
		if how.history {
			query += `, h.seqs AS hist_seqs, h.contents AS hist_contents, h.hashes AS hist_hashes, h.last AS hist_last`
			from += `
CROSS JOIN LATERAL (
    SELECT array_agg(l.seq ORDER BY l.app_seq) FILTER (WHERE l.kind = 'transition') AS seqs,
        array_agg(l.content ORDER BY l.app_seq) FILTER (WHERE l.kind = 'transition') AS contents,
        array_agg(l.hash ORDER BY l.app_seq) FILTER (WHERE l.kind = 'transition') AS hashes,
        coalesce(max(l.chain_seq), 0) AS last
    FROM audit_log l WHERE l.application_id = a.id
) h`
		}
		query += ` ` + from + where + ` FOR UPDATE OF a, ch`
	case "SHARE":
		query += applicationFrom + where + ` FOR SHARE OF a`
	default:
		query += applicationFrom + where
	}
	var r applicationRow
	var err error
	if tx, ok := q.(*Tx); ok {
		err = tx.getPrepared(ctx, &r, query, args...)
	} else {
		err = sqlx.GetContext(ctx, q, &r, query, args...)
	}
	if err != nil {
		return Application{}, nil, mapError("get application", err)
	}
	app, err := toApplication(r)
	if err != nil || how.lock != "UPDATE" {
		return app, nil, err
	}
	tx := q.(*Tx)
	tx.knowHead(ChainHead{Chain: r.ID, Count: r.ChainCount.Int64, LastHash: r.ChainHash})
	if how.gate != nil && r.RegistrationPending.Valid {
		tx.registration = &registrationRead{gate: *how.gate, userID: viewer.ID, pending: r.RegistrationPending.Bool}
	}
	if !how.history || r.HistLast.Int64 != r.ChainCount.Int64 {
		return app, nil, nil // read before a concurrent writer's commit
	}
	hist := make([]AuditRow, len(r.HistSeqs))
	for i := range hist {
		hist[i] = AuditRow{Seq: r.HistSeqs[i], Content: r.HistContents[i], Hash: r.HistHashes[i]}
	}
	return app, hist, nil
}

// Application reads one application as viewer sees it; not found when it is
// not theirs to see.
func (db *DB) Application(ctx context.Context, viewer *identity.User, id string) (Application, error) {
	app, _, err := getApplication(ctx, db, publicStates(db.public), viewer, id, appRead{})
	return app, err
}

// Application reads one application inside the transaction, without a lock.
func (tx *Tx) Application(ctx context.Context, viewer *identity.User, id string) (Application, error) {
	app, _, err := getApplication(ctx, tx, publicStates(tx.public), viewer, id, appRead{})
	return app, err
}

// ApplicationWritten reads an application inside the transaction after
// changing it, and writes the audit entries appended so far in the same
// statement.
func (tx *Tx) ApplicationWritten(ctx context.Context, viewer *identity.User, id string) (Application, error) {
	with, args := tx.auditWrite()
	if with == "" {
		return tx.Application(ctx, viewer, id)
	}
	app, _, err := getApplication(ctx, tx, publicStates(tx.public), viewer, id, appRead{with: with, withArgs: args})
	tx.audit.written()
	return app, err
}

// ScopeWritten writes the audit entries appended so far and, in the same
// statement, reads viewer's roles on an application the transaction has
// just changed (what it changed, the caller knows): empty when viewer may
// no longer see it.
func (tx *Tx) ScopeWritten(ctx context.Context, viewer *identity.User, id string) ([]identity.Role, error) {
	with, args := tx.auditWrite()
	args = append(args, id)
	idParam := "$" + strconv.Itoa(len(args))
	scope, visible := scopeSQL(viewer, publicStates(tx.public), &args)
	// Read as a subquery, so that the entries are written when the viewer
	// sees nothing too.
	q := with + ` SELECT (SELECT ` + scope + applicationFrom + ` WHERE a.id = ` + idParam + ` AND ` + visible + `) AS scope`
	var roles pq.StringArray
	if err := tx.getPrepared(ctx, &roles, q, args...); err != nil {
		return nil, mapError("read back application", err)
	}
	tx.audit.written()
	return toRoles(roles), nil
}

// LockApplication reads an application and locks its row until the
// transaction ends: concurrent changes to one application queue here.
func (tx *Tx) LockApplication(ctx context.Context, viewer *identity.User, id string) (Application, error) {
	app, _, err := getApplication(ctx, tx, publicStates(tx.public), viewer, id, appRead{lock: "UPDATE"})
	return app, err
}

// LockApplicationWithHistory is LockApplication that also reads the
// application's history (its transitions, oldest first) in the same
// statement, without the actors' names.
func (tx *Tx) LockApplicationWithHistory(ctx context.Context, viewer *identity.User, id string) (Application, []HistoryRow, error) {
	read := appRead{lock: "UPDATE", history: true}
	if viewer != nil && viewer.Has(identity.Applicant) {
		read.gate = tx.db.gate.Load()
	}
	app, hist, err := getApplication(ctx, tx, publicStates(tx.public), viewer, id, read)
	if err != nil {
		return app, nil, err
	}
	if hist == nil {
		rows, err := tx.History(ctx, id)
		return app, rows, err
	}
	rows := make([]HistoryRow, len(hist))
	for i, h := range hist {
		rows[i] = HistoryRow{AuditRow: h, ApplicationID: id}
	}
	return app, rows, nil
}

// ShareApplication reads an application and holds a share lock on it until
// the transaction ends: it cannot change meanwhile (a challenge cannot close
// under an application being submitted to it), though others may read it.
func (tx *Tx) ShareApplication(ctx context.Context, viewer *identity.User, id string) (Application, error) {
	app, _, err := getApplication(ctx, tx, publicStates(tx.public), viewer, id, appRead{lock: "SHARE"})
	return app, err
}

// NewApplication is what creating an application stores.
type NewApplication struct {
	Workflow        string
	WorkflowVersion int
	State           string
	Data            map[string]any
	OrgID           string
	ApplicantID     string
	ParentID        string
	PartyOrgID      string
	Submitted       bool
	Deadline        *time.Time
	At              time.Time
}

// InsertApplication stores a new application at version 1.
func (tx *Tx) InsertApplication(ctx context.Context, n NewApplication) (string, error) {
	data, err := json.Marshal(n.Data)
	if err != nil {
		return "", fmt.Errorf("encode data: %w", err)
	}
	var submitted any
	if n.Submitted {
		submitted = n.At
	}
	// The application's audit chain starts with it, empty.
	const q = `
WITH a AS (
    INSERT INTO applications (workflow, workflow_version, state, data, org_id, applicant_id, parent_id,
        submitted_at, state_entered_at, deadline, created_at, updated_at, party_org_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9, $9, $11)
    RETURNING id
), chain AS (
    INSERT INTO audit_chains (chain, count, last_hash, signature) SELECT id::text, 0, '', '' FROM a
)
SELECT id FROM a`
	var id string
	err = tx.GetContext(ctx, &id, q, n.Workflow, n.WorkflowVersion, n.State, string(data), n.OrgID, n.ApplicantID,
		nullString(n.ParentID), submitted, n.At, n.Deadline, nullString(n.PartyOrgID))
	if err != nil {
		return "", mapError("insert application", err)
	}
	tx.knowHead(ChainHead{Chain: id})
	return id, nil
}

// ApplicationChange is a move of an application, checked by the engine.
type ApplicationChange struct {
	ID              string
	Version         int // the version read under lock
	State           string
	StateChanged    bool
	Data            map[string]any
	Submitted       bool // it leaves its initial state now or did before
	Deadline        *time.Time
	WorkflowVersion int
	PartyOrgID      string
	At              time.Time
}

// UpdateApplication writes a change and bumps the version. The version in
// the WHERE clause makes a change based on a stale read fail instead of
// overwriting another.
func (tx *Tx) UpdateApplication(ctx context.Context, c ApplicationChange) error {
	data, err := json.Marshal(c.Data)
	if err != nil {
		return fmt.Errorf("encode data: %w", err)
	}
	// Leaving a state ends its timers, in the same statement; entering the
	// next state schedules its own (ReplaceTimers).
	const q = `
WITH ended AS (
    UPDATE timers SET done_at = $5 WHERE $7 AND application_id = $1 AND done_at IS NULL
)
UPDATE applications SET
    state = $3, data = $4, version = version + 1, updated_at = $5,
    submitted_at = CASE WHEN $6 THEN coalesce(submitted_at, $5) ELSE submitted_at END,
    state_entered_at = CASE WHEN $7 THEN $5 ELSE state_entered_at END,
    deadline = CASE WHEN $7 THEN $8 ELSE deadline END,
    workflow_version = $9, party_org_id = $10
WHERE id = $1 AND version = $2`
	res, err := tx.execPrepared(ctx, q, c.ID, c.Version, c.State, string(data), c.At, c.Submitted, c.StateChanged, c.Deadline,
		c.WorkflowVersion, nullString(c.PartyOrgID))
	if err != nil {
		return mapError("update application", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("update application %s: %w", c.ID, errs.ErrConflict)
	}
	if c.StateChanged {
		tx.timersEnded = c.ID
	}
	return nil
}

// ApplicationFilter narrows a list.
type ApplicationFilter struct {
	Workflow string
	State    string
	Query    string // matched against the title in the data and the organisation's name
	ParentID string
	Limit    int
	Cursor   string
}

// Applications lists what viewer may see, newest first, a page at a time.
func (db *DB) Applications(ctx context.Context, viewer *identity.User, f ApplicationFilter) (items []Application, next string, err error) {
	args := []any{}
	sh := scopeOf(viewer, publicStates(db.public), &args)
	var where []string
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Workflow != "" {
		add("a.workflow = $%d", f.Workflow)
	}
	if f.State != "" {
		add("a.state = $%d", f.State)
	}
	if f.ParentID != "" {
		if !isUUID(f.ParentID) {
			return nil, "", nil
		}
		add("a.parent_id = $%d", f.ParentID)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		add("(a.data ->> 'title' ILIKE $%[1]d OR o.name ILIKE $%[1]d)", likePattern(q))
	}
	if f.Cursor != "" {
		at, id, ok := decodeCursor(f.Cursor)
		if !ok {
			return nil, "", errs.E(errs.BadRequest, "分页游标无效", "invalid cursor").Field("cursor", "无效", "invalid")
		}
		args = append(args, at, id)
		where = append(where, fmt.Sprintf("(a.created_at, a.id) < ($%d, $%d::uuid)", len(args)-1, len(args)))
	}
	args = append(args, f.Limit+1)
	order := fmt.Sprintf(` ORDER BY a.created_at DESC, a.id DESC LIMIT $%d`, len(args))
	filters := ""
	for _, w := range where {
		filters += " AND " + w
	}
	query := `SELECT ` + applicationColumns + `, ` + sh.scope + ` AS scope_roles ` + applicationFrom +
		` WHERE ` + sh.visible + filters + order
	if !sh.wide && len(sh.conds) > 1 {
		// Seen through narrow rules alone (an applicant's organisation, a
		// third party, the challenges everyone may read), the newest
		// visible are gathered rule by rule, each from its own index in
		// list order (migration 011), rather than by reading the newest
		// of all a million and keeping the few that pass one of them.
		var branches []string
		branch := func(cond string) {
			branches = append(branches, `(SELECT a.id FROM applications a JOIN orgs o ON o.id = a.org_id WHERE `+cond+filters+order+`)`)
		}
		for i, cond := range sh.conds {
			if i != sh.public {
				branch(cond)
				continue
			}
			// One branch per public state, so that each is read in order
			// from the index on the state (one of several in an array is
			// not, before PostgreSQL 17).
			for _, pair := range publicStates(db.public) {
				wf, st, _ := strings.Cut(pair, ":")
				if f.Workflow != "" && f.Workflow != wf || f.State != "" && f.State != st {
					continue // the filters leave none of it
				}
				args = append(args, pair)
				branch(fmt.Sprintf("(a.workflow || ':' || a.state) = $%d", len(args)))
			}
		}
		query = `SELECT ` + applicationColumns + `, ` + sh.scope + ` AS scope_roles ` + applicationFrom +
			` WHERE a.id IN (` + strings.Join(branches, " UNION ") + `)` + order
	}
	var rows []applicationRow
	if err := db.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, "", mapError("list applications", err)
	}
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		last := rows[len(rows)-1]
		next = encodeCursor(last.Created, last.ID)
	}
	for _, r := range rows {
		a, err := toApplication(r)
		if err != nil {
			return nil, "", err
		}
		items = append(items, a)
	}
	return items, next, nil
}

func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + id))
}

func decodeCursor(s string) (time.Time, string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", false
	}
	at, id, ok := strings.Cut(string(raw), "|")
	if !ok || !isUUID(id) {
		return time.Time{}, "", false
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	return t, id, err == nil
}

// History is an application's transitions, oldest first, with each actor's
// login name (empty for the system).
func (tx *Tx) History(ctx context.Context, appID string) ([]HistoryRow, error) {
	if err := tx.flushAudit(); err != nil {
		return nil, err
	}
	return history(ctx, tx, appID)
}

// History reads an application's transitions outside a transaction.
func (db *DB) History(ctx context.Context, appID string) ([]HistoryRow, error) {
	return history(ctx, db, appID)
}

// HistoryRow is one transition entry and its actor's login.
type HistoryRow struct {
	AuditRow
	ApplicationID string         `db:"application_id"`
	ActorUsername sql.NullString `db:"actor_username"`
	ActorName     sql.NullString `db:"actor_name"`
}

const historyQuery = `
SELECT l.seq, l.content, l.prev_hash, l.hash, l.application_id, u.username AS actor_username, u.name AS actor_name
FROM audit_log l LEFT JOIN users u ON u.id = l.actor_id
WHERE l.application_id = ANY ($1::uuid[]) AND l.kind = 'transition'
ORDER BY l.application_id, l.app_seq`

func history(ctx context.Context, q sqlx.QueryerContext, appID string) ([]HistoryRow, error) {
	var rows []HistoryRow
	if err := sqlx.SelectContext(ctx, q, &rows, historyQuery, pq.StringArray{appID}); err != nil {
		return nil, mapError("read history", err)
	}
	return rows, nil
}

// Histories reads the histories of several applications in one query, by
// application id, for a page of a list.
func (db *DB) Histories(ctx context.Context, appIDs []string) (map[string][]HistoryRow, error) {
	var rows []HistoryRow
	if err := db.SelectContext(ctx, &rows, historyQuery, pq.StringArray(appIDs)); err != nil {
		return nil, mapError("read histories", err)
	}
	out := make(map[string][]HistoryRow, len(appIDs))
	for _, r := range rows {
		out[r.ApplicationID] = append(out[r.ApplicationID], r)
	}
	return out, nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

// RunningApplications lists the ids of key's applications not on version,
// oldest first; the caller skips the finished ones by its definitions.
func (tx *Tx) RunningApplications(ctx context.Context, key string, version int) ([]string, error) {
	const q = `SELECT id FROM applications WHERE workflow = $1 AND workflow_version <> $2 ORDER BY created_at, id`
	var ids []string
	if err := tx.SelectContext(ctx, &ids, q, key, version); err != nil {
		return nil, mapError("list running applications", err)
	}
	return ids, nil
}

// RegistrationGate is the registration an applicant's submission waits
// for: one through Workflow that has not reached VerifiedState keeps them
// from submitting (account.Service.SubmitGate).
type RegistrationGate struct {
	Workflow, VerifiedState string
}

// SetRegistrationGate tells the lock statement (LockApplicationWithHistory)
// to read, for an applicant, whether such a registration of theirs is
// pending, so that UnverifiedRegistration need not ask again: one
// statement fewer per submission.
func (db *DB) SetRegistrationGate(g RegistrationGate) { db.gate.Store(&g) }

// MirrorSettings gives db what other was told (SetPublicStates,
// SetRegistrationGate): a second pool whose statements must read as
// other's do (the bench's floor).
func (db *DB) MirrorSettings(other *DB) {
	db.public.Store(other.public.Load())
	db.gate.Store(other.gate.Load())
}

type registrationRead struct {
	gate    RegistrationGate
	userID  string
	pending bool
}

// pendingRegistration is the EXISTS that answers UnverifiedRegistration,
// for userParam; the workflow and state are written into the statement so
// that its prepared plan can use the index of pending registrations
// (migration 014), whose predicate names them.
func pendingRegistration(g RegistrationGate, userParam string) string {
	return `EXISTS (SELECT 1 FROM applications v WHERE v.workflow = ` + pq.QuoteLiteral(g.Workflow) +
		` AND v.applicant_id = ` + userParam + ` AND v.state <> ` + pq.QuoteLiteral(g.VerifiedState) + `)`
}

// UnverifiedRegistration reports whether userID registered through workflow
// and that registration has not (yet) reached verifiedState: from what the
// transaction's lock statement read, when it read this, else by asking.
func (tx *Tx) UnverifiedRegistration(ctx context.Context, userID, workflow, verifiedState string) (bool, error) {
	g := RegistrationGate{Workflow: workflow, VerifiedState: verifiedState}
	if r := tx.registration; r != nil && r.userID == userID && r.gate == g {
		return r.pending, nil
	}
	q := `SELECT ` + pendingRegistration(g, "$1")
	var pending bool
	if err := tx.getPrepared(ctx, &pending, q, userID); err != nil {
		return false, mapError("check registration", err)
	}
	return pending, nil
}

// ChildIDs lists an application's children, oldest first.
func (tx *Tx) ChildIDs(ctx context.Context, parentID string) ([]string, error) {
	var out []string
	if err := tx.SelectContext(ctx, &out, `SELECT id FROM applications WHERE parent_id = $1 ORDER BY created_at, id`, parentID); err != nil {
		return nil, mapError("list children", err)
	}
	return out, nil
}
