package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/postgres"
)

// People. A province is many counties on one installation; the generator
// makes each county a copy of the demo county's bureau side (the bureau,
// the recommending department, the research bodies of the expert pool, and
// their people: staff, leader, auditor, administrator, unit reviewer,
// experts), with replicas of its applicant side (the enterprises, the
// institute, the hospital, the village, the co-operative and their people),
// so that no enterprise or person holds more applications than a real one
// would. A family's copy belongs to one county and one replica, and its
// ids of people are theirs.

// person is a template organisation or user and which side it is on.
type person struct {
	slot  int
	local bool // on the applicant side: copied per replica
}

// peopleTemplate is the demo county's organisations and people.
type peopleTemplate struct {
	orgs  []orgTemplate
	users []userTemplate
	ids   map[string]person
	// specialties and conflicts of the experts, by user id.
	specialties map[string][]string
	conflicts   map[string][]string
	// entries are the accounts chain's entries that created them, by
	// subject (org.create, user.create).
	entries map[string]audit.Entry
	// localOrgs and localUsers count each side, for the report.
	localOrgs, localUsers int
}

type orgTemplate struct {
	ID       string         `db:"id"`
	Name     string         `db:"name"`
	Kind     string         `db:"kind"`
	ParentID sql.NullString `db:"parent_id"`
}

type userTemplate struct {
	ID         string         `db:"id"`
	Username   string         `db:"username"`
	Name       string         `db:"name"`
	OrgID      string         `db:"org_id"`
	Roles      pq.StringArray `db:"roles"`
	Individual bool           `db:"individual"`
	Phone      sql.NullString `db:"phone"`
}

// loadPeople reads the demo county's organisations and people. An
// organisation is on the applicant side when one of its people applies or
// an application names it as its third party (an envoy's service target);
// the rest is the bureau's side, one per county (the bureau's own
// applications, the challenges it posts, stay with the county's bureau).
func loadPeople(ctx context.Context, db *sqlx.DB) (*peopleTemplate, error) {
	p := &peopleTemplate{ids: map[string]person{}, specialties: map[string][]string{}, conflicts: map[string][]string{},
		entries: map[string]audit.Entry{}}
	if err := db.SelectContext(ctx, &p.orgs, `SELECT id, name, kind, parent_id FROM orgs ORDER BY created_at, id`); err != nil {
		return nil, fmt.Errorf("read template orgs: %w", err)
	}
	const users = `SELECT id, username, name, org_id, roles, individual, phone FROM users ORDER BY created_at, id`
	if err := db.SelectContext(ctx, &p.users, users); err != nil {
		return nil, fmt.Errorf("read template users: %w", err)
	}
	var local []string
	const q = `
SELECT DISTINCT o FROM (
    SELECT org_id AS o FROM users WHERE 'applicant' = ANY (roles)
    UNION SELECT party_org_id FROM applications WHERE party_org_id IS NOT NULL) x`
	if err := db.SelectContext(ctx, &local, q); err != nil {
		return nil, fmt.Errorf("read the applicant side: %w", err)
	}
	isLocal := map[string]bool{}
	for _, id := range local {
		isLocal[id] = true
	}
	for i, o := range p.orgs {
		p.ids[o.ID] = person{slot: i, local: isLocal[o.ID]}
		if isLocal[o.ID] {
			p.localOrgs++
		}
	}
	for i, u := range p.users {
		p.ids[u.ID] = person{slot: len(p.orgs) + i, local: isLocal[u.OrgID]}
		if isLocal[u.OrgID] {
			p.localUsers++
		}
	}
	var pairs []struct {
		User  string `db:"user_id"`
		Value string `db:"value"`
	}
	if err := db.SelectContext(ctx, &pairs, `SELECT user_id, specialty AS value FROM expert_specialties ORDER BY 1, 2`); err != nil {
		return nil, fmt.Errorf("read template specialties: %w", err)
	}
	for _, s := range pairs {
		p.specialties[s.User] = append(p.specialties[s.User], s.Value)
	}
	pairs = pairs[:0]
	if err := db.SelectContext(ctx, &pairs, `SELECT user_id, org_id::text AS value FROM expert_conflicts ORDER BY 1, 2`); err != nil {
		return nil, fmt.Errorf("read template conflicts: %w", err)
	}
	for _, c := range pairs {
		p.conflicts[c.User] = append(p.conflicts[c.User], c.Value)
	}
	var contents []string
	const entries = `SELECT content FROM audit_log WHERE chain = $1 AND kind IN ('org.create', 'user.create') ORDER BY chain_seq`
	if err := db.SelectContext(ctx, &contents, entries, audit.ChainAccounts); err != nil {
		return nil, fmt.Errorf("read template account entries: %w", err)
	}
	for _, c := range contents {
		var e audit.Entry
		dec := json.NewDecoder(strings.NewReader(c))
		dec.UseNumber()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("decode template account entry: %w", err)
		}
		p.entries[e.Subject] = e
	}
	return p, nil
}

