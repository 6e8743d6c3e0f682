package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/errs"
)

type overrideJSON struct {
	Day       string `json:"day"`
	Working   bool   `json:"working"`
	Note      string `json:"note"`
	CreatedAt string `json:"created_at"`
}

func toOverrideJSON(o calendar.Override) overrideJSON {
	return overrideJSON{Day: calendar.FormatDay(o.Day), Working: o.Working, Note: o.Note, CreatedAt: timeJSON(o.SetAt)}
}

// listOverrides shows every signed-in user the county's working-day
// overrides: whoever waits on a deadline may see why it falls where it does.
func (s *Server) listOverrides(c echo.Context) error {
	if _, err := currentUser(c); err != nil {
		return err
	}
	if err := checkQuery(c); err != nil {
		return err
	}
	list, err := s.calendar.List(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]overrideJSON, 0, len(list))
	for _, o := range list {
		out = append(out, toOverrideJSON(o))
	}
	return c.JSON(http.StatusOK, out)
}

type overrideRequest struct {
	// A pointer, so that a forgotten "working" is refused rather than read
	// as a day off.
	Working *bool  `json:"working"`
	Note    string `json:"note"`
}

func (s *Server) setOverride(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	var req overrideRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	day, err := calendar.ParseDay(c.Param("day"))
	if err != nil {
		return err
	}
	if req.Working == nil {
		return errs.E(errs.Invalid, "请说明当天是否上班", "say whether the day is a working day").
			Field("working", "必填（true 或 false）", "required (true or false)")
	}
	o, err := s.calendar.Set(c.Request().Context(), u, day, *req.Working, req.Note)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toOverrideJSON(o))
}

func (s *Server) deleteOverride(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	day, err := calendar.ParseDay(c.Param("day"))
	if err != nil {
		return err
	}
	if _, err := s.calendar.Unset(c.Request().Context(), u, day); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// maxSpan bounds the working days asked for: a year's worth covers every
// period in the workflows, and the answer is computed day by day.
const maxSpan = 366

// workingDays tells clients when a span of working days ends (a notice, a
// deadline), on the same calendar, overrides included, that the engine uses.
func (s *Server) workingDays(c echo.Context) error {
	if _, err := currentUser(c); err != nil {
		return err
	}
	if err := checkQuery(c, "from", "days"); err != nil {
		return err
	}
	from := time.Now()
	if v := c.QueryParam("from"); v != "" {
		var err error
		if from, err = parseFrom(v); err != nil {
			return err
		}
	}
	if c.QueryParam("days") == "" {
		return errs.E(errs.BadRequest, "缺少参数 days", "the parameter days is required").Field("days", "必填", "required")
	}
	n, err := queryInt(c, "days", 0, 1, maxSpan)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"from": timeJSON(from), "days": n,
		"ends_at": timeJSON(s.calendar.EndOfWorkingDays(from, n))})
}

// parseFrom takes a day (midnight in China) or an RFC 3339 time.
func parseFrom(v string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", v, calendar.China); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errs.E(errs.BadRequest, "from 应为日期（YYYY-MM-DD）或 RFC 3339 时间", "from must be a date (YYYY-MM-DD) or an RFC 3339 time").
			Field("from", "应为 YYYY-MM-DD 或 RFC 3339 时间", "YYYY-MM-DD or an RFC 3339 time")
	}
	return t, nil
}
