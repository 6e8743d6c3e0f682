package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/errs"
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
	Key   string `json:"key"`
	Title string `json:"title"`
	Kind  string `json:"kind"`
}

type eventJSON struct {
	Key   string   `json:"key"`
	Title string   `json:"title"`
	From  []string `json:"from"`
	To    string   `json:"to"`
}

func toWorkflowJSON(d *workflow.Definition, en bool) workflowJSON {
	out := workflowJSON{Key: d.Key, Title: d.Title.In(en), Version: d.Version, Initial: d.Initial}
	for _, s := range d.States {
		out.States = append(out.States, stateJSON{Key: s.Key, Title: s.Title.In(en), Kind: string(s.Kind)})
	}
	for _, e := range d.Events {
		out.Events = append(out.Events, eventJSON{Key: e.Key, Title: e.Title.In(en), From: e.From, To: e.To})
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
