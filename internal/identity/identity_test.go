package identity

import (
	"strings"
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

func TestEmail(t *testing.T) {
	longest := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".cn" // 254 bytes
	require.Len(t, longest, MaxEmailBytes)
	for in, want := range map[string]string{
		"":                           "",
		"  ":                         "",
		"zhang.san@example.com":      "zhang.san@example.com",
		" Zhang.San@YunYang.GOV.cn ": "Zhang.San@yunyang.gov.cn", // the domain is lower-cased, the local part kept
		"张三@例子.中国":                   "张三@例子.中国",
		longest:                      longest,
	} {
		got, err := NormalizeEmail(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{
		"no-at-sign.example.com",
		"two@at@example.com",
		"a b@example.com",
		"ab@exa mple.com",
		"a\tb@example.com",
		"ab@example.com\x00",
		"A <a@b.cn>",
		"<a@b.cn>",
		`"a b"@example.com`,
		"a@b.cn (work)",
		"a@localhost",
		"a@example..com",
		"@example.com",
		"a@",
		longest + "n",
		strings.Repeat("x", 300),
	} {
		_, err := NormalizeEmail(in)
		require.Error(t, err, "%q", in)
		e := errs.As(err)
		require.Equal(t, errs.Invalid, e.Code, "%q", in)
		require.Contains(t, e.Fields, "email", "%q", in)
		require.NotEmpty(t, e.Fields["email"].Zh)
		require.NotEmpty(t, e.Fields["email"].En)
	}
	_, err := NormalizeEmail("A <a@b.cn>")
	require.Contains(t, errs.As(err).Fields["email"].En, "without a name", "a display name is named as the fault")
	_, err = NormalizeEmail(strings.Repeat("x", 300))
	require.Contains(t, errs.As(err).Fields["email"].En, "254 bytes")
}
