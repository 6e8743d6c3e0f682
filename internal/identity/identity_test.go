package identity

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/errs"
)

func TestCreditCode(t *testing.T) {
	for code, ok := range map[string]bool{
		"91350100M000100Y43":  true,
		"911100007109288314":  true,
		" 91350100m000100y43": true, // case and spaces forgiven
		"91350100M000100Y44":  false,
		"91350100M000100Y4":   false,
		"9135010OM000100Y43":  false, // O is not in the alphabet
		"":                    false,
	} {
		got, err := NormalizeCreditCode(code)
		if ok {
			require.NoError(t, err, code)
			require.Len(t, got, 18)
		} else {
			require.Error(t, err, code)
			require.Contains(t, errs.As(err).Fields, "credit_code")
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	require.NoError(t, CheckPasswordPolicy("Yunyang-2026!", "staff"))
	for _, pw := range []string{"short1!", "onlyletterslong", "1234567890123", "staff-2026-pass"} {
		require.Error(t, CheckPasswordPolicy(pw, "staff"), pw)
	}
}

func TestRolesAndUsernames(t *testing.T) {
	rs, err := ParseRoles("staff, leader,staff")
	require.NoError(t, err)
	require.Equal(t, []Role{Staff, Leader}, rs)
	_, err = ParseRoles("staff,wizard")
	require.Error(t, err)
	_, err = ParseRoles(" , ")
	require.Error(t, err)
	u, err := NormalizeUsername(" Zhang.San ")
	require.NoError(t, err)
	require.Equal(t, "zhang.san", u)
	for _, bad := range []string{"a", "-lead", "有中文", "with space"} {
		_, err := NormalizeUsername(bad)
		require.Error(t, err, bad)
	}
}
