package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// Browser tests drive the real pages in Debian's headless Chromium, as the
// county's users see them. `make test` installs the browser and the Chinese
// fonts; without them the tests fail rather than skip, so CI cannot pass by
// testing nothing. Run with `-artifacts -outputdir DIR` (make test does, with
// test-output) to keep each step's screenshot: find DIR/_artifacts -name '*.png'.
// Without -artifacts they go to a temporary directory removed after the test.

const (
	chromiumPath = "/usr/bin/chromium"
	// browserStep bounds every action, so a broken page fails the test
	// instead of hanging it until go test's timeout.
	browserStep  = 20 * time.Second
	browserStart = 60 * time.Second
)

// chromium is one headless Chromium with one tab, driven by one test. It
// records what the page does behind the test's back: every request, and every
// console error, uncaught exception and CSP violation; the test fails at
// cleanup on a request to another host or on any of those.
type chromium struct {
	t     *testing.T
	site  *site
	host  string          // the site's host:port, the only one a page may reach
	ctx   context.Context // the tab; each step adds its own deadline
	shots string          // screenshot directory
	taken int

	mu        sync.Mutex
	mainFrame cdp.FrameID
	status    int64                        // of the last document the main frame loaded
	urls      map[network.RequestID]string // for naming failed requests
	foreign   []string                     // requests to another host
	problems  []string                     // console errors, exceptions, CSP violations, failed resources
	dialogs   []string                     // alert/confirm/prompt messages, in order
	dismiss   bool                         // answer confirm dialogs with Cancel
	allowed   []string                     // problems the test provokes on purpose
}

// newChromium starts a fresh headless Chromium for s, closed when the test ends.
func newChromium(t *testing.T, s *site) *chromium {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("browser tests need Chromium at %s: run `make test` (it installs it when it can) or "+
			"`apt-get install chromium fonts-noto-cjk` (%v)", chromiumPath, err)
	}
	// Without a CJK font the pages still work, but every screenshot is tofu.
	if out, err := exec.Command("fc-list", ":lang=zh", "family").Output(); err == nil && strings.TrimSpace(string(out)) == "" {
		t.Fatal("browser tests need a Chinese font: run `make test` (it installs it when it can) or `apt-get install fonts-noto-cjk`")
	}
	u, err := url.Parse(s.url)
	require.NoError(t, err)
	// Go 1.26's ArtifactDir leaves the package and test out of its path
	// (golang/go#77763), so the test's name is added here.
	shots := filepath.Join(t.ArtifactDir(), t.Name())
	require.NoError(t, os.MkdirAll(shots, 0o755))
	b := &chromium{t: t, site: s, host: u.Host, shots: shots, urls: map[network.RequestID]string{}}

	output := &lockedBuffer{} // Chromium's own stderr, shown only when it fails to start
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI, where the sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("no-proxy-server", true),
		// The county's users read Chinese: the pages choose their language
		// from Accept-Language, which would otherwise be en-US.
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Flag("accept-lang", "zh-CN,zh"),
		chromedp.Env("TZ=Asia/Shanghai"),
		chromedp.UserDataDir(t.TempDir()), // removed after the browser has closed: cleanups run last-in first-out
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(output),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.record))
	b.ctx = ctx

	// The first action starts the browser and ties its life to ctx, so it
	// cannot carry a deadline of its own.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(browserStart):
		err = fmt.Errorf("no answer within %s", browserStart)
	}
	if err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start %s: %v\n%s", chromiumPath, err, output)
	}
	b.mu.Lock()
	b.mainFrame = cdp.FrameID(chromedp.FromContext(ctx).Target.TargetID)
	b.mu.Unlock()
	go b.answerDialogs(chromedp.Events(ctx, page.JavascriptDialogOpening))

	t.Cleanup(func() {
		b.check()
		chromedp.Cancel(ctx)
		cancelTab()
		cancelAlloc()
	})
	t.Logf("screenshots go to %s", b.shots)
	return b
}

