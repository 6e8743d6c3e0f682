package webui

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/notify"
)

// The user's notifications: new tasks, reminders, returns and decisions,
// each linking to its application.

type notificationsPage struct {
	Items []notify.Notification
}

func (ui *UI) notifications(c echo.Context) error {
	d, err := ui.data(c, "通知", "Notifications")
	if err != nil {
		return err
	}
	items, err := ui.Notify.List(c.Request().Context(), user(c), false, 200)
	if err != nil {
		return err
	}
	d.Page = notificationsPage{Items: items}
	return ui.render(c, http.StatusOK, "notifications", d)
}

// readNotification marks one read and, when it concerns an application,
// opens it: reading a notification is following it.
func (ui *UI) readNotification(c echo.Context) error {
	if err := ui.checkCSRF(c); err != nil {
		return err
	}
	if err := ui.Notify.MarkRead(c.Request().Context(), user(c), c.Param("id")); err != nil {
		return err
	}
	if app := c.FormValue("application"); app != "" {
		return c.Redirect(http.StatusSeeOther, "/apps/"+app)
	}
	return c.Redirect(http.StatusSeeOther, "/notifications")
}
