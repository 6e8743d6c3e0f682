package bench

import (
	"container/heap"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/postgres"
)

// GenerateSettings say how much to generate and how.
type GenerateSettings struct {
	// Apps is how many applications to generate, beside the demo's.
	Apps int `json:"apps"`
	// InFlight is the share of them in a review or a 公示 now.
	InFlight float64 `json:"in_flight"`
	// Years is how far back the rest spreads.
	Years float64 `json:"years"`
	// BatchEntries is how many audit entries one transaction writes; each
	// transaction also seals the chains it wrote.
	BatchEntries int `json:"batch_entries"`
	// Seed makes the choices repeatable.
	Seed uint64 `json:"seed"`
	// Manifest asks for every generated application's expected entries
	// and tasks, for a test to check against the database.
	Manifest bool `json:"-"`
}

// Programmes' shares of the generated applications. Within a programme,
// each family weighs as much as its story has entries, so the fullest
// stories (a challenge awarded and under way, an envoy serving a year)
// dominate.
var programmeShare = map[string]float64{"jiebang_challenge": 0.45, "talent": 0.35, "envoy": 0.20}

// noticeDamping divides the weight of an in-flight family with a 公示 open,
// so that about as many are open now as the generated years' own rate of
// notices keeps open at any time (each runs about a week): at a million
// applications some 390,000 notices over four years, about 1,900 a week.
const noticeDamping = 8

// perReplica is about how many family copies one replica of a county's
// applicant side holds: an enterprise then has a few dozen applications
// over the years, an envoy a few appointments.
const perReplica = 20

// maxCounties: a province's counties; more copies make more replicas.
const maxCounties = 100

// Generated is what the generator made.
type Generated struct {
	Apps           int64   `json:"apps"`
	Entries        int64   `json:"entries"`
	EntriesPerApp  float64 `json:"entries_per_app"`
	Tasks          int64   `json:"tasks"`
	OpenTasks      int64   `json:"open_tasks"`
	Stages         int64   `json:"stages"`
	Notices        int64   `json:"notices"`
	OpenNotices    int64   `json:"open_notices"`
	Attachments    int64   `json:"attachments"`
	Orgs           int64   `json:"orgs"`
	Users          int64   `json:"users"`
	AccountEntries int64   `json:"account_entries"`
	Counties       int     `json:"counties"`
	Replicas       int     `json:"replicas_per_county"`
	Copies         int     `json:"family_copies"`
	InFlightApps   int64   `json:"in_flight_apps"`
	Seals          int64   `json:"seals"`
	Transactions   int64   `json:"transactions"`
	Seconds        float64 `json:"seconds"`
	// Manifest is every generated application's expected entries and
	// tasks, when asked for.
	Manifest map[string]Expected `json:"-"`
}

// Expected is what one generated application must have in the database.
type Expected struct {
	Entries int64
	Tasks   int64
}

// generator copies the templates into the database.
type generator struct {
	s        GenerateSettings
	t        *templates
	chain    *audit.Chain
	rnd      *mrand.Rand
	key      [16]byte
	now      int64 // µs
	start    int64 // the first generated entry, µs
	counties int
	replicas int
	copies   []*familyCopy
	base     [spaces]int64
	report   Generated
	progress io.Writer
	began    time.Time
}

// familyCopy is one copy of a family: its number, its county, how far it
// is moved back in time, and, while its entries are written, its chains.
type familyCopy struct {
	k     int
	f     *family
	where county
	d     int64 // µs back in time (negative: forward)
	next  int
	heads []postgres.ChainHead
}

func (c *familyCopy) startAt() int64 { return c.f.first - c.d }

