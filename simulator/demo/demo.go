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

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// Config is the tenant Start runs, without credentials. The quota is
// raised far above the documented 10,000 so that a walk-everything
// exporter keeps showing data for a whole demo day.
func Config() simulator.Config {
	return simulator.Config{
		Seed:           1,
		History:        3000,
		ArrivalsPerDay: 20000,
		QuotaPerDay:    1000000,
	}
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
	tenant := simulator.New(cfg)
	// The method value, not the *Tenant: an interface holding the tenant
	// would keep every exported method of it in the binary.
	url, stop, err = simulator.Listen(ctx, http.HandlerFunc(tenant.ServeHTTP))
	if err != nil {
		return "", "", "", nil, fmt.Errorf("demo tenant: %w", err)
	}
	return url, token, teamID, stop, nil
}