// record sees every event of the tab in order. It runs in chromedp's read
// loop, so it only takes notes.
func (b *chromium) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.urls[ev.RequestID] = ev.Request.URL
		if !b.ours(ev.Request.URL) {
			b.foreign = append(b.foreign, ev.Request.URL)
		}
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument {
			if b.mainFrame == "" || ev.FrameID == b.mainFrame {
				b.status = ev.Response.Status
			}
		} else if ev.Response.Status >= 400 && !strings.HasSuffix(ev.Response.URL, "/favicon.ico") {
			// (The browser asks for /favicon.ico by itself on a page that
			// names no icon, such as the plain error page.)
			b.problems = append(b.problems, fmt.Sprintf("%s %s: %d", ev.Type, ev.Response.URL, ev.Response.Status))
		}
	case *network.EventLoadingFailed:
		// A document's failure is the navigating action's error, and a
		// resource cancelled by leaving the page is no fault of the page.
		if ev.Type != network.ResourceTypeDocument && (!ev.Canceled || ev.BlockedReason != "") {
			b.problems = append(b.problems, strings.TrimSpace(fmt.Sprintf("%s %s failed: %s %s", ev.Type, b.urls[ev.RequestID], ev.ErrorText, ev.BlockedReason)))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text = d.Exception.Description
		}
		b.problems = append(b.problems, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, text))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				var str string
				switch {
				case a.Type == runtime.RemoteObjectTypeString && json.Unmarshal(a.Value, &str) == nil:
					args = append(args, str)
				case a.Description != "":
					args = append(args, a.Description)
				default:
					args = append(args, string(a.Value))
				}
			}
			b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *log.EventEntryAdded:
		// The browser's own messages: CSP violations ("security"),
		// deprecations, and "Failed to load resource" ("network"), which
		// the response checks above already judge, and which a page that
		// answers 401 on purpose also gets.
		if e := ev.Entry; e.Level == log.EntryLevelError && e.Source != log.EntrySourceNetwork {
			b.problems = append(b.problems, fmt.Sprintf("%s error at %s: %s", e.Source, e.URL, e.Text))
		}
	case *page.EventJavascriptDialogOpening:
		b.dialogs = append(b.dialogs, ev.Message)
	}
}

// ours reports whether a page may load u: only the site itself, and URLs
// that name no host at all.
func (b *chromium) ours(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "data", "blob", "about":
		return true
	case "http", "https":
		return u.Host == b.host
	}
	return false
}

// allow forgives the problems that contain substr, such as the 413 of an
// upload that is too large on purpose. Requests to other hosts are never
// forgiven.
func (b *chromium) allow(substr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.allowed = append(b.allowed, substr)
}

// check fails the test on anything record noted against the page.
func (b *chromium) check() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = slices.DeleteFunc(b.problems, func(p string) bool {
		return slices.ContainsFunc(b.allowed, func(a string) bool { return strings.Contains(p, a) })
	})
	if len(b.foreign) > 0 {
		b.t.Errorf("the pages made %d request(s) to hosts other than %s (everything must be served by sciflow itself):\n  %s",
			len(b.foreign), b.host, strings.Join(b.foreign, "\n  "))
	}
	if len(b.problems) > 0 {
		b.t.Errorf("the pages reported %d problem(s):\n  %s", len(b.problems), strings.Join(b.problems, "\n  "))
	}
}

// answerDialogs accepts alert and confirm dialogs (or cancels confirms after
// dismissDialogs), which would otherwise block the page and so the test.
func (b *chromium) answerDialogs(opened iter.Seq2[page.EventJavascriptDialogOpening, error]) {
	for ev, err := range opened {
		if err != nil {
			return
		}
		b.mu.Lock()
		accept := !b.dismiss || ev.Type == page.DialogTypeAlert
		b.mu.Unlock()
		chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
	}
}

// dismissDialogs makes later confirm dialogs answer Cancel instead of OK.
func (b *chromium) dismissDialogs(dismiss bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dismiss = dismiss
}

// dialogMessages returns the messages of the dialogs the page has opened so far.
func (b *chromium) dialogMessages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

// act performs one bounded step; on failure it saves a screenshot of the
// page as it was and stops the test.
func act[T any](b *chromium, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(what, err)
	}
	return v
}

func (b *chromium) fail(what string, err error) {
	b.t.Helper()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("gave up after %s (is the element missing or hidden, or did the page not load?)", browserStep)
	}
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	where, _ := chromedp.Run(ctx, chromedp.Location())
	shot := "none"
	if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
		shot = filepath.Join(b.shots, "failed.png")
		if werr := os.WriteFile(shot, png, 0o644); werr != nil {
			shot = werr.Error()
		} else if f := flag.Lookup("test.artifacts"); f == nil || f.Value.String() != "true" {
			shot += " (deleted when the test ends; run with -artifacts -outputdir DIR to keep it)"
		}
	}
	b.t.Fatalf("%s: %v\n  page: %s\n  screenshot: %s", what, err, where, shot)
}