// Generate plans and writes the copies: first the counties' people, then
// the families in the order of their entries' times, a batch of entries
// per transaction, each batch sealed.
func Generate(ctx context.Context, owner *postgres.DB, eng *engine.Engine, chain *audit.Chain, passwordHash string,
	s GenerateSettings, progress io.Writer) (Generated, error) {
	g := &generator{s: s, chain: chain, progress: progress, began: time.Now(), now: time.Now().UnixMicro(),
		rnd: mrand.New(mrand.NewPCG(s.Seed, s.Seed^0x5c1f10))}
	if _, err := rand.Read(g.key[:]); err != nil {
		return Generated{}, err
	}
	var err error
	if g.t, err = loadTemplates(ctx, owner.DB, eng, time.UnixMicro(g.now)); err != nil {
		return Generated{}, err
	}
	if err := g.plan(ctx, eng); err != nil {
		return Generated{}, err
	}
	g.say("plan: %d applications in %d family copies, %d counties of %d replicas, %.0f%% in flight",
		s.Apps, len(g.copies), g.counties, g.replicas, 100*float64(g.report.InFlightApps)/float64(max(1, s.Apps)))
	if err := g.writePeople(ctx, owner.DB, passwordHash); err != nil {
		return Generated{}, err
	}
	g.say("people: %d organisations, %d users, %d entries on the accounts chain", g.report.Orgs, g.report.Users, g.report.AccountEntries)
	// The accounts chain's new entries are sealed the way a server seals.
	if _, err := chain.Seal(ctx, owner); err != nil {
		return Generated{}, err
	}
	if err := g.readBases(ctx, owner.DB); err != nil {
		return Generated{}, err
	}
	if s.Manifest {
		g.report.Manifest = map[string]Expected{}
	}
	dropped, err := dropIndexes(ctx, owner.DB)
	if err != nil {
		return Generated{}, errors.Join(err, g.rebuildIndexes(context.WithoutCancel(ctx), owner.DB, dropped))
	}
	g.say("dropped %d indexes for the load; they are built again after it", len(dropped))
	err = g.write(ctx, owner.DB)
	// Made again even when the load failed, so that a database given by
	// --database-url is never left without them.
	if err := errors.Join(err, g.rebuildIndexes(context.WithoutCancel(ctx), owner.DB, dropped)); err != nil {
		return Generated{}, err
	}
	if err := g.setSequences(ctx, owner.DB); err != nil {
		return Generated{}, err
	}
	r := &g.report
	r.EntriesPerApp = round(float64(r.Entries)/float64(max(1, r.Apps)), 2)
	r.Counties, r.Replicas, r.Copies = g.counties, g.replicas, len(g.copies)
	r.Seconds = round(time.Since(g.began).Seconds(), 1)
	return *r, nil
}

func (g *generator) say(format string, args ...any) {
	fmt.Fprintf(g.progress, "scale %7.1fs: "+format+"\n", append([]any{time.Since(g.began).Seconds()}, args...)...)
}

// plan chooses the copies: which family, in which county and replica, and
// when, until exactly Apps applications are planned.
func (g *generator) plan(ctx context.Context, eng *engine.Engine) error {
	var history, flight []*family
	for _, f := range g.t.families {
		h, err := g.t.history(ctx, f, eng)
		if err != nil {
			return err
		}
		if h != nil {
			history = append(history, h)
		}
		if f.inflight {
			flight = append(flight, f)
		}
	}
	flyApps := int(math.Round(float64(g.s.Apps) * g.s.InFlight))
	if len(flight) == 0 {
		flyApps = 0
	}
	if len(history) == 0 {
		flyApps = g.s.Apps
	}
	span := int64(g.s.Years * 365.25 * 24 * float64(time.Hour/time.Microsecond))
	for _, class := range []struct {
		fams []*family
		apps int
		fly  bool
	}{{history, g.s.Apps - flyApps, false}, {flight, flyApps, true}} {
		picked, err := g.pick(class.fams, class.apps, class.fly)
		if err != nil {
			return err
		}
		for _, f := range picked {
			c := &familyCopy{k: len(g.copies), f: f}
			if class.fly {
				c.d = f.lo + g.rnd.Int64N(max(1, f.hi-f.lo))
				g.report.InFlightApps += int64(len(f.apps))
			} else {
				c.d = g.rnd.Int64N(max(1, span))
			}
			g.copies = append(g.copies, c)
		}
	}
	pairs := max(1, (len(g.copies)+perReplica-1)/perReplica)
	g.counties = min(maxCounties, pairs)
	g.replicas = (pairs + g.counties - 1) / g.counties
	for _, c := range g.copies {
		c.where = county{g.rnd.IntN(g.counties), g.rnd.IntN(g.replicas)}
	}
	sort.SliceStable(g.copies, func(i, j int) bool { return g.copies[i].startAt() < g.copies[j].startAt() })
	g.start = g.now
	if len(g.copies) > 0 {
		g.start = g.copies[0].startAt()
	}
	return nil
}

