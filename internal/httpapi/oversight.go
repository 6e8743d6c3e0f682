package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	// Imported as checks: audit.go's guard is called oversight.
	checks "github.com/sciflow/sciflow/internal/oversight"
)

// auditorsOnly guards the oversight checks. Unlike the audit log
// (oversight), administrators may not run them: findings carry experts'
// scores and what reviewers decided, which administrators never read.
func auditorsOnly(c echo.Context) (*identity.User, error) {
	u, err := currentUser(c)
	if err != nil {
		return nil, err
	}
	if !u.Has(identity.Auditor) {
		return nil, errs.E(errs.Forbidden, "仅审计人员可运行监督检查", "only auditors may run the oversight checks")
	}
	return u, nil
}

type findingJSON struct {
	Check         string  `json:"check"`
	Severity      string  `json:"severity"`
	ApplicationID *string `json:"application_id"`
	Workflow      string  `json:"workflow,omitempty"`
	ActorID       *string `json:"actor_id"`
	ActorName     string  `json:"actor_name,omitempty"`
	ActorUsername string  `json:"actor_username,omitempty"`
	Subject       string  `json:"subject,omitempty"`
	At            string  `json:"at"`
	DetailZh      string  `json:"detail_zh"`
	DetailEn      string  `json:"detail_en"`
	Link          string  `json:"link"`
}

type checkJSON struct {
	Key     string `json:"key"`
	TitleZh string `json:"title_zh"`
	TitleEn string `json:"title_en"`
	RuleZh  string `json:"rule_zh"`
	RuleEn  string `json:"rule_en"`
	Count   int    `json:"count"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// runOversight runs the oversight checks (all, or the one `check` names)
// and lists their findings.
func (s *Server) runOversight(c echo.Context) error {
	u, err := auditorsOnly(c)
	if err != nil {
		return err
	}
	if err := checkQuery(c, "check", "returned_more_than", "from", "to"); err != nil {
		return err
	}
	o := checks.Options{Check: c.QueryParam("check")}
	if o.ReturnedMoreThan, err = queryInt(c, "returned_more_than", checks.DefaultReturnedMoreThan, 1, 1000); err != nil {
		return err
	}
	if o.From, err = queryTime(c, "from"); err != nil {
		return err
	}
	if o.To, err = queryTime(c, "to"); err != nil {
		return err
	}
	r, err := checks.New(s.db, s.engine).Run(c.Request().Context(), u, o)
	if err != nil {
		return err
	}
	out := struct {
		Findings []findingJSON `json:"findings"`
		Checks   []checkJSON   `json:"checks"`
	}{Findings: make([]findingJSON, 0, len(r.Findings)), Checks: make([]checkJSON, 0, len(r.Checks))}
	for _, f := range r.Findings {
		out.Findings = append(out.Findings, findingJSON{Check: f.Check, Severity: f.Severity, ApplicationID: optional(f.ApplicationID),
			Workflow: f.Workflow, ActorID: optional(f.ActorID), ActorName: f.ActorName, ActorUsername: f.ActorUsername,
			Subject: f.Subject, At: timeJSON(f.At), DetailZh: f.Detail.Zh, DetailEn: f.Detail.En, Link: f.Link})
	}
	for _, ck := range r.Checks {
		out.Checks = append(out.Checks, checkJSON{Key: ck.Key, TitleZh: ck.Title.Zh, TitleEn: ck.Title.En,
			RuleZh: ck.Rule.Zh, RuleEn: ck.Rule.En, Count: ck.Count})
	}
	return c.JSON(http.StatusOK, out)
}
