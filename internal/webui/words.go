package webui

import (
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/workflow"
)

// Words for the engine's keys, so that pages never show a bare key.

var policyWords = map[string]errs.Text{
	"all":        {Zh: "会签（全部同意）", En: "all must approve"},
	"any":        {Zh: "或签（一人决定）", En: "any one decides"},
	"k_of_n":     {Zh: "多数通过", En: "k of n"},
	"sequential": {Zh: "依次审批", En: "one after another"},
	"score":      {Zh: "专家评分", En: "expert scoring"},
}

var taskStatusWords = map[string]errs.Text{
	"waiting":   {Zh: "等待前序", En: "waiting"},
	"open":      {Zh: "待办", En: "open"},
	"decided":   {Zh: "已决定", En: "decided"},
	"recused":   {Zh: "已回避", En: "stepped down"},
	"delegated": {Zh: "已转办", En: "handed over"},
	"cancelled": {Zh: "已取消", En: "cancelled"},
}

func word(words map[string]errs.Text, key string, en bool) string {
	if t, ok := words[key]; ok {
		return t.In(en)
	}
	return key
}

// eventWord is an event's title, or the key of one no longer declared.
func eventWord(def *workflow.Definition, key string, en bool) string {
	if key == workflow.ScoreDecision {
		return pick(en, "评分", "scored")
	}
	if ev, ok := def.Event(key); ok {
		return ev.Title.In(en)
	}
	return key
}

// stageView is a review stage with its keys put in words.
type stageView struct {
	engine.StageRecord
	PolicyWord, OutcomeWord string
	TaskViews               []taskView
}

type taskView struct {
	engine.Task
	StatusWord, DecisionWord string
}

func stageViews(def *workflow.Definition, stages []engine.StageRecord, en bool) []stageView {
	out := make([]stageView, 0, len(stages))
	for _, s := range stages {
		v := stageView{StageRecord: s, PolicyWord: word(policyWords, s.Policy, en)}
		if s.Outcome != "" {
			v.OutcomeWord = eventWord(def, s.Outcome, en)
		}
		for _, t := range s.Tasks {
			tv := taskView{Task: t, StatusWord: word(taskStatusWords, t.Status, en)}
			if t.Decision != "" {
				tv.DecisionWord = eventWord(def, t.Decision, en)
			}
			v.TaskViews = append(v.TaskViews, tv)
		}
		out = append(out, v)
	}
	return out
}