// county names a copy's people: the county, and the replica of the
// applicant side (-1 for the bureau's side).
type county struct{ c, r int }

func (k county) usernameSuffix() string {
	if k.r < 0 {
		return fmt.Sprintf("-c%d", k.c+1)
	}
	return fmt.Sprintf("-c%d-%d", k.c+1, k.r+1)
}

func (k county) orgSuffix() string {
	if k.r < 0 {
		return fmt.Sprintf("（第%d县）", k.c+1)
	}
	return fmt.Sprintf("（第%d县之%d）", k.c+1, k.r+1)
}

// of is the county copy a template person of that side belongs to.
func (k county) of(p person) county {
	if p.local {
		return k
	}
	return county{k.c, -1}
}

// peopleWriter writes the counties' people through COPY, with the
// accounts chain's entries that record their creation, in one transaction.
type peopleWriter struct {
	g     *generator
	tx    *sql.Tx
	orgs  [][]any
	users [][]any
	// entries are the accounts chain's new entries, written after.
	entries [][]any
	head    postgres.ChainHead
	at      int64
}

// writePeople makes every county's people and extends the accounts chain
// with their creation. The password is everyone's: the bench signs in as
// a few of them.
func (g *generator) writePeople(ctx context.Context, db *sqlx.DB, passwordHash string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin people: %w", err)
	}
	defer tx.Rollback()
	w := &peopleWriter{g: g, tx: tx}
	const headQ = `SELECT chain, count, last_hash, signature FROM audit_chains WHERE chain = $1 FOR UPDATE`
	if err := tx.QueryRowContext(ctx, headQ, audit.ChainAccounts).Scan(&w.head.Chain, &w.head.Count, &w.head.LastHash,
		&w.head.Signature); err != nil {
		return fmt.Errorf("lock the accounts chain: %w", err)
	}
	// Everyone was registered before the first application of the period,
	// a few milliseconds apart.
	w.at = g.start - int64(len(g.t.people.orgs)+len(g.t.people.users))*int64(g.counties*(g.replicas+1))*1000
	for c := range g.counties {
		if err := w.side(county{c, -1}, false, passwordHash); err != nil {
			return err
		}
		for r := range g.replicas {
			if err := w.side(county{c, r}, true, passwordHash); err != nil {
				return err
			}
		}
	}
	if err := copyRows(ctx, tx, "orgs", []string{"id", "name", "kind", "parent_id", "created_at"}, w.orgs); err != nil {
		return err
	}
	if err := copyRows(ctx, tx, "users", []string{"id", "username", "name", "org_id", "roles", "password_hash", "created_at",
		"individual", "phone", "password_changed_at"}, w.users); err != nil {
		return err
	}
	if err := w.expertise(ctx); err != nil {
		return err
	}
	if err := copyRows(ctx, tx, "audit_log", []string{"content", "prev_hash", "hash"}, w.entries); err != nil {
		return err
	}
	const moveHead = `
UPDATE audit_chains SET count = $2, last_hash = $3, signature = $4, written_xid = pg_current_xact_id() WHERE chain = $1`
	if _, err := tx.ExecContext(ctx, moveHead, w.head.Chain, w.head.Count, w.head.LastHash, w.head.Signature); err != nil {
		return fmt.Errorf("move the accounts chain's head: %w", err)
	}
	g.report.AccountEntries = int64(len(w.entries))
	return tx.Commit()
}

