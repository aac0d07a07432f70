// Command vulndb builds a Go vulnerability database in the v1 layout that
// govulncheck's -db file:// flag reads (index/db.json, index/modules.json,
// index/vulns.json, ID/<id>.json) from the OSV entries in a copy of the
// golang.org/x/vulndb module (data/osv/*.json), as downloaded by
//
//	go mod download -json golang.org/x/vulndb@VERSION > download.json
//	go run ./tools/vulndb -download download.json -out DIR
//
// The module's entries carry no modification time (the public database
// stamps it when it deploys); every zero one is set to the time of the
// module's commit, so that govulncheck reports the snapshot's date.
//
// The modules index leaves each vulnerability's optional "fixed" version
// empty: govulncheck then reads every entry of a module it finds and decides
// from the entry's ranges, which is slower by milliseconds and never wrong.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// download is the part of `go mod download -json` output used here.
type download struct {
	Path    string
	Version string
	Info    string // the .info file, which holds the commit time
	Dir     string // the extracted module
	Error   string
}

// entry is the part of an OSV entry the indexes need.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

type dbMeta struct {
	Modified time.Time `json:"modified"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

func main() {
	dl := flag.String("download", "", "output of `go mod download -json golang.org/x/vulndb@VERSION`")
	out := flag.String("out", "", "directory to write the database to (replaced)")
	flag.Parse()
	if *dl == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: vulndb -download FILE -out DIR")
		os.Exit(2)
	}
	n, err := build(*dl, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
	fmt.Printf("vulndb: %d entries written to %s\n", n, *out)
}

func build(downloadJSON, out string) (int, error) {
	raw, err := os.ReadFile(downloadJSON)
	if err != nil {
		return 0, err
	}
	var d download
	if err := json.Unmarshal(raw, &d); err != nil {
		return 0, fmt.Errorf("%s: %w", downloadJSON, err)
	}
	if d.Error != "" {
		return 0, fmt.Errorf("go mod download: %s", d.Error)
	}
	if d.Dir == "" || d.Info == "" {
		return 0, fmt.Errorf("%s names no module directory or info file", downloadJSON)
	}
	var info struct{ Time time.Time }
	raw, err = os.ReadFile(d.Info)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(raw, &info); err != nil || info.Time.IsZero() {
		return 0, fmt.Errorf("%s: no commit time (%v)", d.Info, err)
	}
	return write(filepath.Join(d.Dir, "data", "osv"), out, info.Time.UTC())
}

// write converts the OSV files in src into a v1 database in out. It writes
// to a sibling directory first and renames it, so that an interrupted run
// never leaves a partial database behind.
func write(src, out string, stamp time.Time) (int, error) {
	files, err := filepath.Glob(filepath.Join(src, "*.json"))
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no OSV entries in %s", src)
	}
	tmp := out + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "ID"), 0o755); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "index"), 0o755); err != nil {
		return 0, err
	}

	var db dbMeta
	modules := map[string]*module{}
	var vulns []vuln
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		if e.ID == "" || filepath.Base(f) != e.ID+".json" {
			return 0, fmt.Errorf("%s: entry id %q does not match the file name", f, e.ID)
		}
		if e.Modified.IsZero() {
			e.Modified = stamp
			if raw, err = setModified(raw, stamp); err != nil {
				return 0, fmt.Errorf("%s: %w", f, err)
			}
		}
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return 0, err
		}
		if e.Modified.After(db.Modified) {
			db.Modified = e.Modified
		}
		vulns = append(vulns, vuln{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		seen := map[string]bool{}
		for _, a := range e.Affected {
			p := a.Package.Name
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			m := modules[p]
			if m == nil {
				m = &module{Path: p}
				modules[p] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
	}

	mods := make([]*module, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	for name, v := range map[string]any{"db.json": db, "modules.json": mods, "vulns.json": vulns} {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(tmp, "index", name), b, 0o644); err != nil {
			return 0, err
		}
	}
	if err := os.RemoveAll(out); err != nil {
		return 0, err
	}
	return len(files), os.Rename(tmp, out)
}

// setModified replaces the entry's "modified" field, keeping the rest of
// the entry as it was.
func setModified(raw []byte, t time.Time) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, errors.New("entry is not an object")
	}
	stamp, err := json.Marshal(t.Format(time.RFC3339))
	if err != nil {
		return nil, err
	}
	fields["modified"] = stamp
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fields); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(buf.String(), "\n")), nil
}
