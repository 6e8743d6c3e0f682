package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// pageAudit is run in each page: what a screen-reader or keyboard user, or
// someone on a phone, would trip over. It returns one line per problem.
const pageAudit = `(() => {
  const problems = [];
  const name = el => el.name || el.id || el.outerHTML.slice(0, 60);
  if (!document.documentElement.lang) problems.push("no lang on <html>");
  if (!document.title.trim()) problems.push("no <title>");
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) problems.push(h1 + " <h1> elements");
  let last = 1;
  for (const h of document.querySelectorAll("main h1, main h2, main h3, main h4")) {
    const level = Number(h.tagName[1]);
    if (level > last + 1) problems.push("heading jumps to " + h.tagName + ": " + h.textContent.trim().slice(0, 30));
    last = level;
  }
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    if (el.labels && el.labels.length > 0) continue;
    if (el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")) continue;
    problems.push("no label for " + name(el));
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!el.textContent.trim() && !el.getAttribute("aria-label") && !el.querySelector("img[alt]")) problems.push("nameless " + el.tagName + " " + name(el));
  }
  for (const img of document.querySelectorAll("img")) if (!img.hasAttribute("alt")) problems.push("img without alt");
  for (const svg of document.querySelectorAll("main svg")) {
    if (!svg.querySelector("title")) problems.push("svg without a title");
  }
  for (const t of document.querySelectorAll("table")) {
    if (!t.querySelector("th")) problems.push("table without headers");
  }
  const ids = new Set();
  for (const el of document.querySelectorAll("[id]")) {
    if (ids.has(el.id)) problems.push("duplicate id " + el.id);
    ids.add(el.id);
  }
  for (const el of document.querySelectorAll("[aria-describedby]")) {
    for (const id of el.getAttribute("aria-describedby").split(/\s+/)) {
      if (id && !document.getElementById(id) && !/-(hint|error)$/.test(id)) problems.push("aria-describedby names no element: " + id);
    }
  }
  // Wider than the screen: the page scrolls sideways as a whole. Wide
  // tables and diagrams scroll inside their own boxes instead.
  // On a phone the browser zooms out to fit a wide page, which widens
  // innerWidth too: the screen's own width is the measure.
  const screenW = Math.min(window.innerWidth, screen.width);
  if (document.documentElement.scrollWidth > screenW + 1) {
    const wide = [...document.querySelectorAll("body *")].filter(el => el.getBoundingClientRect().right > screenW + 1 && !(el.parentElement && el.parentElement.closest(".scroll, .diagram, .chart")));
    problems.push("page " + document.documentElement.scrollWidth + "px wide on a " + screenW + "px screen: " + wide.slice(0, 4).map(el => el.tagName + "." + el.className + "(" + Math.round(el.getBoundingClientRect().right) + ")").join(", "));
  }
  return problems;
})()`

// audit checks the page the browser is on.
func (b *chromium) audit(what string) {
	b.t.Helper()
	problems := act(b, "audit "+what, chromedp.Evaluate[[]string](pageAudit))
	require.Empty(b.t, problems, "%s (%s)", what, b.location())
}

// TestBrowserPagesAreAccessibleOnAPhone visits every kind of page as the
// roles that use it, on a phone-sized screen, in Chinese and in English, and
// checks each for labels, names, headings, unique ids and sideways
// scrolling; and that the keyboard reaches the skip link first.
func TestBrowserPagesAreAccessibleOnAPhone(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.expertPool()
	ch := s.publishChallenge("船用复合材料揭榜")
	draft := s.create("rival", "jiebang", jiebangForm(ch.ID, 1000000))
	sent := s.create("applicant", "jiebang", jiebangForm(ch.ID, 1200000))
	for _, slot := range []string{"license", "plan", "finance"} {
		s.uploadTo("applicant", sent.ID, slot, slot+".pdf")
	}
	s.mustFire("applicant", sent.ID, "submit", nil)

	b := newChromium(t, s)
	act(b, "phone screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))

	pages := []struct{ user, path string }{
		{"", "/"}, {"", "/notices"}, {"", "/login"}, {"", "/register"},
		{"rival", "/apply"}, {"rival", "/apps"}, {"rival", "/apps/new?workflow=jiebang&challenge=" + ch.ID},
		{"rival", "/apps/" + draft.ID}, {"rival", "/notifications"},
		{"unit", "/tasks"}, {"unit", "/apps/" + sent.ID},
		{"staff", "/apps"}, {"staff", "/apps/" + ch.ID}, {"staff", "/plan"}, {"staff", "/admin/workflows/jiebang"},
		{"staff", "/apps/" + sent.ID + "/record"},
		{"auditor", "/audit"}, {"auditor", "/audit/verify"}, {"auditor", "/apps/" + sent.ID},
		{"auditor", "/apps/" + sent.ID + "/record"}, {"auditor", "/oversight"},
		{"admin", "/admin"}, {"admin", "/admin/users"}, {"admin", "/admin/orgs"}, {"admin", "/admin/workflows"},
	}
	signedIn := ""
	for _, lang := range []string{"zh", "en"} {
		for _, p := range pages {
			if p.user != signedIn {
				if signedIn != "" {
					b.signOut()
				}
				if p.user != "" {
					b.signIn(p.user)
				}
				signedIn = p.user
			}
			sep := "?"
			if strings.Contains(p.path, "?") {
				sep = "&"
			}
			b.visit(p.path + sep + "lang=" + lang)
			require.Equal(t, 200, b.lastStatus(), p.path)
			b.audit(fmt.Sprintf("%s as %q in %s", p.path, p.user, lang))
			if lang == "zh" {
				b.shot("phone" + strings.NewReplacer("/", "-", "?", "-", "=", "-", "&", "-").Replace(p.path))
			}
		}
	}

	// The audit bites: an unlabelled input, a duplicate id and a block
	// wider than the phone are each reported.
	b.visit("/notices")
	act(b, "spoil the page", chromedp.Evaluate[chromedp.Void](`(() => {
	  const i = document.createElement("input"); i.name = "stray"; document.querySelector("main").appendChild(i);
	  const d = document.createElement("div"); d.id = "main"; document.body.appendChild(d);
	  const w = document.createElement("p"); w.textContent = "x"; w.setAttribute("width", "2000"); w.className = "wide-block";
	  w.appendChild(document.createElement("canvas")).width = 2000; document.querySelector("main").appendChild(w);
	})()`))
	problems := strings.Join(act(b, "audit the spoilt page", chromedp.Evaluate[[]string](pageAudit)), "\n")
	require.Contains(t, problems, "no label for stray")
	require.Contains(t, problems, "duplicate id main")
	require.Contains(t, problems, "wide on a 390px screen")

	// The first Tab reaches the skip link, and it leads to the content.
	b.visit("/notices")
	b.press(kb.Tab)
	require.Equal(t, "skip", act(b, "read the focused element", chromedp.Evaluate[string](`document.activeElement.className`)))
}
