package demo

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

func TestStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rawURL, token, team, stop, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !strings.HasPrefix(rawURL, "http://127.0.0.1:") || token == "" || team == "" {
		t.Fatalf("url %q token %q team %q", rawURL, token, team)
	}
	u, _ := url.Parse(rawURL)
	client := func(tok string) *apiclient.Client {
		return &apiclient.Client{BaseURL: u, TeamID: team, Token: apiclient.StaticToken(tok), Now: time.Now}
	}
	page, err := client(token).FetchPage(ctx, 1)
	if err != nil || len(page.Chats) != apiclient.PageSize {
		t.Fatalf("demo page 1: %v, %d chats", err, len(page.Chats))
	}
	var apiErr *apiclient.APIError
	if _, err := client("wrong").FetchPage(ctx, 1); !errors.As(err, &apiErr) || apiErr.StatusCode != 2003 {
		t.Fatalf("wrong token: %v", err)
	}
	cancel() // the context ends the demo
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := client(token).FetchPage(context.Background(), 1); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("demo still answering after its context ended")
		}
	}
	stop() // idempotent
}

// TestBinaryLinksNoTestOnlySimulator: the exporter's binary carries the
// demo tenant's server, not the simulator's test hooks (faults, token
// expiry, chats added by hand).
func TestBinaryLinksNoTestOnlySimulator(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "exporter")
	build := exec.Command("go", "build", "-o", bin, "github.com/imichat-exporter/imichat_exporter")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	const sim = "github.com/imichat-exporter/imichat_exporter/simulator."
	if !bytes.Contains(out, []byte(sim+"(*Tenant).ServeHTTP")) {
		t.Fatal("the demo's server is not in the binary: is the symbol check looking at the right names?")
	}
	for _, name := range []string{"(*Tenant).SetFault", "(*Tenant).ExpireToken", "(*Tenant).Add", "(*Tenant).Replace",
		"(*Tenant).Delete", "(*Tenant).SetStatus", "(*Tenant).Chats", "(*Tenant).Counts", "NewTransport", "NewOrg"} {
		if bytes.Contains(out, []byte(sim+name+"\n")) {
			t.Errorf("the binary links %s%s, which only tests use", sim, name)
		}
	}
}

// TestConfigLooksLikeAContactCentre: over a day of the demo tenant, the
// queue builds during office hours and drains at night, customers wait
// minutes on messaging, at most, and longer on e-mail: a newcomer's first
// screen is a working contact centre, not an incident.
func TestConfigLooksLikeAContactCentre(t *testing.T) {
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := day
	cfg := Config()
	cfg.Token, cfg.TeamID, cfg.Start = "tok", "1", day
	cfg.Clock = func() time.Time { return now }
	tenant := simulator.New(cfg)
	var night, office float64
	longest := map[string]time.Duration{}
	for m := 0; m < 24*60; m += 5 {
		now = day.Add(24*time.Hour + time.Duration(m)*time.Minute) // the second day: the history has aged
		counts := tenant.Counts()
		queued := 0
		for k, n := range counts.ByStatusChannel {
			if k[0] == "queued" {
				queued += n
			}
		}
		switch h := m / 60; {
		case h < 5:
			night += float64(queued) / (5 * 12)
		case h >= 10 && h < 16:
			office += float64(queued) / (6 * 12)
		}
		for k, oldest := range counts.OldestCreated {
			if k[0] == "queued" {
				longest[k[1]] = max(longest[k[1]], now.Sub(oldest))
			}
		}
	}
	t.Logf("mean queued at night %.1f, in office hours %.1f; longest waits %v", night, office, longest)
	if office < 3*night || office < 5 {
		t.Errorf("mean queued %.1f in office hours against %.1f at night: the queue does not build during the day", office, night)
	}
	for ch, wait := range longest {
		if ch != "email" && wait > 15*time.Minute {
			t.Errorf("a %s customer waited %v", ch, wait)
		}
		if ch != "email" && wait >= longest["email"] {
			t.Errorf("the longest %s wait %v is not shorter than e-mail's %v", ch, wait, longest["email"])
		}
	}
	if longest["email"] > 2*time.Hour {
		t.Errorf("an e-mail customer waited %v", longest["email"])
	}
}

// Whenever the demo starts, it is 10:00 in its contact centre: a working
// day, whatever the time of day where it runs.
func TestBusinessZoneStartsAWorkingDay(t *testing.T) {
	for _, at := range []string{"2026-12-07T00:00:00Z", "2026-12-07T03:17:42Z", "2026-12-07T10:00:00Z", "2026-12-07T23:59:30Z"} {
		now, _ := time.Parse(time.RFC3339, at)
		if h := now.In(BusinessZone(now)).Hour(); h != 10 {
			t.Errorf("started at %s: %02d:00 in the demo's zone, want 10:00", at, h)
		}
	}
}
