package workflow

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

const form = `{"type": "object", "properties": {"budget": {"type": "integer"}, "team": {"type": "object", "properties": {"lead": {"type": "string"}}}}}`

// base is a valid definition; each case below breaks one thing in it. Line
// numbers in the expectations count from its first line.
const base = `key: t
title: {zh: 测试, en: Test}
initial: draft
form: t.form.json
created_by: [applicant]
states:
  draft:
    title: {zh: 草稿, en: Draft}
    kind: edit
  review:
    title: {zh: 审核, en: Review}
    kind: review
  done:
    title: {zh: 完成, en: Done}
    kind: terminal
events:
  submit:
    title: {zh: 提交, en: Submit}
    from: [draft]
    to: review
    roles: [applicant]
  approve:
    title: {zh: 通过, en: Approve}
    from: [review]
    to: done
    roles: [staff]
`

func check(t *testing.T, files map[string]string) error {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	_, err := LoadDir(fsys)
	return err
}

func TestBaseIsValid(t *testing.T) {
	require.NoError(t, check(t, map[string]string{"t.yaml": base, "t.form.json": form}))
}

func TestCheckFindsEachProblem(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		form    string
		want    string // a whole "file:line: message" line, or its start
		another map[string]string
	}{
		{name: "unknown state as target",
			yaml: strings.Replace(base, "to: done", "to: finished", 1),
			want: "t.yaml:25: event approve goes to unknown state \"finished\""},
		{name: "unknown state as source",
			yaml: strings.Replace(base, "from: [review]", "from: [reveiw]", 1),
			want: "t.yaml:24: event approve comes from unknown state \"reveiw\""},
		{name: "unknown initial state",
			yaml: strings.Replace(base, "initial: draft", "initial: drafting", 1),
			want: "t.yaml:3: initial state \"drafting\" is not defined"},
		{name: "unreachable state",
			yaml: strings.Replace(base, "  done:\n", "  orphan:\n    title: {zh: 孤立, en: Orphan}\n    kind: terminal\n  done:\n", 1),
			want: "t.yaml:13: state orphan is unreachable from the initial state draft"},
		{name: "dead end state",
			yaml: strings.Replace(strings.Replace(base, "  done:\n", "  stuck:\n    title: {zh: 卡住, en: Stuck}\n    kind: review\n  done:\n", 1),
				"    to: done\n", "    to: stuck\n", 1) + "  finish:\n    title: {zh: 完, en: Finish}\n    from: [review]\n    to: done\n    roles: [staff]\n",
			want: "t.yaml:13: state stuck is a dead end: it is not terminal and no event leaves it"},
		{name: "trap that never ends",
			yaml: strings.Replace(base, "  done:\n", "  limbo:\n    title: {zh: 悬置, en: Limbo}\n    kind: review\n  limbo2:\n    title: {zh: 悬置2, en: Limbo 2}\n    kind: review\n  done:\n", 1) +
				"  park:\n    title: {zh: 搁置, en: Park}\n    from: [review]\n    to: limbo\n    roles: [staff]\n" +
				"  flip:\n    title: {zh: 翻, en: Flip}\n    from: [limbo]\n    to: limbo2\n    roles: [staff]\n" +
				"  flop:\n    title: {zh: 转, en: Flop}\n    from: [limbo2]\n    to: limbo\n    roles: [staff]\n",
			want: "t.yaml:13: state limbo can never reach a terminal state"},
		{name: "terminal state with outgoing event",
			yaml: base + "  reopen:\n    title: {zh: 重开, en: Reopen}\n    from: [done]\n    to: review\n    roles: [staff]\n",
			want: "t.yaml:29: terminal state done has an outgoing event (reopen)"},
		{name: "event no role may fire",
			yaml: strings.Replace(base, "    roles: [staff]\n", "", 1),
			want: "t.yaml:22: no role may fire event approve: give it roles, or system: true for a timer"},
		{name: "system event no timer fires",
			yaml: strings.Replace(base, "    roles: [staff]\n", "    system: true\n", 1),
			want: "t.yaml:22: no role may fire event approve: it is system-only but no timer, review, objection or related workflow fires it"},
		{name: "unknown role",
			yaml: strings.Replace(base, "roles: [staff]", "roles: [chief]", 1),
			want: "t.yaml:26: unknown role \"chief\" in roles of approve"},
		{name: "admin may not decide",
			yaml: strings.Replace(base, "roles: [staff]", "roles: [admin]", 1),
			want: "t.yaml:26: role admin may not act in workflows (roles of approve)"},
		{name: "auditors only watch",
			yaml: strings.Replace(base, "roles: [staff]", "roles: [auditor]", 1),
			want: "t.yaml:26: role auditor may not act in workflows (roles of approve)"},
		{name: "expression that does not compile",
			yaml: base + "    guards:\n      - if: 'data.budget <='\n        message: {zh: 超预算, en: Over budget}\n",
			want: "t.yaml:28: guard does not compile"},
		{name: "expression that is not boolean",
			yaml: base + "    guards:\n      - if: 'actor.username'\n        message: {zh: 无, en: None}\n",
			want: "t.yaml:28: guard does not compile"},
		{name: "expression referencing an unknown field",
			yaml: base + "    guards:\n      - if: 'data.budjet > 0'\n        message: {zh: 无, en: None}\n",
			want: "t.yaml:28: guard refers to unknown field data.budjet"},
		{name: "expression referencing an unknown nested field",
			yaml: base + "    guards:\n      - if: 'data.team.leed != \"\"'\n        message: {zh: 无, en: None}\n",
			want: "t.yaml:28: guard refers to unknown field data.team.leed"},
		{name: "expression referencing an unknown actor field",
			yaml: base + "    guards:\n      - if: 'actor.rank > 3'\n        message: {zh: 无, en: None}\n",
			want: "t.yaml:28: guard does not compile"},
		{name: "expression reading a parent that does not exist",
			yaml: base + "    guards:\n      - if: 'parent.state == \"approved\"'\n        message: {zh: 无, en: None}\n",
			want: "t.yaml:28: guard reads parent, but the workflow declares no parent"},
		{name: "invalid JSON Schema",
			yaml: base, form: `{"type": "object", "properties": {"budget": {"type": "integr"}}}`,
			want: "t.form.json:1: invalid JSON Schema"},
		{name: "form that is not JSON",
			yaml: base, form: "{\"type\": \"object\",\n \"properties\": }",
			want: "t.form.json:2: invalid JSON"},
		{name: "invalid event data schema",
			yaml: base + "    data: {type: object, properties: {amount: {minimum: low}}}\n",
			want: "t.yaml:27: invalid JSON Schema for the event's data"},
		{name: "duplicate state key",
			yaml: strings.Replace(base, "  done:\n", "  review:\n    title: {zh: 又, en: Again}\n    kind: review\n  done:\n", 1),
			want: "t.yaml:13:"},
		{name: "duplicate role in a list",
			yaml: strings.Replace(base, "roles: [staff]", "roles: [staff, staff]", 1),
			want: "t.yaml:26: duplicate \"staff\" in roles"},
		{name: "duplicate workflow key across files",
			yaml:    base,
			another: map[string]string{"u.yaml": base},
			want:    "u.yaml:1: duplicate workflow key \"t\" (also in t.yaml)"},
		{name: "unknown field",
			yaml: strings.Replace(base, "    kind: edit\n", "    kind: edit\n    colour: red\n", 1),
			want: "t.yaml:10: unknown field \"colour\" in state draft"},
		{name: "unknown state kind",
			yaml: strings.Replace(base, "kind: edit", "kind: editing", 1),
			want: "t.yaml:9: unknown state kind \"editing\""},
		{name: "missing English title",
			yaml: strings.Replace(base, "title: {zh: 测试, en: Test}", "title: {zh: 测试}", 1),
			want: "t.yaml:2: title needs both zh and en"},
		{name: "missing form file",
			yaml: strings.Replace(base, "form: t.form.json", "form: missing.json", 1),
			want: "t.yaml:4: form missing.json cannot be read"},
		{name: "not YAML",
			yaml: "key: t\n  title: [unclosed\n",
			want: "t.yaml:2:"},
		{name: "sets a field the event data lacks",
			yaml: base + "    sets: [budget]\n",
			want: "t.yaml:27: sets \"budget\", which the event's data schema does not define"},
		{name: "timer firing an unknown event",
			yaml: strings.Replace(base, "    kind: review\n", "    kind: review\n    timer: {after: {working_days: 5}, event: nudge}\n", 1),
			want: "t.yaml:13: timer of state review fires unknown event \"nudge\""},
		{name: "bad working days",
			yaml: strings.Replace(base, "    kind: review\n", "    kind: review\n    deadline: {working_days: -2}\n", 1),
			want: "t.yaml:13: deadline.working_days must be a whole number from 1 to 365"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := form
			if tc.form != "" {
				f = tc.form
			}
			files := map[string]string{"t.yaml": tc.yaml, "t.form.json": f}
			for k, v := range tc.another {
				files[k] = v
			}
			err := check(t, files)
			require.Error(t, err)
			require.Contains(t, "\n"+err.Error(), "\n"+tc.want, "all problems:\n%s", err)
		})
	}
}
