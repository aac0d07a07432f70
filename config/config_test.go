package config_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/imichat-exporter/imichat_exporter/config"
)

// secretToken is what every token file written by these tests holds: no
// error may ever contain it.
const secretToken = "tok-7f3a9c-DO-NOT-LOG-e21b"

// issueFile is the file from the issue.
const issueFile = `tenants:
  acme:
    url: https://acme.imi.chat
    access_token_file: acme.token
    teams: ["4711", "4712"]
`

// writeFile writes content to name under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tokenDir is a fresh directory holding acme.token with secretToken in it.
func tokenDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "acme.token", secretToken+"\n")
	return dir
}

// acme is the issue's tenant acme with edits, each "key: value" (flow
// style for maps): a key the tenant has is replaced, or dropped when the
// value is "-"; a new key is added.
func acme(edits ...string) string {
	type kv struct{ k, v string }
	fields := []kv{
		{"url", "https://acme.imi.chat"},
		{"access_token_file", "acme.token"},
		{"teams", `["4711", "4712"]`},
	}
	for _, e := range edits {
		k, v, ok := strings.Cut(e, ":")
		if !ok {
			panic("edit without a colon: " + e)
		}
		v = strings.TrimLeft(v, " ")
		i := slices.IndexFunc(fields, func(f kv) bool { return f.k == k })
		switch {
		case i < 0:
			fields = append(fields, kv{k, v})
		case v == "-":
			fields = slices.Delete(fields, i, i+1)
		default:
			fields[i].v = v
		}
	}
	var b strings.Builder
	b.WriteString("tenants:\n  acme:\n")
	for _, f := range fields {
		fmt.Fprintf(&b, "    %s: %s\n", f.k, f.v)
	}
	return b.String()
}

func TestParseIssueFile(t *testing.T) {
	dir := tokenDir(t)
	cfg, err := config.Parse([]byte(issueFile), dir, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Names(); !slices.Equal(got, []string{"acme"}) {
		t.Fatalf("Names() = %q, want [acme]", got)
	}
	a := cfg.Tenants["acme"]
	if a.URL != "https://acme.imi.chat" {
		t.Errorf("URL = %q", a.URL)
	}
	if want := filepath.Join(dir, "acme.token"); a.AccessTokenFile != want {
		t.Errorf("AccessTokenFile = %q, want %q", a.AccessTokenFile, want)
	}
	if want := []config.TeamID{"4711", "4712"}; !slices.Equal(a.Teams, want) {
		t.Errorf("Teams = %q, want %q", a.Teams, want)
	}
	// Left out, the optional settings are zero: the command line's apply.
	if a.QuotaShare != 0 || a.DailyBudget != 0 || a.FirstPage != nil || a.Concurrency != 0 || a.Lookback != 0 {
		t.Errorf("optional settings not zero: quota_share %v daily_budget %v first_page %v concurrency %v lookback %v",
			a.QuotaShare, a.DailyBudget, a.FirstPage, a.Concurrency, a.Lookback)
	}
	// The HTTP client starts from Prometheus's defaults.
	if !a.HTTPClient.FollowRedirects || !a.HTTPClient.EnableHTTP2 {
		t.Errorf("http_client defaults lost: follow_redirects %v enable_http2 %v",
			a.HTTPClient.FollowRedirects, a.HTTPClient.EnableHTTP2)
	}
}

// TestLoadTestdata reads the files under testdata: their relative names
// resolve against testdata, not against the working directory.
func TestLoadTestdata(t *testing.T) {
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // so that only the file's directory can resolve acme.token
	for _, name := range []string{"issue.yml", "full.yml"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Load(filepath.Join(abs, name), config.Options{})
			if err != nil {
				t.Fatal(err)
			}
			a := cfg.Tenants["acme"]
			if want := filepath.Join(abs, "acme.token"); a.AccessTokenFile != want {
				t.Errorf("AccessTokenFile = %q, want %q", a.AccessTokenFile, want)
			}
			if want := []config.TeamID{"4711", "4712"}; !slices.Equal(a.Teams, want) {
				t.Errorf("Teams = %q, want %q", a.Teams, want)
			}
		})
	}
}

