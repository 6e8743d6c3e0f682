package httpapi

import (
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

// Oversight: the audit log is for auditors and administrators only.
func oversight(c echo.Context) (*identity.User, error) {
	u, err := currentUser(c)
	if err != nil {
		return nil, err
	}
	if !u.Has(identity.Auditor) && !u.Has(identity.Admin) {
		return nil, errs.E(errs.Forbidden, "仅审计人员和管理员可查看审计日志", "only auditors and administrators may read the audit log")
	}
	return u, nil
}

type auditEntryJSON struct {
	Seq           int64          `json:"seq"`
	At            string         `json:"at"`
	Kind          string         `json:"kind"`
	ActorID       *string        `json:"actor_id"`
	ApplicationID *string        `json:"application_id"`
	Workflow      string         `json:"workflow,omitempty"`
	Event         string         `json:"event,omitempty"`
	From          string         `json:"from,omitempty"`
	To            string         `json:"to,omitempty"`
	Comment       string         `json:"comment,omitempty"`
	Subject       string         `json:"subject,omitempty"`
	Data          map[string]any `json:"data,omitempty"`
	Hash          string         `json:"hash"`
}

func toAuditJSON(r audit.Recorded) auditEntryJSON {
	out := auditEntryJSON{Seq: r.Seq, At: timeJSON(r.At()), Kind: r.Kind, Workflow: r.Workflow, Event: r.Event,
		From: r.From, To: r.To, Comment: r.Comment, Subject: r.Subject, Data: r.Data, Hash: hex.EncodeToString(r.Hash)}
	if r.ActorID != "" {
		out.ActorID = &r.ActorID
	}
	if r.ApplicationID != "" {
		out.ApplicationID = &r.ApplicationID
	}
	return out
}

func auditFilter(c echo.Context, extra ...string) (postgres.AuditQuery, error) {
	allowed := append([]string{"actor", "workflow", "event", "application_id", "from", "to", "limit", "cursor"}, extra...)
	if err := checkQuery(c, allowed...); err != nil {
		return postgres.AuditQuery{}, err
	}
	f := postgres.AuditQuery{ActorID: c.QueryParam("actor"), Workflow: c.QueryParam("workflow"),
		Event: c.QueryParam("event"), ApplicationID: c.QueryParam("application_id")}
	var err error
	if f.From, err = queryTime(c, "from"); err != nil {
		return f, err
	}
	if f.To, err = queryTime(c, "to"); err != nil {
		return f, err
	}
	if f.Limit, err = queryInt(c, "limit", 100, 1, 1000); err != nil {
		return f, err
	}
	if cur := c.QueryParam("cursor"); cur != "" {
		n, err := strconv.ParseInt(cur, 10, 64)
		if err != nil || n < 0 {
			return f, errs.E(errs.BadRequest, "分页游标无效", "invalid cursor").Field("cursor", "无效", "invalid")
		}
		f.AfterSeq = n
	}
	return f, nil
}

func (s *Server) listAudit(c echo.Context) error {
	u, err := oversight(c)
	if err != nil {
		return err
	}
	f, err := auditFilter(c)
	if err != nil {
		return err
	}
	rows, err := s.db.AuditEntries(c.Request().Context(), f)
	if err != nil {
		return err
	}
	items := make([]auditEntryJSON, 0, len(rows))
	for _, row := range rows {
		rec, err := audit.Decode(row)
		if err != nil {
			return err
		}
		items = append(items, toAuditJSON(rec.ForReader(u)))
	}
	var next *string
	if len(rows) == f.Limit {
		s := strconv.FormatInt(rows[len(rows)-1].Seq, 10)
		next = &s
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

func (s *Server) verifyAudit(c echo.Context) error {
	if _, err := oversight(c); err != nil {
		return err
	}
	r, err := s.chain.Verify(c.Request().Context(), s.db)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// exportAudit streams the filtered log as CSV, page by page, so an export
// of the whole log needs no more memory than one page.
func (s *Server) exportAudit(c echo.Context) error {
	u, err := oversight(c)
	if err != nil {
		return err
	}
	f, err := auditFilter(c, "format")
	if err != nil {
		return err
	}
	if format := c.QueryParam("format"); format != "" && format != "csv" {
		return errs.E(errs.BadRequest, "导出格式应为 csv", "format must be csv").Field("format", "应为 csv", "must be csv")
	}
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="sciflow-audit.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	// A byte-order mark so that spreadsheet programs read the Chinese right.
	c.Response().Write([]byte("\xEF\xBB\xBF"))
	w := csv.NewWriter(c.Response())
	w.Write([]string{"seq", "at", "kind", "actor_id", "application_id", "workflow", "event", "from", "to", "comment", "subject", "data", "hash"})
	f.Limit = 1000
	for {
		rows, err := s.db.AuditEntries(c.Request().Context(), f)
		if err != nil {
			return err
		}
		for _, row := range rows {
			rec, err := audit.Decode(row)
			if err != nil {
				return err
			}
			rec = rec.ForReader(u)
			data, _ := json.Marshal(rec.Data)
			if rec.Data == nil {
				data = nil
			}
			w.Write([]string{strconv.FormatInt(rec.Seq, 10), timeJSON(rec.At()), rec.Kind, rec.ActorID, rec.ApplicationID,
				rec.Workflow, rec.Event, rec.From, rec.To, rec.Comment, rec.Subject, string(data), hex.EncodeToString(rec.Hash)})
		}
		w.Flush()
		if len(rows) < f.Limit {
			return w.Error()
		}
		f.AfterSeq = rows[len(rows)-1].Seq
	}
}
