// Package demo fills an empty installation with the demo county, Yunyang:
// its bureau, enterprises, institutes, a hospital, a village and a
// co-operative, an account for every role, and the three programmes under
// way (揭榜挂帅 challenges and applications at every stage, envoys with
// their service logs and assessment, talents in four tiers), played through
// the engine as the people concerned would have done it. The organisations
// are those the county's plan names, with a co-operative and the expert
// pool's research bodies made up; every person and project is made up.
package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

// Login is a demo account and its generated password.
type Login struct {
	Username string
	Password string
	Name     string
	Roles    []identity.Role
	Org      string
}

const (
	bureauName    = "云阳县科学技术局"
	instituteName = "重庆邮电大学云阳产业技术研究院"
	hospitalName  = "云阳县人民医院"
	villageName   = "双土镇坪天村"
	coopName      = "云阳县红狮镇脐橙种植专业合作社"
)

type orgSpec struct {
	name   string
	kind   identity.OrgKind
	parent string
	// creditKind and creditBody make the 统一社会信用代码 (creditCode):
	// the kind (91 an enterprise, 12 a public institution, 93 a
	// co-operative, 11 an organ of government) and the organisation code's
	// first eight characters; empty: no code.
	creditKind, creditBody string
}

// Organisations from the county's plan (../shared/seed): the bureau, the
// industry department that recommends enterprises, enterprises named in the
// plan, the research institute co-built with Chongqing University of Posts and
// Telecommunications, the county hospital, a village and a co-operative
// served by envoys, and the research bodies outside the county where the
// expert pool's reviewers work.
var orgs = []orgSpec{
	{bureauName, identity.Bureau, "", "11", "00923501"},
	{"云阳县经济和信息化委员会", identity.Bureau, "", "11", "00923502"},
	{"重庆三峡云海药业股份有限公司", identity.Enterprise, "云阳县经济和信息化委员会", "91", "MA5U3Y61"},
	{"重庆锦艺新材料有限公司", identity.Enterprise, "云阳县经济和信息化委员会", "91", "MA60JK28"},
	{"云阳县龙缸茶业有限公司", identity.Enterprise, "", "91", "MA5YQ0D7"},
	{instituteName, identity.Institute, "", "12", "MB1K5523"},
	{hospitalName, identity.Employer, "", "12", "45092358"},
	{villageName, identity.Village, "", "", ""},
	{coopName, identity.Enterprise, "", "93", "MA61CR4X"},
	{"渝东北新材料研究所", identity.Institute, "", "", ""},
	{"三峡库区中医药研究所", identity.Institute, "", "", ""},
	{"长江上游化工技术研究中心", identity.Institute, "", "", ""},
}

// orgCredit is the credit code of a demo organisation, as its forms give it.
func orgCredit(name string) string {
	for _, o := range orgs {
		if o.name == name && o.creditBody != "" {
			return creditCode(o.creditKind, o.creditBody)
		}
	}
	return ""
}

type userSpec struct {
	username, name, org string
	roles               []identity.Role
	specialties         []string
	// individual: a person who applies for themselves with their employer
	// (an envoy candidate, a talent), who sees only their own applications.
	individual bool
	phone      string
}

var (
	applicant = []identity.Role{identity.Applicant}
	expert    = []identity.Role{identity.Expert}
)

