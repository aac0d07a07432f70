package main

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLandingPageLinks follows every link of the landing page to this
// exporter: each answers 200. The CPU profile is fetched for 1 s instead of
// the 60 s the page offers.
func TestLandingPageLinks(t *testing.T) {
	addr := freeAddr(t)
	startExporter(t, []string{"--demo", "--web.listen-address=" + addr})
	base, _ := url.Parse("http://" + addr + "/")
	waitFor(t, base.String(), 10*time.Second)
	page := get(t, base.String())

	var links []string
	for _, m := range regexp.MustCompile(`(?i)href="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		ref, err := url.Parse(m[1])
		if err != nil {
			t.Errorf("link %q: %v", m[1], err)
			continue
		}
		u := base.ResolveReference(ref)
		if u.Host != base.Host {
			continue // pprof.me and the like
		}
		if q := u.Query(); q.Has("seconds") {
			q.Set("seconds", "1")
			u.RawQuery = q.Encode()
		}
		links = append(links, u.String())
	}
	for _, want := range []string{"/metrics", "/debug/pprof/heap", "/debug/pprof/profile"} {
		if !strings.Contains(strings.Join(links, " "), want) {
			t.Errorf("the landing page has no link to %s: %v", want, links)
		}
	}
	client := &http.Client{Timeout: time.Minute}
	for _, l := range links {
		resp, err := client.Get(l)
		if err != nil {
			t.Errorf("%s: %v", l, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: HTTP %d", l, resp.StatusCode)
		}
	}
}

// TestLandingPageTargets: in multi-target mode the landing page lists every
// target with its probe and debug links, and links /config; each link
// answers 200.
func TestLandingPageTargets(t *testing.T) {
	f := startTwoTenants(t, 4, 4, 4)
	base, _ := url.Parse(f.base + "/")
	page := get(t, base.String())
	var links []string
	for _, m := range regexp.MustCompile(`(?i)href="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		ref, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatalf("link %q: %v", m[1], err)
		}
		if u := base.ResolveReference(ref); u.Host == base.Host && !strings.Contains(u.Path, "pprof") {
			links = append(links, u.String())
		}
	}
	all := strings.Join(links, " ")
	for _, want := range []string{"/config", "/metrics", "/-/ready",
		"/probe?target=acme%2F4711", "/probe?target=acme%2F4712", "/probe?target=globex%2F1",
		"/probe?target=acme%2F4711&debug=true", "/probe?target=globex%2F1&debug=true"} {
		if !strings.Contains(all, want) {
			t.Errorf("the landing page has no link to %s: %v", want, links)
		}
	}
	if !strings.Contains(page, `action="/probe"`) || !strings.Contains(page, `name="target"`) {
		t.Error("the landing page has no form to probe a target")
	}
	for _, l := range links {
		resp, err := http.Get(l)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: HTTP %d", l, resp.StatusCode)
		}
	}
}
