package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
)

// applicationJSON is API.md's Application.
type applicationJSON struct {
	ID              string         `json:"id"`
	Workflow        string         `json:"workflow"`
	WorkflowVersion int            `json:"workflow_version"`
	State           string         `json:"state"`
	StateTitle      string         `json:"state_title"`
	Version         int            `json:"version"`
	Data            map[string]any `json:"data"`
	Org             orgJSON        `json:"org"`
	Applicant       applicantJSON  `json:"applicant"`
	ParentID        *string        `json:"parent_id"`
	CreatedAt       string         `json:"created_at"`
	UpdatedAt       string         `json:"updated_at"`
	Deadline        *string        `json:"deadline,omitempty"`
	RedactedAt      *string        `json:"redacted_at,omitempty"`
	Actions         []actionJSON   `json:"actions"`
}

type applicantJSON struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

type actionJSON struct {
	Event string `json:"event"`
	Title string `json:"title"`
}

func toApplicationJSON(a engine.Application, en bool) applicationJSON {
	out := applicationJSON{ID: a.ID, Workflow: a.Workflow, WorkflowVersion: a.WorkflowVersion, State: a.State,
		StateTitle: a.StateTitle.In(en), Version: a.Version, Data: a.Data,
		Org:       orgJSON{ID: a.Org.ID, Name: a.Org.Name, Kind: a.Org.Kind},
		Applicant: applicantJSON{ID: a.Applicant.ID, Username: a.Applicant.Username, Name: a.Applicant.Name},
		CreatedAt: timeJSON(a.Created), UpdatedAt: timeJSON(a.Updated), Deadline: timePtrJSON(a.Deadline),
		RedactedAt: timePtrJSON(a.Redacted), Actions: make([]actionJSON, 0, len(a.Actions))}
	if out.Data == nil {
		out.Data = map[string]any{}
	}
	if a.ParentID != "" {
		out.ParentID = &a.ParentID
	}
	for _, ac := range a.Actions {
		out.Actions = append(out.Actions, actionJSON{Event: ac.Event, Title: ac.Title.In(en)})
	}
	return out
}

// transitionJSON is API.md's Transition.
type transitionJSON struct {
	Seq     int            `json:"seq"`
	Event   string         `json:"event"`
	From    string         `json:"from"`
	To      string         `json:"to"`
	Actor   *actorJSON     `json:"actor"`
	Comment string         `json:"comment"`
	Data    map[string]any `json:"data"`
	At      string         `json:"at"`
	Hash    string         `json:"hash"`
}

type actorJSON struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

func toTransitionJSON(t engine.Transition) transitionJSON {
	out := transitionJSON{Seq: t.Seq, Event: t.Event, From: t.From, To: t.To, Comment: t.Comment, Data: t.Data,
		At: timeJSON(t.At), Hash: t.Hash}
	if out.Data == nil {
		out.Data = map[string]any{}
	}
	if t.Actor != nil {
		out.Actor = &actorJSON{ID: t.Actor.ID, Username: t.Actor.Username}
	}
	return out
}

type createRequest struct {
	Workflow string         `json:"workflow"`
	Data     map[string]any `json:"data"`
	ParentID string         `json:"parent_id"`
}

func (s *Server) createApplication(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	var req createRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Workflow == "" {
		return errs.E(errs.Invalid, "请指定流程", "workflow is required").Field("workflow", "必填", "required")
	}
	app, err := s.engine.Create(c.Request().Context(), u, engine.CreateInput{Workflow: req.Workflow, Data: req.Data, ParentID: req.ParentID})
	if err != nil {
		return err
	}
	setETag(c, app.Version)
	c.Response().Header().Set("Location", "/api/v1/applications/"+app.ID)
	return c.JSON(http.StatusCreated, toApplicationJSON(app, English(c.Request())))
}

func (s *Server) listApplications(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	if err := checkQuery(c, "workflow", "state", "q", "limit", "cursor", "parent_id"); err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 50, 1, 200)
	if err != nil {
		return err
	}
	items, next, err := s.engine.List(c.Request().Context(), u, engine.ListInput{Workflow: c.QueryParam("workflow"),
		State: c.QueryParam("state"), Query: c.QueryParam("q"), ParentID: c.QueryParam("parent_id"), Limit: limit,
		Cursor: c.QueryParam("cursor")})
	if err != nil {
		return err
	}
	en := English(c.Request())
	out := make([]applicationJSON, 0, len(items))
	for _, a := range items {
		out = append(out, toApplicationJSON(a, en))
	}
	var cursor *string
	if next != "" {
		cursor = &next
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out, "next_cursor": cursor})
}

