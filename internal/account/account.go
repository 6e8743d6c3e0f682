// Package account manages organisations and the people who act for them:
// creation by an administrator or the console, self-registration with its
// verification workflow, role changes, disabling, passwords and reset links.
// Every change is one transaction that ends with its audit-chain entry.
package account

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

// The registration workflow (workflows/org_verification.yaml) and the state
// in which an account counts as verified.
const (
	VerificationWorkflow = "org_verification"
	VerifiedState        = "verified"
)

// ResetTTL is how long a password reset link stays usable.
const ResetTTL = 24 * time.Hour

// Service is the account service.
type Service struct {
	db     *postgres.DB
	chain  *audit.Chain
	engine *engine.Engine
	secret []byte
	// Now is the clock; tests move it.
	Now func() time.Time
}

// New makes the service; secret keys reset-link hashes.
func New(db *postgres.DB, chain *audit.Chain, eng *engine.Engine, secret string) *Service {
	// The lock a submission takes reads the applicant's registration in
	// the same statement, so SubmitGate asks nothing more.
	db.SetRegistrationGate(postgres.RegistrationGate{Workflow: VerificationWorkflow, VerifiedState: VerifiedState})
	return &Service{db: db, chain: chain, engine: eng, secret: []byte(secret), Now: time.Now}
}

// An actor of nil is the operator at the console (the CLI), who holds the
// machine and therefore every right over accounts.
func requireAdmin(actor *identity.User) error {
	if actor == nil || actor.Has(identity.Admin) {
		return nil
	}
	return errs.E(errs.Forbidden, "仅系统管理员可管理账号和单位", "only administrators manage accounts and organisations")
}

// CreateOrg adds an organisation.
func (s *Service) CreateOrg(ctx context.Context, actor *identity.User, o identity.Org) (identity.Org, error) {
	if err := requireAdmin(actor); err != nil {
		return identity.Org{}, err
	}
	o.Name = strings.TrimSpace(o.Name)
	if o.Name == "" || len(o.Name) > 200 {
		return identity.Org{}, errs.E(errs.Invalid, "单位名称无效", "invalid organisation name").Field("name", "必填，不超过 200 字节", "required, at most 200 bytes")
	}
	if _, err := identity.ParseOrgKind(string(o.Kind)); err != nil {
		return identity.Org{}, err
	}
	if o.CreditCode != "" {
		code, err := identity.NormalizeCreditCode(o.CreditCode)
		if err != nil {
			return identity.Org{}, err
		}
		o.CreditCode = code
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return identity.Org{}, err
	}
	defer tx.Rollback()
	created, err := s.createOrg(ctx, tx, actor, o)
	if err != nil {
		return identity.Org{}, err
	}
	return created, tx.Commit()
}

func (s *Service) createOrg(ctx context.Context, tx *postgres.Tx, actor *identity.User, o identity.Org) (identity.Org, error) {
	if o.ParentID != "" {
		parent, err := tx.OrgByRef(ctx, o.ParentID)
		if err != nil {
			return identity.Org{}, errs.E(errs.Invalid, "上级单位不存在", "the parent organisation does not exist").Field("parent", "不存在", "does not exist")
		}
		o.ParentID = parent.ID
	}
	if o.CreditCode != "" {
		taken, err := tx.CreditCodeTaken(ctx, o.CreditCode)
		if err != nil {
			return identity.Org{}, err
		}
		if taken {
			return identity.Org{}, errs.E(errs.Invalid, "该统一社会信用代码已注册", "this credit code is already registered").
				Field("credit_code", "已注册", "already registered")
		}
	}
	created, err := tx.CreateOrg(ctx, o)
	if errs.CodeOf(err) == errs.Conflict {
		return identity.Org{}, errs.E(errs.Invalid, "同名单位已存在", "an organisation of that name exists").Field("name", "已存在", "already exists")
	}
	if err != nil {
		return identity.Org{}, err
	}
	_, err = s.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindOrgCreate, ActorID: audit.ActorID(actor), Subject: created.ID,
		Data: map[string]any{"name": created.Name, "kind": string(created.Kind), "parent_id": created.ParentID,
			"credit_code": created.CreditCode, "via": audit.Via(actor)}})
	return created, err
}

