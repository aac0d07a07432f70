// Package demo runs the simulated tenant behind the exporter's --demo: a
// live-looking team on a 127.0.0.1 listener with a random token and team
// id. It is the only part of the simulator the exporter's binary uses, and
// it hands the listener the tenant's ServeHTTP alone, so that the linker
// leaves out the simulator's test-only methods.
package demo

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"time"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// Config is the tenant Start runs, without credentials: a contact centre
// of 5,000 chats a day on office hours, whose queue builds in the morning
// and drains in the evening, customers waiting under a minute on live chat,
// a minute or so on messaging and longer on e-mail, under the
// documented quota of 10,000 requests a day.
func Config() simulator.Config {
	const messaging = time.Minute
	return simulator.Config{
		Seed:           1,
		History:        3000,
		ArrivalsPerDay: 5000,
		Profile:        simulator.OfficeHours,
		QuotaPerDay:    10000,
		QueueWaits: map[string]time.Duration{
			"livechat": 30 * time.Second, "email": 2 * time.Minute,
			"sms": messaging, "whatsapp": messaging, "facebook": messaging,
			"twitter": messaging, "abc": messaging, "api": messaging,
		},
	}
}

// BusinessZone is the demo contact centre's time zone as of now: the one
// where it is 10:00, so that whoever starts the demo, whenever, sees a
// working day (its queue, its agents answering, its service level) rather
// than a night without chats; the night comes 14 hours later.
func BusinessZone(now time.Time) *time.Location {
	now = now.UTC()
	sinceMidnight := now.Sub(now.Truncate(24 * time.Hour)).Truncate(time.Minute)
	return time.FixedZone("demo", int((10*time.Hour-sinceMidnight)/time.Second))
}

// Start starts the demo tenant (Config, real clock) until stop or ctx.
func Start(ctx context.Context) (url, token, teamID string, stop func(), err error) {
	token = rand.Text()
	n, err := rand.Int(rand.Reader, big.NewInt(900000))
	if err != nil {
		return "", "", "", nil, err
	}
	teamID = strconv.FormatInt(100000+n.Int64(), 10)
	cfg := Config()
	cfg.Token, cfg.TeamID = token, teamID
	cfg.Zone = BusinessZone(time.Now())
	tenant := simulator.New(cfg)
	// The method value, not the *Tenant: an interface holding the tenant
	// would keep every exported method of it in the binary.
	url, stop, err = simulator.Listen(ctx, http.HandlerFunc(tenant.ServeHTTP))
	if err != nil {
		return "", "", "", nil, fmt.Errorf("demo tenant: %w", err)
	}
	return url, token, teamID, stop, nil
}