// side writes one county's copy of one side of the demo's people.
func (w *peopleWriter) side(k county, local bool, passwordHash string) error {
	g, p := w.g, w.g.t.people
	for _, o := range p.orgs {
		if p.ids[o.ID].local != local {
			continue
		}
		id := g.personID(k, p.ids[o.ID])
		var parent any
		if o.ParentID.Valid {
			parent = g.personID(k.of(p.ids[o.ParentID.String]), p.ids[o.ParentID.String])
		}
		name := o.Name + k.orgSuffix()
		w.orgs = append(w.orgs, []any{id, name, o.Kind, parent, g.timeAt(w.at)})
		if err := w.entry(o.ID, k, map[string]any{"name": name, "credit_code": ""}); err != nil {
			return err
		}
		g.report.Orgs++
	}
	for _, u := range p.users {
		if p.ids[u.ID].local != local {
			continue
		}
		id := g.personID(k, p.ids[u.ID])
		org := g.personID(k.of(p.ids[u.OrgID]), p.ids[u.OrgID])
		username := u.Username + k.usernameSuffix()
		var phone any
		if u.Phone.Valid {
			phone = u.Phone.String
		}
		at := g.timeAt(w.at)
		w.users = append(w.users, []any{id, username, u.Name, org, "{" + strings.Join(u.Roles, ",") + "}", passwordHash,
			at, u.Individual, phone, at})
		if err := w.entry(u.ID, k, map[string]any{"username": username}); err != nil {
			return err
		}
		g.report.Users++
	}
	return nil
}

// entry appends the accounts chain's record of a copied person: the
// template's entry, with the copy's ids and the names given.
func (w *peopleWriter) entry(templateID string, k county, set map[string]any) error {
	te, ok := w.g.t.people.entries[templateID]
	if !ok {
		return nil // made before the trail recorded accounts
	}
	m := func(id string) (string, bool) {
		if p, ok := w.g.t.people.ids[id]; ok {
			return w.g.personID(k.of(p), p), true
		}
		return "", false
	}
	e := te
	e.Subject, _ = m(e.Subject)
	data := mapJSON(e.Data, m, nil).(map[string]any)
	for key, v := range set {
		data[key] = v
	}
	e.Data = data
	w.at += 1000
	e.AtMicros = w.at
	l, err := w.g.chain.Link(w.head, e)
	if err != nil {
		return err
	}
	w.entries = append(w.entries, []any{l.Content, nonNil(w.head.LastHash), l.Hash})
	w.head = l.Head
	return nil
}

// expertise copies the experts' specialties and declared conflicts.
func (w *peopleWriter) expertise(ctx context.Context) error {
	g, p := w.g, w.g.t.people
	var special, conflict [][]any
	for c := range g.counties {
		for r := -1; r < g.replicas; r++ {
			k := county{c, r}
			for _, u := range p.users {
				pu := p.ids[u.ID]
				if pu.local != (r >= 0) {
					continue
				}
				id := g.personID(k, pu)
				for _, s := range p.specialties[u.ID] {
					special = append(special, []any{id, s})
				}
				for _, o := range p.conflicts[u.ID] {
					conflict = append(conflict, []any{id, g.personID(k.of(p.ids[o]), p.ids[o])})
				}
			}
		}
	}
	if err := copyRows(ctx, w.tx, "expert_specialties", []string{"user_id", "specialty"}, special); err != nil {
		return err
	}
	return copyRows(ctx, w.tx, "expert_conflicts", []string{"user_id", "org_id"}, conflict)
}

// copyRows writes rows into table through COPY, inside tx.
func copyRows(ctx context.Context, tx *sql.Tx, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, pq.CopyIn(table, cols...))
	if err != nil {
		return fmt.Errorf("copy %s: %w", table, err)
	}
	defer st.Close()
	for _, r := range rows {
		if _, err := st.ExecContext(ctx, r...); err != nil {
			return fmt.Errorf("copy %s: %w", table, err)
		}
	}
	if _, err := st.ExecContext(ctx); err != nil {
		return fmt.Errorf("copy %s: %w", table, err)
	}
	return nil
}

// nonNil is b, or an empty value for a chain's first entry, which follows
// nothing (not NULL).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