// NewUser is an account to create.
type NewUser struct {
	identity.User
	Password     string
	Specialties  []string
	ConflictOrgs []string // organisations an expert must never review, by id or name
}

// CreateUser adds an account.
func (s *Service) CreateUser(ctx context.Context, actor *identity.User, n NewUser) (identity.User, error) {
	if err := requireAdmin(actor); err != nil {
		return identity.User{}, err
	}
	u, err := s.checkNewUser(n)
	if err != nil {
		return identity.User{}, err
	}
	hash, err := auth.HashPassword(n.Password)
	if err != nil {
		return identity.User{}, err
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return identity.User{}, err
	}
	defer tx.Rollback()
	org, err := tx.OrgByRef(ctx, u.OrgID)
	if err != nil {
		return identity.User{}, errs.E(errs.Invalid, "所属单位不存在", "the organisation does not exist").Field("org", "不存在", "does not exist")
	}
	u.OrgID = org.ID
	created, err := s.createUser(ctx, tx, actor, u, hash, audit.Via(actor), nil)
	if err != nil {
		return identity.User{}, err
	}
	if err := s.setExpertProfile(ctx, tx, created, n.Specialties, n.ConflictOrgs); err != nil {
		return identity.User{}, err
	}
	return created, tx.Commit()
}

func (s *Service) checkNewUser(n NewUser) (identity.User, error) {
	u := n.User
	username, err := identity.NormalizeUsername(u.Username)
	if err != nil {
		return u, err
	}
	u.Username = username
	u.Name = strings.TrimSpace(u.Name)
	if u.Name == "" || len(u.Name) > 100 {
		return u, errs.E(errs.Invalid, "姓名无效", "invalid name").Field("name", "必填，不超过 100 字节", "required, at most 100 bytes")
	}
	if err := checkRoles(u.Roles); err != nil {
		return u, err
	}
	if u.Email, err = identity.NormalizeEmail(u.Email); err != nil {
		return u, err
	}
	if err := identity.CheckPasswordPolicy(n.Password, u.Username); err != nil {
		return u, err
	}
	if (len(n.Specialties) > 0 || len(n.ConflictOrgs) > 0) && !u.Has(identity.Expert) {
		return u, errs.E(errs.Invalid, "只有评审专家有专业领域和回避单位", "only experts have specialties and conflicts").
			Field("specialties", "仅限评审专家", "experts only")
	}
	return u, nil
}

// checkRoles enforces separation of duties at the account level: the
// administrator and the auditor hold no other role.
func checkRoles(roles []identity.Role) error {
	if len(roles) == 0 {
		return errs.E(errs.Invalid, "至少需要一个角色", "at least one role is required").Field("roles", "必填", "required")
	}
	for _, r := range roles {
		if !slices.Contains(identity.Roles, r) {
			return errs.E(errs.Invalid, "未知的角色："+string(r), "unknown role: "+string(r)).Field("roles", "未知的角色", "unknown role")
		}
	}
	for _, alone := range []identity.Role{identity.Admin, identity.Auditor} {
		if slices.Contains(roles, alone) && len(roles) > 1 {
			return errs.E(errs.Invalid, "系统管理员和审计人员不能兼任其他角色", "administrators and auditors may hold no other role").
				Field("roles", string(alone)+" 须单独授予", string(alone)+" must stand alone")
		}
	}
	return nil
}

func (s *Service) createUser(ctx context.Context, tx *postgres.Tx, actor *identity.User, u identity.User, hash, how string, extra map[string]any) (identity.User, error) {
	created, err := tx.CreateUser(ctx, u, hash)
	if errs.CodeOf(err) == errs.Conflict {
		return identity.User{}, errs.E(errs.Invalid, "用户名已被使用", "the username is taken").Field("username", "已被使用", "taken")
	}
	if err != nil {
		return identity.User{}, err
	}
	data := map[string]any{"username": created.Username, "roles": identity.RoleStrings(created.Roles), "org_id": created.OrgID,
		"individual": created.Individual, "via": how}
	// The address decides where notifications go, so the trail shows where
	// they went from the start, as it shows every later change.
	if created.Email != "" {
		data["email"] = created.Email
	}
	for k, v := range extra {
		data[k] = v
	}
	_, err = s.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindUserCreate, ActorID: audit.ActorID(actor), Subject: created.ID, Data: data})
	return created, err
}

