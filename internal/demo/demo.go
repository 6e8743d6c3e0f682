// Package demo fills an empty installation with the demo county: Yunyang's
// bureau, a few enterprises, an institute, a village and one account for every
// role, so that a new user can try each programme at once.
package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"github.com/sciflow/sciflow/internal/account"
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

const bureauName = "云阳县科学技术局"

type orgSpec struct {
	name   string
	kind   identity.OrgKind
	parent string
}

// Organisations from the county's plan (../shared/seed): the bureau, the
// industry department that recommends enterprises, enterprises named in the
// plan, the research institute co-built with Chongqing University of Posts and
// Telecommunications, and a village served by envoys.
var orgs = []orgSpec{
	{bureauName, identity.Bureau, ""},
	{"云阳县经济和信息化委员会", identity.Bureau, ""},
	{"重庆三峡云海药业股份有限公司", identity.Enterprise, "云阳县经济和信息化委员会"},
	{"重庆锦艺新材料有限公司", identity.Enterprise, "云阳县经济和信息化委员会"},
	{"云阳县龙缸茶业有限公司", identity.Enterprise, ""},
	{"重庆邮电大学云阳产业技术研究院", identity.Institute, ""},
	{"云阳县人民医院", identity.Employer, ""},
	{"双土镇坪天村", identity.Village, ""},
}

type userSpec struct {
	username, name, org string
	roles               []identity.Role
	specialties         []string
}

var users = []userSpec{
	{"admin", "系统管理员", bureauName, []identity.Role{identity.Admin}, nil},
	{"staff", "李经办", bureauName, []identity.Role{identity.Staff}, nil},
	{"leader", "王局长", bureauName, []identity.Role{identity.Leader}, nil},
	{"auditor", "赵纪检", bureauName, []identity.Role{identity.Auditor}, nil},
	{"unit", "陈主任", "云阳县经济和信息化委员会", []identity.Role{identity.UnitReviewer}, nil},
	{"yunhai", "刘经理", "重庆三峡云海药业股份有限公司", []identity.Role{identity.Applicant}, nil},
	{"jinyi", "周工程师", "重庆锦艺新材料有限公司", []identity.Role{identity.Applicant}, nil},
	{"tea", "黄厂长", "云阳县龙缸茶业有限公司", []identity.Role{identity.Applicant}, nil},
	{"envoy", "孙研究员", "重庆邮电大学云阳产业技术研究院", []identity.Role{identity.Applicant}, nil},
	{"institute", "吴院长", "重庆邮电大学云阳产业技术研究院", []identity.Role{identity.UnitReviewer}, nil},
	{"hospital", "郑主任", "云阳县人民医院", []identity.Role{identity.UnitReviewer}, nil},
	{"expert1", "钱教授", "重庆邮电大学云阳产业技术研究院", []identity.Role{identity.Expert}, []string{"电子信息", "人工智能"}},
	{"expert2", "冯研究员", "重庆邮电大学云阳产业技术研究院", []identity.Role{identity.Expert}, []string{"电子信息"}},
	{"expert3", "何高工", "云阳县人民医院", []identity.Role{identity.Expert}, []string{"生物医药"}},
	{"expert4", "吕教授", "云阳县龙缸茶业有限公司", []identity.Role{identity.Expert}, []string{"茶叶加工", "农业"}},
	{"expert5", "施研究员", "重庆锦艺新材料有限公司", []identity.Role{identity.Expert}, []string{"新材料"}},
	{"expert6", "张高工", "重庆三峡云海药业股份有限公司", []identity.Role{identity.Expert}, []string{"生物医药", "中药"}},
}

// ErrSeeded says the demo data is already there.
var ErrSeeded = errors.New("demo data already present")

// Seed creates whichever demo organisations and users are missing, each new
// user with a fresh random password, and returns the new logins. Being
// idempotent per record, it also completes a seed that was interrupted. It
// returns ErrSeeded when there was nothing left to create.
func Seed(ctx context.Context, db *postgres.DB, accounts *account.Service) ([]Login, error) {
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
		created, err := accounts.CreateOrg(ctx, nil, identity.Org{Name: o.name, Kind: o.kind, ParentID: ids[o.parent]})
		if err != nil {
			return nil, fmt.Errorf("demo org %s: %w", o.name, err)
		}
		ids[o.name] = created.ID
	}
	var logins []Login
	for _, u := range users {
		_, err := db.UserByUsername(ctx, u.username)
		switch {
		case err == nil:
			continue
		case errs.CodeOf(err) != errs.NotFound:
			return nil, err
		}
		pw := password(u.username)
		nu := account.NewUser{User: identity.User{Username: u.username, Name: u.name, OrgID: ids[u.org], Roles: u.roles},
			Password: pw, Specialties: u.specialties}
		if _, err := accounts.CreateUser(ctx, nil, nu); err != nil {
			return nil, fmt.Errorf("demo user %s: %w", u.username, err)
		}
		logins = append(logins, Login{Username: u.username, Password: pw, Name: u.name, Roles: u.roles, Org: u.org})
	}
	if len(logins) == 0 {
		return nil, ErrSeeded
	}
	return logins, nil
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
