package httpapi

import (
	"math"
	"net/http"

	"github.com/labstack/echo/v4"
)

type indicatorJSON struct {
	Key      string             `json:"key"`
	Workflow string             `json:"workflow"`
	Title    string             `json:"title"`
	Unit     string             `json:"unit"`
	Target   *float64           `json:"target"`
	Actual   float64            `json:"actual"`
	By       map[string]float64 `json:"by"`
}

// planStats answers API.md's plan indicators: counts of what the system
// knows against the plan's targets.
func (s *Server) planStats(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	if err := checkQuery(c); err != nil {
		return err
	}
	asOf, list, err := s.engine.PlanStats(c.Request().Context(), u)
	if err != nil {
		return err
	}
	en := English(c.Request())
	out := make([]indicatorJSON, 0, len(list))
	for _, v := range list {
		by := make(map[string]float64, len(v.By))
		for k, n := range v.By {
			by[k] = cents(n)
		}
		out = append(out, indicatorJSON{Key: v.Key, Workflow: v.Workflow, Title: v.Title.In(en), Unit: v.Unit.In(en),
			Target: v.Target, Actual: cents(v.Actual), By: by})
	}
	return c.JSON(http.StatusOK, map[string]any{"as_of": timeJSON(asOf), "indicators": out})
}

// cents rounds money to the fen, and leaves counts whole.
func cents(v float64) float64 { return math.Round(v*100) / 100 }