// pick draws families until exactly apps applications are drawn: by weight
// while any fits, then the largest that fits.
func (g *generator) pick(fams []*family, apps int, inflight bool) ([]*family, error) {
	if apps == 0 {
		return nil, nil
	}
	byProgramme := map[string]float64{}
	for _, f := range fams {
		byProgramme[f.programme] += float64(len(f.entries))
	}
	var total float64
	shares := map[string]float64{}
	for p := range byProgramme {
		s, ok := programmeShare[p]
		if !ok {
			s = 0.1
		}
		shares[p] = s
		total += s
	}
	weights := make([]float64, len(fams))
	for i, f := range fams {
		// The family's share of the applications, turned into how often a
		// copy of it is drawn.
		share := shares[f.programme] / total * float64(len(f.entries)) / byProgramme[f.programme]
		if inflight && f.notices > 0 {
			share /= noticeDamping
		}
		weights[i] = share / float64(len(f.apps))
		g.say("family %-17s in flight %-5v %2d applications %3d entries, share %.3f", f.programme, inflight, len(f.apps), len(f.entries), share)
	}
	var out []*family
	left := apps
	for left > 0 {
		var sum float64
		for i, f := range fams {
			if len(f.apps) <= left {
				sum += weights[i]
			}
		}
		if sum == 0 {
			return nil, fmt.Errorf("no template family has at most %d applications: cannot generate exactly %d", left, apps)
		}
		x := g.rnd.Float64() * sum
		for i, f := range fams {
			if len(f.apps) > left {
				continue
			}
			if x -= weights[i]; x <= 0 || i == len(fams)-1 {
				out = append(out, f)
				left -= len(f.apps)
				break
			}
		}
	}
	return out, nil
}

// readBases finds where each id space's copies start: after every id in use.
func (g *generator) readBases(ctx context.Context, db *sqlx.DB) error {
	for s := stageSpace; s < spaces; s++ {
		var top int64
		if err := db.GetContext(ctx, &top, `SELECT coalesce(max(id), 0) FROM `+spaceTables[s]); err != nil {
			return fmt.Errorf("highest id of %s: %w", spaceTables[s], err)
		}
		g.base[s] = top + 1
	}
	return nil
}

// setSequences moves the id spaces' sequences past every copy.
func (g *generator) setSequences(ctx context.Context, db *sqlx.DB) error {
	for s := stageSpace; s < spaces; s++ {
		next := g.base[s] + int64(len(g.copies))*int64(len(g.t.spaceIDs[s]))
		q := `SELECT setval(pg_get_serial_sequence($1, 'id'), greatest($2::bigint, (SELECT coalesce(max(id), 0) + 1 FROM ` +
			spaceTables[s] + `)), false)`
		if _, err := db.ExecContext(ctx, q, spaceTables[s], next); err != nil {
			return fmt.Errorf("move the sequence of %s: %w", spaceTables[s], err)
		}
	}
	return nil
}

// localID is copy k's id for the template id numbered slot.
func (g *generator) localID(k, slot int) string {
	var b [17]byte
	b[0] = 'l'
	binary.BigEndian.PutUint64(b[1:], uint64(k))
	binary.BigEndian.PutUint64(b[9:], uint64(slot))
	return g.derive(b[:])
}

// personID is a county copy's id for a template person.
func (g *generator) personID(k county, p person) string {
	k = k.of(p)
	var b [17]byte
	b[0] = 'p'
	binary.BigEndian.PutUint32(b[1:], uint32(k.c))
	binary.BigEndian.PutUint32(b[5:], uint32(int32(k.r)))
	binary.BigEndian.PutUint64(b[9:], uint64(p.slot))
	return g.derive(b[:])
}

