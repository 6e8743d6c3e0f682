package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/workflow"
)

// workflowJSON is API.md's Workflow.
type workflowJSON struct {
	Key     string          `json:"key"`
	Title   string          `json:"title"`
	Version int             `json:"version"`
	Initial string          `json:"initial"`
	States  []stateJSON     `json:"states"`
	Events  []eventJSON     `json:"events"`
	Form    json.RawMessage `json:"form,omitempty"`
}

type stateJSON struct {
	Key      string      `json:"key"`
	Title    string      `json:"title"`
	Kind     string      `json:"kind"`
	Deadline *int        `json:"deadline_working_days,omitempty"`
	Review   *reviewJSON `json:"review,omitempty"`
}

// reviewJSON says how a review state is decided, for clients that show it.
type reviewJSON struct {
	Reviewers string          `json:"reviewers"`
	Role      string          `json:"role"`
	Count     int             `json:"count,omitempty"`
	Min       int             `json:"min,omitempty"`
	Specialty string          `json:"specialty,omitempty"`
	Policy    string          `json:"policy"`
	K         int             `json:"k,omitempty"`
	Ratio     string          `json:"ratio,omitempty"`
	Decisions []keyTitleJSON  `json:"decisions"`
	Criteria  []criterionJSON `json:"criteria,omitempty"`
	Aggregate string          `json:"aggregate,omitempty"`
	PassMark  string          `json:"pass_mark,omitempty"`
	Veto      string          `json:"veto,omitempty"`
}

// eventJSON is API.md's Workflow.events[]: enough to render any decision
// form without knowing the workflow.
type eventJSON struct {
	Key       string          `json:"key"`
	Title     string          `json:"title"`
	From      []string        `json:"from"`
	To        string          `json:"to"`
	Roles     []string        `json:"roles"`
	System    bool            `json:"system"`
	Comment   string          `json:"comment"`
	Questions bool            `json:"questions,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
}

func toWorkflowJSON(d *workflow.Definition, en bool) workflowJSON {
	out := workflowJSON{Key: d.Key, Title: d.Title.In(en), Version: d.Version, Initial: d.Initial}
	for _, s := range d.States {
		sj := stateJSON{Key: s.Key, Title: s.Title.In(en), Kind: string(s.Kind)}
		if s.Deadline != nil {
			sj.Deadline = &s.Deadline.WorkingDays
		}
		if r := s.Review; r != nil {
			rj := &reviewJSON{Reviewers: string(r.Reviewers.Source), Role: string(r.Reviewers.Role), Count: r.Reviewers.Count,
				Min: r.Reviewers.Min, Specialty: r.Reviewers.Specialty, Policy: string(r.Policy), K: r.K,
				Decisions: toDecisionsJSON(r.Decisions(d), en)}
			if r.Reviewers.SpecialtyField != "" {
				rj.Specialty = "data." + r.Reviewers.SpecialtyField
			}
			if r.Ratio != nil {
				rj.Ratio = r.Ratio.RatString()
			}
			if sc := r.Score; sc != nil {
				rj.Criteria, rj.Aggregate, rj.PassMark = toCriteriaJSON(sc.Criteria, en), string(sc.Aggregate), sc.PassMark.FloatString(2)
				if sc.Veto != nil {
					rj.Veto = sc.Veto.FloatString(2)
				}
			}
			sj.Review = rj
		}
		out.States = append(out.States, sj)
	}
	for _, e := range d.Events {
		out.Events = append(out.Events, eventJSON{Key: e.Key, Title: e.Title.In(en), From: e.From, To: e.To,
			Roles: identity.RoleStrings(e.Roles), System: e.System, Comment: string(e.Comment), Questions: e.Questions,
			Data: e.DataJSON})
	}
	return out
}

func (s *Server) listWorkflows(c echo.Context) error {
	if _, err := currentUser(c); err != nil {
		return err
	}
	en := English(c.Request())
	out := []workflowJSON{}
	for _, d := range s.engine.Workflows() {
		out = append(out, toWorkflowJSON(d, en))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) lookupWorkflow(c echo.Context) (*workflow.Definition, error) {
	if _, err := currentUser(c); err != nil {
		return nil, err
	}
	d, ok := s.engine.Current(c.Param("key"))
	if !ok {
		return nil, errs.E(errs.NotFound, "未知的流程", "unknown workflow")
	}
	return d, nil
}

func (s *Server) getWorkflow(c echo.Context) error {
	d, err := s.lookupWorkflow(c)
	if err != nil {
		return err
	}
	out := toWorkflowJSON(d, English(c.Request()))
	out.Form = d.FormJSON
	return c.JSON(http.StatusOK, out)
}

func (s *Server) workflowDiagram(c echo.Context) error {
	d, err := s.lookupWorkflow(c)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "image/svg+xml; charset=utf-8", d.Diagram(English(c.Request())))
}
