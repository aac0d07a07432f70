// Package config reads the exporter's configuration file: the tenants of
// multi-target mode, their teams, and how each tenant is reached. It checks
// every setting when the file is read, so that a bad file is refused whole,
// before anything runs on it (at start-up, or at a reload that then keeps
// the running configuration). Single-tenant mode's flags make a Config of
// one tenant, run the same way.
package config

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	promconfig "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v2"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/internal/boundedfile"
)

// Config is the whole file.
type Config struct {
	// Tenants by name; the name is the probe's tenant parameter.
	Tenants map[string]*Tenant `yaml:"tenants"`
}

// Tenant is one imi.chat tenant: one URL, one access token, one quota,
// one or more teams. The settings left out (zero) take the command line's
// values.
type Tenant struct {
	URL             string   `yaml:"url"`
	AccessTokenFile string   `yaml:"access_token_file"`
	Teams           []TeamID `yaml:"teams"`

	Settings `yaml:",inline"`

	HTTPClient promconfig.HTTPClientConfig `yaml:"http_client,omitempty"`

	// Token, when not nil, is where the token comes from instead of a
	// FileToken of AccessTokenFile: single-tenant mode's, which may come
	// from the environment and is read again on SIGHUP. A file never
	// sets it: the token comes from a file, never from this one.
	Token apiclient.TokenSource `yaml:"-"`
}

// TeamID is a team's id as the API's teamid header carries it. The file
// may write it as a string or a number.
type TeamID string

// UnmarshalYAML takes a scalar, quoted or not, as written: teams: [4711]
// and teams: ["4711"] mean the same, and teams: [0471] is "0471" (not the
// octal number 313 that YAML 1.1 would read).
func (t *TeamID) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	*t = TeamID(s)
	return nil
}

// Options are what the command line decides about every tenant.
type Options struct {
	// InsecureHTTP allows a plain-http URL off loopback.
	InsecureHTTP bool
}

