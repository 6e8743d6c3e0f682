// Package identity defines who acts in sciflow: organisations, the users who
// belong to them and the roles they hold (DOMAIN.md, "Who uses the system").
package identity

import (
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sciflow/sciflow/internal/errs"
)

// OrgKind is what sort of organisation an Org is.
type OrgKind string

// The organisation kinds of DOMAIN.md.
const (
	Enterprise OrgKind = "enterprise"
	Institute  OrgKind = "institute" // university or research institute; dispatches envoys
	Employer   OrgKind = "employer"
	Bureau     OrgKind = "bureau"
	Village    OrgKind = "village" // a service target of envoys
)

// OrgKinds lists every kind, in a stable order.
var OrgKinds = []OrgKind{Enterprise, Institute, Employer, Bureau, Village}

// ParseOrgKind checks s against the known kinds.
func ParseOrgKind(s string) (OrgKind, error) {
	k := OrgKind(strings.TrimSpace(s))
	if !slices.Contains(OrgKinds, k) {
		return "", errs.E(errs.Invalid, "未知的单位类型："+s, "unknown organisation kind: "+s).
			Field("kind", "应为 enterprise、institute、employer、bureau 或 village", "must be enterprise, institute, employer, bureau or village")
	}
	return k, nil
}

// Role is what a user may do.
type Role string

// The roles of DOMAIN.md.
const (
	Applicant    Role = "applicant"     // 申报单位/申报人
	UnitReviewer Role = "unit_reviewer" // 推荐单位/主管部门
	Staff        Role = "staff"         // 科技局经办人
	Expert       Role = "expert"        // 评审专家
	Leader       Role = "leader"        // 局长办公会
	Auditor      Role = "auditor"       // 纪检监察/审计
	Admin        Role = "admin"         // 系统管理员; approves nothing
)

// Party is not a role anyone holds: it is how the people of an
// application's third organisation (an envoy's service target) see it, and
// a workflow's events may name it among their roles.
const Party Role = "party"

// Roles lists every role, in a stable order.
var Roles = []Role{Applicant, UnitReviewer, Staff, Expert, Leader, Auditor, Admin}

// ParseRoles reads a comma-separated role list.
func ParseRoles(s string) ([]Role, error) {
	var out []Role
	for _, part := range strings.Split(s, ",") {
		r := Role(strings.TrimSpace(part))
		if r == "" {
			continue
		}
		if !slices.Contains(Roles, r) {
			return nil, errs.E(errs.Invalid, "未知的角色："+string(r), "unknown role: "+string(r)).
				Field("roles", "未知的角色："+string(r), "unknown role: "+string(r))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, errs.E(errs.Invalid, "至少需要一个角色", "at least one role is required").
			Field("roles", "至少需要一个角色", "at least one role is required")
	}
	return out, nil
}

// Org is an organisation.
type Org struct {
	ID         string
	Name       string
	Kind       OrgKind
	ParentID   string // empty at the top
	CreditCode string // 统一社会信用代码, for organisations that registered with one
	Created    time.Time
}

// User is a person with an account.
type User struct {
	ID       string
	Username string
	Name     string
	OrgID    string
	Roles    []Role
	Disabled bool
	// Individual accounts (a person who registered alone) see only their
	// own applications, not everything of their organisation's.
	Individual      bool
	Phone           string
	Email           string // where notifications are mailed, in NormalizeEmail's form; empty: none given
	PasswordChanged time.Time
	Created         time.Time
}

// Has reports whether u holds role r.
func (u User) Has(r Role) bool { return slices.Contains(u.Roles, r) }

// NormalizeUsername lower-cases and trims a username, and checks its shape:
// 2-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.
func NormalizeUsername(s string) (string, error) {
	u := strings.ToLower(strings.TrimSpace(s))
	ok := len(u) >= 2 && len(u) <= 64
	for i, c := range u {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._-", c)) {
			ok = false
		}
	}
	if !ok {
		return "", errs.E(errs.Invalid, "用户名格式不正确", "invalid username").
			Field("username", "2-64 位小写字母、数字或 . _ -，以字母或数字开头", "2-64 of a-z, 0-9, . _ -, starting with a letter or digit")
	}
	return u, nil
}

// MaxEmailBytes is the longest address accepted: SMTP allows a path of 256
// octets with its angle brackets (RFC 5321), and the users table enforces it.
const MaxEmailBytes = 254

