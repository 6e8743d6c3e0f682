package httpapi

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/workflow"
)

// taskJSON is API.md's Task, with what an inbox shows of it.
type taskJSON struct {
	ID            string          `json:"id"`
	ApplicationID string          `json:"application_id"`
	Workflow      string          `json:"workflow"`
	State         string          `json:"state"`
	StateTitle    string          `json:"state_title"`
	Round         int             `json:"round"`
	Policy        string          `json:"policy"`
	Kind          string          `json:"kind"`
	Decisions     []keyTitleJSON  `json:"decisions"`
	Criteria      []criterionJSON `json:"criteria,omitempty"`
	Status        string          `json:"status"`
	Decision      *string         `json:"decision,omitempty"`
	Scores        map[string]any  `json:"scores,omitempty"`
	Total         *string         `json:"total,omitempty"`
	Comment       string          `json:"comment,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	Position      int             `json:"position"`
	Via           string          `json:"via"`
	DueAt         *string         `json:"due_at"`
	Overdue       bool            `json:"overdue"`
	CreatedAt     string          `json:"created_at"`
	DecidedAt     *string         `json:"decided_at,omitempty"`
	Assignee      applicantJSON   `json:"assignee"`
	Title         string          `json:"title,omitempty"`
	OrgName       string          `json:"org_name,omitempty"`
}

type keyTitleJSON struct {
	Key   string `json:"key"`
	Title string `json:"title"`
}

type criterionJSON struct {
	Key    string `json:"key"`
	Title  string `json:"title"`
	Weight int    `json:"weight"`
}

func toDecisionsJSON(ds []workflow.Decision, en bool) []keyTitleJSON {
	out := make([]keyTitleJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, keyTitleJSON{Key: d.Key, Title: d.Title.In(en)})
	}
	return out
}

func toCriteriaJSON(cs []workflow.Criterion, en bool) []criterionJSON {
	var out []criterionJSON
	for _, c := range cs {
		out = append(out, criterionJSON{Key: c.Key, Title: c.Title.In(en), Weight: c.Weight})
	}
	return out
}

func toTaskJSON(t engine.Task, en bool) taskJSON {
	out := taskJSON{ID: t.ID, ApplicationID: t.ApplicationID, Workflow: t.Workflow, State: t.State,
		StateTitle: t.StateTitle.In(en), Round: t.Round, Policy: string(t.Policy), Kind: t.Kind,
		Decisions: toDecisionsJSON(t.Decisions, en), Criteria: toCriteriaJSON(t.Criteria, en), Status: t.Status,
		Scores: t.Scores, Comment: t.Comment, Reason: t.Reason, Position: t.Position, Via: t.Via,
		DueAt: timePtrJSON(t.Due), Overdue: t.Overdue, CreatedAt: timeJSON(t.Created), DecidedAt: timePtrJSON(t.Decided),
		Assignee: applicantJSON{ID: t.Assignee.ID, Username: t.Assignee.Username, Name: t.Assignee.Name},
		Title:    t.AppTitle, OrgName: t.OrgName}
	if t.Decision != "" {
		out.Decision = &t.Decision
	}
	if t.Total != "" {
		out.Total = &t.Total
	}
	return out
}

func (s *Server) listTasks(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	if err := checkQuery(c, "state", "workflow", "stage", "overdue", "q", "limit"); err != nil {
		return err
	}
	f := engine.TaskFilter{Workflow: c.QueryParam("workflow"), State: c.QueryParam("stage"), Query: c.QueryParam("q")}
	switch c.QueryParam("state") {
	case "", "open":
	case "done":
		f.Done = true
	default:
		return errs.E(errs.BadRequest, "state 应为 open 或 done", "state must be open or done").Field("state", "应为 open 或 done", "open or done")
	}
	switch c.QueryParam("overdue") {
	case "", "false":
	case "true":
		f.Overdue = true
	default:
		return errs.E(errs.BadRequest, "overdue 应为 true 或 false", "overdue must be true or false").Field("overdue", "应为 true 或 false", "true or false")
	}
	if f.Limit, err = queryInt(c, "limit", 200, 1, 500); err != nil {
		return err
	}
	tasks, err := s.engine.Tasks(c.Request().Context(), u, f)
	if err != nil {
		return err
	}
	en := English(c.Request())
	out := make([]taskJSON, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, toTaskJSON(t, en))
	}
	return c.JSON(http.StatusOK, out)
}

type taskCountJSON struct {
	Workflow      string `json:"workflow"`
	WorkflowTitle string `json:"workflow_title"`
	State         string `json:"state"`
	StateTitle    string `json:"state_title"`
	Open          int    `json:"open"`
	Overdue       int    `json:"overdue"`
}

func (s *Server) taskSummary(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	if err := checkQuery(c); err != nil {
		return err
	}
	counts, err := s.engine.TaskCounts(c.Request().Context(), u)
	if err != nil {
		return err
	}
	en := English(c.Request())
	out := make([]taskCountJSON, 0, len(counts))
	for _, n := range counts {
		out = append(out, taskCountJSON{Workflow: n.Workflow, WorkflowTitle: n.WorkflowTitle.In(en), State: n.State,
			StateTitle: n.StateTitle.In(en), Open: n.Open, Overdue: n.Overdue})
	}
	return c.JSON(http.StatusOK, out)
}

type decisionRequest struct {
	Decision  string         `json:"decision"`
	Comment   string         `json:"comment"`
	Scores    map[string]any `json:"scores"`
	Data      map[string]any `json:"data"`
	Questions []string       `json:"questions"`
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

type delegateRequest struct {
	ToUser string `json:"to_user"`
}

// taskAction answers one of a reviewer's actions on their task: the body
// decoded into R, the action, the task as it stands after.
func taskAction[R any](c echo.Context, act func(ctx context.Context, u *identity.User, id string, req R) (engine.Task, error)) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	var req R
	if err := bind(c, &req); err != nil {
		return err
	}
	t, err := act(c.Request().Context(), u, c.Param("id"), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTaskJSON(t, English(c.Request())))
}

func (s *Server) recuseTask(c echo.Context) error {
	return taskAction(c, func(ctx context.Context, u *identity.User, id string, req reasonRequest) (engine.Task, error) {
		return s.engine.Recuse(ctx, u, id, req.Reason)
	})
}

func (s *Server) recallTask(c echo.Context) error {
	return taskAction(c, func(ctx context.Context, u *identity.User, id string, req reasonRequest) (engine.Task, error) {
		return s.engine.Recall(ctx, u, id, req.Reason)
	})
}

func (s *Server) delegateTask(c echo.Context) error {
	return taskAction(c, func(ctx context.Context, u *identity.User, id string, req delegateRequest) (engine.Task, error) {
		return s.engine.Delegate(ctx, u, id, req.ToUser)
	})
}

func (s *Server) decideTask(c echo.Context) error {
	return taskAction(c, func(ctx context.Context, u *identity.User, id string, req decisionRequest) (engine.Task, error) {
		if req.Decision == "" {
			return engine.Task{}, errs.E(errs.Invalid, "请选择决定", "decision is required").Field("decision", "必填", "required")
		}
		return s.engine.Decide(ctx, u, id, engine.DecisionInput{Decision: req.Decision, Comment: req.Comment,
			Scores: req.Scores, Data: req.Data, Questions: req.Questions})
	})
}

type addReviewerRequest struct {
	User  string `json:"user"`
	State string `json:"state"`
}

func (s *Server) addReviewer(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	var req addReviewerRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.State == "" {
		return errs.E(errs.Invalid, "请指定环节", "state is required").Field("state", "必填", "required")
	}
	t, err := s.engine.AddReviewer(c.Request().Context(), u, c.Param("id"), req.State, req.User)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toTaskJSON(t, English(c.Request())))
}
