package account

import (
	"context"
	"regexp"
	"strings"
	"time"

	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

// Kinds of self-registration.
const (
	RegisterEnterprise = "enterprise"
	RegisterIndividual = "individual"
)

// Registration is what someone fills in to open an account themselves.
type Registration struct {
	Kind     string // enterprise or individual
	Username string
	Password string
	Name     string // the contact person, or the individual
	Phone    string
	Email    string // optional: where notifications are mailed
	// Enterprise: its name, credit code and (optionally) the unit that
	// recommends it, which may then verify it.
	OrgName    string
	CreditCode string
	Parent     string
	// Individual: the employer, which verifies the person's employment.
	Employer string
	// Address is where the registration came from, for throttling; it is
	// recorded in the audit entry.
	Address string
}

// Registrations from one address are limited, so that nobody can fill the
// bureau's queue with made-up enterprises.
const (
	RegistrationWindow = time.Hour
	MaxRegistrations   = 10
)

var phonePattern = regexp.MustCompile(`^[0-9+ -]{6,20}$`)

// Register opens an account that can draft at once and submit once its
// registration (an org_verification application) is verified by the bureau
// or by the unit it named. The organisation, the account and the
// application are created together or not at all.
func (s *Service) Register(ctx context.Context, r Registration) (identity.User, engine.Application, error) {
	var none identity.User
	if _, ok := s.engine.Current(VerificationWorkflow); !ok {
		return none, engine.Application{}, errs.E(errs.NotFound, "本系统未开放自助注册", "self-registration is not enabled here")
	}
	bad := errs.E(errs.Invalid, "注册信息有误", "the registration has errors")
	r.Name, r.Phone = strings.TrimSpace(r.Name), strings.TrimSpace(r.Phone)
	r.OrgName, r.Employer = strings.TrimSpace(r.OrgName), strings.TrimSpace(r.Employer)
	username, err := identity.NormalizeUsername(r.Username)
	if err != nil {
		bad.Field("username", "2-64 位小写字母、数字或 . _ -", "2-64 of a-z, 0-9, . _ -")
	}
	if err := identity.CheckPasswordPolicy(r.Password, username); err != nil {
		f := errs.As(err).Fields["password"]
		bad.Field("password", f.Zh, f.En)
	}
	if r.Name == "" || len(r.Name) > 100 {
		bad.Field("name", "必填，不超过 100 字节", "required, at most 100 bytes")
	}
	if !phonePattern.MatchString(r.Phone) {
		bad.Field("phone", "请填写有效的电话号码", "a valid phone number is required")
	}
	email, err := identity.NormalizeEmail(r.Email)
	if err != nil {
		f := errs.As(err).Fields["email"]
		bad.Field("email", f.Zh, f.En)
	}
	switch r.Kind {
	case RegisterEnterprise:
		if r.OrgName == "" || len(r.OrgName) > 200 {
			bad.Field("org_name", "必填，不超过 200 字节", "required, at most 200 bytes")
		}
		if code, err := identity.NormalizeCreditCode(r.CreditCode); err != nil {
			f := errs.As(err).Fields["credit_code"]
			bad.Field("credit_code", f.Zh, f.En)
		} else {
			r.CreditCode = code
		}
	case RegisterIndividual:
		if r.Employer == "" || len(r.Employer) > 200 {
			bad.Field("employer", "必填，不超过 200 字节", "required, at most 200 bytes")
		}
	default:
		bad.Field("kind", "应为 enterprise 或 individual", "must be enterprise or individual")
	}
	if len(bad.Fields) > 0 {
		return none, engine.Application{}, bad
	}
	now := s.Now()
	count, oldest, err := s.db.RecentRegistrations(ctx, r.Address, now.Add(-RegistrationWindow))
	if err != nil {
		return none, engine.Application{}, err
	}
	if count >= MaxRegistrations {
		e := errs.E(errs.TooMany, "注册过于频繁，请稍后再试", "too many registrations from here; try again later")
		e.RetryAfter = max(oldest.Add(RegistrationWindow).Sub(now), time.Second)
		return none, engine.Application{}, e
	}
	hash, err := auth.HashPassword(r.Password)
	if err != nil {
		return none, engine.Application{}, err
	}

	tx, err := s.db.Begin(ctx)
	if err != nil {
		return none, engine.Application{}, err
	}
	defer tx.Rollback()
	u := identity.User{Username: username, Name: r.Name, Phone: r.Phone, Email: email, Roles: []identity.Role{identity.Applicant}}
	data := map[string]any{"contact_name": r.Name, "contact_phone": r.Phone}
	switch r.Kind {
	case RegisterEnterprise:
		org, err := s.createOrg(ctx, tx, nil, identity.Org{Name: r.OrgName, Kind: identity.Enterprise,
			CreditCode: r.CreditCode, ParentID: strings.TrimSpace(r.Parent)})
		if err != nil {
			return none, engine.Application{}, err
		}
		u.OrgID = org.ID
		data["org_name"], data["credit_code"] = org.Name, org.CreditCode
	case RegisterIndividual:
		// The person joins their employer when it is known, and sees only
		// their own applications there; an unknown employer is created and
		// checked by the bureau with the person.
		org, err := tx.OrgByRef(ctx, r.Employer)
		if errs.CodeOf(err) == errs.NotFound {
			org, err = s.createOrg(ctx, tx, nil, identity.Org{Name: r.Employer, Kind: identity.Employer})
		}
		if err != nil {
			return none, engine.Application{}, err
		}
		u.OrgID, u.Individual = org.ID, true
		data["org_name"], data["employer"] = org.Name, org.Name
	}
	created, err := s.createUser(ctx, tx, nil, u, hash, "registration", map[string]any{"address": r.Address})
	if err != nil {
		return none, engine.Application{}, err
	}
	app, err := s.engine.CreateIn(ctx, tx, &created, engine.CreateInput{Workflow: VerificationWorkflow, Data: data})
	if err != nil {
		return none, engine.Application{}, err
	}
	if err := tx.Commit(); err != nil {
		return none, engine.Application{}, err
	}
	return created, app, nil
}
