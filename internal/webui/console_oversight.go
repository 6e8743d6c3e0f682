package webui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/oversight"
)

// The oversight checks: what GET /api/v1/oversight answers, as a page with
// its filters, a count per check and the findings with their links.

type oversightPage struct {
	Filter   oversightForm
	Checks   []option
	Counts   []checkRow
	Findings []findingRow
	Ran      bool
}

// oversightForm is the filter as typed: dates as days in China time, the
// last one included.
type oversightForm struct {
	Check, Returned, From, To string
}

type checkRow struct {
	Key, Title, Rule, Link string
	Count                  int
}

type findingRow struct {
	Check, Severity, SeverityWord string
	At                            time.Time
	AppID, AppShort               string
	Actor, ActorLogin             string
	Detail, Link                  string
}

var severityWords = map[string]errs.Text{
	oversight.SeverityHigh:   {Zh: "高", En: "high"},
	oversight.SeverityMedium: {Zh: "中", En: "medium"},
	oversight.SeverityLow:    {Zh: "低", En: "low"},
}

// Auditors only, as in the API: findings carry experts' scores, which
// administrators never read.
func requireAuditor(u *identity.User) error {
	if !u.Has(identity.Auditor) {
		return errs.E(errs.Forbidden, "仅审计人员可运行监督检查", "only auditors may run the oversight checks")
	}
	return nil
}

// oversightChecks runs the checks the filters ask for. The checks only
// read, so a link may run them.
func (ui *UI) oversightChecks(c echo.Context) error {
	u := user(c)
	if err := requireAuditor(u); err != nil {
		return err
	}
	d, err := ui.data(c, "监督检查", "Oversight checks")
	if err != nil {
		return err
	}
	f := oversightForm{Check: c.QueryParam("check"), Returned: strings.TrimSpace(c.QueryParam("returned_more_than")),
		From: c.QueryParam("from"), To: c.QueryParam("to")}
	p := oversightPage{Filter: f}
	titles := map[string]string{}
	for _, ck := range oversight.Checks() {
		titles[ck.Key] = ck.Title.In(d.En)
		p.Checks = append(p.Checks, option{Value: ck.Key, Label: ck.Title.In(d.En)})
	}
	status := http.StatusOK
	o, err := oversightOptions(f)
	var r oversight.Report
	if err == nil {
		r, err = oversight.New(ui.DB, ui.Engine).Run(c.Request().Context(), u, o)
	}
	if err != nil {
		var ok bool
		if status, ok = failed(&d, err); !ok {
			return err
		}
	} else {
		p.Ran = true
		for _, ck := range r.Checks {
			link := url.Values{"check": {ck.Key}}
			for k, v := range map[string]string{"returned_more_than": f.Returned, "from": f.From, "to": f.To} {
				if v != "" {
					link.Set(k, v)
				}
			}
			p.Counts = append(p.Counts, checkRow{Key: ck.Key, Title: ck.Title.In(d.En), Rule: ck.Rule.In(d.En),
				Link: "/oversight?" + link.Encode(), Count: ck.Count})
		}
		for _, fd := range r.Findings {
			row := findingRow{Check: titles[fd.Check], Severity: fd.Severity, SeverityWord: word(severityWords, fd.Severity, d.En),
				At: fd.At, AppID: fd.ApplicationID, Actor: fd.ActorName, ActorLogin: fd.ActorUsername,
				Detail: fd.Detail.In(d.En), Link: fd.Link}
			if len(row.AppID) >= 8 {
				row.AppShort = row.AppID[:8]
			}
			p.Findings = append(p.Findings, row)
		}
	}
	d.Page = p
	return ui.render(c, status, "console_oversight", d)
}

// oversightOptions reads the typed filters as the service's options.
func oversightOptions(f oversightForm) (oversight.Options, error) {
	o := oversight.Options{Check: f.Check}
	if f.Returned != "" {
		n, err := strconv.Atoi(f.Returned)
		if err != nil || n < 1 || n > 1000 {
			return o, errs.E(errs.Invalid, "退回次数应为 1 到 1000 的整数", "the number of returns must be a whole number from 1 to 1000").
				Field("returned_more_than", "应为 1 到 1000 的整数", "a whole number from 1 to 1000")
		}
		o.ReturnedMoreThan = n
	}
	var err error
	if o.From, err = day(f.From, "from"); err != nil {
		return o, err
	}
	if o.To, err = day(f.To, "to"); err != nil {
		return o, err
	}
	if !o.To.IsZero() {
		o.To = o.To.AddDate(0, 0, 1) // the whole of the last day
	}
	return o, nil
}
