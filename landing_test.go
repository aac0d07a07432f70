package main

import (
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
