package web

import (
	"compress/gzip"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/axprobe/axprobe/internal/daemon"
)

// metricsHandler serves /metrics. In the Prometheus text format (what Prometheus asks for
// unless it wants protobuf) it writes the per-target series straight from the snapshot's
// walk, then the registry's other families through expfmt: encoding one series per
// dto.Metric cost ~1 µs a line, 20 times more than appending the line. Any other format goes
// through promhttp and the Collector, which emit the same series (TestExpositionMatchesCollector).
func (m *Metrics) metricsHandler(log *slog.Logger) http.Handler {
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelError)
	full := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: errLog, MaxRequestsInFlight: maxScrapes, Timeout: scrapeTimeout})
	inFlight := make(chan struct{}, maxScrapes)
	text := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := expfmt.Negotiate(r.Header)
		if format.FormatType() != expfmt.TypeTextPlain {
			full.ServeHTTP(w, r)
			return
		}
		select {
		case inFlight <- struct{}{}:
			defer func() { <-inFlight }()
		default:
			http.Error(w, "too many concurrent scrapes", http.StatusServiceUnavailable)
			return
		}
		rest, err := m.rest.Gather()
		if err != nil {
			errLog.Printf("gathering metrics: %v", err)
			http.Error(w, "cannot gather the metrics", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", string(format))
		h.Add("Vary", "Accept-Encoding")
		var out io.Writer = w
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			gz := gzipPool.Get().(*gzip.Writer)
			gz.Reset(w)
			defer func() { gz.Close(); gzipPool.Put(gz) }()
			out = gz
		}
		tw := &textSink{w: out, buf: make([]byte, 0, 64<<10)}
		if box := m.source.Load(); box != nil {
			walk(box.LiveSnapshot(), tw)
		}
		tw.flush()
		for _, mf := range rest {
			if tw.err != nil {
				break
			}
			_, tw.err = expfmt.MetricFamilyToText(out, mf)
		}
		if tw.err != nil {
			log.Debug("writing /metrics", "err", tw.err) // the scraper went away
		}
	})
	return promhttp.InstrumentMetricHandler(m.rest, text)
}

// Bounds of /metrics.
const (
	maxScrapes    = 4
	scrapeTimeout = 10 * time.Second
)

// gzipPool holds writers at BestSpeed: a scrape of thousands of checks is megabytes of
// very repetitive text, which the fastest level still shrinks ~20 times.
var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip (without q=0).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// textSink writes the walk in the Prometheus text format (version 0.0.4), buffering lines
// and writing them out in 64 KiB pieces.
type textSink struct {
	w   io.Writer
	buf []byte
	cur *family
	err error
}

func (t *textSink) header(f *family) {
	if t.cur == f {
		return
	}
	t.cur = f
	t.buf = append(t.buf, "# HELP "...)
	t.buf = append(t.buf, f.name...)
	t.buf = append(t.buf, ' ')
	t.buf = appendEscaped(t.buf, f.help, false)
	t.buf = append(t.buf, "\n# TYPE "...)
	t.buf = append(t.buf, f.name...)
	t.buf = append(t.buf, ' ')
	t.buf = append(t.buf, f.typ...)
	t.buf = append(t.buf, '\n')
}

func (t *textSink) value(f *family, ls labels, v float64) {
	t.header(f)
	t.buf = append(t.buf, f.name...)
	t.buf = appendLabels(t.buf, ls)
	t.buf = append(t.buf, ' ')
	t.buf = appendFloat(t.buf, v)
	t.buf = append(t.buf, '\n')
	t.maybeFlush()
}

func (t *textSink) histogram(f *family, ls labels, h *daemon.Histogram, buckets bool) {
	t.header(f)
	// The labels of every line of this histogram, without the closing brace, so that each
	// bucket line only appends its le.
	lab := appendLabels(nil, ls)
	open := lab[:len(lab)-1] // drop '}'
	var cum uint64
	if buckets {
		for i, le := range h.Bounds {
			cum += h.Counts[i]
			t.bucket(f, open, ls.n, leText(le), cum)
		}
	}
	count := h.Count()
	t.bucket(f, open, ls.n, "+Inf", count)
	t.buf = append(t.buf, f.name...)
	t.buf = append(t.buf, "_sum"...)
	t.buf = append(t.buf, lab...)
	t.buf = append(t.buf, ' ')
	t.buf = appendFloat(t.buf, h.Sum)
	t.buf = append(t.buf, '\n')
	t.buf = append(t.buf, f.name...)
	t.buf = append(t.buf, "_count"...)
	t.buf = append(t.buf, lab...)
	t.buf = append(t.buf, ' ')
	t.buf = strconv.AppendUint(t.buf, count, 10)
	t.buf = append(t.buf, '\n')
	t.maybeFlush()
}

func (t *textSink) bucket(f *family, open []byte, nlabels int, le string, n uint64) {
	t.buf = append(t.buf, f.name...)
	t.buf = append(t.buf, "_bucket"...)
	t.buf = append(t.buf, open...)
	if nlabels > 0 {
		t.buf = append(t.buf, ',')
	}
	t.buf = append(t.buf, `le="`...)
	t.buf = append(t.buf, le...)
	t.buf = append(t.buf, `"} `...)
	t.buf = strconv.AppendUint(t.buf, n, 10)
	t.buf = append(t.buf, '\n')
}

func (t *textSink) maybeFlush() {
	if len(t.buf) >= 60<<10 {
		t.flush()
	}
}

func (t *textSink) flush() {
	if t.err == nil && len(t.buf) > 0 {
		_, t.err = t.w.Write(t.buf)
	}
	t.buf = t.buf[:0]
}

// appendLabels appends {name="value",...} (also {} when there are none, which callers of
// histogram rely on to trim the brace).
func appendLabels(b []byte, ls labels) []byte {
	b = append(b, '{')
	for i := range ls.n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ls.l[i].name...)
		b = append(b, `="`...)
		b = appendEscaped(b, ls.l[i].value, true)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendEscaped escapes as the text format wants: backslash and newline always, the double
// quote in label values.
func appendEscaped(b []byte, s string, quote bool) []byte {
	if !strings.ContainsAny(s, "\\\n\"") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats v as expfmt does.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

var leTexts sync.Map // float64 → string

func leText(le float64) string {
	if s, ok := leTexts.Load(le); ok {
		return s.(string)
	}
	s := string(appendFloat(nil, le))
	leTexts.Store(le, s)
	return s
}
