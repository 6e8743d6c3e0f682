package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

type personJSON struct{ ID, Username, Name string }

// decisionRecordJSON is what the test reads of a decision record.
type decisionRecordJSON struct {
	Application appJSON
	Title       string
	Redacted    bool
	Transitions []struct {
		Event      string
		EventTitle string `json:"event_title"`
		ChainSeq   int64  `json:"chain_seq"`
		Actor      *personJSON
		Comment    string
		Data       map[string]any
		Hash       string
		Timer      bool
		DecidedBy  []personJSON `json:"decided_by"`
	}
	Stages []struct {
		State        string
		OutcomeTitle string `json:"outcome_title"`
		Tasks        []struct {
			Status   string
			Total    *string
			Comment  string
			Assignee personJSON
		}
		Draws []struct {
			Seed     string
			PoolSize int `json:"pool_size"`
			Picked   []personJSON
			Replays  bool
		}
	}
	Questions []struct {
		Question   string
		Answer     *string
		AskedBy    *personJSON `json:"asked_by"`
		AnsweredBy *personJSON `json:"answered_by"`
	}
	Entries []struct {
		ChainSeq int64 `json:"chain_seq"`
		Kind     string
		Comment  string
		Data     map[string]any
		Hash     string
		Problem  *string
	}
	Integrity struct {
		OK        bool
		Checked   int64
		HeadCount int64  `json:"head_count"`
		HeadHash  string `json:"head_hash"`
		Problems  []map[string]any
		Seal      *struct{ Count int64 }
		Unsealed  int64
	}
}

