package web

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/axprobe/axprobe/internal/mailtest"
)

// axigenFaults is the demo's fault injector over a test's fake Axigen (no stand-in
// process: the process buttons report an error).
type axigenFaults struct{ mailtest.Faulter }

func (f axigenFaults) ProcessRunning() bool  { return true }
func (f axigenFaults) KillProcess() error    { return errors.New("no stand-in process in this test") }
func (f axigenFaults) RestartProcess() error { return errors.New("no stand-in process in this test") }

// consoleErrors collects what the page logs as an error and its uncaught exceptions.
type consoleErrors struct {
	mu   sync.Mutex
	msgs []string
}

func (c *consoleErrors) add(s string) {
	c.mu.Lock()
	c.msgs = append(c.msgs, s)
	c.mu.Unlock()
}

func (c *consoleErrors) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

func (c *consoleErrors) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value))
			}
			c.add("console." + string(ev.Type) + ": " + strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		c.add(fmt.Sprintf("exception: %s at %s:%d", msg, d.URL, d.LineNumber+1))
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			c.add("log: " + ev.Entry.Text + " " + ev.Entry.URL)
		}
	}
}

// checkRow is a JS expression that is true once check's row shows outcome and a failure
// cell starting with reason.
func checkRow(check, outcome, reason string) string {
	return fmt.Sprintf(`(() => {
		const r = document.querySelector('section[data-target="axigen"] tr[data-check=%q]');
		return !!r && r.querySelector('.outcome').textContent === %q &&
			r.querySelector('td[data-label="failure"]').textContent.startsWith(%q);
	})()`, check, outcome, reason)
}

// targetShows is a JS expression that is true once the target's badge shows state.
func targetShows(state string) string {
	return fmt.Sprintf(`(() => {
		const b = document.querySelector('section[data-target="axigen"] .badge .state');
		return !!b && b.textContent === %q;
	})()`, strings.ToUpper(state))
}

// waitJS polls expr in the page until it is true, for at most limit.
func waitJS(expr string, limit time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(limit))
}

// text returns the visible text of the first element matching the CSS selector.
// text reads an element's text in one JavaScript evaluation: the page re-renders every 2 s,
// and a query-then-read through DevTools node ids can race a re-render ("No node with given
// id found").
func text(sel string) chromedp.Action[string] {
	return chromedp.Evaluate[string](`(document.querySelector(` + strconv.Quote(sel) + `) || {}).textContent || ""`)
}

func TestStatusPageInBrowser(t *testing.T) {
	chromium := needTool(t, "the status page browser test", "chromium", "chromium-browser", "google-chrome")
	s := startStack(t, func(ax *mailtest.Axigen) FaultInjector { return axigenFaults{mailtest.Faulter{Axigen: ax}} })

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // root in CI
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	)
	defer cancelAlloc()
	var errs consoleErrors
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithListener(errs.listen))
	defer cancelCtx()
	// The first Do starts the browser for the life of ctx; every step after it is bounded.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	const limit = 30 * time.Second
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 2*limit)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("targets").innerText`))
			t.Fatalf("%s: %v\nconsole errors: %q\npage:\n%s", what, err, errs.all(), html)
		}
	}
	value := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		v, err := chromedp.Run(sctx, a)
		if err != nil {
			t.Fatalf("%s: %v (console errors: %q)", what, err, errs.all())
		}
		return v
	}
	const code = `section[data-target="axigen"] .code b`

	run("load the page", chromedp.Navigate(s.base+"/"), waitJS(targetShows("online"), limit))
	if got := value("code", text(code)); got < "101" || got > "110" {
		t.Errorf("online code on the page = %q, want 101-110", got)
	}
	// A reload would lose this marker: later checks prove the page updates in place.
	value("marker", chromedp.Evaluate[string](`window.axprobeMarker = "no-reload"`))

	// A fault injected behind the page's back shows up without a reload.
	if err := s.axigen.SMTP.ApplyFault(mailtest.FaultRefuse); err != nil {
		t.Fatal(err)
	}
	run("smtp refusing shows as failed, refused, and the target offline",
		waitJS(checkRow("smtp", "failed", "refused"), limit), waitJS(targetShows("offline"), limit))
	if got := value("code", text(code)); got != "100" {
		t.Errorf("offline code on the page = %q, want 100", got)
	}
	if got := value("marker", chromedp.Evaluate[string](`String(window.axprobeMarker)`)); got != "no-reload" {
		t.Errorf("marker = %q: the page was reloaded to show the change", got)
	}
	if err := s.axigen.SMTP.ApplyFault(mailtest.FaultNone); err != nil {
		t.Fatal(err)
	}
	run("smtp recovers", waitJS(checkRow("smtp", "ok", "–"), limit), waitJS(targetShows("online"), limit))

	// The demo's button: hang on imap.
	run("click hang on imap",
		chromedp.Click(chromedp.CSS(`#demo tr[data-listener="imap"] button[data-fault="hang"]`)),
		waitJS(`document.querySelector('#demo tr[data-listener="imap"] .cur').textContent === "hang"`, limit),
		waitJS(checkRow("imap", "failed", "timeout"), limit))
	if got := s.axigen.IMAP.Fault(); got != mailtest.FaultHang {
		t.Errorf("after the click imap's fault = %q, want hang", got)
	}
	if got := value("demo message", text("#demo-msg")); !strings.HasPrefix(got, "done") {
		t.Errorf("demo message = %q, want done", got)
	}

	if os.Getenv("AXPROBE_SCREENSHOT") == "1" {
		run("offline before the screenshot", waitJS(targetShows("offline"), limit))
		sctx, cancel := context.WithTimeout(ctx, limit)
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../../docs/img/status-page.png", png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("clear imap", chromedp.Click(chromedp.CSS(`#demo tr[data-listener="imap"] button[data-fault="none"]`)),
		waitJS(checkRow("imap", "ok", "–"), limit))

	if e := errs.all(); len(e) > 0 {
		t.Errorf("console errors: %q", e)
	}
}
