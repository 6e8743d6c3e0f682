package bench

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/identity"
)

// Person is an account the bench made, with what it signs in with.
type Person struct {
	User     identity.User
	Password string
	// Token is the bearer token SignIn got for the person.
	Token string
}

// Roster is the bench's organisations and people, made through the account
// service as an operator at the console makes them: applicants spread over
// a few enterprises, and the staff of a bureau, who are the review stage's
// reviewers (every submission opens a task for each of them).
type Roster struct {
	Applicants []*Person
	Reviewers  []*Person
}

// applicantsPerOrg: colleagues share their organisation's applications, as
// in a real enterprise.
const applicantsPerOrg = 2

// NewRoster creates the organisations and people.
func NewRoster(ctx context.Context, accounts *account.Service, applicants, reviewers int) (*Roster, error) {
	r := &Roster{}
	bureau, err := accounts.CreateOrg(ctx, nil, identity.Org{Name: "基准测试科技局", Kind: identity.Bureau})
	if err != nil {
		return nil, fmt.Errorf("create bureau: %w", err)
	}
	for i := range reviewers {
		p, err := newPerson(ctx, accounts, fmt.Sprintf("bench-staff-%d", i+1), fmt.Sprintf("评审员%d", i+1), bureau.ID, identity.Staff)
		if err != nil {
			return nil, err
		}
		r.Reviewers = append(r.Reviewers, p)
	}
	var org identity.Org
	for i := range applicants {
		if i%applicantsPerOrg == 0 {
			org, err = accounts.CreateOrg(ctx, nil, identity.Org{Name: fmt.Sprintf("基准测试企业%d", i/applicantsPerOrg+1), Kind: identity.Enterprise})
			if err != nil {
				return nil, fmt.Errorf("create enterprise: %w", err)
			}
		}
		p, err := newPerson(ctx, accounts, fmt.Sprintf("bench-applicant-%d", i+1), fmt.Sprintf("申报人%d", i+1), org.ID, identity.Applicant)
		if err != nil {
			return nil, err
		}
		r.Applicants = append(r.Applicants, p)
	}
	return r, nil
}

func newPerson(ctx context.Context, accounts *account.Service, username, name, orgID string, role identity.Role) (*Person, error) {
	// Random, so that a bench database left behind holds no known login.
	password := "Bench-" + rand.Text()
	u, err := accounts.CreateUser(ctx, nil, account.NewUser{
		User:     identity.User{Username: username, Name: name, OrgID: orgID, Roles: []identity.Role{role}},
		Password: password,
	})
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", username, err)
	}
	return &Person{User: u, Password: password}, nil
}

// SignIn gets every applicant a bearer token from the server at baseURL.
// Tokens are rows in the database, good on every server of it.
func (r *Roster) SignIn(ctx context.Context, c *Client, baseURL string) error {
	for _, p := range r.Applicants {
		token, err := c.SignIn(ctx, baseURL, p.User.Username, p.Password)
		if err != nil {
			return err
		}
		p.Token = token
	}
	return nil
}

// Application is an application the bench started, and who started it.
type Application struct {
	ID    string
	Owner *Person
}

// CreateApplications starts n applications of the bench workflow through
// the engine, their applicants taken in turn, clients at a time.
func (r *Roster) CreateApplications(ctx context.Context, eng *engine.Engine, n, clients int) ([]Application, error) {
	apps := make([]Application, n)
	_, err := drive(ctx, n, clients, func(ctx context.Context, _, i int) error {
		owner := r.Applicants[i%len(r.Applicants)]
		app, err := eng.Create(ctx, &owner.User, engine.CreateInput{Workflow: Workflow, Data: formData(i)})
		if err != nil {
			return fmt.Errorf("create application: %w", err)
		}
		apps[i] = Application{ID: app.ID, Owner: owner}
		return nil
	})
	return apps, err
}

// IDs are the applications' ids.
func IDs(apps []Application) []string {
	ids := make([]string, len(apps))
	for i, a := range apps {
		ids[i] = a.ID
	}
	return ids
}