// TestDecisionRecordOverTheAPI: the record of an application sent back
// once, recommended, passed, scored by five drawn experts and approved,
// read by each role: the bureau and oversight in full, administrators the
// process only, everyone else 404.
func TestDecisionRecordOverTheAPI(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.expertPool()
	app := s.submitProject("applicant")
	s.decideAs("unit", app.ID, map[string]any{"decision": "send_back", "comment": "请补充", "questions": []string{"请补充中试场地证明"}})
	var qs []struct{ ID string }
	require.Equal(t, http.StatusOK, s.call("applicant", "GET", "/api/v1/applications/"+app.ID+"/questions", nil, &qs))
	require.Equal(t, http.StatusOK, s.call("applicant", "POST", "/api/v1/applications/"+app.ID+"/answers",
		map[string]any{"answers": map[string]string{qs[0].ID: "已补充厂房租赁合同"}}, nil))
	require.Equal(t, "unit_review", s.mustFire("applicant", app.ID, "resubmit", nil))
	s.decideAs("unit", app.ID, map[string]any{"decision": "recommend"})
	s.decideAs("staff", app.ID, map[string]any{"decision": "formal_pass", "comment": "材料齐全"})
	s.scorePanel(app.ID, map[string]any{"industry": 85, "foundation": 80, "technical": 78, "financial": 75})
	s.decideAs("leader", app.ID, map[string]any{"decision": "approve", "comment": "同意立项", "data": map[string]any{"amount": 1500000}})
	require.Equal(t, "public_notice", s.appState("auditor", app.ID))

	path := "/api/v1/applications/" + app.ID + "/decision-record"
	var rec decisionRecordJSON
	require.Equal(t, http.StatusOK, s.call("auditor", "GET", path, nil, &rec))
	require.False(t, rec.Redacted)
	require.Equal(t, "高性能复合材料研发", rec.Title)
	require.Equal(t, "public_notice", rec.Application.State)
	var events []string
	for _, tr := range rec.Transitions {
		events = append(events, tr.Event)
	}
	require.Equal(t, []string{"create", "submit", "send_back", "resubmit", "recommend", "formal_pass", "experts_pass", "approve"}, events)
	approve := rec.Transitions[7]
	require.Equal(t, "批准立项", approve.EventTitle)
	require.Nil(t, approve.Actor, "the stage's outcome is the system's step")
	require.Equal(t, []personJSON{{ID: approve.DecidedBy[0].ID, Username: "leader", Name: "leader"}}, approve.DecidedBy)
	require.Equal(t, "同意立项", approve.Comment)
	require.EqualValues(t, 1500000, approve.Data["amount"])
	require.Len(t, rec.Transitions[6].DecidedBy, 5, "the five experts who scored")

	require.Len(t, rec.Stages, 5)
	experts := rec.Stages[3]
	require.Equal(t, "expert_review", experts.State)
	require.Equal(t, "专家评审通过", experts.OutcomeTitle)
	require.Len(t, experts.Draws, 1)
	require.True(t, experts.Draws[0].Replays)
	require.Len(t, experts.Draws[0].Seed, 32)
	require.Equal(t, 7, experts.Draws[0].PoolSize)
	require.Len(t, experts.Draws[0].Picked, 5)
	for i, p := range experts.Draws[0].Picked {
		require.Regexp(t, `^e\d$`, p.Username, "the drawn named")
		require.Equal(t, experts.Tasks[i].Assignee.Username, p.Username, "in the panel's order")
		require.Equal(t, "80.00", *experts.Tasks[i].Total, "(85×30 + 80×25 + 78×25 + 75×20) / 100")
	}
	require.Len(t, rec.Questions, 1)
	require.Equal(t, "请补充中试场地证明", rec.Questions[0].Question)
	require.Equal(t, "已补充厂房租赁合同", *rec.Questions[0].Answer)
	require.Equal(t, "unit", rec.Questions[0].AskedBy.Username)
	require.Equal(t, "applicant", rec.Questions[0].AnsweredBy.Username)

	in := rec.Integrity
	require.True(t, in.OK, "%v", in.Problems)
	require.EqualValues(t, len(rec.Entries), in.Checked)
	require.EqualValues(t, len(rec.Entries), in.HeadCount)
	require.Equal(t, rec.Entries[len(rec.Entries)-1].Hash, in.HeadHash)
	require.Equal(t, approve.Hash, rec.Entries[approve.ChainSeq-1].Hash, "each step points at its entry of the chain")
	require.Nil(t, in.Seal, "this server seals once a day")
	require.Equal(t, in.HeadCount, in.Unsealed)

	var en decisionRecordJSON
	require.Equal(t, http.StatusOK, s.call("staff", "GET", path, nil, &en, "Accept-Language", "en"))
	require.Equal(t, "Approve", en.Transitions[7].EventTitle)
	require.Equal(t, rec.Integrity.HeadHash, en.Integrity.HeadHash)
	require.Equal(t, http.StatusOK, s.call("leader", "GET", path, nil, nil))

	var adm decisionRecordJSON
	require.Equal(t, http.StatusOK, s.call("admin", "GET", path, nil, &adm))
	require.True(t, adm.Redacted)
	require.Empty(t, adm.Title)
	require.Len(t, adm.Transitions, len(rec.Transitions), "administrators see every step")
	for _, tr := range adm.Transitions {
		require.Empty(t, tr.Comment, tr.Event)
		require.Empty(t, tr.Data, tr.Event)
		require.Empty(t, tr.DecidedBy, tr.Event)
	}
	for _, st := range adm.Stages {
		require.Empty(t, st.Tasks, "no scores")
		require.Empty(t, st.Draws)
	}
	for _, e := range adm.Entries {
		require.Empty(t, e.Comment)
		require.Empty(t, e.Data)
	}
	require.Empty(t, adm.Questions)
	require.Equal(t, rec.Integrity.HeadHash, adm.Integrity.HeadHash)

	// The other roles are in the authorisation matrix; an expert on this
	// very panel is not.
	for _, who := range []string{"applicant", "unit", experts.Tasks[0].Assignee.Username} {
		require.Equal(t, http.StatusNotFound, s.call(who, "GET", path, nil, nil), who)
	}
	require.Equal(t, http.StatusNotFound, s.call("auditor", "GET", "/api/v1/applications/00000000-0000-0000-0000-000000000000/decision-record", nil, nil))
}