// NormalizeEmail trims an e-mail address, lower-cases its domain (the local
// part is the receiving server's to interpret, so its case stays) and checks
// that it is one bare address: at most 254 bytes, a single @, a dot in the
// domain, no spaces or control characters and no display name. An empty
// string is no address and no error, for the address is optional.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	bad := func(zh, en string) error {
		return errs.E(errs.Invalid, "电子邮件地址无效", "invalid e-mail address").Field("email", zh, en)
	}
	badShape := func() error {
		return bad("请填写有效的电子邮件地址，如 name@example.com", "must be an e-mail address such as name@example.com")
	}
	tooLong := func() error {
		return bad("电子邮件地址不能超过 254 字节", "the e-mail address must not exceed 254 bytes")
	}
	if len(s) > MaxEmailBytes {
		return "", tooLong()
	}
	addr, err := mail.ParseAddress(s)
	if err != nil {
		return "", badShape()
	}
	// "张三 <a@b.cn>" parses, but the account's name is already what mail
	// is addressed to (notify sends it as the display name); a second name
	// here could only disagree with it.
	if addr.Name != "" {
		return "", bad("只填写地址本身，不含姓名或尖括号", "only the address itself, without a name or angle brackets")
	}
	if strings.IndexFunc(s, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) >= 0 {
		return "", badShape()
	}
	// Angle brackets, quoted local parts and comments parse to an address
	// that differs from what was typed; refusing them keeps what is stored
	// exactly what the person gave.
	if addr.Address != s || strings.Count(s, "@") != 1 {
		return "", badShape()
	}
	local, domain, _ := strings.Cut(s, "@")
	if !strings.Contains(domain, ".") {
		return "", badShape()
	}
	out := local + "@" + strings.ToLower(domain)
	if len(out) > MaxEmailBytes { // lower-casing can lengthen a few non-ASCII letters
		return "", tooLong()
	}
	return out, nil
}

// RoleStrings converts roles for storage.
func RoleStrings(rs []Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// CheckPasswordPolicy is the rule for real accounts: at least 10 characters,
// at least two kinds among letters, digits and symbols, and not built on the
// username.
func CheckPasswordPolicy(pw, username string) error {
	bad := func(zh, en string) error {
		return errs.E(errs.Invalid, zh, en).Field("password", zh, en)
	}
	if utf8.RuneCountInString(pw) < 10 {
		return bad("密码至少 10 个字符", "the password must have at least 10 characters")
	}
	if len(pw) > 256 {
		return bad("密码不能超过 256 字节", "the password must not exceed 256 bytes")
	}
	var letter, digit, other bool
	for _, c := range pw {
		switch {
		case unicode.IsLetter(c):
			letter = true
		case unicode.IsDigit(c):
			digit = true
		default:
			other = true
		}
	}
	kinds := 0
	for _, b := range []bool{letter, digit, other} {
		if b {
			kinds++
		}
	}
	if kinds < 2 {
		return bad("密码须包含字母、数字、符号中的至少两类", "the password must mix at least two of letters, digits and symbols")
	}
	if username != "" && strings.Contains(strings.ToLower(pw), strings.ToLower(username)) {
		return bad("密码不能包含用户名", "the password must not contain the username")
	}
	return nil
}

// creditCodeChars are the characters of a unified social credit code, in the
// order their values count (GB 32100-2015: no I, O, S, V, Z).
const creditCodeChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var creditCodeWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// NormalizeCreditCode upper-cases and checks a 统一社会信用代码: 18
// characters from the code's alphabet whose last one is the checksum of the
// other seventeen.
func NormalizeCreditCode(s string) (string, error) {
	code := strings.ToUpper(strings.TrimSpace(s))
	bad := errs.E(errs.Invalid, "统一社会信用代码无效", "invalid unified social credit code").
		Field("credit_code", "应为 18 位统一社会信用代码（校验位不符或含非法字符）", "must be an 18-character unified social credit code (wrong check character or invalid characters)")
	if len(code) != 18 {
		return "", bad
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(creditCodeChars, code[i])
		if v < 0 {
			return "", bad
		}
		sum += v * creditCodeWeights[i]
	}
	if creditCodeChars[(31-sum%31)%31] != code[17] {
		return "", bad
	}
	return code, nil
}

// residentIDWeights weigh the first 17 digits of a 居民身份证号码 (GB
// 11643-1999); residentIDChecks is the check character by the sum mod 11.
var residentIDWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const residentIDChecks = "10X98765432"

// ValidResidentID reports whether s is an 18-character resident ID whose
// birth date is a real past date and whose last character is the check of
// the other seventeen.
func ValidResidentID(s string, now time.Time) bool {
	s = strings.ToUpper(s)
	if len(s) != 18 {
		return false
	}
	sum := 0
	for i := 0; i < 17; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		sum += int(s[i]-'0') * residentIDWeights[i]
	}
	if residentIDChecks[sum%11] != s[17] {
		return false
	}
	born, err := time.Parse("20060102", s[6:14])
	return err == nil && born.Year() >= 1900 && born.Before(now)
}

// ValidCreditCode reports whether s is a unified social credit code with
// the right check character.
func ValidCreditCode(s string) bool {
	_, err := NormalizeCreditCode(s)
	return err == nil
}

var phoneNumber = regexp.MustCompile(`^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}(-[0-9]{1,6})?)$`)

// ValidPhone reports whether s is a mainland mobile number (11 digits) or a
// landline with its area code (023-55123456, with an extension or not).
func ValidPhone(s string) bool { return phoneNumber.MatchString(s) }
