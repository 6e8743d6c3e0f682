// Package audit keeps 留痕, the tamper-evident trail. Every transition and
// every other audited action is one entry in a hash chain, each entry
// carrying HMAC-SHA256(secret, previous hash || content). An application's
// entries are its own chain, extended under the application's row lock that
// the change holds anyway, so appends to different applications never wait
// for each other; other entries go to chains named for what they are about
// (ChainOf). Each chain has a signed head (count and last hash), moved in the
// appending transaction, so removing its newest entries shows; a sealer
// (Seal) links the heads of every chain written since its last seal into one
// signed chain of seals, so that removing whole chains shows too.
package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

// Kinds of entry besides transitions.
const (
	KindTransition  = "transition"
	KindDataPatch   = "data.patch"
	KindAttachment  = "attachment.add"
	KindWorkflow    = "workflow.version"
	KindMigrate     = "workflow.migrate"
	KindLogin       = "login"
	KindLoginFailed = "login.failed"
	KindLogout      = "logout"
	KindOrgCreate   = "org.create"
	KindUserCreate  = "user.create"
	KindUserChange  = "user.change"
	// KindCalendarOverride: a local working-day override set or removed.
	KindCalendarOverride = "calendar.override"
	// Staged review: a reviewer's decision, its recall, a recusal, a task
	// handed to someone else, a reviewer added, an expert draw, the answers
	// to a send back's questions.
	KindReviewDecision = "review.decision"
	KindReviewRecall   = "review.recall"
	KindReviewRecuse   = "review.recuse"
	KindReviewDelegate = "review.delegate"
	KindReviewAssign   = "review.assign"
	KindExpertDraw     = "review.draw"
	KindAnswer         = "review.answer"
	// KindAuditExport: the log, or part of it, exported to a file.
	KindAuditExport = "audit.export"
)

// Entry is what one audited action records. Its JSON form is what the hash
// covers, stored verbatim.
type Entry struct {
	// Seq is the entry's place in the whole log, in the order entries were
	// written. It is in the content of legacy entries only (those written
	// before per-chain hashing); newer ones carry Chain and ChainSeq instead.
	Seq int64 `json:"seq,omitempty"`
	// Chain names the chain the entry extends (ChainOf) and ChainSeq its
	// position there, from 1.
	Chain           string         `json:"chain,omitempty"`
	ChainSeq        int64          `json:"chain_seq,omitempty"`
	AtMicros        int64          `json:"at_us"`
	Kind            string         `json:"kind"`
	ActorID         string         `json:"actor_id,omitempty"`
	ApplicationID   string         `json:"application_id,omitempty"`
	AppSeq          int            `json:"app_seq,omitempty"`
	Workflow        string         `json:"workflow,omitempty"`
	WorkflowVersion int            `json:"workflow_version,omitempty"`
	Event           string         `json:"event,omitempty"`
	From            string         `json:"from,omitempty"`
	To              string         `json:"to,omitempty"`
	Comment         string         `json:"comment,omitempty"`
	Data            map[string]any `json:"data,omitempty"`
	// Subject names what a non-application entry is about (a user, an org).
	Subject string `json:"subject,omitempty"`
}

// ActorID is who an entry names as its actor: nobody for the operator at
// the console (actor nil), who acts on the machine, not as a user.
func ActorID(actor *identity.User) string {
	if actor == nil {
		return ""
	}
	return actor.ID
}

// Via says where an administrative action came from, for its entry's data:
// the console (actor nil) or the API.
func Via(actor *identity.User) string {
	if actor == nil {
		return "console"
	}
	return "api"
}

// At is when the entry was made.
func (e Entry) At() time.Time { return time.UnixMicro(e.AtMicros) }

// Recorded is an appended entry.
type Recorded struct {
	Entry
	Hash []byte
	// Redacted says the entry's personal data was removed after the
	// retention period (Chain.Redact).
	Redacted bool
}

// Chain appends to and verifies the audit chains.
type Chain struct {
	secret []byte
	// progress, when set (Reporting), hears how far Verify has got.
	progress func(Progress)
}

// New keys the chains with secret; losing the secret makes them
// unverifiable, changing it makes every entry look altered.
func New(secret string) *Chain { return &Chain{secret: []byte(secret)} }

// Names of the chains of entries that are not about an application.
const (
	// ChainAccounts: organisations and users created and changed.
	ChainAccounts = "accounts"
	// ChainWorkflows: definition versions stored.
	ChainWorkflows = "workflows"
	// ChainCalendar: local working-day overrides.
	ChainCalendar = "calendar"
	// ChainSessions: failed logins under no known account.
	ChainSessions = "sessions"
	// ChainExports: exports of the log itself.
	ChainExports = "exports"
	// ChainSystem: anything else.
	ChainSystem = "system"
)