// users are the demo's people. Experts are drawn five to a panel by
// specialty, never from the applicant's organisation, so each field the
// challenges name has at least five outside every applicant.
var users = []userSpec{
	{username: "admin", name: "系统管理员", org: bureauName, roles: []identity.Role{identity.Admin}},
	{username: "staff", name: "李经办", org: bureauName, roles: []identity.Role{identity.Staff}},
	{username: "leader", name: "王局长", org: bureauName, roles: []identity.Role{identity.Leader}},
	{username: "auditor", name: "赵纪检", org: bureauName, roles: []identity.Role{identity.Auditor}},
	{username: "unit", name: "陈主任", org: "云阳县经济和信息化委员会", roles: []identity.Role{identity.UnitReviewer}},
	{username: "yunhai", name: "刘经理", org: "重庆三峡云海药业股份有限公司", roles: applicant},
	{username: "jinyi", name: "周工程师", org: "重庆锦艺新材料有限公司", roles: applicant},
	{username: "tea", name: "黄厂长", org: "云阳县龙缸茶业有限公司", roles: applicant},
	{username: "envoy", name: "孙研究员", org: instituteName, roles: applicant, individual: true, phone: mobile(21)},
	{username: "institute", name: "吴院长", org: instituteName, roles: []identity.Role{identity.UnitReviewer}},
	{username: "hospital", name: "郑主任", org: hospitalName, roles: []identity.Role{identity.UnitReviewer}},
	{username: "expert1", name: "钱教授", org: instituteName, roles: expert, specialties: []string{"电子信息", "人工智能"}},
	{username: "expert2", name: "冯研究员", org: instituteName, roles: expert, specialties: []string{"电子信息", "新材料"}},
	{username: "expert3", name: "何高工", org: hospitalName, roles: expert, specialties: []string{"生物医药"}},
	{username: "expert4", name: "吕教授", org: "云阳县龙缸茶业有限公司", roles: expert, specialties: []string{"茶叶加工", "农业", "生物医药"}},
	{username: "expert5", name: "施研究员", org: "重庆锦艺新材料有限公司", roles: expert, specialties: []string{"新材料"}},
	{username: "expert6", name: "张高工", org: "重庆三峡云海药业股份有限公司", roles: expert, specialties: []string{"生物医药", "中药"}},
	{username: "keyan", name: "马处长", org: instituteName, roles: applicant},
	{username: "pingtian", name: "谭书记", org: villageName, roles: applicant},
	{username: "coop", name: "冉理事长", org: coopName, roles: applicant},
	{username: "envoy2", name: "谭晓雯", org: instituteName, roles: applicant, individual: true, phone: mobile(22)},
	{username: "envoy3", name: "冉志刚", org: instituteName, roles: applicant, individual: true, phone: mobile(23)},
	{username: "taojg", name: "陶建国", org: hospitalName, roles: applicant, individual: true, phone: mobile(31)},
	{username: "huangzy", name: "黄志远", org: hospitalName, roles: applicant, individual: true, phone: mobile(32)},
	{username: "liusy", name: "刘思远", org: instituteName, roles: applicant, individual: true, phone: mobile(33)},
	{username: "zhouxq", name: "周小琴", org: hospitalName, roles: applicant, individual: true, phone: mobile(34)},
	{username: "xincai1", name: "邓研究员", org: "渝东北新材料研究所", roles: expert, specialties: []string{"新材料"}},
	{username: "xincai2", name: "蒋高工", org: "渝东北新材料研究所", roles: expert, specialties: []string{"新材料"}},
	{username: "xincai3", name: "罗教授", org: "渝东北新材料研究所", roles: expert, specialties: []string{"新材料", "化工"}},
	{username: "yiyao1", name: "牟主任药师", org: "三峡库区中医药研究所", roles: expert, specialties: []string{"生物医药", "中药"}},
	{username: "yiyao2", name: "唐研究员", org: "三峡库区中医药研究所", roles: expert, specialties: []string{"生物医药"}},
	{username: "huagong1", name: "袁教授", org: "长江上游化工技术研究中心", roles: expert, specialties: []string{"化工", "新材料", "生物医药"}},
	{username: "huagong2", name: "程高工", org: "长江上游化工技术研究中心", roles: expert, specialties: []string{"化工", "新材料", "生物医药"}},
}

// ErrSeeded says the demo data is already there.
var ErrSeeded = errors.New("demo data already present")

