package account

import (
	"context"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

// MoveUser puts an account under another organisation: a person who changed
// employer, or an account made under the wrong unit. What the account sees
// and reviews follows its organisation (a unit reviewer's scope, an
// applicant's own applications), so the entry records where it was and
// where it went. Moving to the same organisation changes and records
// nothing.
func (s *Service) MoveUser(ctx context.Context, actor *identity.User, ref, orgRef string) (identity.User, error) {
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
	org, err := tx.OrgByRef(ctx, orgRef)
	if errs.CodeOf(err) == errs.NotFound {
		return identity.User{}, errs.E(errs.Invalid, "所属单位不存在", "the organisation does not exist").Field("org", "不存在", "does not exist")
	}
	if err != nil {
		return identity.User{}, err
	}
	if org.ID == u.OrgID {
		return u, nil
	}
	before := u.OrgID
	if err := tx.SetUserOrg(ctx, u.ID, org.ID); err != nil {
		return identity.User{}, err
	}
	u.OrgID = org.ID
	now := s.Now()
	_, err = s.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindUserChange, AtMicros: now.UnixMicro(), ActorID: audit.ActorID(actor),
		Subject: u.ID, Data: map[string]any{"username": u.Username, "org_id_before": before, "org_id": u.OrgID,
			"via": audit.Via(actor)}})
	if err != nil {
		return identity.User{}, err
	}
	return u, tx.Commit()
}