// ChainOf names the chain an entry extends: its application's (the
// application's id), one user's sessions ("sessions/" and the user's id),
// or one of the named chains. Only changes to one chain wait for each other.
func ChainOf(e Entry) string {
	switch {
	case e.ApplicationID != "":
		return e.ApplicationID
	case e.Kind == KindLogin || e.Kind == KindLogout || e.Kind == KindLoginFailed:
		if e.ActorID != "" {
			return ChainSessions + "/" + e.ActorID
		}
		return ChainSessions
	case e.Kind == KindOrgCreate || e.Kind == KindUserCreate || e.Kind == KindUserChange:
		return ChainAccounts
	case e.Kind == KindWorkflow || e.Kind == KindMigrate:
		return ChainWorkflows
	case e.Kind == KindCalendarOverride:
		return ChainCalendar
	case e.Kind == KindAuditExport:
		return ChainExports
	}
	return ChainSystem
}

// Append adds e at the end of its chain inside tx. An application's head
// is already locked when tx locked the application; another chain's is
// locked here until tx ends. The entry is written when tx commits, with the
// others tx appended, in one statement.
func (c *Chain) Append(ctx context.Context, tx *postgres.Tx, e Entry) (Recorded, error) {
	e.Seq, e.Chain = 0, ChainOf(e)
	head, err := tx.LockChainHead(ctx, e.Chain)
	if err != nil {
		return Recorded{}, err
	}
	if e.AtMicros == 0 {
		e.AtMicros = time.Now().UnixMicro()
	}
	l, err := c.Link(head, e)
	if err != nil {
		return Recorded{}, err
	}
	tx.StageAudit(ctx, l.Content, head.LastHash, l.Hash, l.Head)
	return l.Recorded, nil
}

// Linked is an entry made the next of its chain: the entry with its hash,
// its content as stored, and the chain's head signed anew after it.
type Linked struct {
	Recorded
	Content string
	Head    postgres.ChainHead
}

// Link makes e the entry after head on head's chain: e takes the chain's
// next position, its content is encoded and hashed after the head's last
// hash, and the head is signed anew. Append stores what Link makes; the
// scale bench (internal/bench) builds whole chains with it, so that its
// entries are encoded and hashed exactly as appended ones are.
func (c *Chain) Link(head postgres.ChainHead, e Entry) (Linked, error) {
	e.Seq, e.Chain, e.ChainSeq = 0, head.Chain, head.Count+1
	content, err := json.Marshal(e)
	if err != nil {
		return Linked{}, fmt.Errorf("encode audit entry: %w", err)
	}
	hash := c.entryHash(head.LastHash, content)
	next := postgres.ChainHead{Chain: e.Chain, Count: e.ChainSeq, LastHash: hash}
	next.Signature = c.chainSignature(next.Chain, next.Count, next.LastHash)
	return Linked{Recorded: Recorded{Entry: e, Hash: hash}, Content: string(content), Head: next}, nil
}

func (c *Chain) entryHash(prev, content []byte) []byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write(prev)
	m.Write(content)
	return m.Sum(nil)
}

// legacySignature signs the legacy chain's head.
func (c *Chain) legacySignature(count int64, last []byte) []byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte("sciflow audit head\x00"))
	binary.Write(m, binary.BigEndian, count)
	m.Write(last)
	return m.Sum(nil)
}

// chainSignature signs a chain's head: a head moved back to an earlier
// entry, or to another chain, no longer matches.
func (c *Chain) chainSignature(chain string, count int64, last []byte) []byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte("sciflow chain head\x00"))
	m.Write([]byte(chain))
	m.Write([]byte{0})
	binary.Write(m, binary.BigEndian, count)
	m.Write(last)
	return m.Sum(nil)
}

// Decode reads a stored entry.
func Decode(row postgres.AuditRow) (Recorded, error) {
	var e Entry
	dec := json.NewDecoder(bytes.NewReader([]byte(row.Content)))
	dec.UseNumber()
	if err := dec.Decode(&e); err != nil {
		return Recorded{}, fmt.Errorf("decode audit entry %d: %w", row.Seq, err)
	}
	e.Seq = row.Seq
	return Recorded{Entry: e, Hash: row.Hash, Redacted: row.RedactedSHA256 != nil}, nil
}

// ForReader is the entry as reader may see it. Administrators
// oversee the process, not the content: of an entry about an application
// they see that it happened, who did it and when, but not the comment or
// the data (what anyone wrote, an objector's name and phone, a score).
// Auditors see everything.
func (r Recorded) ForReader(reader *identity.User) Recorded {
	if reader.Has(identity.Auditor) || r.ApplicationID == "" {
		return r
	}
	r.Comment, r.Data = "", nil
	return r
}
