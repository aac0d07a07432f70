package tenants

import "time"

// QuotaState describes the team's tenant's quota at now, as key/value
// pairs, for /probe?debug=true.
func (t *Team) QuotaState(now time.Time) []any { return t.quota.State(now) }
