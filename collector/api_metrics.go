package collector

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

var (
	rateLimitLimitDesc = newDesc("api_rate_limit_limit",
		"Requests the API allows per quota period, from the Rate-Limit-Limit header of the last response that carried it.")
	rateLimitRemainingDesc = newDesc("api_rate_limit_remaining",
		"Requests left in the current quota period, from the Rate-Limit-Remaining headers: the lowest seen in the period, as answers may arrive out of order. The quota is the tenant's: every team's requests count.")
	rateLimitResetDesc = newDesc("api_rate_limit_reset_timestamp_seconds",
		"When the API quota resets, in Unix seconds, from the Rate-Limit-Reset header of the last response that carried it.")
)

// APIMetrics counts what the API client saw on the wire. It implements
// apiclient.Observer, and prometheus.Collector for the process's registry.
type APIMetrics struct {
	responses     *prometheus.CounterVec
	requestErrors *prometheus.CounterVec

	limits *RateLimits

	mu           sync.Mutex
	unknownCodes map[string]bool // undocumented status codes given a label value of their own
}

// RateLimits keeps the last value seen of each rate-limit header. The
// quota is the tenant's: the teams of one tenant share one RateLimits.
type RateLimits struct {
	mu     sync.Mutex
	limits apiclient.RateLimit
}

func (l *RateLimits) observe(rl apiclient.RateLimit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rl.HasLimit {
		l.limits.Limit, l.limits.HasLimit = rl.Limit, true
	}
	// Within one quota period the remaining count only falls: answers
	// that arrive out of order (pages in flight at once, teams of one
	// tenant) do not raise it again. A new reset time is a new period.
	samePeriod := rl.HasReset && l.limits.HasReset && rl.Reset.Sub(l.limits.Reset).Abs() < 2*time.Second
	if rl.HasRemaining && (!samePeriod || !l.limits.HasRemaining || rl.Remaining < l.limits.Remaining) {
		l.limits.Remaining, l.limits.HasRemaining = rl.Remaining, true
	}
	if rl.HasReset && !samePeriod {
		l.limits.Reset, l.limits.HasReset = rl.Reset, true
	}
}

// Get returns the last value seen of each header.
func (l *RateLimits) Get() apiclient.RateLimit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limits
}

// maxUnknownStatusCodes bounds the status_code label's values: a broken or
// hostile upstream sending a new code in every response must not flood
// Prometheus. Undocumented codes past the first few are counted as
// OtherStatusCode.
const maxUnknownStatusCodes = 20

// OtherStatusCode is the status_code label of undocumented codes past the
// first maxUnknownStatusCodes.
const OtherStatusCode = "other"

// statusLabel returns the label value for a response's status code.
func (m *APIMetrics) statusLabel(code string) string {
	if code == "" {
		return code
	}
	if n, err := strconv.Atoi(code); err == nil && apiclient.StatusMeaning(n) != "" {
		return code
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unknownCodes[code] {
		return code
	}
	if len(m.unknownCodes) >= maxUnknownStatusCodes {
		return OtherStatusCode
	}
	m.unknownCodes[code] = true
	return code
}

// NewAPIMetrics returns the counters, with the success and every error
// reason present at 0 so that rates and ratios work from the first scrape.
func NewAPIMetrics() *APIMetrics { return NewAPIMetricsSharing(&RateLimits{}) }

// NewAPIMetricsSharing returns the counters of one team of a tenant whose
// rate-limit headers, shared by its teams, are kept in limits.
func NewAPIMetricsSharing(limits *RateLimits) *APIMetrics {
	m := &APIMetrics{
		limits:       limits,
		unknownCodes: map[string]bool{},
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "api_responses_total",
			Help:      `Responses received from the chat-list API, by the API's status_code ("" when the body carried none, "other" for undocumented codes past the first 20) and HTTP status. 4305 is success.`,
		}, []string{"status_code", "http_status"}),
		requestErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "api_request_errors_total",
			Help:      "Requests to the chat-list API that got no usable response, by reason: timeout, network, decode, too_large, redirect (the API redirected to another origin, or from https to http: the token was not sent there).",
		}, []string{"reason"}),
	}
	m.responses.WithLabelValues(strconv.Itoa(apiclient.StatusListRetrieved), "200")
	for _, r := range []apiclient.ErrorReason{apiclient.ReasonTimeout, apiclient.ReasonNetwork, apiclient.ReasonDecode, apiclient.ReasonTooLarge, apiclient.ReasonRedirect} {
		m.requestErrors.WithLabelValues(string(r))
	}
	return m
}

// ObserveResponse counts a response and keeps its rate-limit headers.
func (m *APIMetrics) ObserveResponse(statusCode string, httpStatus int, rl apiclient.RateLimit) {
	// status_code comes from upstream: only integers reach here (the
	// client parses them), and undocumented ones are bounded; http_status
	// is a number by construction.
	m.responses.WithLabelValues(m.statusLabel(statusCode), strconv.Itoa(httpStatus)).Inc()
	m.limits.observe(rl)
}

// ObserveRequestError counts a request that got no usable response.
func (m *APIMetrics) ObserveRequestError(reason apiclient.ErrorReason) {
	m.requestErrors.WithLabelValues(string(reason)).Inc()
}

// RateLimit returns the last rate-limit headers seen.
func (m *APIMetrics) RateLimit() apiclient.RateLimit { return m.limits.Get() }

// Describe implements prometheus.Collector.
func (m *APIMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.responses.Describe(ch)
	m.requestErrors.Describe(ch)
	ch <- rateLimitLimitDesc
	ch <- rateLimitRemainingDesc
	ch <- rateLimitResetDesc
}

// Collect implements prometheus.Collector. Rate-limit gauges are absent
// until a response has carried the header.
func (m *APIMetrics) Collect(ch chan<- prometheus.Metric) {
	m.responses.Collect(ch)
	m.requestErrors.Collect(ch)
	rl := m.RateLimit()
	if rl.HasLimit {
		ch <- prometheus.MustNewConstMetric(rateLimitLimitDesc, prometheus.GaugeValue, float64(rl.Limit))
	}
	if rl.HasRemaining {
		ch <- prometheus.MustNewConstMetric(rateLimitRemainingDesc, prometheus.GaugeValue, float64(rl.Remaining))
	}
	if rl.HasReset {
		ch <- prometheus.MustNewConstMetric(rateLimitResetDesc, prometheus.GaugeValue, float64(rl.Reset.UnixNano())/1e9)
	}
}
