// Package audit keeps 留痕, the tamper-evident trail: every transition and
// every other audited action is one entry in a single hash chain, each entry
// carrying HMAC-SHA256(secret, previous hash || content), with a signed head
// (count and last hash) so that removing the newest entries shows too.
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
)

// Entry is what one audited action records. Its JSON form is what the hash
// covers, stored verbatim.
type Entry struct {
	Seq             int64          `json:"seq"`
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
}

// Chain appends to and verifies the audit chain.
type Chain struct {
	secret []byte
}

// New keys the chain with secret; losing the secret makes the chain
// unverifiable, changing it makes every entry look altered.
func New(secret string) *Chain { return &Chain{secret: []byte(secret)} }

// Append adds e at the end of the chain inside tx. It takes the head lock,
// so it belongs at the end of a transaction, just before Commit, to keep
// the time others wait for the lock short.
func (c *Chain) Append(ctx context.Context, tx *postgres.Tx, e Entry) (Recorded, error) {
	head, err := tx.LockAuditHead(ctx)
	if err != nil {
		return Recorded{}, err
	}
	e.Seq = head.Count + 1
	if e.AtMicros == 0 {
		e.AtMicros = time.Now().UnixMicro()
	}
	content, err := json.Marshal(e)
	if err != nil {
		return Recorded{}, fmt.Errorf("encode audit entry: %w", err)
	}
	hash := c.entryHash(head.LastHash, content)
	next := postgres.AuditHead{Count: e.Seq, LastHash: hash}
	next.Signature = c.headSignature(next.Count, next.LastHash)
	row := postgres.AuditRow{Seq: e.Seq, Content: string(content), PrevHash: head.LastHash, Hash: hash}
	if err := tx.AppendAudit(ctx, row, next); err != nil {
		return Recorded{}, err
	}
	return Recorded{Entry: e, Hash: hash}, nil
}

func (c *Chain) entryHash(prev, content []byte) []byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write(prev)
	m.Write(content)
	return m.Sum(nil)
}

func (c *Chain) headSignature(count int64, last []byte) []byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte("sciflow audit head\x00"))
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
	return Recorded{Entry: e, Hash: row.Hash}, nil
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
