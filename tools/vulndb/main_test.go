package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBuild: two OSV entries, one of them on two modules, become the v1
// layout, with zero modification times set to the module's commit time and
// the entries otherwise kept as they were.
func TestBuild(t *testing.T) {
	dir := t.TempDir()
	mod := filepath.Join(dir, "mod")
	osv := filepath.Join(mod, "data", "osv")
	if err := os.MkdirAll(osv, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(osv, "GO-2026-0001.json"), `{"id":"GO-2026-0001","modified":"0001-01-01T00:00:00Z","aliases":["CVE-1"],
		"summary":"<x> & y","affected":[{"package":{"name":"stdlib","ecosystem":"Go"}},{"package":{"name":"toolchain","ecosystem":"Go"}}]}`)
	write(filepath.Join(osv, "GO-2025-0002.json"), `{"id":"GO-2025-0002","modified":"2025-05-05T00:00:00Z",
		"affected":[{"package":{"name":"stdlib"}},{"package":{"name":"stdlib"}}]}`)
	write(filepath.Join(dir, "info"), `{"Version":"v0.0.0-20261105234957-e22db6528018","Time":"2026-11-05T23:49:57Z"}`)
	dl, _ := json.Marshal(download{Path: "golang.org/x/vulndb", Dir: mod, Info: filepath.Join(dir, "info")})
	write(filepath.Join(dir, "download.json"), string(dl))

	out := filepath.Join(dir, "db")
	n, err := build(filepath.Join(dir, "download.json"), out)
	if err != nil || n != 2 {
		t.Fatalf("%d entries, %v", n, err)
	}
	read := func(path string, v any) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(out, path))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	stamp := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)
	var db dbMeta
	read("index/db.json", &db)
	if !db.Modified.Equal(stamp) {
		t.Errorf("db.json modified %v", db.Modified)
	}
	var mods []module
	read("index/modules.json", &mods)
	if len(mods) != 2 || mods[0].Path != "stdlib" || len(mods[0].Vulns) != 2 ||
		mods[0].Vulns[0].ID != "GO-2025-0002" || mods[1].Path != "toolchain" || len(mods[1].Vulns) != 1 {
		t.Errorf("modules.json %+v", mods)
	}
	var vulns []vuln
	read("index/vulns.json", &vulns)
	if len(vulns) != 2 || vulns[1].ID != "GO-2026-0001" || !vulns[1].Modified.Equal(stamp) || len(vulns[1].Aliases) != 1 ||
		!vulns[0].Modified.Equal(time.Date(2025, 5, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("vulns.json %+v", vulns)
	}
	var e map[string]any
	read("ID/GO-2026-0001.json", &e)
	if e["modified"] != "2026-11-05T23:49:57Z" || e["summary"] != "<x> & y" {
		t.Errorf("entry %v", e)
	}
	if _, err := os.Stat(out + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary directory left behind: %v", err)
	}
}