func (s *Service) setExpertProfile(ctx context.Context, tx *postgres.Tx, u identity.User, specialties, conflicts []string) error {
	if !u.Has(identity.Expert) {
		return nil
	}
	p := postgres.ExpertProfile{}
	for _, sp := range specialties {
		if sp = strings.TrimSpace(sp); sp != "" {
			p.Specialties = append(p.Specialties, sp)
		}
	}
	for _, ref := range conflicts {
		org, err := tx.OrgByRef(ctx, strings.TrimSpace(ref))
		if err != nil {
			return errs.E(errs.Invalid, "回避单位不存在："+ref, "conflict organisation not found: "+ref).Field("conflicts", "不存在："+ref, "not found: "+ref)
		}
		p.ConflictOrgs = append(p.ConflictOrgs, org.ID)
	}
	return tx.SetExpertProfile(ctx, u.ID, p)
}

// UserChange is an administrator's change to an account; nil fields stay.
type UserChange struct {
	Name         *string
	Roles        []identity.Role
	Disabled     *bool
	Email        *string // an empty string removes the address
	Specialties  []string
	ConflictOrgs []string
	ExpertSet    bool // Specialties and ConflictOrgs are given
}

// UpdateUser changes an account's name, roles, disabled state, e-mail
// address or expert profile. Administrators cannot change their own roles or
// disable themselves: someone else must.
func (s *Service) UpdateUser(ctx context.Context, actor *identity.User, ref string, ch UserChange) (identity.User, error) {
	if err := requireAdmin(actor); err != nil {
		return identity.User{}, err
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return identity.User{}, err
	}
	defer tx.Rollback()
	u, err := tx.LockUser(ctx, ref)
	if err != nil {
		return identity.User{}, err
	}
	before := u
	if actor != nil && actor.ID == u.ID && (ch.Roles != nil || ch.Disabled != nil) {
		return identity.User{}, errs.E(errs.Forbidden, "不能修改自己的角色或停用自己", "you cannot change your own roles or disable yourself")
	}
	if ch.Name != nil {
		name := strings.TrimSpace(*ch.Name)
		if name == "" || len(name) > 100 {
			return identity.User{}, errs.E(errs.Invalid, "姓名无效", "invalid name").Field("name", "必填，不超过 100 字节", "required, at most 100 bytes")
		}
		u.Name = name
	}
	if ch.Roles != nil {
		if err := checkRoles(ch.Roles); err != nil {
			return identity.User{}, err
		}
		u.Roles = ch.Roles
	}
	if ch.Disabled != nil {
		u.Disabled = *ch.Disabled
	}
	if ch.Email != nil {
		email, err := identity.NormalizeEmail(*ch.Email)
		if err != nil {
			return identity.User{}, err
		}
		u.Email = email
	}
	now := s.Now()
	if err := tx.UpdateUser(ctx, u, now); err != nil {
		return identity.User{}, err
	}
	// A change of roles alone keeps an expert's specialties and conflicts;
	// someone made an expert gets an (empty) profile to fill in.
	if ch.ExpertSet || !before.Has(identity.Expert) && u.Has(identity.Expert) {
		if err := s.setExpertProfile(ctx, tx, u, ch.Specialties, ch.ConflictOrgs); err != nil {
			return identity.User{}, err
		}
	}
	data := map[string]any{"username": u.Username,
		"roles_before": identity.RoleStrings(before.Roles), "roles": identity.RoleStrings(u.Roles),
		"disabled_before": before.Disabled, "disabled": u.Disabled, "name": u.Name, "via": audit.Via(actor)}
	// Both addresses are recorded, not merely "changed": whoever pointed
	// someone's notifications elsewhere must be traceable to where. Only
	// administrators and auditors read the chain. An unchanged address is
	// left out so as not to copy it into every entry.
	if u.Email != before.Email {
		data["email_before"], data["email"] = before.Email, u.Email
	}
	_, err = s.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindUserChange, AtMicros: now.UnixMicro(), ActorID: audit.ActorID(actor),
		Subject: u.ID, Data: data})
	if err != nil {
		return identity.User{}, err
	}
	return u, tx.Commit()
}