var (
	tenantName = regexp.MustCompile(`^[a-z0-9_-]+$`)
	// teamIDSyntax keeps team ids header-safe and readable as label values.
	teamIDSyntax = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// MaxFileBytes bounds the configuration file: a thousand tenants take a
// few hundred KiB.
const MaxFileBytes = 4 << 20

// Load reads and checks the file at path, a regular file of at most
// MaxFileBytes. Relative file names in it (the token files, TLS files) are
// relative to the file's directory.
func Load(path string, opts Options) (*Config, error) {
	raw, err := boundedfile.Read(path, MaxFileBytes)
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(raw, filepath.Dir(path), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes and checks a file's content; dir is the directory that
// relative file names are relative to.
func Parse(raw []byte, dir string, opts Options) (*Config, error) {
	var file struct {
		Tenants map[string]tenantValue `yaml:"tenants"`
	}
	if err := yaml.UnmarshalStrict(raw, &file); err != nil {
		return nil, err
	}
	if len(file.Tenants) == 0 {
		return nil, errors.New("no tenants: list at least one under the key tenants")
	}
	cfg := &Config{Tenants: make(map[string]*Tenant, len(file.Tenants))}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(file.Tenants)) { // errors in a stable order
		v := file.Tenants[name]
		if v.decode == nil {
			errs = append(errs, fmt.Errorf("tenant %q: empty", name))
			continue
		}
		t := &Tenant{}
		if err := v.decode(t); err != nil {
			errs = append(errs, ofTenant(name, err)...)
			continue
		}
		cfg.Tenants[name] = t
		if t.AccessTokenFile != "" && !filepath.IsAbs(t.AccessTokenFile) {
			t.AccessTokenFile = filepath.Join(dir, t.AccessTokenFile)
		}
		t.HTTPClient.SetDirectory(dir)
		if err := t.check(name, opts); err != nil {
			errs = append(errs, ofTenant(name, err)...)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ofTenant names the tenant on every line of err: on each of a joined
// error's errors, and on each line of a multi-line one (YAML's list of
// unmarshal errors).
func ofTenant(name string, err error) []error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []error
	for _, e := range errs {
		if !strings.Contains(e.Error(), "\n") {
			out = append(out, fmt.Errorf("tenant %q: %w", name, e))
			continue
		}
		for _, line := range strings.Split(e.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, fmt.Errorf("tenant %q: %s", name, line))
			}
		}
	}
	return out
}

// tenantValue keeps a tenant's YAML until Parse knows the tenant's name, so
// that an error in decoding it (an unknown field, a value of the wrong type,
// an http_client that Prometheus's own checks refuse) names the tenant.
type tenantValue struct{ decode func(any) error }

func (v *tenantValue) UnmarshalYAML(unmarshal func(any) error) error {
	v.decode = unmarshal
	return nil
}

// UnmarshalYAML starts every tenant from the defaults of an HTTP client
// (redirects followed, HTTP/2 on), as Prometheus does.
func (t *Tenant) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Tenant
	*t = Tenant{HTTPClient: promconfig.DefaultHTTPClientConfig}
	return unmarshal((*plain)(t))
}

// Names returns the tenants' names, sorted.
func (c *Config) Names() []string { return slices.Sorted(maps.Keys(c.Tenants)) }

func (t *Tenant) check(name string, opts Options) error {
	if !tenantName.MatchString(name) {
		return errors.New("the name must match [a-z0-9_-]+")
	}
	var errs []error
	check := func(bad bool, msg string) {
		if bad {
			errs = append(errs, errors.New(msg))
		}
	}
	errs = append(errs, CheckConnection(t.URL, &t.HTTPClient, opts)...)
	if t.AccessTokenFile == "" {
		errs = append(errs, errors.New("access_token_file is required: the token comes from a file, never from this one"))
	} else if err := CheckTokenFile(t.AccessTokenFile); err != nil {
		errs = append(errs, fmt.Errorf("access_token_file: %w", err))
	}
	check(len(t.Teams) == 0, "teams: list at least one team id")
	seen := map[TeamID]bool{}
	for _, id := range t.Teams {
		switch {
		case !teamIDSyntax.MatchString(string(id)):
			errs = append(errs, fmt.Errorf("teams: %q is not a team id (letters, digits, _ . -; at most 64)", id))
		case seen[id]:
			errs = append(errs, fmt.Errorf("teams: %q is listed twice", id))
		}
		seen[id] = true
	}
	errs = append(errs, t.Settings.Check(false, func(key string) string { return key })...)
	return errors.Join(errs...)
}

// LoadHTTPClient reads single-tenant mode's --imichat.http-client-file: a
// tenant's http_client on its own (CA, proxy, TLS), its relative paths
// taken from the file's directory, checked as a tenant's is for rawURL.
func LoadHTTPClient(path, rawURL string, opts Options) (*promconfig.HTTPClientConfig, error) {
	raw, err := boundedfile.Read(path, MaxFileBytes)
	if err != nil {
		return nil, err
	}
	h := promconfig.DefaultHTTPClientConfig
	if err := yaml.UnmarshalStrict(raw, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	h.SetDirectory(filepath.Dir(path))
	if err := errors.Join(CheckConnection(rawURL, &h, opts)...); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &h, nil
}

// CheckConnection checks how the access token would travel to rawURL
// through h: a tenant's url and http_client, or single-tenant mode's
// --imichat.url and --imichat.http-client-file. One error per problem.
func CheckConnection(rawURL string, h *promconfig.HTTPClientConfig, opts Options) []error {
	var errs []error
	check := func(bad bool, msg string) {
		if bad {
			errs = append(errs, errors.New(msg))
		}
	}
	if err := CheckURL(rawURL, opts.InsecureHTTP); err != nil {
		errs = append(errs, fmt.Errorf("url %w", err))
	} else if !opts.InsecureHTTP && plainHTTPThroughProxy(rawURL, h) {
		// The loopback exception does not hold: the request goes to
		// the proxy, in clear, token and all.
		errs = append(errs, errors.New("url is plain http through http_client.proxy_url: the proxy would receive the access token in clear; use https or set --imichat.insecure-http"))
	}
	check(h.TLSConfig.InsecureSkipVerify && !opts.InsecureHTTP,
		"http_client.tls_config.insecure_skip_verify: the tenant's certificate would go unchecked, and whoever is on the way could read the access token; set --imichat.insecure-http to allow it")
	check(h.BasicAuth != nil || h.Authorization != nil || h.OAuth2 != nil || h.BearerToken != "" || h.BearerTokenFile != "",
		"http_client must not set credentials (basic_auth, authorization, oauth2, bearer_token): the access token comes from access_token_file")
	check(h.HTTPHeaders != nil, "http_client.http_headers is not supported: the exporter sets the API's headers itself")
	if err := h.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("http_client: %w", err))
	}
	// The TLS files are read by the HTTP client: a named pipe or a device
	// there would hang or flood it. (A missing one is the client's to
	// report, as before.)
	for _, f := range []struct{ key, path string }{
		{"ca_file", h.TLSConfig.CAFile}, {"cert_file", h.TLSConfig.CertFile}, {"key_file", h.TLSConfig.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if err := boundedfile.CheckRegular(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("http_client.tls_config.%s: %w", f.key, err))
		}
	}
	return errs
}

func (t *Tenant) plainHTTPThroughProxy() bool {
	return plainHTTPThroughProxy(t.URL, &t.HTTPClient)
}

func plainHTTPThroughProxy(rawURL string, h *promconfig.HTTPClientConfig) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Scheme == "http" && h.ProxyURL.URL != nil
}

