package tenants

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	promconfig "github.com/prometheus/common/config"

	"github.com/imichat-exporter/imichat_exporter/config"
)

// testConfig parses a configuration file's content; token files named in
// it are created in dir.
func testConfig(t *testing.T, dir, content string) *config.Config {
	t.Helper()
	for _, name := range []string{"a.token", "b.token", "a2.token"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("tok-"+name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Parse([]byte(content), dir, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const baseConfig = `tenants:
  a:
    url: https://a.imi.chat
    access_token_file: a.token
    teams: ["1", "2"]
  b:
    url: https://b.imi.chat
    access_token_file: b.token
    teams: ["9"]
`

func newTestSet(fail map[string]bool) *Set {
	return New(Defaults{MaxPages: 10, Settings: config.Settings{QuotaShare: 0.5, DailyBudget: 10000},
		NewHTTPClient: func(name string, _ promconfig.HTTPClientConfig) (*http.Client, error) {
			if fail[name] {
				return nil, errors.New("no client for " + name)
			}
			return &http.Client{}, nil
		}})
}

func mustLookup(t *testing.T, s *Set, tenant, team string) *Team {
	t.Helper()
	tm, err := s.Lookup(tenant, team)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestApplyKeepsWhatDidNotChange(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		next    string
		keepA1  bool // team a/1 keeps its refresher (and state)
		keepB9  bool
		sameAq  bool // tenant a keeps its quota (what it spent)
		aShares bool // a's teams still share one quota
	}{
		{"same file", baseConfig, true, true, true, true},
		{"a team added", strings.Replace(baseConfig, `teams: ["1", "2"]`, `teams: ["1", "2", "3"]`, 1), true, true, true, true},
		{"quota share changed", strings.Replace(baseConfig, "    teams: [\"1\", \"2\"]\n", "    teams: [\"1\", \"2\"]\n    quota_share: 0.2\n", 1), true, true, true, true},
		{"lookback changed", strings.Replace(baseConfig, "    teams: [\"1\", \"2\"]\n", "    teams: [\"1\", \"2\"]\n    lookback: 2h\n", 1), false, true, true, true},
		{"token file changed", strings.Replace(baseConfig, "a.token", "a2.token", 1), false, true, true, true},
		{"url changed", strings.Replace(baseConfig, "https://a.imi.chat", "https://a2.imi.chat", 1), false, true, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newTestSet(nil)
			defer s.Close()
			if err := s.Apply(testConfig(t, dir, baseConfig)); err != nil {
				t.Fatal(err)
			}
			a1, a2, b9 := mustLookup(t, s, "a", "1"), mustLookup(t, s, "a", "2"), mustLookup(t, s, "b", "9")
			quotaA := a1.quota
			if a2.quota != quotaA || b9.quota == quotaA {
				t.Fatal("the teams of a tenant do not share its quota, or tenants share one")
			}
			if err := s.Apply(testConfig(t, dir, c.next)); err != nil {
				t.Fatal(err)
			}
			na1, na2, nb9 := mustLookup(t, s, "a", "1"), mustLookup(t, s, "a", "2"), mustLookup(t, s, "b", "9")
			if (na1 == a1) != c.keepA1 {
				t.Errorf("a/1 kept: %v, want %v", na1 == a1, c.keepA1)
			}
			if (nb9 == b9) != c.keepB9 {
				t.Errorf("b/9 kept: %v, want %v", nb9 == b9, c.keepB9)
			}
			if (na1.quota == quotaA) != c.sameAq {
				t.Errorf("a's quota kept: %v, want %v", na1.quota == quotaA, c.sameAq)
			}
			if (na1.quota == na2.quota) != c.aShares {
				t.Errorf("a's teams share a quota: %v, want %v", na1.quota == na2.quota, c.aShares)
			}
		})
	}
}

func TestApplyFailureLeavesTheRunningSet(t *testing.T) {
	dir := t.TempDir()
	fail := map[string]bool{}
	s := newTestSet(fail)
	defer s.Close()
	if err := s.Apply(testConfig(t, dir, baseConfig)); err != nil {
		t.Fatal(err)
	}
	b9 := mustLookup(t, s, "b", "9")
	// c cannot be built: nothing of the new file applies, b stays.
	fail["c"] = true
	next := `tenants:
  c:
    url: https://c.imi.chat
    access_token_file: a.token
    teams: ["5"]
`
	err := s.Apply(testConfig(t, dir, next))
	if err == nil || !strings.Contains(err.Error(), `tenant "c"`) {
		t.Fatalf("Apply: %v, want the failure of tenant c", err)
	}
	if got := mustLookup(t, s, "b", "9"); got != b9 {
		t.Error("b/9 replaced by a failed Apply")
	}
	if _, err := s.Lookup("c", "5"); err == nil {
		t.Error("c applied although its client failed")
	}
}

func TestLookup(t *testing.T) {
	s := newTestSet(nil)
	defer s.Close()
	if err := s.Apply(testConfig(t, t.TempDir(), baseConfig)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		tenant, team, want string // want: the team's ID, or the error
	}{
		{"a", "1", "1"},
		{"b", "", "9"},
		{"b", "9", "9"},
		{"", "1", "missing parameter tenant"},
		{"a", "", "1"}, // the default team: the first listed
		{"x", "1", `unknown tenant "x"`},
		{"a", "9", `unknown team "9" of tenant "a"`},
		{strings.Repeat("z", 500), "", `unknown tenant "` + strings.Repeat("z", maxEcho)},
		// Cut on a character's boundary: byte 64 is inside an é.
		{"a" + strings.Repeat("é", 40), "", `unknown tenant "a` + strings.Repeat("é", 31) + `…"`},
		{"a", "z" + strings.Repeat("€", 30), `unknown team "z` + strings.Repeat("€", 21) + `…" of tenant "a"`},
	}
	for _, c := range cases {
		team, err := s.Lookup(c.tenant, c.team)
		var got string
		if err != nil {
			got = err.Error()
			var le *LookupError
			if !errors.As(err, &le) {
				t.Errorf("Lookup(%q, %q): %T, want a *LookupError", c.tenant, c.team, err)
			}
			if strings.Contains(got, `\x`) || strings.Contains(got, "1, 2") {
				t.Errorf("Lookup(%.20q, %q) = %q: a character cut in half, or the tenant's teams listed", c.tenant, c.team, got)
			}
			if len(got) > 200 {
				t.Errorf("Lookup(%.20q…): error of %d bytes echoes its input", c.tenant, len(got))
			}
		} else {
			got = team.ID
		}
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("Lookup(%.20q, %q) = %q, want %q", c.tenant, c.team, got, c.want)
		}
	}
	if got := s.Targets(); len(got) != 3 || got[0] != [2]string{"a", "1"} || got[2] != [2]string{"b", "9"} {
		t.Errorf("Targets() = %v", got)
	}
}

// TestDefaultTeamStaysWhenTeamsAreAdded: a probe without a team reads the
// tenant's first listed team, before and after a reload that adds another
// team: the same running team, state and all.
func TestDefaultTeamStaysWhenTeamsAreAdded(t *testing.T) {
	dir := t.TempDir()
	s := newTestSet(nil)
	defer s.Close()
	if err := s.Apply(testConfig(t, dir, baseConfig)); err != nil {
		t.Fatal(err)
	}
	before := mustLookup(t, s, "b", "")
	if err := s.Apply(testConfig(t, dir, strings.Replace(baseConfig, `teams: ["9"]`, `teams: ["9", "10"]`, 1))); err != nil {
		t.Fatal(err)
	}
	if after := mustLookup(t, s, "b", ""); after != before || after.ID != "9" {
		t.Errorf("after team 10 was added, a probe of b without a team reads team %s (same running team: %v), want 9 kept", after.ID, after == before)
	}
	if got := s.DefaultTeam("b"); got != "9" {
		t.Errorf("DefaultTeam(b) = %q, want 9", got)
	}
	if got := mustLookup(t, s, "b", "10"); got.ID != "10" {
		t.Errorf("team 10: %s", got.ID)
	}
}

// TestTenantsOfOneOriginShareAQuota: tenants whose URLs reach one API
// tenant (one origin, however spelt) draw on one quota and one record of
// its rate-limit headers, whatever their names; a tenant renamed at a
// reload keeps the quota, and so what was spent; another origin has its
// own.
func TestTenantsOfOneOriginShareAQuota(t *testing.T) {
	entry := func(name, url string) string {
		return "  " + name + ":\n    url: " + url + "\n    access_token_file: a.token\n    teams: [\"1\"]\n"
	}
	cases := []struct {
		name      string
		first     string
		next      string   // "" no reload
		sameQuota []string // tenants (of next, or first) that must share one quota
		ownQuota  string   // a tenant that must have a quota of its own; "" none
		keep      [2]string
	}{
		{"two names, one url", entry("a", "https://a.imi.chat") + entry("b", "https://a.imi.chat") + entry("c", "https://c.imi.chat"), "",
			[]string{"a", "b"}, "c", [2]string{}},
		{"three spellings of one url", entry("a", "https://a.imi.chat") + entry("b", "https://A.imi.chat:443/") + entry("c", "https://a.imi.chat./v3"), "",
			[]string{"a", "b", "c"}, "", [2]string{}},
		{"another port", entry("a", "https://a.imi.chat") + entry("b", "https://a.imi.chat:8443"), "",
			[]string{"a"}, "b", [2]string{}},
		{"renamed", entry("a", "https://a.imi.chat"), entry("a-renamed", "https://a.imi.chat"),
			[]string{"a-renamed"}, "", [2]string{"a", "a-renamed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newTestSet(nil)
			defer s.Close()
			if err := s.Apply(testConfig(t, dir, "tenants:\n"+c.first)); err != nil {
				t.Fatal(err)
			}
			var before *Team
			if c.keep[0] != "" {
				before = mustLookup(t, s, c.keep[0], "1")
			}
			if c.next != "" {
				if err := s.Apply(testConfig(t, dir, "tenants:\n"+c.next)); err != nil {
					t.Fatal(err)
				}
			}
			first := mustLookup(t, s, c.sameQuota[0], "1")
			for _, name := range c.sameQuota[1:] {
				if got := mustLookup(t, s, name, "1"); got.quota != first.quota {
					t.Errorf("%s and %s reach one API tenant but have two quotas", c.sameQuota[0], name)
				}
				s.mu.RLock()
				if s.tenants[name].limits != s.tenants[c.sameQuota[0]].limits {
					t.Errorf("%s and %s reach one API tenant but record its rate-limit headers apart", c.sameQuota[0], name)
				}
				s.mu.RUnlock()
			}
			if c.ownQuota != "" && mustLookup(t, s, c.ownQuota, "1").quota == first.quota {
				t.Errorf("%s reaches another API tenant but shares %s's quota", c.ownQuota, c.sameQuota[0])
			}
			if before != nil && mustLookup(t, s, c.keep[1], "1").quota != before.quota {
				t.Errorf("%s, renamed %s, lost its quota (what it spent)", c.keep[0], c.keep[1])
			}
		})
	}
}
