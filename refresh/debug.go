package refresh

import "time"

// State describes the tenant's quota at now for an operator's page
// (/probe?debug=true): key/value pairs, as a log line's.
func (q *Quota) State(now time.Time) []any {
	q.mu.Lock()
	defer q.mu.Unlock()
	kv := []any{
		"share", q.share, "limit_per_period", q.limit, "share_of_24h", q.shareOfDay(),
		"spent_24h", q.spentInDay(), "used_in_period", q.usedInPeriod,
		"remaining_by_headers", q.remaining, "reserved_in_flight", q.reserved,
		"pace_per_second", q.pace(now), "shared_bucket_tokens", q.tokens,
		"price_per_page", q.price, "hard_limit_now", q.hardLimit(), "teams", len(q.teams),
	}
	if !q.periodEnd.IsZero() {
		kv = append(kv, "period_end", q.periodEnd.UTC().Format(time.RFC3339))
	}
	return kv
}