// derive makes a random-looking version 4 UUID from the run's key and b,
// so that copies spread over the indexes as gen_random_uuid's ids do.
func (g *generator) derive(b []byte) string {
	h := sha256.New()
	h.Write(g.key[:])
	h.Write(b)
	var sum [32]byte
	h.Sum(sum[:0])
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], sum[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], sum[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], sum[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], sum[8:10])
	out[23] = '-'
	hex.Encode(out[24:], sum[10:16])
	return string(out[:])
}

// spaceID is copy k's id for a template id of a bigint space.
func (g *generator) spaceID(s idSpace, k int, template int64) (int64, bool) {
	i, ok := g.t.spaceIDs[s][template]
	if !ok {
		return 0, false
	}
	return g.base[s] + int64(k)*int64(len(g.t.spaceIDs[s])) + int64(i), true
}

// mapper maps the template ids a copy's rows and entries name.
func (g *generator) mapper(c *familyCopy) func(string) (string, bool) {
	return func(id string) (string, bool) {
		if slot, ok := g.t.local[id]; ok {
			return g.localID(c.k, slot), true
		}
		if p, ok := g.t.people.ids[id]; ok {
			return g.personID(c.where, p), true
		}
		return "", false
	}
}

// mapJSON copies decoded JSON with its ids mapped, and each draw's id
// renumbered by draw (nil: left).
func mapJSON(v any, m func(string) (string, bool), draw func(int64) (int64, bool)) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if n, ok := e.(json.Number); ok && k == "draw_id" && draw != nil {
				if id, err := n.Int64(); err == nil {
					if to, ok := draw(id); ok {
						out[k] = json.Number(strconv.FormatInt(to, 10))
						continue
					}
				}
			}
			out[k] = mapJSON(e, m, draw)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = mapJSON(e, m, draw)
		}
		return out
	case string:
		return replaceUUIDs(x, m)
	}
	return v
}

func (g *generator) timeAt(us int64) time.Time { return time.UnixMicro(us).UTC() }

// batch is one transaction's worth of copies.
type batch struct {
	rows    map[string][][]any
	entries [][]any
	chains  [][]any
	// heads are the chains written, as they stand at the batch's end.
	heads map[string]postgres.ChainHead
	last  int64 // the latest entry's time, µs
	apps  int64
}

func newBatch() *batch {
	return &batch{rows: map[string][][]any{}, heads: map[string]postgres.ChainHead{}}
}

// copyQueue orders the copies being written by their next entry's time.
type copyQueue []*familyCopy

func (q copyQueue) Len() int { return len(q) }
func (q copyQueue) Less(i, j int) bool {
	a, b := q[i].f.entries[q[i].next].entry.AtMicros-q[i].d, q[j].f.entries[q[j].next].entry.AtMicros-q[j].d
	return a < b || a == b && q[i].k < q[j].k
}
func (q copyQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *copyQueue) Push(x any)   { *q = append(*q, x.(*familyCopy)) }
func (q *copyQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func (q copyQueue) nextAt() int64 {
	c := q[0]
	return c.f.entries[c.next].entry.AtMicros - c.d
}

// write produces the batches in the order of the entries' times (so the
// log reads as the years it covers: seq, the writing transaction and the
// time rise together, as they would have) and writes them as they come.
func (g *generator) write(ctx context.Context, db *sqlx.DB) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan *batch, 2)
	produced := make(chan error, 1)
	go func() {
		defer close(batches)
		produced <- g.produce(ctx, batches)
	}()
	w := &batchWriter{g: g, db: db}
	if err := w.start(ctx); err != nil {
		cancel()
		for range batches {
		}
		return err
	}
	lastSay, began := time.Now(), time.Now()
	var apps, entries int64 // written so far; the producer counts what it made
	for b := range batches {
		if err := w.write(ctx, b); err != nil {
			cancel()
			for range batches {
			}
			return err
		}
		apps, entries = apps+b.apps, entries+int64(len(b.entries))
		if time.Since(lastSay) > 5*time.Second {
			lastSay = time.Now()
			rate := float64(apps) / time.Since(began).Seconds()
			eta := time.Duration(float64(int64(g.s.Apps)-apps) / rate * float64(time.Second)).Round(time.Second)
			g.say("%d of %d applications written (%.0f%%), %d entries, %.0f applications/s, about %s to go",
				apps, g.s.Apps, 100*float64(apps)/float64(max(1, g.s.Apps)), entries, rate, eta)
		}
	}
	if err := <-produced; err != nil {
		return err
	}
	g.say("%d applications, %d entries, %d tasks, %d notices in %d transactions, each sealed",
		g.report.Apps, g.report.Entries, g.report.Tasks, g.report.Notices, g.report.Transactions)
	return nil
}

