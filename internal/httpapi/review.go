package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
)

type stageJSON struct {
	State      string         `json:"state"`
	StateTitle string         `json:"state_title"`
	Round      int            `json:"round"`
	Policy     string         `json:"policy"`
	OpenedAt   string         `json:"opened_at"`
	DueAt      *string        `json:"due_at"`
	ClosedAt   *string        `json:"closed_at"`
	Outcome    *string        `json:"outcome"`
	Decided    bool           `json:"decided"`
	Summary    map[string]any `json:"summary,omitempty"`
	Tasks      []taskJSON     `json:"tasks"`
	Draws      []drawJSON     `json:"draws"`
}

type drawJSON struct {
	ID           int64    `json:"id"`
	Seed         string   `json:"seed"`
	Specialty    string   `json:"specialty"`
	Wanted       int      `json:"wanted"`
	Pool         []string `json:"pool"`
	Picked       []string `json:"picked"`
	ReplacesTask *string  `json:"replaces_task"`
	DrawnAt      string   `json:"drawn_at"`
	Replays      bool     `json:"replays"`
}

// reviewRecord answers GET /applications/{id}/review: the stages, their
// tasks and expert draws, as far as the caller may see them.
func (s *Server) reviewRecord(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	stages, err := s.engine.ReviewRecord(c.Request().Context(), u, c.Param("id"))
	if err != nil {
		return err
	}
	en := English(c.Request())
	out := make([]stageJSON, 0, len(stages))
	for _, st := range stages {
		j := toStageJSON(st, en)
		for _, d := range st.Draws {
			j.Draws = append(j.Draws, toDrawJSON(d))
		}
		out = append(out, j)
	}
	return c.JSON(http.StatusOK, out)
}

// toStageJSON is a stage with its tasks; its draws are the caller's to add.
func toStageJSON(st engine.StageRecord, en bool) stageJSON {
	j := stageJSON{State: st.State, StateTitle: st.StateTitle.In(en), Round: st.Round, Policy: st.Policy,
		OpenedAt: timeJSON(st.Opened), DueAt: timePtrJSON(st.Due), ClosedAt: timePtrJSON(st.Closed), Decided: st.Decided,
		Summary: st.Summary, Tasks: []taskJSON{}, Draws: []drawJSON{}}
	if st.Outcome != "" {
		outcome := st.Outcome
		j.Outcome = &outcome
	}
	for _, t := range st.Tasks {
		j.Tasks = append(j.Tasks, toTaskJSON(t, en))
	}
	return j
}

func toDrawJSON(d engine.DrawRecord) drawJSON {
	dj := drawJSON{ID: d.ID, Seed: d.Seed, Specialty: d.Specialty, Wanted: d.Wanted, Pool: d.Pool, Picked: d.Picked,
		DrawnAt: timeJSON(d.DrawnAt), Replays: d.Replays}
	if d.ReplacesTask != "" {
		replaces := d.ReplacesTask
		dj.ReplacesTask = &replaces
	}
	return dj
}

type questionJSON struct {
	ID         string  `json:"id"`
	Round      int     `json:"round"`
	Position   int     `json:"position"`
	Question   string  `json:"question"`
	AskedIn    string  `json:"asked_in"`
	AskedAt    string  `json:"asked_at"`
	Answer     *string `json:"answer"`
	AnsweredAt *string `json:"answered_at"`
}

func toQuestionsJSON(qs []engine.Question) []questionJSON {
	out := make([]questionJSON, 0, len(qs))
	for _, q := range qs {
		j := questionJSON{ID: q.ID, Round: q.Round, Position: q.Position, Question: q.Question, AskedIn: q.AskedIn,
			AskedAt: timeJSON(q.AskedAt), AnsweredAt: timePtrJSON(q.AnsweredAt)}
		if q.Answered {
			a := q.Answer
			j.Answer = &a
		}
		out = append(out, j)
	}
	return out
}

func (s *Server) listQuestions(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	qs, err := s.engine.Questions(c.Request().Context(), u, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toQuestionsJSON(qs))
}

type answersRequest struct {
	Answers map[string]string `json:"answers"`
}

func (s *Server) answerQuestions(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	var req answersRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if len(req.Answers) == 0 {
		return errs.E(errs.Invalid, "请填写回答", "answers are required").Field("answers", "必填", "required")
	}
	qs, err := s.engine.Answer(c.Request().Context(), u, c.Param("id"), req.Answers)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toQuestionsJSON(qs))
}

func (s *Server) listAttachments(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	list, err := s.engine.Attachments(c.Request().Context(), u, c.Param("id"))
	if err != nil {
		return err
	}
	out := make([]attachmentJSON, 0, len(list))
	for _, a := range list {
		out = append(out, toAttachmentJSON(a))
	}
	return c.JSON(http.StatusOK, out)
}
