package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imichat-exporter/imichat_exporter/collector"
)

// scrapeWaits are how long a scrape waits for the chat list: at most Max
// (--imichat.timeout); Prometheus's X-Prometheus-Scrape-Timeout-Seconds less
// Offset (--web.timeout-offset), so that the exporter answers before
// Prometheus gives up; Default (--web.default-scrape-timeout) when the
// request has no such header.
type scrapeWaits struct {
	Max, Default, Offset time.Duration
}

// newMetricsHandler serves one scrape: a registry of its own holds a chat
// collector bound to the scrape's deadline (see scrapeWaits), gathered
// before the process-wide metrics so that the counters include this
// scrape's requests.
func newMetricsHandler(global prometheus.Gatherer, source collector.Source, waits scrapeWaits, logger log.Logger, opts ...collector.Option) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timeout := scrapeTimeout(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), waits, logger)
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()

		scrape := prometheus.NewRegistry()
		scrape.MustRegister(collector.NewChatCollector(ctx, source, logger, opts...))
		promhttp.HandlerFor(prometheus.Gatherers{scrape, global}, promhttp.HandlerOpts{
			ErrorLog:      errorLogger{logger},
			ErrorHandling: promhttp.ContinueOnError,
		}).ServeHTTP(w, r)
	})
}

// limitScrapes wraps the metrics handler as node_exporter does:
// promhttp_metric_handler_requests_total and _in_flight on the process
// registry, at most maxRequests scrapes at once (0: no limit) and a 503 at
// once for any beyond, and scrapes that stop waiting for the chat list when
// stopping is done (the exporter shuts down: they answer with what there is).
// The limit is the handler's own, not promhttp's MaxRequestsInFlight: each
// scrape builds a handler of its own, so promhttp's would never be reached.
func limitScrapes(stopping context.Context, reg prometheus.Registerer, maxRequests int, h http.Handler) http.Handler {
	return promhttp.InstrumentMetricHandler(reg, limitInFlight(maxRequests, answerWhenStopping(stopping, h)))
}

// limitInFlight serves at most max requests at once; the others get 503 at
// once, before any work (or memory) is spent on them. max 0: no limit.
func limitInFlight(max int, h http.Handler) http.Handler {
	if max <= 0 {
		return h
	}
	slots := make(chan struct{}, max)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			h.ServeHTTP(w, r)
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", max), http.StatusServiceUnavailable)
		}
	})
}

// answerWhenStopping cancels the request's context when stopping is done, so
// that a scrape waiting for a refresh answers at once with the last result
// and the shutdown does not wait for the refresh.
func answerWhenStopping(stopping context.Context, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(stopping, cancel)()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// scrapeTimeout reads Prometheus's scrape timeout header: a caller that
// sends none, or one that is not a number of seconds in (0, 86400], waits
// the default, so that it cannot hold a slot for the whole of a hung
// refresh.
func scrapeTimeout(header string, waits scrapeWaits, logger log.Logger) time.Duration {
	if header == "" {
		return min(waits.Default, waits.Max)
	}
	seconds, err := strconv.ParseFloat(header, 64)
	if err != nil || !(seconds > 0 && seconds <= 86400) { // NaN too
		level.Warn(logger).Log("msg", "ignoring an unparseable X-Prometheus-Scrape-Timeout-Seconds", "value", truncateRunes(header, 32))
		return min(waits.Default, waits.Max)
	}
	t := time.Duration(seconds * float64(time.Second))
	if t > waits.Offset {
		t -= waits.Offset
	}
	return min(t, waits.Max)
}

// truncateRunes cuts s to at most n bytes on a rune boundary, marking a cut
// with "…".
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// errorLogger adapts the go-kit logger to promhttp's Println interface.
type errorLogger struct{ logger log.Logger }

func (l errorLogger) Println(v ...any) {
	level.Error(l.logger).Log("msg", "serving metrics", "err", v)
}
