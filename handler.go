package main

import (
	"context"
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
