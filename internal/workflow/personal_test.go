package workflow

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/workflows"
)

func loadBuiltIn(t *testing.T) map[string]*Definition {
	t.Helper()
	defs, err := LoadDir(workflows.FS)
	require.NoError(t, err)
	byKey := map[string]*Definition{}
	for _, d := range defs {
		byKey[d.Key] = d
	}
	return byKey
}

func TestPersonalFieldsOfTheProgrammes(t *testing.T) {
	defs := loadBuiltIn(t)
	require.Equal(t, []string{"contact_name", "contact_phone", "legal_rep", "team[].id_number", "team[].name"}, defs["jiebang"].Personal)
	require.Equal(t, []string{"id_number", "name", "phone"}, defs["talent"].Personal)
	require.Equal(t, []string{"id_number", "name", "phone"}, defs["envoy"].Personal)
	require.Empty(t, defs["envoy_service"].Personal)
}

func TestRemovePersonal(t *testing.T) {
	data := map[string]any{
		"title": "项目", "contact_phone": "13800000000",
		"team":  []any{map[string]any{"name": "张三", "role": "负责人"}, map[string]any{"role": "成员"}, "stray"},
		"owner": map[string]any{"name": "李四", "org": "县农科所"},
	}
	paths := []string{"contact_name", "contact_phone", "owner.name", "team[].name"}
	require.Equal(t, []string{"contact_phone", "owner.name", "team[].name"}, RemovePersonal(data, paths))
	require.Equal(t, map[string]any{
		"title": "项目",
		"team":  []any{map[string]any{"role": "负责人"}, map[string]any{"role": "成员"}, "stray"},
		"owner": map[string]any{"org": "县农科所"},
	}, data)
	require.Empty(t, RemovePersonal(data, paths), "nothing left to remove")
	require.Empty(t, RemovePersonal(map[string]any{"team": "not a list"}, paths))
}
