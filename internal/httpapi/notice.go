package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/engine"
)

// noticeJSON is API.md's notice: name, organisation, title and amount, and
// never a phone number, an ID number or an attachment.
type noticeJSON struct {
	ApplicationID string   `json:"application_id"`
	Workflow      string   `json:"workflow"`
	WorkflowTitle string   `json:"workflow_title"`
	Title         string   `json:"title"`
	OrgName       string   `json:"org_name"`
	Person        string   `json:"person,omitempty"`
	Amount        *float64 `json:"amount"`
	StartsAt      string   `json:"starts_at"`
	EndsAt        string   `json:"ends_at"`
}

// listNotices answers the public 公示 list; no sign-in needed.
func (s *Server) listNotices(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	list, err := s.engine.Notices(c.Request().Context())
	if err != nil {
		return err
	}
	en := English(c.Request())
	out := make([]noticeJSON, 0, len(list))
	for _, n := range list {
		out = append(out, noticeJSON{ApplicationID: n.ApplicationID, Workflow: n.Workflow, WorkflowTitle: n.WorkflowTitle.In(en),
			Title: n.Title, OrgName: n.OrgName, Person: n.Person, Amount: n.Amount, StartsAt: timeJSON(n.Starts), EndsAt: timeJSON(n.Ends)})
	}
	return c.JSON(http.StatusOK, out)
}

type objectionRequest struct {
	Name   string `json:"name"`
	Phone  string `json:"phone"`
	Org    string `json:"org"`
	Reason string `json:"reason"`
}

// fileObjection takes a real-name objection from anyone while the notice
// runs; 409 after.
func (s *Server) fileObjection(c echo.Context) error {
	var req objectionRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	id, err := s.engine.Object(c.Request().Context(), c.Param("application_id"), engine.ObjectionInput{Name: req.Name,
		Phone: req.Phone, Org: req.Org, Reason: req.Reason, Address: c.RealIP()})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"id": id})
}

type objectionJSON struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Phone     string  `json:"phone"`
	Org       string  `json:"org"`
	Reason    string  `json:"reason"`
	Status    string  `json:"status"`
	Decision  string  `json:"decision"`
	CreatedAt string  `json:"created_at"`
	DecidedAt *string `json:"decided_at"`
}

// listObjections shows the bureau and oversight an application's objections.
func (s *Server) listObjections(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	list, err := s.engine.Objections(c.Request().Context(), u, c.Param("id"))
	if err != nil {
		return err
	}
	out := make([]objectionJSON, 0, len(list))
	for _, o := range list {
		out = append(out, objectionJSON{ID: o.ID, Name: o.Name, Phone: o.Phone, Org: o.Org, Reason: o.Reason, Status: o.Status,
			Decision: o.Decision, CreatedAt: timeJSON(o.Created), DecidedAt: timePtrJSON(o.Decided)})
	}
	return c.JSON(http.StatusOK, out)
}
