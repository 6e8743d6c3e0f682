// Package workflow is the model of a declared workflow: its states, events,
// guards, form and timers, loaded from files and checked before anything runs.
// It knows nothing of HTTP or SQL; the engine runs definitions against storage.
package workflow

import (
	"slices"
	"sort"

	"github.com/looplab/fsm"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

// Text is a bilingual title or message.
type Text = errs.Text

// StateKind says what happens in a state (API.md's Workflow.states[].kind).
type StateKind string

// The kinds of state.
const (
	KindEdit     StateKind = "edit"     // the applicant edits the form
	KindReview   StateKind = "review"   // someone decides
	KindNotice   StateKind = "notice"   // 公示: public notice period
	KindActive   StateKind = "active"   // running: contract, service, instalments
	KindTerminal StateKind = "terminal" // nothing more happens
)

var stateKinds = []StateKind{KindEdit, KindReview, KindNotice, KindActive, KindTerminal}

// CommentRule says whether firing an event needs a comment.
type CommentRule string

// The comment rules.
const (
	CommentOptional CommentRule = "optional"
	CommentRequired CommentRule = "required"
)

// Duration is a span on the working-day calendar.
type Duration struct {
	WorkingDays int
}

// Timer fires Event by itself once the application has been in the state
// for After, or, with At, at the end of the day a date field of the form
// names (a challenge's application deadline).
type Timer struct {
	After Duration
	At    string
	Event string
}

// State is one state of a workflow.
type State struct {
	Key   string
	Title Text
	Kind  StateKind
	// EditableBy are the roles that may change the application's data here.
	EditableBy []identity.Role
	// Deadline is when the stage should be done, shown to everyone; nil means none.
	Deadline *Duration
	// Timer is fired by the system when it elapses; nil means none.
	Timer *Timer
	// Review declares the stage's reviewers and policy; nil means whoever
	// holds an event's role fires it directly.
	Review *Review
	// OnObjection is the system event the first objection to a notice state
	// fires (pausing the decision while staff look into it).
	OnObjection string
}

// Event is a named transition.
type Event struct {
	Key   string
	Title Text
	From  []string
	To    string
	// Roles may fire it; System events are fired only by the engine (a
	// timer, or a review stage's outcome).
	Roles  []identity.Role
	System bool
	Guards []*Guard
	// ValidateForm checks the whole application form (required fields too).
	ValidateForm bool
	Comment      CommentRule
	// Data validates the event's own payload; nil means it takes none.
	// DataJSON is its source, served to clients that render the form.
	Data     *jsonschema.Schema
	DataJSON []byte
	// Questions marks a send back: whoever fires it asks the applicant one
	// or more questions, each of which must be answered before resubmitting.
	Questions bool
	// Sets lists payload fields copied into the application's data.
	Sets []string
	// Adds adds payload fields to data fields (data field → payload field):
	// a disbursement to what was disbursed so far.
	Adds map[string]string
	// Compute sets data fields from expressions, after Sets and Adds.
	Compute []*Computed
	// ResolvesObjections marks the open objections of the application
	// sustained or dismissed, with the event's comment as the reason.
	ResolvesObjections string
	// ParentEvent is fired on the parent application, as the system, in the
	// same transaction (an assessment graded 不合格 ends the appointment);
	// ChildrenEvent on every child it is possible for (the remaining
	// instalments stop when the person leaves).
	ParentEvent   string
	ChildrenEvent string
}

// Definition is one version of a workflow, ready to run.
type Definition struct {
	Key     string
	Title   Text
	Initial string
	// CreatedBy are the roles that may start an application.
	CreatedBy []identity.Role
	// Parent is the workflow whose applications this one's hang under (an
	// instalment under a talent subsidy); empty for top-level workflows.
	Parent string
	// SeparateStages forbids one person deciding two consecutive review
	// stages of the same application.
	SeparateStages bool
	// RefersTo is the application this one is about, if any.
	RefersTo *Reference
	// Party is the other organisation an application involves, if any.
	Party *Party
	// Aggregates are the named counts and sums over other applications
	// that guards read as agg.NAME.
	Aggregates map[string]*Aggregate
	// Indicators are what the plan dashboard counts of this workflow.
	Indicators []*Indicator
	// Notice says what the public list shows of an application in 公示.
	Notice *NoticeFields
	// Attachments are the named slots for files; required ones must hold a
	// file before the form is submitted.
	Attachments []Slot
	// PublicStates are the states in which every signed-in user may read an
	// application (a published challenge).
	PublicStates []string
	// CreateGuards must hold for an application to be started.
	CreateGuards []*Guard

	States []*State // in file order
	Events []*Event // in file order

	// Form validates the application's data; FormJSON is its source, served
	// to clients.
	Form     *jsonschema.Schema
	FormJSON []byte
	// Personal are the paths of the form's fields marked "x-personal":
	// what redaction removes after the retention period.
	Personal []string

	// Source is every file the definition was read from, by name; its hash
	// identifies the version.
	Source map[string][]byte
	Hash   string
	// Version is assigned when the definition is stored; 0 until then.
	Version int

	states    map[string]*State
	events    map[string]*Event
	fsmEvents fsm.Events
	// rel keeps where the relations were declared, for checks across files.
	rel *relSrc
	// unfired are system events no timer, review or objection of this
	// definition fires: another definition's cascade must, or it is a
	// problem.
	unfired []unfired
}

type unfired struct {
	event string
	line  int
}

// EventFields are the form fields events write (sets, adds, compute): an
// amount approved, what was disbursed, a tier, a service target. Only the
// events do: nobody may write them by editing the form, or a draft could
// claim a mid-term check passed.
func (d *Definition) EventFields() map[string]bool {
	out := map[string]bool{}
	for _, e := range d.Events {
		for _, f := range e.Sets {
			out[f] = true
		}
		for f := range e.Adds {
			out[f] = true
		}
		for _, c := range e.Compute {
			out[c.Field] = true
		}
	}
	return out
}

// Slot finds an attachment slot by key.
func (d *Definition) Slot(key string) (Slot, bool) {
	for _, s := range d.Attachments {
		if s.Key == key {
			return s, true
		}
	}
	return Slot{}, false
}

// PersonalSlots are the keys of the attachment slots marked personal.
func (d *Definition) PersonalSlots() []string {
	var out []string
	for _, s := range d.Attachments {
		if s.Personal {
			out = append(out, s.Key)
		}
	}
	return out
}

func (d *Definition) index() {
	d.states = make(map[string]*State, len(d.States))
	for _, s := range d.States {
		d.states[s.Key] = s
	}
	d.events = make(map[string]*Event, len(d.Events))
	d.fsmEvents = make(fsm.Events, 0, len(d.Events))
	for _, e := range d.Events {
		d.events[e.Key] = e
		d.fsmEvents = append(d.fsmEvents, fsm.EventDesc{Name: e.Key, Src: e.From, Dst: e.To})
	}
}

// State finds a state by key.
func (d *Definition) State(key string) (*State, bool) {
	s, ok := d.states[key]
	return s, ok
}

// Event finds an event by key.
func (d *Definition) Event(key string) (*Event, bool) {
	e, ok := d.events[key]
	return e, ok
}

// Machine is the transition table positioned at state. It is rebuilt per use
// because looplab/fsm machines hold their current state; roles and guards are
// checked by the engine, not by the machine.
func (d *Definition) Machine(state string) *fsm.FSM {
	return fsm.NewFSM(state, d.fsmEvents, nil)
}

// EventsFrom lists the events possible from state, sorted by key (the machine
// returns them in random order).
func (d *Definition) EventsFrom(state string) []*Event {
	var out []*Event
	for _, e := range d.Events {
		if slices.Contains(e.From, state) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// MayFire reports whether any of roles may fire e.
func (e *Event) MayFire(roles []identity.Role) bool {
	for _, r := range roles {
		if slices.Contains(e.Roles, r) {
			return true
		}
	}
	return false
}

// What a move tells the applicant (ApplicantNews).
const (
	NewsNone     = ""
	NewsReturned = "returned" // back in their hands to change
	NewsDecision = "decision" // a review stage decided
)

// ApplicantNews says what a move from one state to another tells the
// applicant: that the application is back with them, that a review stage
// decided, or nothing (what they did themselves, a move between phases).
func ApplicantNews(from, to *State) string {
	switch {
	case from == nil || to == nil:
		return NewsNone
	case to.Kind == KindEdit && from.Kind != KindEdit:
		return NewsReturned
	case from.Kind == KindReview:
		return NewsDecision
	}
	return NewsNone
}

// MayEdit reports whether any of roles may change data in s.
func (s *State) MayEdit(roles []identity.Role) bool {
	for _, r := range roles {
		if slices.Contains(s.EditableBy, r) {
			return true
		}
	}
	return false
}