// visit opens path (with its query) on the site and waits for the page to load.
func (b *chromium) visit(path string) {
	b.t.Helper()
	act(b, "visit "+path, chromedp.NavigateResponse(b.site.url+path))
}

// clickAndWait clicks sel, a link or a submit button, and waits until the page
// it leads to has loaded; status then tells how the server answered.
func (b *chromium) clickAndWait(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.fail("click "+sel+" and wait for the next page", err)
	}
}

// click clicks sel and does not wait for anything to follow; use
// clickAndWait for links and submit buttons.
func (b *chromium) click(sel string) {
	b.t.Helper()
	act(b, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// fill replaces the value of the text input or textarea sel by typing value.
func (b *chromium) fill(sel, value string) {
	b.t.Helper()
	// Emptied by script: chromedp's Clear fails on an empty textarea,
	// which has no text node to remove.
	empty := fmt.Sprintf(`document.querySelector(%s).value = ""`, jsString(sel))
	act(b, "fill "+sel, chromedp.Steps(chromedp.WaitReady(chromedp.CSS(sel)), chromedp.Evaluate[chromedp.Void](empty),
		chromedp.SendKeys(chromedp.CSS(sel), value)))
}

// choose selects the option with value in the select sel, firing change as a
// user's choice would.
func (b *chromium) choose(sel, value string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		el.value = %s;
		if (el.value !== %[2]s) throw new Error("no option " + %[2]s);
		el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true}));
	})()`, jsString(sel), jsString(value))
	act(b, "choose "+value+" in "+sel, chromedp.Steps(chromedp.WaitReady(chromedp.CSS(sel)), chromedp.Evaluate[chromedp.Void](js)))
}

// typeKeys types keys into sel after what it holds; keys may include kb's
// special keys, such as kb.Enter.
func (b *chromium) typeKeys(sel, keys string) {
	b.t.Helper()
	act(b, "type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), keys))
}

// press sends keys to whatever has the focus.
func (b *chromium) press(keys string) {
	b.t.Helper()
	act(b, "press keys", chromedp.KeyEvent(keys))
}

// upload sets the files of the file input sel.
func (b *chromium) upload(sel string, paths ...string) {
	b.t.Helper()
	abs := make([]string, len(paths))
	for i, p := range paths {
		var err error
		abs[i], err = filepath.Abs(p)
		require.NoError(b.t, err)
	}
	act(b, "upload to "+sel, chromedp.SetUploadFiles(chromedp.CSS(sel), abs))
}

// text is the visible text of sel, trimmed; it waits for sel to appear.
func (b *chromium) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(act(b, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// value is the current value of the form field sel.
func (b *chromium) value(sel string) string {
	b.t.Helper()
	return act(b, "read the value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

// count is how many elements match sel now, without waiting.
func (b *chromium) count(sel string) int {
	b.t.Helper()
	return act(b, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(sel))))
}

// waitVisible waits until sel is shown.
func (b *chromium) waitVisible(sel string) {
	b.t.Helper()
	act(b, "wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// location is the current page's path and query.
func (b *chromium) location() string {
	b.t.Helper()
	loc := act(b, "read the location", chromedp.Location())
	return strings.TrimPrefix(loc, b.site.url)
}

// lastStatus is the HTTP status of the last page the tab loaded.
func (b *chromium) lastStatus() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return int(b.status)
}

// shot saves a full-page screenshot as NN-name.png in the test's screenshot
// directory, numbered in the order taken.
func (b *chromium) shot(name string) {
	b.t.Helper()
	png := act(b, "screenshot "+name, chromedp.FullScreenshot(100))
	b.taken++
	require.NoError(b.t, os.WriteFile(filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.taken, name)), png, 0o644))
}

// signIn signs user in through the sign-in form with the test password.
func (b *chromium) signIn(user string) {
	b.t.Helper()
	b.submitLogin(user, testPassword)
	if st := b.lastStatus(); st != 200 || strings.HasPrefix(b.location(), "/login") {
		b.fail("sign in as "+user, fmt.Errorf("still on %s with status %d: %q", b.location(), st, b.text("main")))
	}
}

// submitLogin fills and sends the sign-in form, whatever the outcome.
func (b *chromium) submitLogin(user, password string) {
	b.t.Helper()
	b.visit("/login")
	b.fill("#username", user)
	b.fill("#password", password)
	b.clickAndWait(`main form[action="/login"] button[type=submit]`)
}

func jsString(s string) string {
	raw, _ := json.Marshal(s)
	return string(raw)
}

// TestBrowserSignInAndLanguage: a visitor reads the site in Chinese, is told
// so in Chinese when the password is wrong, signs in through the form, and
// switches the whole site to English and back.
func TestBrowserSignInAndLanguage(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := newSite(t)
	b := newChromium(t, s)

	b.visit("/")
	require.Equal(t, 200, b.lastStatus())
	require.Contains(t, b.text("h1"), "云阳县科技项目申报与评审系统", "Chinese by default")
	require.Contains(t, b.text("header nav"), "登录")
	b.shot("home")

	b.visit("/register")
	require.Equal(t, 200, b.lastStatus())
	require.Contains(t, b.text("h1"), "注册")
	b.shot("register")

	b.submitLogin("applicant", "not-the-password")
	require.Equal(t, 401, b.lastStatus())
	require.Equal(t, "用户名或密码错误", b.text(`main [role=alert]`))
	require.Equal(t, "applicant", b.value("#username"), "the form keeps the username")
	require.Empty(t, b.value("#password"), "and never the password")
	b.shot("wrong-password")

	b.signIn("applicant")
	require.Equal(t, "/", b.location())
	require.Equal(t, "applicant", b.text("header .who"), "the header names the signed-in user")
	require.Contains(t, b.text("header nav"), "我的申请")
	require.Zero(t, b.count(`header a[href="/login"]`))
	b.shot("signed-in")

	b.clickAndWait(`header a[hreflang="en"]`)
	require.Equal(t, 200, b.lastStatus())
	require.Contains(t, b.text("header nav"), "My applications")
	require.Contains(t, b.text("header nav"), "Sign out")
	require.Equal(t, "en", act(b, "read the page language", chromedp.Evaluate[string](`document.documentElement.lang`)))
	b.shot("english")

	// The choice is remembered on the next page without ?lang=.
	b.visit("/apps")
	require.Equal(t, 200, b.lastStatus())
	require.Contains(t, b.text("header nav"), "My applications")
	b.shot("english-apps")

	b.clickAndWait(`header a[hreflang="zh-CN"]`)
	require.Contains(t, b.text("header nav"), "我的申请")
	b.shot("chinese-again")
	t.Logf("browser test took %s", time.Since(start))
}

// TestBrowserHarnessCatchesMisbehavingPages keeps the harness honest: a page
// that reaches another host, breaks the CSP, throws, logs an error or misses
// a stylesheet must not go unnoticed.
func TestBrowserHarnessCatchesMisbehavingPages(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/open", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>open</title><img src="http://127.0.0.2:9/pixel.png"><p>open</p><input id="name">`)
	})
	mux.HandleFunc("/strict", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'")
		fmt.Fprint(w, `<!doctype html><title>strict</title><link rel="stylesheet" href="/missing.css"><img src="/missing.png">`+
			`<script>document.title = "inline ran"</script><script src="/bad.js"></script><p>strict</p>`)
	})
	mux.HandleFunc("/bad.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `console.error("broken", 42); null.boom;`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b := newChromium(t, &site{url: srv.URL})
	b.visit("/open")
	b.waitVisible("p")
	b.fill("#name", "重庆锦艺新材料有限公司")
	require.Equal(t, "重庆锦艺新材料有限公司", b.value("#name"), "Chinese text types as it is")
	b.visit("/strict")
	b.waitVisible("p")

	b.mu.Lock()
	foreign, problems := b.foreign, strings.Join(b.problems, "\n")
	b.foreign = nil // reaching another host on purpose is not this test's failure
	b.mu.Unlock()
	require.Equal(t, []string{"http://127.0.0.2:9/pixel.png"}, foreign)
	for _, want := range []string{
		"http://127.0.0.2:9/pixel.png failed",
		"/missing.png: 404",
		"Refused to apply style from 'http://" + srv.Listener.Addr().String() + "/missing.css'",
		"Executing inline script violates the following Content Security Policy directive",
		"console.error: broken 42",
		"uncaught exception at http://" + srv.Listener.Addr().String() + "/bad.js:1: TypeError",
	} {
		require.Contains(t, problems, want)
		b.allow(want) // and nothing else may be reported at cleanup
	}
}
