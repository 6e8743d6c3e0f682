package webui

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/workflow"
)

// The reviewer's workbench: the inbox with its counts per stage, and the
// decision forms the application page shows for the caller's open tasks.

type tasksPage struct {
	Counts  []engine.TaskCount
	Tasks   []taskView
	Filter  engine.TaskFilter
	Total   int
	Overdue int
}

func (ui *UI) tasks(c echo.Context) error {
	d, err := ui.data(c, "待办", "Inbox")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := user(c)
	f := engine.TaskFilter{Workflow: c.QueryParam("workflow"), State: c.QueryParam("state"), Query: strings.TrimSpace(c.QueryParam("q")),
		Overdue: c.QueryParam("overdue") == "1", Done: c.QueryParam("done") == "1", Limit: 200}
	p := tasksPage{Filter: f}
	if p.Counts, err = ui.Engine.TaskCounts(ctx, u); err != nil {
		return err
	}
	for _, n := range p.Counts {
		p.Total += n.Open
		p.Overdue += n.Overdue
	}
	tasks, err := ui.Engine.Tasks(ctx, u, f)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		def, err := ui.Engine.Definition(ctx, t.Workflow, t.WorkflowVersion)
		if err != nil {
			return err
		}
		tv := taskView{Task: t, StatusWord: word(taskStatusWords, t.Status, d.En)}
		if t.Decision != "" {
			tv.DecisionWord = eventWord(def, t.Decision, d.En)
		}
		p.Tasks = append(p.Tasks, tv)
	}
	d.Page = p
	return ui.render(c, http.StatusOK, "tasks", d)
}

// taskForm is a reviewer's open task drawn as the form that decides it.
type taskForm struct {
	engine.Task
	Choices  []option
	Criteria []criterionInput
	// Extras are what particular decisions ask for: an amount with an
	// approval, questions with a send back.
	Extras []decisionExtra
	Chosen string
}

type criterionInput struct {
	Key, Title, Value, Error string
	Weight                   int
}

type decisionExtra struct {
	Decision, Title string
	Questions       bool
	CommentRequired bool
	Fields          []field
}

func taskFormOf(def *workflow.Definition, t engine.Task, en bool, data map[string]any, errors map[string]string, chosen string, scores map[string]string) (taskForm, error) {
	tf := taskForm{Task: t, Chosen: chosen}
	for _, dec := range t.Decisions {
		tf.Choices = append(tf.Choices, option{Value: dec.Key, Label: dec.Title.In(en)})
		ev, ok := def.Event(dec.Key)
		if !ok {
			continue
		}
		x := decisionExtra{Decision: dec.Key, Title: dec.Title.In(en), Questions: ev.Questions,
			CommentRequired: ev.Comment == workflow.CommentRequired}
		if len(ev.DataJSON) > 0 {
			s, err := parseSchema(ev.DataJSON)
			if err != nil {
				return tf, err
			}
			var values map[string]any
			if chosen == dec.Key {
				values = data
			}
			x.Fields = formSpec{Prefix: "data", IDPrefix: "t" + t.ID[:8] + "-" + dec.Key, En: en}.fields(s, values, errors)
		}
		if x.Questions || x.CommentRequired || len(x.Fields) > 0 {
			tf.Extras = append(tf.Extras, x)
		}
	}
	for _, cr := range t.Criteria {
		tf.Criteria = append(tf.Criteria, criterionInput{Key: cr.Key, Title: cr.Title.In(en), Weight: cr.Weight,
			Value: scores[cr.Key], Error: errors["scores."+cr.Key]})
	}
	if len(tf.Choices) == 1 {
		tf.Chosen = tf.Choices[0].Value
	}
	return tf, nil
}

// decide records the reviewer's decision on their task.
func (ui *UI) decide(c echo.Context) error {
	appID := c.FormValue("application")
	d, form, _, def, err := ui.appPost(c, appID)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := user(c)
	ok := false
	in := engine.DecisionInput{Decision: c.FormValue("decision"), Comment: c.FormValue("comment"),
		Questions: lines(c.FormValue("questions"))}
	scores := map[string]string{}
	if in.Decision == workflow.ScoreDecision {
		in.Scores = map[string]any{}
		for k, v := range form {
			if key, ok := strings.CutPrefix(k, "scores."); ok {
				scores[key] = strings.TrimSpace(v[0])
				if f, err := strconv.ParseFloat(scores[key], 64); err == nil {
					in.Scores[key] = f
				} else if scores[key] != "" {
					in.Scores[key] = scores[key]
				}
			}
		}
	} else if ev, found := def.Event(in.Decision); found && len(ev.DataJSON) > 0 {
		s, err := parseSchema(ev.DataJSON)
		if err != nil {
			return err
		}
		in.Data = formSpec{Prefix: "data"}.readForm(s, form, false)
	}
	taskID := c.Param("id")
	var status int
	if in.Decision == "" {
		d.Message = pick(d.En, "请选择一项决定", "Choose a decision")
		d.Errors["decision"] = pick(d.En, "必选", "required")
		status = http.StatusUnprocessableEntity
	} else if _, err := ui.Engine.Decide(ctx, u, taskID, in); err == nil {
		return ui.done(c, "/tasks", "已提交决定。", "Decision recorded.")
	} else if status, ok = failed(&d, err); !ok {
		return err
	}
	d.Form["comment"], d.Form["questions"] = in.Comment, c.FormValue("questions")
	c.SetParamNames("id")
	c.SetParamValues(appID)
	return ui.renderApp(c, d, status, &posted{form: "task:" + taskID, data: in.Data, chosen: in.Decision, scores: scores})
}

// recuse steps down from a task with a reason (回避).
func (ui *UI) recuse(c echo.Context) error {
	return ui.onTask(c, func(u string, reason string) error {
		_, err := ui.Engine.Recuse(c.Request().Context(), user(c), u, reason)
		return err
	}, "已回避。", "You have stepped down.")
}

// recall takes back the caller's decision while nobody has acted on it.
func (ui *UI) recall(c echo.Context) error {
	return ui.onTask(c, func(id string, reason string) error {
		_, err := ui.Engine.Recall(c.Request().Context(), user(c), id, reason)
		return err
	}, "已取回。", "Decision recalled.")
}

// delegate hands the task to a colleague who may take it.
func (ui *UI) delegate(c echo.Context) error {
	return ui.onTask(c, func(id string, to string) error {
		_, err := ui.Engine.Delegate(c.Request().Context(), user(c), id, to)
		return err
	}, "已转办。", "Task handed over.")
}

// onTask runs one of the small task forms (a reason or a colleague's name
// in "text"), showing its error on the application's page.
func (ui *UI) onTask(c echo.Context, act func(taskID, text string) error, zh, en string) error {
	d, err := ui.data(c, "申请详情", "Application")
	if err != nil {
		return err
	}
	if err := ui.checkCSRF(c); err != nil {
		return err
	}
	appID := c.FormValue("application")
	taskID := c.Param("id")
	text := strings.TrimSpace(c.FormValue("text"))
	if err := act(taskID, text); err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		d.Form["text"] = text
		c.SetParamNames("id")
		c.SetParamValues(appID)
		return ui.renderApp(c, d, status, &posted{form: "task:" + taskID})
	}
	to := "/tasks"
	if appID != "" {
		to = "/apps/" + appID
	}
	return ui.done(c, to, zh, en)
}
