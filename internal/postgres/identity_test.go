package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

func TestOrgs(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()

	parent, err := db.CreateOrg(ctx, identity.Org{Name: "云阳县经济和信息化委员会", Kind: identity.Bureau})
	require.NoError(t, err)
	child, err := db.CreateOrg(ctx, identity.Org{Name: "重庆三峡云海药业股份有限公司", Kind: identity.Enterprise, ParentID: parent.ID})
	require.NoError(t, err)
	require.Equal(t, parent.ID, child.ParentID)

	byName, err := db.OrgByRef(ctx, "重庆三峡云海药业股份有限公司")
	require.NoError(t, err)
	require.Equal(t, child.ID, byName.ID)
	byID, err := db.OrgByRef(ctx, child.ID)
	require.NoError(t, err)
	require.Equal(t, identity.Enterprise, byID.Kind)

	_, err = db.CreateOrg(ctx, identity.Org{Name: "重庆三峡云海药业股份有限公司", Kind: identity.Enterprise})
	require.Equal(t, errs.Conflict, errs.CodeOf(err))

	_, err = db.OrgByRef(ctx, "no such org")
	require.ErrorIs(t, err, errs.ErrNotFound)

	_, err = db.CreateOrg(ctx, identity.Org{Name: "bad kind", Kind: "castle"})
	require.Error(t, err, "the database refuses unknown kinds")

	_, err = db.CreateOrg(ctx, identity.Org{Name: "orphan", Kind: identity.Enterprise, ParentID: "00000000-0000-0000-0000-000000000000"})
	require.Equal(t, errs.Invalid, errs.CodeOf(err))
}

func TestUsers(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	org, err := db.CreateOrg(ctx, identity.Org{Name: "云阳县科学技术局", Kind: identity.Bureau})
	require.NoError(t, err)

	u, err := db.CreateUser(ctx, identity.User{Username: "staff", Name: "李经办", OrgID: org.ID,
		Roles: []identity.Role{identity.Staff, identity.Leader}}, "$argon2id$not-checked-here")
	require.NoError(t, err)
	require.True(t, u.Has(identity.Leader))
	require.False(t, u.Has(identity.Admin))

	got, err := db.UserByUsername(ctx, "staff")
	require.NoError(t, err)
	require.Equal(t, u.ID, got.ID)
	require.Equal(t, []identity.Role{identity.Staff, identity.Leader}, got.Roles)

	_, err = db.CreateUser(ctx, identity.User{Username: "staff", Name: "x", OrgID: org.ID, Roles: []identity.Role{identity.Staff}}, "h")
	require.Equal(t, errs.Conflict, errs.CodeOf(err))

	_, err = db.CreateUser(ctx, identity.User{Username: "bad", Name: "x", OrgID: org.ID, Roles: []identity.Role{"wizard"}}, "h")
	require.Error(t, err, "the database refuses unknown roles")

	var n int
	require.NoError(t, db.GetContext(ctx, &n, `SELECT count(*) FROM users`))
	require.Equal(t, 1, n, "the refused inserts left nothing behind")
}
