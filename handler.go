package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imichat-exporter/imichat_exporter/collector"
)

// newMetricsHandler serves one scrape: a registry of its own holds a chat
// collector bound to the scrape's deadline, gathered before the process-wide
// metrics so that the counters include this scrape's requests. The deadline
// is the shorter of maxWait and Prometheus's X-Prometheus-Scrape-Timeout-Seconds
// less offset, so that the exporter answers before Prometheus gives up.
func newMetricsHandler(global prometheus.Gatherer, source collector.Source, maxWait, offset time.Duration, logger log.Logger, opts ...collector.Option) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timeout := scrapeTimeout(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), maxWait, offset, logger)
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

// scrapeTimeout reads Prometheus's scrape timeout header.
func scrapeTimeout(header string, maxWait, offset time.Duration, logger log.Logger) time.Duration {
	if header == "" {
		return maxWait
	}
	seconds, err := strconv.ParseFloat(header, 64)
	if err != nil || seconds <= 0 || seconds > 86400 {
		level.Warn(logger).Log("msg", "ignoring an unparseable X-Prometheus-Scrape-Timeout-Seconds", "value", header)
		return maxWait
	}
	t := time.Duration(seconds * float64(time.Second))
	if t > offset {
		t -= offset
	}
	return min(t, maxWait)
}

// errorLogger adapts the go-kit logger to promhttp's Println interface.
type errorLogger struct{ logger log.Logger }

func (l errorLogger) Println(v ...any) {
	level.Error(l.logger).Log("msg", "serving metrics", "err", v)
}
