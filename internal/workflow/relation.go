package workflow

import "github.com/sciflow/sciflow/internal/identity"

// Reference is the application another one is about: an application to a
// 揭榜挂帅 challenge refers to the challenge. A form field holds its id; it
// must be of Workflow and, whenever the application is started, changed or
// handed over, in one of States (409 otherwise). Guards read it as ref.
type Reference struct {
	Workflow string
	Field    string
	States   []string
}

// Party is the third organisation an application involves (the service
// target of a technology envoy's three-party agreement), named by a form
// field: its people see the application once submitted and fire the events
// that allow the role party.
type Party struct {
	Field string
	Kinds []identity.OrgKind
}

// Aggregate is a named count (or sum) over other applications, for rules
// that one application cannot decide alone: at most three envoys per
// enterprise, 优秀 capped at 35% of a county's year, one programme per
// person. Guards read it as agg.NAME; it is computed when an event that
// reads it is fired, under a lock that makes concurrent deciders queue.
type Aggregate struct {
	Name string
	// Sum is the data field summed; empty counts.
	Sum       string
	Workflows []string
	// States limits it to applications in these states; empty means any.
	States []string
	// Where are data fields that must equal the given values.
	Where map[string]any
	// Same are data fields that must equal this application's.
	Same []string
	// SameApplicant, SameOrg and SameParent limit it to applications of
	// this one's applicant, organisation or parent.
	SameApplicant, SameOrg, SameParent bool
	// IncludeSelf counts this application too (it is left out otherwise).
	IncludeSelf bool
	// RefersHere is the data field of the counted applications that holds
	// this application's id (applications to this challenge).
	RefersHere string
	// Children limits it to this application's own children (the
	// instalments of a subsidy).
	Children bool
	// Distinct counts the distinct values of a data field instead of the
	// applications (service days, not service entries).
	Distinct string
}

// NoticeFields name the form fields the public notice shows: the title,
// the amount, and for a person (an envoy, a talent) their name. Nothing
// else is ever shown: no phone, no ID number, no attachment.
type NoticeFields struct {
	Title  string
	Amount string
	Person string
}

// Slot is a named place for a file (营业执照, 技术方案, 学位证书): uploads
// name it as their label.
type Slot struct {
	Key   string
	Title Text
	// Required slots must hold a file before the form is submitted.
	Required bool
	// Confidential files are hidden from experts.
	Confidential bool
	// Personal files identify a person (an identity card, a diploma): a
	// redaction once the retention period has passed removes them.
	Personal bool
}

// Indicator is a plan indicator a programme reports on the plan dashboard
// (GET /api/v1/stats/plan): a count or sum over applications across the
// installation, against the plan's target, broken down By the state, the
// year the applications were started, or a form field.
type Indicator struct {
	Key    string
	Title  Text
	Unit   Text
	Target *float64
	Count  *Aggregate
	By     string
}
