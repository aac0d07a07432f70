package config

import (
	"errors"
	"time"

	"github.com/prometheus/common/model"

	"github.com/imichat-exporter/imichat_exporter/refresh"
)

// Settings are how a tenant is read: the command line sets them for every
// tenant (single-tenant mode's one tenant included), and a tenant of the
// file may set its own. In a tenant's entry a setting left out (zero, nil)
// takes the command line's: see Or.
type Settings struct {
	QuotaShare  float64        `yaml:"quota_share,omitempty"`
	DailyBudget int64          `yaml:"daily_budget,omitempty"`
	FirstPage   *int           `yaml:"first_page,omitempty"` // a pointer: 0 is a page number
	Concurrency int            `yaml:"concurrency,omitempty"`
	Lookback    model.Duration `yaml:"lookback,omitempty"`
}

// Defaults of the command line's Settings: the flags' defaults. The
// refresher's own defaults, for what is left unset, are the same.
const (
	DefaultFirstPage   = 1
	DefaultConcurrency = 4
	DefaultLookback    = refresh.DefaultLookback
	DefaultQuotaShare  = refresh.DefaultQuotaShare
	DefaultDailyBudget = refresh.DefaultDailyBudget
)

// Or returns s with every setting it leaves out taken from d (the
// command line's).
func (s Settings) Or(d Settings) Settings {
	if s.QuotaShare == 0 {
		s.QuotaShare = d.QuotaShare
	}
	if s.DailyBudget == 0 {
		s.DailyBudget = d.DailyBudget
	}
	if s.FirstPage == nil {
		s.FirstPage = d.FirstPage
	}
	if s.Concurrency == 0 {
		s.Concurrency = d.Concurrency
	}
	if s.Lookback == 0 {
		s.Lookback = d.Lookback
	}
	return s
}

// Check reports each setting out of its range, one error each, named by
// name(key) of its YAML key (the file's key, or the flag that sets it).
// With all, every setting must hold a value (the command line's, which
// the file's fall back on); else one left out is no error.
func (s Settings) Check(all bool, name func(key string) string) []error {
	var errs []error
	check := func(set, bad bool, key, msg string) {
		if (all || set) && bad {
			errs = append(errs, errors.New(name(key)+" "+msg))
		}
	}
	check(s.FirstPage != nil, s.FirstPage == nil || *s.FirstPage < 0, "first_page", "must not be negative")
	check(s.Concurrency != 0, s.Concurrency < 1, "concurrency", "must be at least 1")
	check(s.Lookback != 0, time.Duration(s.Lookback) < time.Hour, "lookback", "must be at least 1h")
	check(s.QuotaShare != 0, !(s.QuotaShare > 0 && s.QuotaShare <= 1), "quota_share", "must be in (0, 1]") // NaN too
	check(s.DailyBudget != 0, s.DailyBudget < 1, "daily_budget", "must be at least 1")
	return errs
}