func TestTeamsWrittenAsNumbers(t *testing.T) {
	dir := tokenDir(t)
	for _, tc := range []struct {
		teams string
		want  []config.TeamID
	}{
		{`[4711]`, []config.TeamID{"4711"}},
		{`["4711"]`, []config.TeamID{"4711"}},
		{`['4711']`, []config.TeamID{"4711"}},
		{`[4711, "4712"]`, []config.TeamID{"4711", "4712"}},
		{"\n      - 4711\n      - 4712", []config.TeamID{"4711", "4712"}},
		// An id is the text written: a leading zero is no octal number.
		{`[0471]`, []config.TeamID{"0471"}},
		{`["0471"]`, []config.TeamID{"0471"}},
		{`[0815]`, []config.TeamID{"0815"}},
		{`[team-a, b_2]`, []config.TeamID{"team-a", "b_2"}},
	} {
		t.Run(tc.teams, func(t *testing.T) {
			cfg, err := config.Parse([]byte(acme("teams: "+tc.teams)), dir, config.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Tenants["acme"].Teams; !slices.Equal(got, tc.want) {
				t.Errorf("Teams = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOptionalSettings(t *testing.T) {
	dir := tokenDir(t)
	writeFile(t, dir, "secrets/beta.token", secretToken)
	writeFile(t, dir, "ca.pem", "not read when parsing")
	absToken := writeFile(t, t.TempDir(), "abs.token", secretToken)
	raw := acme(
		"quota_share: 0.25",
		"daily_budget: 5000",
		"first_page: 0",
		"concurrency: 4",
		"lookback: 2h",
		"http_client: {proxy_url: 'http://proxy.internal:3128', tls_config: {ca_file: ca.pem, server_name: acme.imi.chat}}",
	) + `  beta:
    url: https://beta.imi.chat/base
    access_token_file: secrets/beta.token
    teams: [b]
    first_page: 3
    quota_share: 1
  gamma:
    url: https://gamma.imi.chat
    access_token_file: ` + absToken + `
    teams: [g]
`
	cfg, err := config.Parse([]byte(raw), dir, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Tenants["acme"]
	if a.QuotaShare != 0.25 {
		t.Errorf("quota_share = %v, want 0.25", a.QuotaShare)
	}
	if a.DailyBudget != 5000 {
		t.Errorf("daily_budget = %v, want 5000", a.DailyBudget)
	}
	if a.FirstPage == nil || *a.FirstPage != 0 {
		t.Errorf("first_page = %v, want an explicit 0", a.FirstPage)
	}
	if a.Concurrency != 4 {
		t.Errorf("concurrency = %v, want 4", a.Concurrency)
	}
	if a.Lookback != model.Duration(2*time.Hour) {
		t.Errorf("lookback = %v, want 2h", a.Lookback)
	}
	if u := a.HTTPClient.ProxyURL.URL; u == nil || u.String() != "http://proxy.internal:3128" {
		t.Errorf("http_client.proxy_url = %v", u)
	}
	if got, want := a.HTTPClient.TLSConfig.CAFile, filepath.Join(dir, "ca.pem"); got != want {
		t.Errorf("http_client.tls_config.ca_file = %q, want %q", got, want)
	}
	if a.HTTPClient.TLSConfig.ServerName != "acme.imi.chat" {
		t.Errorf("http_client.tls_config.server_name = %q", a.HTTPClient.TLSConfig.ServerName)
	}
	if !a.HTTPClient.FollowRedirects || !a.HTTPClient.EnableHTTP2 {
		t.Errorf("http_client defaults lost when the block is set")
	}

	b := cfg.Tenants["beta"]
	if want := filepath.Join(dir, "secrets", "beta.token"); b.AccessTokenFile != want {
		t.Errorf("beta access_token_file = %q, want %q", b.AccessTokenFile, want)
	}
	if b.FirstPage == nil || *b.FirstPage != 3 {
		t.Errorf("beta first_page = %v, want 3", b.FirstPage)
	}
	if b.QuotaShare != 1 {
		t.Errorf("beta quota_share = %v, want 1", b.QuotaShare)
	}
	if got := cfg.Tenants["gamma"].AccessTokenFile; got != absToken {
		t.Errorf("an absolute access_token_file changed: %q, want %q", got, absToken)
	}
}

// TestAnchorsShared: YAML anchors, aliases and merge keys work across
// tenants, as a file that shares an http_client would write them.
func TestAnchorsShared(t *testing.T) {
	dir := tokenDir(t)
	raw := `tenants:
  acme: &base
    url: https://acme.imi.chat
    access_token_file: acme.token
    teams: [4711]
    http_client: &hc {proxy_url: 'http://proxy.internal:3128'}
  beta:
    <<: *base
    url: https://beta.imi.chat
    teams: [b]
  gamma:
    url: https://gamma.imi.chat
    access_token_file: acme.token
    teams: [g]
    http_client: *hc
`
	cfg, err := config.Parse([]byte(raw), dir, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b, g := cfg.Tenants["acme"], cfg.Tenants["beta"], cfg.Tenants["gamma"]
	if b.URL != "https://beta.imi.chat" || !slices.Equal(b.Teams, []config.TeamID{"b"}) || b.AccessTokenFile != a.AccessTokenFile {
		t.Errorf("merge key: beta = %+v", b)
	}
	for name, tn := range map[string]*config.Tenant{"beta": b, "gamma": g} {
		if !reflect.DeepEqual(tn.HTTPClient, a.HTTPClient) {
			t.Errorf("%s's http_client differs from acme's: %+v", name, tn.HTTPClient)
		}
	}
}

func TestURLsAccepted(t *testing.T) {
	dir := tokenDir(t)
	for _, tc := range []struct {
		url      string
		insecure bool
	}{
		{"https://acme.imi.chat", false},
		{"https://acme.imi.chat/", false},
		{"https://acme.imi.chat:8443/api", false},
		{"http://127.0.0.1:8080", false},
		{"http://127.0.0.1", false},
		{"http://localhost:8080", false},
		{"http://[::1]:8080", false},
		{"http://acme.imi.chat", true},
		{"http://10.0.0.7:8080", true},
	} {
		t.Run(fmt.Sprintf("%s insecure=%v", tc.url, tc.insecure), func(t *testing.T) {
			_, err := config.Parse([]byte(acme("url: "+tc.url)), dir, config.Options{InsecureHTTP: tc.insecure})
			if err != nil {
				t.Fatal(err)
			}
			if err := config.CheckURL(tc.url, tc.insecure); err != nil {
				t.Errorf("CheckURL: %v", err)
			}
		})
	}
}

// TestRejections: every file here is refused, the error names the tenant
// and the setting, and it never holds a token file's content nor a
// credential written in the file.
func TestRejections(t *testing.T) {
	const tenant = `tenant "acme"`
	for _, tc := range []struct {
		name string
		raw  string
		// files are written next to acme.token (which holds secretToken).
		files map[string]string
		want  []string
		// secret, when set, is in the file and must not be in the error.
		secret string
	}{
		// Strict decoding.
		{name: "unknown top-level field", raw: acme() + "tenant:\n  beta: {}\n", want: []string{"tenant not found"}},
		{name: "unknown tenant field", raw: acme("team: [1]"), want: []string{tenant, "team not found"}},
		{name: "misspelt optional field", raw: acme("quota-share: 0.5"), want: []string{tenant, "quota-share"}},
		{name: "unknown http_client field", raw: acme("http_client: {proxy: 'http://p:1'}"), want: []string{tenant, "proxy not found"}},
		{name: "unknown tls_config field", raw: acme("http_client: {tls_config: {ca: x, cafile: y}}"), want: []string{tenant, "cafile"}},
		{name: "teams not a list", raw: acme("teams: 4711"), want: []string{tenant, "TeamID"}},
		{name: "team id a list", raw: acme("teams: [[4711]]"), want: []string{tenant, "!!seq"}},
		{name: "team id a map", raw: acme("teams: [{id: 4711}]"), want: []string{tenant, "!!map"}},
		{name: "lookback not a duration", raw: acme("lookback: soon"), want: []string{tenant, "soon"}},
		{name: "quota_share not a number", raw: acme("quota_share: half"), want: []string{tenant, "half"}},
		{name: "http_client conflicting settings", raw: acme("http_client: {proxy_url: 'http://p:1', proxy_from_environment: true}"),
			want: []string{tenant, "proxy_from_environment"}},

		// Tenants.
		{name: "empty file", raw: "", want: []string{"tenants"}},
		{name: "tenants null", raw: "tenants:\n", want: []string{"tenants"}},
		{name: "tenants empty", raw: "tenants: {}\n", want: []string{"tenants"}},
		{name: "tenant twice", raw: acme() + "  acme:\n    url: https://acme2.imi.chat\n", want: []string{`"acme"`, "already set"}},
		{name: "tenant null", raw: "tenants:\n  acme:\n", want: []string{tenant, "empty"}},
		{name: "tenant name upper case", raw: strings.Replace(acme(), "acme:", "Acme:", 1), want: []string{`tenant "Acme"`, "name"}},
		{name: "tenant name space", raw: strings.Replace(acme(), "acme:", "ac me:", 1), want: []string{`tenant "ac me"`, "name"}},
		{name: "tenant name dot", raw: strings.Replace(acme(), "acme:", "acme.prod:", 1), want: []string{`tenant "acme.prod"`, "name"}},
		{name: "tenant name empty", raw: strings.Replace(acme(), "acme:", `"":`, 1), want: []string{`tenant ""`, "name"}},
		{name: "every bad tenant named", raw: acme("url: ftp://acme.imi.chat") + "  beta:\n    url: https://beta.imi.chat\n    access_token_file: acme.token\n    teams: []\n",
			want: []string{tenant, "url", `tenant "beta"`, "teams"}},

		// url.
		{name: "url missing", raw: acme("url: -"), want: []string{tenant, "url"}},
		{name: "url empty", raw: acme(`url: ""`), want: []string{tenant, "url"}},
		{name: "url no scheme", raw: acme("url: acme.imi.chat"), want: []string{tenant, "url"}},
		{name: "url ftp", raw: acme("url: ftp://acme.imi.chat"), want: []string{tenant, "url"}},
		{name: "url no host", raw: acme("url: https:///path"), want: []string{tenant, "url"}},
		{name: "url with credentials", raw: acme("url: https://user:hunter2-url@acme.imi.chat"), want: []string{tenant, "url", "credentials"}, secret: "hunter2-url"},
		{name: "url with user", raw: acme("url: https://user@acme.imi.chat"), want: []string{tenant, "url", "credentials"}},
		{name: "url ftp with credentials", raw: acme("url: ftp://user:hunter2-ftp@acme.imi.chat"), want: []string{tenant, "url"}, secret: "hunter2-ftp"},
		{name: "url unparsable with credentials", raw: acme("url: 'https://user:hunter2-port@acme.imi.chat:port/'"), want: []string{tenant, "url"}, secret: "hunter2-port"},
		{name: "url ftp with slash in password", raw: acme("url: ftp://user:1234/hunter2-slash@acme.imi.chat"), want: []string{tenant, "url"}, secret: "hunter2-slash"},
		{name: "url unparsable quoted", raw: acme("url: '://acme.imi.chat'"), want: []string{tenant, `url "://acme.imi.chat" is not an http(s) URL`}},
		{name: "url with query", raw: acme("url: https://acme.imi.chat/?team=1"), want: []string{tenant, "url", "query"}},
		{name: "url with fragment", raw: acme("url: https://acme.imi.chat/#x"), want: []string{tenant, "url", "fragment"}},
		{name: "url plain http", raw: acme("url: http://acme.imi.chat"), want: []string{tenant, "url", "plain http"}},
		{name: "url plain http private address", raw: acme("url: http://10.0.0.7:8080"), want: []string{tenant, "url", "plain http"}},
		{name: "url plain http loopback-looking name", raw: acme("url: http://localhost.example.com"), want: []string{tenant, "url", "plain http"}},
		{name: "url plain http 127.0.0.1 prefix", raw: acme("url: http://127.0.0.1.nip.io"), want: []string{tenant, "url", "plain http"}},

		// access_token_file.
		{name: "access_token_file missing", raw: acme("access_token_file: -"), want: []string{tenant, "access_token_file"}},
		{name: "access_token_file empty", raw: acme(`access_token_file: ""`), want: []string{tenant, "access_token_file"}},
		{name: "access_token_file absent", raw: acme("access_token_file: nope.token"), want: []string{tenant, "access_token_file", "nope.token"}},
		{name: "access_token_file a directory", raw: acme("access_token_file: sub"), files: map[string]string{"sub/x": ""}, want: []string{tenant, "access_token_file"}},
		{name: "access_token_file empty file", raw: acme("access_token_file: empty.token"), files: map[string]string{"empty.token": ""},
			want: []string{tenant, "access_token_file", "empty"}},
		{name: "access_token_file blank file", raw: acme("access_token_file: blank.token"), files: map[string]string{"blank.token": " \n\t\n"},
			want: []string{tenant, "access_token_file", "empty"}},
		{name: "access_token_file two lines", raw: acme("access_token_file: two.token"), files: map[string]string{"two.token": secretToken + "\n" + secretToken + "-second\n"},
			want: []string{tenant, "access_token_file", "more than one line"}},
		{name: "access_token_file two lines CRLF", raw: acme("access_token_file: crlf.token"), files: map[string]string{"crlf.token": secretToken + "\r\n" + secretToken + "\r\n"},
			want: []string{tenant, "access_token_file", "more than one line"}},
		{name: "access_token_file inline carriage return", raw: acme("access_token_file: cr.token"), files: map[string]string{"cr.token": secretToken + "\r" + secretToken},
			want: []string{tenant, "access_token_file", "more than one line"}},

		// teams.
		{name: "teams missing", raw: acme("teams: -"), want: []string{tenant, "teams"}},
		{name: "teams empty", raw: acme("teams: []"), want: []string{tenant, "teams"}},
		{name: "team duplicate", raw: acme(`teams: ["4711", "4711"]`), want: []string{tenant, "teams", `"4711"`, "twice"}},
		{name: "team duplicate number and string", raw: acme(`teams: [4711, "4711"]`), want: []string{tenant, "teams", `"4711"`, "twice"}},
		{name: "team id space", raw: acme(`teams: ["47 11"]`), want: []string{tenant, "teams", `"47 11"`}},
		{name: "team id 65 chars", raw: acme(`teams: ["` + strings.Repeat("7", 65) + `"]`), want: []string{tenant, "teams", strings.Repeat("7", 65)}},
		{name: "team id newline", raw: acme(`teams: ["4711\n"]`), want: []string{tenant, "teams", `"4711\n"`}},
		{name: "team id inner newline", raw: acme(`teams: ["47\n11"]`), want: []string{tenant, "teams", `"47\n11"`}},
		{name: "team id empty", raw: acme(`teams: [""]`), want: []string{tenant, "teams"}},
		{name: "team id null", raw: acme(`teams: [~]`), want: []string{tenant, "teams"}},
		{name: "team id colon", raw: acme(`teams: ["a:b"]`), want: []string{tenant, "teams"}},

		// The optional settings.
		{name: "quota_share above 1", raw: acme("quota_share: 1.5"), want: []string{tenant, "quota_share"}},
		{name: "quota_share negative", raw: acme("quota_share: -0.1"), want: []string{tenant, "quota_share"}},
		{name: "quota_share NaN", raw: acme("quota_share: .nan"), want: []string{tenant, "quota_share"}},
		{name: "quota_share infinite", raw: acme("quota_share: .inf"), want: []string{tenant, "quota_share"}},
		{name: "daily_budget negative", raw: acme("daily_budget: -1"), want: []string{tenant, "daily_budget"}},
		{name: "first_page negative", raw: acme("first_page: -1"), want: []string{tenant, "first_page"}},
		{name: "concurrency negative", raw: acme("concurrency: -1"), want: []string{tenant, "concurrency"}},
		{name: "lookback 30m", raw: acme("lookback: 30m"), want: []string{tenant, "lookback"}},
		{name: "lookback just under 1h", raw: acme("lookback: 59m59s"), want: []string{tenant, "lookback"}},

		// http_client: no credentials, no headers.
		{name: "http_client basic_auth", raw: acme("http_client: {basic_auth: {username: u, password: hunter2-basic}}"),
			want: []string{tenant, "http_client", "basic_auth"}, secret: "hunter2-basic"},
		{name: "http_client basic_auth password_file", raw: acme("http_client: {basic_auth: {username: u, password_file: acme.token}}"),
			want: []string{tenant, "http_client", "basic_auth"}},
		{name: "http_client authorization", raw: acme("http_client: {authorization: {credentials: hunter2-authz}}"),
			want: []string{tenant, "http_client", "authorization"}, secret: "hunter2-authz"},
		{name: "http_client authorization credentials_file", raw: acme("http_client: {authorization: {credentials_file: acme.token}}"),
			want: []string{tenant, "http_client", "authorization"}},
		{name: "http_client bearer_token", raw: acme("http_client: {bearer_token: hunter2-bearer}"),
			want: []string{tenant, "http_client", "bearer_token"}, secret: "hunter2-bearer"},
		{name: "http_client bearer_token_file", raw: acme("http_client: {bearer_token_file: acme.token}"),
			want: []string{tenant, "http_client", "bearer_token"}},
		{name: "http_client bearer_token and bearer_token_file", raw: acme("http_client: {bearer_token: hunter2-both, bearer_token_file: acme.token}"),
			want: []string{tenant, "bearer_token"}, secret: "hunter2-both"},
		{name: "http_client oauth2", raw: acme("http_client: {oauth2: {client_id: c, client_secret: hunter2-oauth, token_url: 'https://auth.example/token'}}"),
			want: []string{tenant, "http_client", "oauth2"}, secret: "hunter2-oauth"},
		{name: "http_client http_headers", raw: acme("http_client: {http_headers: {X-Team: {values: [x]}}}"),
			want: []string{tenant, "http_client", "http_headers"}},
		{name: "http_client http_headers secrets", raw: acme("http_client: {http_headers: {Authorization: {secrets: [hunter2-header]}}}"),
			want: []string{tenant, `header "Authorization"`}, secret: "hunter2-header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tokenDir(t)
			for name, content := range tc.files {
				writeFile(t, dir, name, content)
			}
			_, err := config.Parse([]byte(tc.raw), dir, config.Options{})
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.raw)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not name %q:\n%s", w, msg)
				}
			}
			for _, s := range []string{secretToken, tc.secret} {
				if s != "" && strings.Contains(msg, s) {
					t.Errorf("error holds the secret %q:\n%s", s, msg)
				}
			}
			// Load: the same error, after the file's path.
			path := writeFile(t, dir, "imichat.yml", tc.raw)
			_, lerr := config.Load(path, config.Options{})
			if lerr == nil {
				t.Fatal("Load accepted what Parse refused")
			}
			if lmsg := lerr.Error(); !strings.HasPrefix(lmsg, path+": ") || !strings.Contains(lmsg, msg) {
				t.Errorf("Load's error does not put the path before Parse's error:\n%s", lmsg)
			} else if strings.Contains(lmsg, secretToken) || (tc.secret != "" && strings.Contains(lmsg, tc.secret)) {
				t.Errorf("Load's error holds a secret:\n%s", lmsg)
			}
		})
	}
}

// TestInsecureHTTPOnlyRelaxesHTTP: --imichat.insecure-http allows plain
// http off loopback and nothing else.
func TestInsecureHTTPOnlyRelaxesHTTP(t *testing.T) {
	dir := tokenDir(t)
	for _, u := range []string{"ftp://acme.imi.chat", "http://user:pw@acme.imi.chat", "http://acme.imi.chat/?a=b", "acme.imi.chat"} {
		if _, err := config.Parse([]byte(acme("url: "+u)), dir, config.Options{InsecureHTTP: true}); err == nil {
			t.Errorf("url %s accepted with InsecureHTTP", u)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yml")
	_, err := config.Load(path, config.Options{})
	if err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error is not fs.ErrNotExist: %v", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the path %s: %v", path, err)
	}
}

func TestLoadErrorNamesPath(t *testing.T) {
	dir := tokenDir(t)
	path := writeFile(t, dir, "conf.d/imichat.yml", acme("lookback: 30m"))
	_, err := config.Load(path, config.Options{})
	if err == nil {
		t.Fatal("accepted")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the path %s: %v", path, err)
	}
	// The token file is looked for next to the config file, not in the
	// working directory: conf.d has none.
	if !strings.Contains(err.Error(), filepath.Join(dir, "conf.d", "acme.token")) {
		t.Errorf("token file not resolved against the file's directory: %v", err)
	}
}

func TestSameConnection(t *testing.T) {
	dir := tokenDir(t)
	writeFile(t, dir, "other.token", secretToken)
	const proxy = "http_client: {proxy_url: 'http://proxy.internal:3128'}"
	parse := func(t *testing.T, raw string) *config.Tenant {
		t.Helper()
		cfg, err := config.Parse([]byte(raw), dir, config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Tenants["acme"]
	}
	for _, tc := range []struct {
		name   string
		a, b   string
		same   bool
		client bool // build an HTTP client from a first, as the exporter does
	}{
		{name: "equal", a: acme(), b: acme(), same: true},
		{name: "equal with http_client", a: acme(proxy), b: acme(proxy), same: true},
		{name: "equal after a client was built", a: acme(proxy), b: acme(proxy), same: true, client: true},
		{name: "teams", a: acme(), b: acme("teams: [4711, 4713, 4714]"), same: true},
		{name: "quota_share", a: acme(), b: acme("quota_share: 0.5"), same: true},
		{name: "lookback", a: acme("lookback: 2h"), b: acme("lookback: 6h"), same: true},
		{name: "daily_budget, first_page, concurrency", a: acme(), b: acme("daily_budget: 10", "first_page: 0", "concurrency: 2"), same: true},
		{name: "url", a: acme(), b: acme("url: https://acme2.imi.chat")},
		{name: "url path", a: acme(), b: acme("url: https://acme.imi.chat/v2")},
		{name: "token file", a: acme(), b: acme("access_token_file: other.token")},
		{name: "proxy_url", a: acme(proxy), b: acme("http_client: {proxy_url: 'http://proxy2.internal:3128'}")},
		{name: "proxy_url added", a: acme(), b: acme(proxy)},
		{name: "tls_config", a: acme(), b: acme("http_client: {tls_config: {server_name: other.imi.chat}}")},
		{name: "follow_redirects", a: acme(), b: acme("http_client: {follow_redirects: false}")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := parse(t, tc.a), parse(t, tc.b)
			if tc.client {
				if _, err := promconfig.NewClientFromConfig(a.HTTPClient, "imichat"); err != nil {
					t.Fatal(err)
				}
			}
			if got := a.SameConnection(b); got != tc.same {
				t.Errorf("a.SameConnection(b) = %v, want %v", got, tc.same)
			}
			if got := b.SameConnection(a); got != tc.same {
				t.Errorf("b.SameConnection(a) = %v, want %v", got, tc.same)
			}
		})
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want config.Shard
		ok   bool
	}{
		{"0/1", config.Shard{Index: 0, Count: 1}, true},
		{"2/3", config.Shard{Index: 2, Count: 3}, true},
		{"0/3", config.Shard{Index: 0, Count: 3}, true},
		{"9/10", config.Shard{Index: 9, Count: 10}, true},
		{"3/3", config.Shard{}, false},
		{"4/3", config.Shard{}, false},
		{"-1/3", config.Shard{}, false},
		{"1/-3", config.Shard{}, false},
		{"1/0", config.Shard{}, false},
		{"0/0", config.Shard{}, false},
		{"a/b", config.Shard{}, false},
		{"1/3x", config.Shard{}, false},
		{"01/3", config.Shard{}, false},
		{"1/03", config.Shard{}, false},
		{"+1/3", config.Shard{}, false},
		{" 1/3", config.Shard{}, false},
		{"1 /3", config.Shard{}, false},
		{"1/ 3", config.Shard{}, false},
		{"1/3 ", config.Shard{}, false},
		{"1", config.Shard{}, false},
		{"1/", config.Shard{}, false},
		{"/3", config.Shard{}, false},
		{"", config.Shard{}, false},
		{"1/2/3", config.Shard{}, false},
		{"0x1/3", config.Shard{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := config.ParseShard(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseShard(%q) error = %v, want ok %v", tc.in, err, tc.ok)
			}
			if got != tc.want {
				t.Errorf("ParseShard(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), strconv.Quote(tc.in)) {
				t.Errorf("error does not quote the input: %v", err)
			}
		})
	}
}

// tenantNames are ~200 names of the kinds a file holds.
func tenantNames() []string {
	names := []string{"acme", "beta", "gamma", "a", "0", "_", "-", "acme-prod", "acme_prod", "x1234567890"}
	for i := range 190 {
		names = append(names, fmt.Sprintf("tenant-%d", i))
	}
	return names
}

// prometheusHashMod is what Prometheus's relabelling {source_labels:
// [__param_tenant], modulus: n, target_label: __tmp_shard, action: hashmod}
// writes into __tmp_shard for a probe of tenant.
func prometheusHashMod(t *testing.T, tenant string, n uint64) string {
	t.Helper()
	cfg := relabel.DefaultRelabelConfig
	cfg.SourceLabels = model.LabelNames{"__param_tenant"}
	cfg.Modulus = n
	cfg.TargetLabel = "__tmp_shard"
	cfg.Action = relabel.HashMod
	cfg.NameValidationScheme = model.UTF8Validation
	if err := cfg.Validate(model.UTF8Validation); err != nil {
		t.Fatal(err)
	}
	lb := labels.NewBuilder(labels.FromStrings("__param_tenant", tenant))
	if !relabel.ProcessBuilder(lb, &cfg) {
		t.Fatalf("hashmod dropped tenant %q", tenant)
	}
	return lb.Labels().Get("__tmp_shard")
}

func TestHashModMatchesPrometheus(t *testing.T) {
	for _, name := range tenantNames() {
		for n := uint64(1); n <= 7; n++ {
			want := prometheusHashMod(t, name, n)
			got := config.HashMod(name, n)
			if strconv.FormatUint(got, 10) != want {
				t.Fatalf("HashMod(%q, %d) = %d, Prometheus's hashmod gives %s", name, n, got, want)
			}
			for i := range n {
				owns := config.Shard{Index: i, Count: n}.Owns(name)
				if owns != (strconv.FormatUint(i, 10) == want) {
					t.Fatalf("Shard{%d, %d}.Owns(%q) = %v, Prometheus's hashmod gives %s", i, n, name, owns, want)
				}
			}
		}
	}
}

// TestHashModSpreads guards against a HashMod that matches Prometheus by
// accident of a constant (every name in shard 0).
func TestHashModSpreads(t *testing.T) {
	for n := uint64(2); n <= 7; n++ {
		seen := map[uint64]bool{}
		for _, name := range tenantNames() {
			seen[config.HashMod(name, n)] = true
		}
		if uint64(len(seen)) != n {
			t.Errorf("modulus %d: 200 names fall into %d shards", n, len(seen))
		}
	}
}

func TestOnlyPartitions(t *testing.T) {
	all := &config.Config{Tenants: map[string]*config.Tenant{}}
	for _, name := range tenantNames() {
		all.Tenants[name] = &config.Tenant{URL: "https://" + name + ".imi.chat"}
	}
	if got := all.Only(config.Shard{}); !reflect.DeepEqual(got, all) || !slices.Equal(got.Names(), all.Names()) {
		t.Errorf("Only(Shard{}) does not return every tenant: %d of %d", len(got.Tenants), len(all.Tenants))
	}
	for name := range all.Tenants {
		if !(config.Shard{}).Owns(name) {
			t.Errorf("Shard{} does not own %q", name)
		}
	}
	for n := uint64(1); n <= 7; n++ {
		owner := map[string]uint64{}
		for i := range n {
			part := all.Only(config.Shard{Index: i, Count: n})
			for name, tn := range part.Tenants {
				if prev, ok := owner[name]; ok {
					t.Errorf("modulus %d: tenant %q in shards %d and %d", n, name, prev, i)
				}
				owner[name] = i
				if tn != all.Tenants[name] {
					t.Errorf("modulus %d: shard %d's tenant %q is not the file's", n, i, name)
				}
				if want := prometheusHashMod(t, name, n); strconv.FormatUint(i, 10) != want {
					t.Errorf("modulus %d: tenant %q in shard %d, Prometheus sends it to %s", n, name, i, want)
				}
			}
		}
		if len(owner) != len(all.Tenants) {
			t.Errorf("modulus %d: %d of %d tenants in some shard", n, len(owner), len(all.Tenants))
		}
	}
	// Only leaves the file alone.
	if len(all.Tenants) != len(tenantNames()) {
		t.Errorf("Only changed the file: %d tenants left", len(all.Tenants))
	}
}

func TestNamesSorted(t *testing.T) {
	dir := tokenDir(t)
	var b strings.Builder
	b.WriteString("tenants:\n")
	in := []string{"zulu", "acme", "m-2", "m-10", "m_1", "0day", "beta", "a"}
	for _, name := range in {
		fmt.Fprintf(&b, "  %s:\n    url: https://%s.imi.chat\n    access_token_file: acme.token\n    teams: [1]\n", name, name)
	}
	cfg, err := config.Parse([]byte(b.String()), dir, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(in)
	slices.Sort(want)
	for range 5 { // map order varies from call to call
		if got := cfg.Names(); !slices.Equal(got, want) {
			t.Fatalf("Names() = %q, want %q", got, want)
		}
	}
	if got := (&config.Config{}).Names(); len(got) != 0 {
		t.Errorf("Names() of an empty config = %q", got)
	}
}

// TestEveryErrorLineNamesItsTenant: a tenant with several problems, and
// one with several unmarshal errors: every line of the error names the
// tenant it is about.
func TestEveryErrorLineNamesItsTenant(t *testing.T) {
	dir := t.TempDir()
	raw := `tenants:
  acme:
    url: ftp://acme.example
    access_token_file: missing.token
    teams: []
    quota_share: 3
    concurrency: -1
  globex:
    url: https://globex.imi.chat
    access_token_file: g.token
    teams: ["1"]
    quota_share: lots
    concurrency: many
`
	_, err := config.Parse([]byte(raw), dir, config.Options{})
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) < 5 {
		t.Errorf("%d lines, want one per problem:\n%s", len(lines), err)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, `tenant "acme": `) && !strings.HasPrefix(l, `tenant "globex": `) {
			t.Errorf("a line that names no tenant: %q", l)
		}
	}
	if !strings.Contains(err.Error(), `tenant "acme": quota_share must be in (0, 1]`) {
		t.Errorf("quota_share's line does not name acme:\n%s", err)
	}
}

// TestProxyAndTLSVerificationNeedInsecureHTTP: a plain-http url through
// a proxy_url (even on loopback: the proxy gets the token in clear) and
// insecure_skip_verify are refused unless --imichat.insecure-http, and with
// it are reported by Insecure, for a warning at load; an https url through
// a plain-http proxy is a tunnel, and needs nothing.
func TestProxyAndTLSVerificationNeedInsecureHTTP(t *testing.T) {
	dir := tokenDir(t)
	cases := []struct {
		name       string
		edits      []string
		insecure   bool
		wantErr    string // "" accepted
		wantReason string // in Insecure(); "" none
	}{
		{"loopback http through a proxy", []string{"url: http://127.0.0.1:8080", "http_client: {proxy_url: 'http://proxy.example:3128'}"}, false,
			"url is plain http through http_client.proxy_url", ""},
		{"loopback http through a proxy, allowed", []string{"url: http://127.0.0.1:8080", "http_client: {proxy_url: 'http://proxy.example:3128'}"}, true,
			"", "proxy receives the access token in clear"},
		{"https through a plain-http proxy", []string{"http_client: {proxy_url: 'http://proxy.example:3128'}"}, false, "", ""},
		{"loopback http", []string{"url: http://127.0.0.1:8080"}, false, "", ""},
		{"plain http, allowed", []string{"url: http://acme.imi.chat"}, true, "", "crosses the network in clear"},
		{"insecure_skip_verify", []string{"http_client: {tls_config: {insecure_skip_verify: true}}"}, false,
			"http_client.tls_config.insecure_skip_verify", ""},
		{"insecure_skip_verify, allowed", []string{"http_client: {tls_config: {insecure_skip_verify: true}}"}, true,
			"", "certificate is not checked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(acme(c.edits...)), dir, config.Options{InsecureHTTP: c.insecure})
			switch {
			case c.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "--imichat.insecure-http") {
					t.Fatalf("error %v, want one with %q naming --imichat.insecure-http", err, c.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("refused: %v", err)
			}
			why := strings.Join(cfg.Tenants["acme"].Insecure(), "\n")
			if c.wantReason == "" && why != "" || !strings.Contains(why, c.wantReason) {
				t.Errorf("Insecure() = %q, want %q", why, c.wantReason)
			}
		})
	}
}
