package main

import (
	"runtime/debug"
	"testing"

	"github.com/prometheus/common/version"
)

func TestFillVersion(t *testing.T) {
	vcs := func(rev, tm, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: tm}, {Key: "vcs.modified", Value: modified}}
	}
	type info struct{ version, revision, branch, date string }
	tests := []struct {
		name    string
		ldflags info // set before, as -ldflags -X would
		bi      debug.BuildInfo
		want    info
	}{
		{"plain go build from a tag", info{},
			debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: vcs("abc123", "2026-01-02T03:04:05Z", "false")},
			info{"v1.2.3", "abc123", "", "2026-01-02T03:04:05Z"}},
		{"plain go build, dirty tree", info{},
			debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260102030405-abc123def456+dirty"}, Settings: vcs("abc123def4567890", "2026-01-02T03:04:05Z", "true")},
			info{"v0.0.0-20260102030405-abc123def456+dirty", "abc123def4567890-modified", "", "2026-01-02T03:04:05Z"}},
		{"no VCS stamp", info{},
			debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			info{"(devel)", "", "", ""}},
		{"make build: ldflags win", info{"1.0.0", "feedface", "main", ""},
			debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}, Settings: vcs("abc123", "2026-01-02T03:04:05Z", "true")},
			info{"1.0.0", "feedface", "main", "2026-01-02T03:04:05Z"}},
	}
	saved := info{version.Version, version.Revision, version.Branch, version.BuildDate}
	defer func() {
		version.Version, version.Revision, version.Branch, version.BuildDate = saved.version, saved.revision, saved.branch, saved.date
	}()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version.Version, version.Revision, version.Branch, version.BuildDate = tt.ldflags.version, tt.ldflags.revision, tt.ldflags.branch, tt.ldflags.date
			fillVersion(&tt.bi)
			if got := (info{version.Version, version.Revision, version.Branch, version.BuildDate}); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
