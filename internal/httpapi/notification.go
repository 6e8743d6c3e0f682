package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/errs"
)

type notificationJSON struct {
	ID            string  `json:"id"`
	Kind          string  `json:"kind"`
	ApplicationID *string `json:"application_id"`
	TaskID        *string `json:"task_id,omitempty"`
	Title         string  `json:"title"`
	CreatedAt     string  `json:"created_at"`
	ReadAt        *string `json:"read_at"`
}

func (s *Server) listNotifications(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	if err := checkQuery(c, "unread", "limit"); err != nil {
		return err
	}
	unread := false
	switch c.QueryParam("unread") {
	case "", "false":
	case "true":
		unread = true
	default:
		return errs.E(errs.BadRequest, "unread 应为 true 或 false", "unread must be true or false").Field("unread", "应为 true 或 false", "true or false")
	}
	limit, err := queryInt(c, "limit", 100, 1, 500)
	if err != nil {
		return err
	}
	list, err := s.notify.List(c.Request().Context(), u, unread, limit)
	if err != nil {
		return err
	}
	en := English(c.Request())
	out := make([]notificationJSON, 0, len(list))
	for _, n := range list {
		j := notificationJSON{ID: n.ID, Kind: n.Kind, Title: n.Title.In(en), CreatedAt: timeJSON(n.Created), ReadAt: timePtrJSON(n.Read)}
		if n.ApplicationID != "" {
			j.ApplicationID = &n.ApplicationID
		}
		if n.TaskID != "" {
			j.TaskID = &n.TaskID
		}
		out = append(out, j)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) readNotification(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	if err := s.notify.MarkRead(c.Request().Context(), u, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