// Seed creates whichever demo organisations and users are missing, each new
// user with a fresh random password, then, unless they exist already, the
// programmes' applications, and returns the new logins. Being idempotent per
// organisation and user, it also completes a seed that was interrupted
// there; the programme data is made once, as a whole (an interruption in
// the middle of it is not resumed). It returns ErrSeeded when there was
// nothing left to create, and the new logins with any error in the
// programme data.
//
// The programme data is played on the engine's clock, set back to the
// months it covers and restored afterwards: call Seed before the engine
// serves anyone, and not while a server works the same database's job
// queue (it would fire the back-dated timers at once, out of the story's
// order). Its present is whatever the engine's clock said when it began.
func Seed(ctx context.Context, db *postgres.DB, accounts *account.Service, eng *engine.Engine) ([]Login, error) {
	ids := map[string]string{}
	for _, o := range orgs {
		existing, err := db.OrgByRef(ctx, o.name)
		switch {
		case err == nil:
			ids[o.name] = existing.ID
			continue
		case errs.CodeOf(err) != errs.NotFound:
			return nil, err
		}
		org := identity.Org{Name: o.name, Kind: o.kind, ParentID: ids[o.parent]}
		if o.creditBody != "" {
			org.CreditCode = creditCode(o.creditKind, o.creditBody)
		}
		created, err := accounts.CreateOrg(ctx, nil, org)
		if err != nil {
			return nil, fmt.Errorf("demo org %s: %w", o.name, err)
		}
		ids[o.name] = created.ID
	}
	var logins []Login
	people := map[string]*identity.User{}
	for _, u := range users {
		existing, err := db.UserByUsername(ctx, u.username)
		switch {
		case err == nil:
			people[u.username] = &existing
			continue
		case errs.CodeOf(err) != errs.NotFound:
			return nil, err
		}
		pw := password(u.username)
		nu := account.NewUser{User: identity.User{Username: u.username, Name: u.name, OrgID: ids[u.org], Roles: u.roles,
			Individual: u.individual, Phone: u.phone}, Password: pw, Specialties: u.specialties}
		created, err := accounts.CreateUser(ctx, nil, nu)
		if err != nil {
			return logins, fmt.Errorf("demo user %s: %w", u.username, err)
		}
		people[u.username] = &created
		logins = append(logins, Login{Username: u.username, Password: pw, Name: u.name, Roles: u.roles, Org: u.org})
	}
	made, err := seedProgrammes(ctx, db, eng, ids, people)
	if err != nil {
		// The new accounts stay, and their passwords exist only here.
		return logins, err
	}
	if len(logins) == 0 && !made {
		return nil, ErrSeeded
	}
	return logins, nil
}

// seedProgrammes plays the programmes' stories unless the demo's first
// challenge exists, and reports whether it did.
func seedProgrammes(ctx context.Context, db *postgres.DB, eng *engine.Engine, orgIDs map[string]string, people map[string]*identity.User) (bool, error) {
	existing, _, err := db.Applications(ctx, nil, postgres.ApplicationFilter{Workflow: "jiebang_challenge", Query: markerTitle, Limit: 1})
	if err != nil {
		return false, err
	}
	if len(existing) > 0 {
		return false, nil
	}
	s := &seeder{ctx: ctx, db: db, eng: eng, cal: calendar.New(), users: people, orgs: orgIDs, now: eng.Now()}
	restore := eng.Now
	eng.Now = func() time.Time { return s.clock }
	defer func() { eng.Now = restore }()
	s.jiebang()
	s.envoys()
	s.talents()
	return true, s.run()
}

// password makes a 12-character password without look-alike characters
// that passes the password policy.
func password(username string) string {
	const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	for {
		b := make([]byte, 12)
		for i := range b {
			n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
			b[i] = alphabet[n.Int64()]
		}
		if identity.CheckPasswordPolicy(string(b), username) == nil {
			return string(b)
		}
	}
}
