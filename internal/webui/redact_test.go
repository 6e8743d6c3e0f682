package webui

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/workflow"
	"github.com/sciflow/sciflow/workflows"
)

// An administrator looking at a finished application is offered the
// redaction of its personal data, and asking before the retention period
// has passed is answered on the page with when it will have; others are
// offered nothing and cannot post it.
func TestRedactionOnTheApplicationPage(t *testing.T) {
	s := newConsoleSite(t)
	defs, err := workflow.LoadDir(workflows.FS)
	require.NoError(t, err)
	final := map[string][]string{}
	for _, d := range defs {
		for _, st := range d.States {
			if st.Kind == workflow.KindTerminal {
				final[d.Key] = append(final[d.Key], st.Key)
			}
		}
	}
	rows, err := s.db.QueryContext(context.Background(), `SELECT id, workflow, state FROM applications WHERE submitted_at IS NOT NULL`)
	require.NoError(t, err)
	var appID string
	for rows.Next() {
		var id, wf, state string
		require.NoError(t, rows.Scan(&id, &wf, &state))
		for _, f := range final[wf] {
			if f == state {
				appID = id
			}
		}
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, appID, "the demo county has a finished application")
	path := "/apps/" + appID

	admin := s.as("admin")
	code, page := admin.get(path)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, `action="`+path+`/redact"`)
	code, page = admin.post(path+"/redact", url.Values{})
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, page, "保存期限未满")

	staff := s.as("staff")
	code, page = staff.get(path)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, page, "/redact")
	code, _ = staff.post(path+"/redact", url.Values{})
	require.Equal(t, http.StatusForbidden, code)
}
