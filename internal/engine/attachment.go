package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

// Attachment describes a stored file.
type Attachment = postgres.Attachment

// AttachmentInput is an uploaded file.
type AttachmentInput struct {
	Name         string
	Label        string
	Confidential bool
	Content      []byte
}

// AddAttachment stores a file on an application, if actor may change the
// application in its current state. The content type is sniffed from the
// bytes, never taken from the client.
func (e *Engine) AddAttachment(ctx context.Context, actor *identity.User, appID string, in AttachmentInput) (Attachment, error) {
	name := cleanFileName(in.Name)
	if name == "" {
		return Attachment{}, errs.E(errs.Invalid, "文件名无效", "invalid file name").Field("file", "文件名无效", "invalid file name")
	}
	if utf8.RuneCountInString(in.Label) > 200 {
		return Attachment{}, errs.E(errs.Invalid, "说明过长", "label too long").Field("label", "不能超过 200 字", "at most 200 characters")
	}
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return Attachment{}, err
	}
	defer tx.Rollback()
	app, err := tx.LockApplication(ctx, actor, appID)
	if err != nil {
		return Attachment{}, err
	}
	def, err := e.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return Attachment{}, err
	}
	if st, ok := def.State(app.State); !ok || !st.MayEdit(app.ScopeRoles) {
		return Attachment{}, errs.E(errs.Forbidden, "当前状态下您不能添加附件", "you may not add attachments in the current state")
	}
	// A workflow with slots takes files into its slots only; a slot's
	// confidentiality (financial statements, say) is the workflow's call.
	if len(def.Attachments) > 0 {
		slot, ok := def.Slot(strings.TrimSpace(in.Label))
		if !ok {
			keys := make([]string, len(def.Attachments))
			for i, s := range def.Attachments {
				keys[i] = s.Key
			}
			return Attachment{}, errs.E(errs.Invalid, "请选择附件类别", "choose the attachment's slot").
				Field("label", "应为 "+strings.Join(keys, "、"), "one of "+strings.Join(keys, ", "))
		}
		in.Confidential = in.Confidential || slot.Confidential
	}
	sum := sha256.Sum256(in.Content)
	a := Attachment{ApplicationID: app.ID, Name: name, Label: strings.TrimSpace(in.Label), Size: int64(len(in.Content)),
		SHA256: hex.EncodeToString(sum[:]), ContentType: http.DetectContentType(in.Content),
		Confidential: in.Confidential, UploadedBy: actor.ID}
	stored, err := tx.InsertAttachment(ctx, a, in.Content)
	if err != nil {
		return Attachment{}, err
	}
	_, err = e.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindAttachment, AtMicros: e.Now().UnixMicro(), ActorID: actor.ID,
		ApplicationID: app.ID, Workflow: app.Workflow, Subject: stored.ID,
		Data: map[string]any{"name": name, "size": stored.Size, "sha256": stored.SHA256, "confidential": in.Confidential}})
	if err != nil {
		return Attachment{}, err
	}
	if err := tx.Commit(); err != nil {
		return Attachment{}, err
	}
	return stored, nil
}

// OpenAttachment returns a file and its description to someone who may see
// its application; anyone else is told it does not exist.
func (e *Engine) OpenAttachment(ctx context.Context, actor *identity.User, id string) (Attachment, []byte, error) {
	meta, err := e.db.AttachmentMeta(ctx, id)
	if err != nil {
		return Attachment{}, nil, err
	}
	app, err := e.db.Application(ctx, actor, meta.ApplicationID)
	if err != nil {
		return Attachment{}, nil, err
	}
	// Administrators see no content; experts see no confidential file.
	if oversightOnly(app.ScopeRoles) || meta.Confidential && expertOnly(app.ScopeRoles) {
		return Attachment{}, nil, fmt.Errorf("attachment %s: %w", id, errs.ErrNotFound)
	}
	if meta.Redacted != nil {
		return Attachment{}, nil, errs.E(errs.Gone, "该文件已在保存期满后脱敏删除", "the file was removed when the application's personal data was redacted")
	}
	content, err := e.db.AttachmentContent(ctx, id)
	if err != nil {
		return Attachment{}, nil, err
	}
	return meta, content, nil
}

// Attachments lists the files of an application actor may see, as they may
// see them: administrators none, experts none that are confidential.
func (e *Engine) Attachments(ctx context.Context, actor *identity.User, appID string) ([]Attachment, error) {
	app, err := e.db.Application(ctx, actor, appID)
	if err != nil {
		return nil, err
	}
	if oversightOnly(app.ScopeRoles) {
		return []Attachment{}, nil
	}
	all, err := e.db.Attachments(ctx, app.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Attachment, 0, len(all))
	for _, a := range all {
		if !a.Confidential || !expertOnly(app.ScopeRoles) {
			out = append(out, a)
		}
	}
	return out, nil
}

// expertOnly reports whether the caller sees the application only as an
// assigned expert.
func expertOnly(scope []identity.Role) bool {
	return len(scope) > 0 && !slices.ContainsFunc(scope, func(r identity.Role) bool { return r != identity.Expert })
}

// cleanFileName keeps the last path element of a client's file name and
// drops control characters, so a name can neither climb directories nor
// break a header, and the bidirectional controls, so that none can show
// "report\u202Efdp.exe" as "reportexe.pdf".
func cleanFileName(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '"' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if len(name) > 255 {
		name = name[:255]
		for !utf8.ValidString(name) {
			name = name[:len(name)-1]
		}
		// The cut may end on a space, which would then end the name.
		name = strings.TrimSpace(name)
	}
	if name == "." || name == "/" || name == ".." {
		return ""
	}
	return name
}
