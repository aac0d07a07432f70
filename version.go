package main

import (
	"runtime/debug"

	"github.com/prometheus/common/version"
)

// Version information comes from -ldflags -X (make build). A plain go build
// or go install leaves it empty: fill it from the build information Go
// stamps into every binary, the module version and the VCS revision.
func init() {
	bi, ok := debug.ReadBuildInfo()
	if ok {
		fillVersion(bi)
	}
}

// fillVersion sets what ldflags left empty: Version from the main module's
// version (a tag, or a pseudo-version from the commit), Revision from
// vcs.revision (with -modified for a dirty work tree, as
// version.GetRevision does), BuildDate from vcs.time (the commit's time).
// The branch is not in the build information.
func fillVersion(bi *debug.BuildInfo) {
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if version.Version == "" && bi.Main.Version != "" {
		version.Version = bi.Main.Version
	}
	if rev := settings["vcs.revision"]; version.Revision == "" && rev != "" {
		if settings["vcs.modified"] == "true" {
			rev += "-modified"
		}
		version.Revision = rev
	}
	if t := settings["vcs.time"]; version.BuildDate == "" && t != "" {
		version.BuildDate = t
	}
}