func (s *Server) getApplication(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	app, err := s.engine.Get(c.Request().Context(), u, c.Param("id"))
	if err != nil {
		return err
	}
	setETag(c, app.Version)
	return c.JSON(http.StatusOK, toApplicationJSON(app, English(c.Request())))
}

type patchRequest struct {
	Data map[string]any `json:"data"`
}

func (s *Server) patchApplication(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	version, err := ifMatch(c)
	if err != nil {
		return err
	}
	var req patchRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Data == nil {
		return errs.E(errs.Invalid, "请提供要修改的数据", "data is required").Field("data", "必填", "required")
	}
	app, err := s.engine.Patch(c.Request().Context(), u, c.Param("id"), version, req.Data)
	if err != nil {
		return err
	}
	setETag(c, app.Version)
	return c.JSON(http.StatusOK, toApplicationJSON(app, English(c.Request())))
}

type eventRequest struct {
	Event           string         `json:"event"`
	Comment         string         `json:"comment"`
	Data            map[string]any `json:"data"`
	ExpectedVersion *int           `json:"expected_version"`
	Questions       []string       `json:"questions"`
}

// redact removes a finished application's personal data after its
// retention period (engine.Redact).
func (s *Server) redact(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	r, err := s.engine.Redact(c.Request().Context(), u, c.Param("id"))
	if err != nil {
		return err
	}
	fields := r.Fields
	if fields == nil {
		fields = []string{}
	}
	return c.JSON(http.StatusOK, map[string]any{"application_id": r.ApplicationID, "fields": fields, "entries": r.Entries,
		"objections": r.Objections, "attachments": r.Attachments})
}

func (s *Server) fireEvent(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	in, err := readEvent(c)
	if err != nil {
		return err
	}
	res, err := s.engine.Fire(c.Request().Context(), u, c.Param("id"), in)
	if err != nil {
		return err
	}
	setETag(c, res.Application.Version)
	return c.JSON(http.StatusOK, map[string]any{
		"application": toApplicationJSON(res.Application, English(c.Request())),
		"transition":  toTransitionJSON(res.Transition),
	})
}

// readEvent reads a request to fire an event, its body and its
// Idempotency-Key.
func readEvent(c echo.Context) (engine.FireInput, error) {
	var req eventRequest
	if err := bind(c, &req); err != nil {
		return engine.FireInput{}, err
	}
	if req.Event == "" {
		return engine.FireInput{}, errs.E(errs.Invalid, "请指定操作", "event is required").Field("event", "必填", "required")
	}
	// The engine refuses a key too long or not text, whoever sent it.
	return engine.FireInput{Event: req.Event, Comment: req.Comment, Data: req.Data, ExpectedVersion: req.ExpectedVersion,
		IdempotencyKey: c.Request().Header.Get("Idempotency-Key"), Questions: req.Questions}, nil
}

func (s *Server) history(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	hist, err := s.engine.History(c.Request().Context(), u, c.Param("id"))
	if err != nil {
		return err
	}
	out := make([]transitionJSON, 0, len(hist))
	for _, t := range hist {
		out = append(out, toTransitionJSON(t))
	}
	return c.JSON(http.StatusOK, out)
}

func setETag(c echo.Context, version int) {
	c.Response().Header().Set("ETag", `"`+strconv.Itoa(version)+`"`)
}

// ifMatch reads the version a client bases its change on. It is required:
// a change without it could silently overwrite someone else's.
func ifMatch(c echo.Context) (int, error) {
	h := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	if h == "" {
		return 0, errs.E(errs.BadRequest, "缺少 If-Match 头（申请的版本号）", "the If-Match header (the application's version) is required").
			Field("If-Match", "必填", "required")
	}
	v, err := strconv.Atoi(strings.Trim(h, `"`))
	if err != nil || v < 1 {
		return 0, errs.E(errs.BadRequest, "If-Match 应为申请的版本号", "If-Match must be the application's version").
			Field("If-Match", "应为版本号，如 \"3\"", `a version such as "3"`)
	}
	return v, nil
}
