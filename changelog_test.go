package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Release hygiene: VERSION names the release, CHANGELOG.md has a section for
// it in the Prometheus style, and make stamps it into the binary.

var versionRE = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// readVersionFile returns the version in VERSION: one line, semver.
func readVersionFile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("VERSION")
	if err != nil {
		t.Fatal(err)
	}
	v, rest, _ := strings.Cut(string(b), "\n")
	if rest != "" || !strings.HasSuffix(string(b), "\n") || !versionRE.MatchString(v) {
		t.Fatalf("VERSION holds %q, want one line X.Y.Z", b)
	}
	return v
}

func TestChangelog(t *testing.T) {
	b, err := os.ReadFile("CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range changelogProblems(string(b), readVersionFile(t)) {
		t.Error("CHANGELOG.md: " + p)
	}
}

var (
	changelogHeadingRE = regexp.MustCompile(`^## (main|\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?) / (unreleased|\d{4}-\d{2}-\d{2})$`)
	changelogEntryRE   = regexp.MustCompile(`^\* \[(CHANGE|FEATURE|ENHANCEMENT|BUGFIX)\] \S`)
)

// changelogProblems checks a changelog in the Prometheus style: "## VERSION /
// DATE" (or "main / unreleased") sections, newest first, each with entries
// "* [CHANGE|FEATURE|ENHANCEMENT|BUGFIX] ...", and a section for version.
func changelogProblems(text, version string) []string {
	var problems []string
	var sections []string
	entries := map[string]int{}
	current := ""
	for i, line := range strings.Split(text, "\n") {
		where := "line " + strconv.Itoa(i+1) + ": "
		switch {
		case strings.HasPrefix(line, "## "):
			m := changelogHeadingRE.FindStringSubmatch(line)
			if m == nil {
				problems = append(problems, where+"a heading not \"## X.Y.Z / YYYY-MM-DD\" (or \"/ unreleased\"): "+line)
				current = ""
				continue
			}
			current = m[1]
			sections = append(sections, current)
		case strings.HasPrefix(line, "* ") || strings.HasPrefix(line, "- "):
			if current == "" {
				problems = append(problems, where+"an entry outside a version's section")
				continue
			}
			if !changelogEntryRE.MatchString(line) {
				problems = append(problems, where+"an entry not tagged [CHANGE], [FEATURE], [ENHANCEMENT] or [BUGFIX]: "+line)
				continue
			}
			entries[current]++
		}
	}
	found := false
	for i, s := range sections {
		if entries[s] == 0 && s != "main" {
			problems = append(problems, "section "+s+" has no entries")
		}
		if s == version {
			found = true
		}
		if s == "main" && i != 0 {
			problems = append(problems, "main / unreleased is not the first section")
		}
		if i > 0 && s != "main" && sections[i-1] != "main" && !versionLess(s, sections[i-1]) {
			problems = append(problems, "section "+s+" is not older than "+sections[i-1]+" above it")
		}
	}
	if !found {
		problems = append(problems, "no section for "+version+", the version in VERSION")
	}
	return problems
}

// versionLess compares the X.Y.Z of two versions.
func versionLess(a, b string) bool {
	parse := func(v string) [3]int {
		var n [3]int
		core, _, _ := strings.Cut(v, "-")
		for i, f := range strings.SplitN(core, ".", 3) {
			for _, c := range f {
				n[i] = n[i]*10 + int(c-'0')
			}
		}
		return n
	}
	pa, pb := parse(a), parse(b)
	for i := range pa {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

func TestChangelogProblems(t *testing.T) {
	good := "# Changelog\n\n## main / unreleased\n\n## 0.2.0 / 2027-01-02\n\n* [FEATURE] New.\n\n## 0.1.0 / unreleased\n\n* [BUGFIX] Fixed.\n"
	tests := []struct {
		name, text, version string
		want                []string // substrings, one per problem
	}{
		{"good", good, "0.1.0", nil},
		{"no section for VERSION", good, "0.3.0", []string{"no section for 0.3.0"}},
		{"untagged entry", strings.Replace(good, "* [FEATURE] New.", "* New.", 1), "0.1.0", []string{"not tagged", "0.2.0 has no entries"}},
		{"unknown tag", strings.Replace(good, "[BUGFIX]", "[FIX]", 1), "0.1.0", []string{"not tagged", "0.1.0 has no entries"}},
		{"bad heading", strings.Replace(good, "## 0.2.0 / 2027-01-02", "## v0.2.0 (2027-01-02)", 1), "0.1.0", []string{"a heading not", "outside a version's section"}},
		{"oldest first", "## 0.1.0 / unreleased\n\n* [FEATURE] A.\n\n## 0.2.0 / 2027-01-02\n\n* [FEATURE] B.\n", "0.1.0", []string{"not older"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := changelogProblems(tt.text, tt.version)
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d like %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %q, want one with %q", got[i], w)
				}
			}
		})
	}
}

// TestMakefileStampsVERSION: make build and make release stamp the version
// in VERSION unless VERSION= is given (make -n: nothing is built).
func TestMakefileStampsVERSION(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	version := readVersionFile(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "build"}, version},
		{[]string{"-n", "crossbuild", "PLATFORMS=linux/arm64"}, version},
		{[]string{"-n", "build", "VERSION=9.8.7-rc.1"}, "9.8.7-rc.1"},
	} {
		out, err := exec.Command("make", tt.args...).CombinedOutput()
		if err != nil {
			t.Fatalf("make %v: %v\n%s", tt.args, err, out)
		}
		if want := "github.com/prometheus/common/version.Version=" + tt.want + " "; !strings.Contains(string(out), want) {
			t.Errorf("make %v does not stamp %q:\n%s", tt.args, want, out)
		}
	}
}