// Insecure says how the tenant's access token is exposed on the way, as
// --imichat.insecure-http allowed it: one reason a line, for a warning at
// load; nil when it is not.
func (t *Tenant) Insecure() []string {
	var why []string
	if u, err := url.Parse(t.URL); err == nil && u.Scheme == "http" && !IsLoopback(u.Hostname()) {
		why = append(why, "url is plain http: the access token crosses the network in clear")
	}
	if t.plainHTTPThroughProxy() {
		why = append(why, "url is plain http through http_client.proxy_url: the proxy receives the access token in clear")
	}
	if t.HTTPClient.TLSConfig.InsecureSkipVerify {
		why = append(why, "http_client.tls_config.insecure_skip_verify: the tenant's certificate is not checked")
	}
	return why
}

// CheckURL rejects an upstream URL that is not http(s) with a host, one
// that carries credentials, a query or a fragment, and a plain-http one
// off loopback unless insecure: the access token would cross the network
// in clear. Its errors read after the setting's name, and never hold the
// URL's password.
func CheckURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("%s is not an http(s) URL with a host", quoteURL(raw, u))
	case u.User != nil:
		return errors.New("must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not carry a query or a fragment")
	case u.Scheme == "http" && !insecure && !IsLoopback(u.Hostname()):
		return errors.New("is plain http: the access token would cross the network in clear; use https or set --imichat.insecure-http")
	}
	return nil
}

// quoteURL quotes a URL for an error without its password: redacted when
// the URL parsed (u) with credentials, not shown when it holds an @ that
// did not parse as credentials' end (what precedes it may be a password).
func quoteURL(raw string, u *url.URL) string {
	switch {
	case u != nil && u.User != nil:
		return strconv.Quote(u.Redacted())
	case strings.Contains(raw, "@"):
		return "(not shown: it holds an @)"
	}
	return strconv.Quote(raw)
}

// Origin is the API tenant a URL reaches, for the quota it counts against:
// its scheme, host and port, normalised (lower case, no trailing dot, the
// scheme's default port explicit), so that spellings of one URL
// (https://Acme.imi.chat, https://acme.imi.chat:443/) are one origin. The
// path is not part of it: the API counts a tenant's requests by host.
func Origin(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// IsLoopback tells whether host names this machine.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckTokenFile reads the token file as the client will
// (apiclient.FileToken, whose rules it takes), and says what is wrong with
// it without ever saying what it holds: a problem of the file itself
// after its path ("PATH: not a regular file"), one of its content in a
// sentence that names it.
func CheckTokenFile(path string) error {
	_, err := (&apiclient.FileToken{Path: path}).Token()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", path, pe.Err)
	}
	return err
}

// SameConnection tells whether two tenants reach the API the same way:
// URL, token and HTTP client. A tenant whose connection did not change at
// a reload keeps its teams' state.
func (t *Tenant) SameConnection(o *Tenant) bool {
	return t.URL == o.URL && t.AccessTokenFile == o.AccessTokenFile && t.Token == o.Token &&
		reflect.DeepEqual(t.HTTPClient, o.HTTPClient)
}

// Shard is the part of the tenants that one of several replicas runs:
// replica Index of Count.
type Shard struct{ Index, Count uint64 }

// ParseShard reads "I/N" (0 ≤ I < N).
func ParseShard(s string) (Shard, error) {
	var sh Shard
	if _, err := fmt.Sscanf(s, "%d/%d", &sh.Index, &sh.Count); err != nil || sh.Count == 0 || sh.Index >= sh.Count ||
		fmt.Sprintf("%d/%d", sh.Index, sh.Count) != s {
		return Shard{}, fmt.Errorf("%q is not a shard I/N with 0 ≤ I < N", s)
	}
	return sh, nil
}

// Owns tells whether the replica runs the tenant: Prometheus's hashmod of
// the tenant's name (the __param_tenant label) modulo Count is Index, so
// that relabelling with action hashmod sends every probe of a tenant to
// the replica that keeps its state. The zero Shard owns every tenant.
func (s Shard) Owns(tenant string) bool {
	if s.Count == 0 {
		return true
	}
	return HashMod(tenant, s.Count) == s.Index
}

// HashMod is Prometheus's relabelling hashmod: the last 8 bytes of the
// value's MD5, big-endian, modulo n.
func HashMod(value string, n uint64) uint64 {
	sum := md5.Sum([]byte(value))
	return binary.BigEndian.Uint64(sum[8:]) % n
}

// Only returns the tenants the shard owns (the file itself when it owns
// every one).
func (c *Config) Only(s Shard) *Config {
	if s.Count == 0 {
		return c
	}
	out := &Config{Tenants: map[string]*Tenant{}}
	for name, t := range c.Tenants {
		if s.Owns(name) {
			out.Tenants[name] = t
		}
	}
	return out
}