// produce builds the batches.
func (g *generator) produce(ctx context.Context, out chan<- *batch) error {
	q := &copyQueue{}
	b := newBatch()
	send := func() error {
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		b = newBatch()
		return nil
	}
	i := 0
	for i < len(g.copies) || q.Len() > 0 {
		for i < len(g.copies) && (q.Len() == 0 || g.copies[i].startAt() <= q.nextAt()) {
			c := g.copies[i]
			i++
			if err := g.begin(b, c); err != nil {
				return err
			}
			heap.Push(q, c)
		}
		c := (*q)[0]
		if err := g.emit(b, c); err != nil {
			return err
		}
		if c.next == len(c.f.entries) {
			heap.Pop(q)
			g.finish(b, c)
		} else {
			heap.Fix(q, 0)
		}
		if len(b.entries) >= g.s.BatchEntries {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if len(b.entries) > 0 || len(b.rows) > 0 {
		return send()
	}
	return nil
}

// begin adds a copy's rows, moved in time and with its ids, to the batch.
func (g *generator) begin(b *batch, c *familyCopy) error {
	m := g.mapper(c)
	for _, tab := range g.t.tables {
		for _, row := range c.f.rows[tab.name] {
			out := make([]any, len(row))
			for i, v := range row {
				if v == nil {
					continue
				}
				col := tab.cols[i]
				switch {
				case col.shift:
					out[i] = g.timeAt(micros(*v) - c.d)
				case col.space != noSpace:
					n, err := strconv.ParseInt(*v, 10, 64)
					if err != nil {
						return fmt.Errorf("%s.%s %q: %w", tab.name, col.name, *v, err)
					}
					id, ok := g.spaceID(col.space, c.k, n)
					if !ok {
						return fmt.Errorf("%s.%s %d names no template row", tab.name, col.name, n)
					}
					out[i] = id
				case col.raw:
					out[i] = *v
				default:
					out[i] = replaceUUIDs(*v, m)
				}
			}
			b.rows[tab.name] = append(b.rows[tab.name], out)
		}
	}
	f := c.f
	r := &g.report
	r.Apps += int64(len(f.apps))
	b.apps += int64(len(f.apps))
	r.Tasks += int64(len(f.rows["review_tasks"]))
	r.Stages += int64(len(f.rows["review_stages"]))
	r.Notices += int64(len(f.rows["notices"]))
	r.Attachments += int64(len(f.rows["attachments"]))
	r.OpenNotices += int64(f.notices)
	taskCol := g.t.col("review_tasks")
	for _, row := range f.rows["review_tasks"] {
		if s := *row[taskCol["status"]]; s == "open" {
			r.OpenTasks++
		}
	}
	c.heads = make([]postgres.ChainHead, len(f.apps))
	for i, id := range f.apps {
		c.heads[i].Chain, _ = m(id)
	}
	if r.Manifest != nil {
		taskApp := g.t.col("review_tasks")["application_id"]
		for i, id := range f.apps {
			e := Expected{}
			for _, te := range f.entries {
				if te.app == i {
					e.Entries++
				}
			}
			for _, row := range f.rows["review_tasks"] {
				if *row[taskApp] == id {
					e.Tasks++
				}
			}
			r.Manifest[c.heads[i].Chain] = e
		}
	}
	return nil
}

// emit writes the copy's next entry: the template's, with the copy's ids
// and time, linked to its chain by the audit package as Append links.
func (g *generator) emit(b *batch, c *familyCopy) error {
	te := c.f.entries[c.next]
	c.next++
	m := g.mapper(c)
	mapID := func(s string) string {
		if to, ok := m(s); ok {
			return to
		}
		return s
	}
	e := te.entry
	e.AtMicros -= c.d
	e.ActorID, e.ApplicationID, e.Subject = mapID(e.ActorID), mapID(e.ApplicationID), mapID(e.Subject)
	if te.mapped {
		e.Data = mapJSON(e.Data, m, func(id int64) (int64, bool) { return g.spaceID(drawSpace, c.k, id) }).(map[string]any)
	}
	head := c.heads[te.app]
	l, err := g.chain.Link(head, e)
	if err != nil {
		return err
	}
	b.entries = append(b.entries, []any{l.Content, nonNil(head.LastHash), l.Hash})
	c.heads[te.app] = l.Head
	b.heads[l.Head.Chain] = l.Head
	b.last = max(b.last, e.AtMicros)
	g.report.Entries++
	return nil
}

// finish records the copy's chains' heads, final now.
func (g *generator) finish(b *batch, c *familyCopy) {
	for _, h := range c.heads {
		b.chains = append(b.chains, []any{h.Chain, h.Count, nonNil(h.LastHash), nonNil(h.Signature)})
	}
	c.heads = nil
}

// batchWriter writes batches, each in a transaction of its own that also
// seals the chains it wrote, continuing the chain of seals.
type batchWriter struct {
	g    *generator
	db   *sqlx.DB
	head postgres.SealHead
	cols map[string][]string
}

func (w *batchWriter) start(ctx context.Context) error {
	const q = `SELECT count, last_hash, signature, upto_xid::text AS upto_xid FROM audit_seal_head WHERE id`
	if err := w.db.GetContext(ctx, &w.head, q); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read the seal head: %w", err)
	}
	if w.head.UptoXID == "" {
		w.head.UptoXID = "0"
	}
	w.cols = map[string][]string{}
	for _, tab := range w.g.t.tables {
		for _, c := range tab.cols {
			w.cols[tab.name] = append(w.cols[tab.name], c.name)
		}
	}
	return nil
}

func (w *batchWriter) write(ctx context.Context, b *batch) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin batch: %w", err)
	}
	defer tx.Rollback()
	var xid uint64
	if err := tx.QueryRowContext(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&xid); err != nil {
		return fmt.Errorf("batch transaction: %w", err)
	}
	for _, tab := range w.g.t.tables {
		if err := copyRows(ctx, tx, tab.name, w.cols[tab.name], b.rows[tab.name]); err != nil {
			return err
		}
	}
	if err := copyRows(ctx, tx, "audit_log", []string{"content", "prev_hash", "hash"}, b.entries); err != nil {
		return err
	}
	if err := copyRows(ctx, tx, "audit_chains", []string{"chain", "count", "last_hash", "signature"}, b.chains); err != nil {
		return err
	}
	if len(b.heads) > 0 {
		names := sortedKeys(b.heads)
		heads := make([]postgres.ChainHead, len(names))
		for i, n := range names {
			heads[i] = b.heads[n]
		}
		// Sealed as a server would a moment after the batch: every chain
		// its transaction wrote, up to the transaction after it.
		upto := strconv.FormatUint(xid+1, 10)
		row, next, err := w.g.chain.SealAfter(w.head, w.g.timeAt(b.last+int64(time.Second/time.Microsecond)), w.head.UptoXID, upto, heads)
		if err != nil {
			return err
		}
		if err := postgres.AppendSeal(ctx, tx, row, next, names); err != nil {
			return fmt.Errorf("seal the batch: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit batch: %w", err)
		}
		w.head = next
		w.g.report.Seals++
	} else if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit batch: %w", err)
	}
	w.g.report.Transactions++
	return nil
}
