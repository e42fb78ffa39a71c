package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/vcs"
)

// assets holds the page template, its stylesheet and its script. assets/app.js renders the
// same markup as assets/index.html from /status.json; a change to one needs the other.
//
//go:embed assets
var assets embed.FS

// sparkWindow is the time span of the confidence sparkline.
const sparkWindow = time.Hour

// Sparkline geometry, shared with app.js.
const (
	sparkWidth  = 240
	sparkHeight = 40
)

// maxShownTransitions bounds the transitions listed per target, newest first.
const maxShownTransitions = 10

// pageData is what index.html renders.
type pageData struct {
	Snap *daemon.Snapshot
	Demo *demoState // nil outside the demo
}

func pageTemplate() *template.Template {
	return template.Must(template.New("index.html").Funcs(template.FuncMap{
		"upper":       strings.ToUpper,
		"pct":         pct,
		"dur":         func(d daemon.Duration) string { return fmtDuration(time.Duration(d)) },
		"phases":      fmtPhases,
		"clock":       clock,
		"stateIcon":   stateIcon,
		"outcomeIcon": outcomeIcon,
		"spark":       sparkline,
		"cert":        fmtCert,
		"recent":      recentTransitions,
		"faultOrNone": func(f string) string { return cmpOr(f, "none") },
		"isoTime":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"seriesText":  probe.SeriesText,
	}).ParseFS(assets, "assets/index.html"))
}

// page renders the status page from the latest snapshot.
func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	data := pageData{Snap: s.opts.Source.LiveSnapshot()}
	if s.opts.Faults != nil {
		st := s.currentDemoState()
		data.Demo = &st
	}
	var b bytes.Buffer
	if err := s.tmpl.Execute(&b, data); err != nil {
		s.log.Error("status page", "err", err)
		http.Error(w, "cannot render the status page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// staticHandler serves app.js and style.css.
func staticHandler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

// securityHeaders keeps the page to its own origin: no inline script, no framing.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func pct(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

// fmtDuration is a short human duration: "0.4 ms", "12 ms", "1.23 s"; "–" for zero.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func fmtPhases(ps []probe.Phase) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Name + " " + fmtDuration(p.Duration)
	}
	return strings.Join(parts, " · ")
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.Format("15:04:05")
}

// stateIcon is a shape per state, so that no state is told by colour alone.
func stateIcon(state string) string {
	switch state {
	case string(vcs.Online):
		return "✔"
	case string(vcs.Offline):
		return "✖"
	case string(vcs.Maintenance):
		return "⏸"
	}
	return "…"
}

func outcomeIcon(outcome string) string {
	switch outcome {
	case "ok":
		return "✔"
	case "degraded":
		return "▲"
	case "failed":
		return "✖"
	}
	return "…"
}

// fmtCert is the certificate's expiry as a date and days left, "–" without TLS.
func fmtCert(t *probe.TLSInfo) string {
	if t == nil || t.CertNotAfter.IsZero() {
		return "–"
	}
	days := int(time.Until(t.CertNotAfter).Hours() / 24)
	s := fmt.Sprintf("%s (%d d)", t.CertNotAfter.UTC().Format("2006-01-02"), days)
	if !t.Verified {
		s += " not verified"
	}
	return s
}

// recentTransitions returns the newest transitions first, at most maxShownTransitions.
func recentTransitions(trs []daemon.Transition) []daemon.Transition {
	out := slices.Clone(trs[max(0, len(trs)-maxShownTransitions):])
	slices.Reverse(out)
	return out
}

// sparkline draws the confidence history of the last hour as an inline SVG: a line of the
// confidence and a cross under every sample where the code was offline (100). A history
// shorter than an hour (a daemon just started) spans the whole width. Only numbers are
// interpolated, so the markup is safe.
func sparkline(history []daemon.Point) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %d %d" preserveAspectRatio="none" role="img" aria-label="confidence over the last hour">`, sparkWidth, sparkHeight)
	if len(history) > 0 {
		end := history[len(history)-1].At
		span := min(sparkWindow, end.Sub(history[0].At))
		var line, marks strings.Builder
		for _, p := range history {
			age := end.Sub(p.At)
			if age > span {
				continue
			}
			x, y := sparkX(age, span), sparkY(p.Confidence)
			fmt.Fprintf(&line, "%.1f,%.1f ", x, y)
			if p.Code == vcs.CodeOffline {
				fmt.Fprintf(&marks, "M%.1f,%d l3,3 m-3,0 l3,-3 ", x-1.5, sparkHeight-4)
			}
		}
		fmt.Fprintf(&b, `<polyline points="%s"/>`, strings.TrimSpace(line.String()))
		if marks.Len() > 0 {
			fmt.Fprintf(&b, `<path class="down" d="%s"/>`, strings.TrimSpace(marks.String()))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// sparkX places a sample age old on a line spanning span (the newest sample at the right).
func sparkX(age, span time.Duration) float64 {
	if span <= 0 {
		return sparkWidth
	}
	return sparkWidth * (1 - age.Seconds()/span.Seconds())
}

func sparkY(confidence float64) float64 {
	c := min(max(confidence, 0), 1)
	return 2 + (sparkHeight-8)*(1-c)
}