// SetPassword replaces a user's password (the console's `user passwd`),
// signing them out everywhere.
func (s *Service) SetPassword(ctx context.Context, actor *identity.User, ref, password string) error {
	if err := requireAdmin(actor); err != nil {
		return err
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	u, err := tx.LockUser(ctx, ref)
	if err != nil {
		return err
	}
	if err := s.setPassword(ctx, tx, actor, u, password, "set"); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Service) setPassword(ctx context.Context, tx *postgres.Tx, actor *identity.User, u identity.User, password, how string) error {
	if err := identity.CheckPasswordPolicy(password, u.Username); err != nil {
		return err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	now := s.Now()
	if err := tx.SetPasswordHash(ctx, u.ID, hash, now); err != nil {
		return err
	}
	_, err = s.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindUserChange, AtMicros: now.UnixMicro(), ActorID: audit.ActorID(actor),
		Subject: u.ID, Data: map[string]any{"username": u.Username, "password": how}})
	return err
}

// IssueReset makes a one-time reset link token for a user, for an
// administrator to hand over (e-mail may be off). Only its hash is stored.
func (s *Service) IssueReset(ctx context.Context, actor *identity.User, ref string) (token string, expires time.Time, err error) {
	if err := requireAdmin(actor); err != nil {
		return "", time.Time{}, err
	}
	token, err = auth.RandomToken()
	if err != nil {
		return "", time.Time{}, err
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	defer tx.Rollback()
	u, err := tx.LockUser(ctx, ref)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.Now()
	expires = now.Add(ResetTTL)
	if err := tx.InsertPasswordReset(ctx, s.resetHash(token), u.ID, expires); err != nil {
		return "", time.Time{}, err
	}
	_, err = s.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindUserChange, AtMicros: now.UnixMicro(), ActorID: audit.ActorID(actor),
		Subject: u.ID, Data: map[string]any{"username": u.Username, "password": "reset link issued"}})
	if err != nil {
		return "", time.Time{}, err
	}
	return token, expires, tx.Commit()
}

// ResetPassword spends a reset link on a new password.
func (s *Service) ResetPassword(ctx context.Context, token, password string) (identity.User, error) {
	invalid := errs.E(errs.Invalid, "重置链接无效或已过期", "the reset link is invalid or has expired").Field("token", "无效或已过期", "invalid or expired")
	if token == "" || len(token) > 100 {
		return identity.User{}, invalid
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return identity.User{}, err
	}
	defer tx.Rollback()
	id, err := tx.UsePasswordReset(ctx, s.resetHash(token), s.Now())
	if errs.CodeOf(err) == errs.NotFound {
		return identity.User{}, invalid
	}
	if err != nil {
		return identity.User{}, err
	}
	u, err := tx.LockUser(ctx, id)
	if err != nil {
		return identity.User{}, err
	}
	if err := s.setPassword(ctx, tx, &u, u, password, "reset by link"); err != nil {
		return identity.User{}, err
	}
	return u, tx.Commit()
}

func (s *Service) resetHash(token string) []byte {
	return auth.Digest(s.secret, "password reset", token)
}

// SubmitGate refuses submissions from a self-registered account whose
// registration is not yet verified; the engine calls it in the firing
// transaction. Accounts an administrator created are trusted as they are.
func (s *Service) SubmitGate(ctx context.Context, tx *postgres.Tx, actor *identity.User) error {
	pending, err := tx.UnverifiedRegistration(ctx, actor.ID, VerificationWorkflow, VerifiedState)
	if err != nil {
		return err
	}
	if pending {
		return errs.E(errs.Forbidden, "您的账号尚未通过认证，暂不能提交；可先保存草稿", "your account is not verified yet: you may save drafts but not submit")
	}
	return nil
}
