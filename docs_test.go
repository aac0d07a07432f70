package main

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/imichat-exporter/imichat_exporter/internal/metricset"
)

// The documentation's own tests: every relative link of every Markdown file
// resolves (the file, and the heading its #anchor names, by GitHub's anchor
// rules), and every flag and every metric the program has is documented
// exactly once, as a table row or a heading of the reference pages.

// docsReferencePages are where a flag or a metric is documented.
var docsReferencePages = []string{"docs/configuration.md", "docs/metrics.md"}

func TestDocsLinksResolve(t *testing.T) {
	files, err := docsMarkdownFiles(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found only %d Markdown files: %v", len(files), files)
	}
	for _, problem := range docsCheckLinks(".", files) {
		t.Error(problem)
	}
}

// TestDocsLinkCheck: the link check finds what it must find, and only that.
func TestDocsLinkCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.md", "# Title\n\n## The file (multi-target mode)\n\n## `--demo` prints nothing\n\n"+
		"## Twice\n\n## Twice\n\n<a id=\"custom\"></a>\n\n"+
		"[ok](docs/b.md#section-two) [ok](#the-file-multi-target-mode) [ok](#--demo-prints-nothing)\n"+
		"[ok](#twice-1) [ok](#custom) [ok](docs/) [ok](https://example.com/x.md) [ok](docs/b.md \"title\")\n"+
		"[ok](code.go#L12) ![ok](docs/b.md)\n"+
		"`[not a link](missing.md)`\n\n```\n[not a link](missing.md)\n```\n\n"+
		"[bad file](missing.md) [bad anchor](docs/b.md#nowhere) [bad self](#twice-2)\n"+
		"[bad up](../outside.md) [bad code anchor](code.go#func)\n\n[ref]: docs/gone.md\n")
	write("docs/b.md", "# B\n\n## Section two\n\n[back](../a.md#title)\n")
	write("code.go", "package x\n")
	files, err := docsMarkdownFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.md", "docs/b.md"}; !slices.Equal(files, want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	got := docsCheckLinks(dir, files)
	want := []string{"missing.md", "docs/b.md#nowhere", "#twice-2", "../outside.md", "code.go#func", "docs/gone.md"}
	if len(got) != len(want) {
		t.Errorf("found %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, "("+w+")") }) {
			t.Errorf("the broken link %s is not reported; reported:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func TestDocsEveryFlagOnce(t *testing.T) {
	bin := buildExporter(t)
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  (?:-\w, |    )--(?:\[no-\])?([a-z0-9][a-z0-9.-]*)`).FindAllStringSubmatch(string(out), -1) {
		flags = append(flags, m[1])
	}
	if len(flags) < 20 {
		t.Fatalf("read only %d flags from --help:\n%s", len(flags), out)
	}
	documented := docsReferenceCounts(t, regexp.MustCompile("`(--[a-z0-9][a-z0-9.-]*)`"))
	for _, f := range flags {
		if n := documented["--"+f]; n != 1 {
			t.Errorf("flag --%s is documented %d times in %v, want once (a table row or a heading)", f, n, docsReferencePages)
		}
	}
	// A documented flag that --help does not list must still be one the
	// program takes (a hidden, deprecated one): kingpin refuses an unknown
	// flag before it prints the help.
	for name := range documented {
		if slices.Contains(flags, strings.TrimPrefix(name, "--")) {
			continue
		}
		out, _ := exec.Command(bin, name+"=1", "--help").CombinedOutput()
		if strings.Contains(string(out), "unknown long flag") {
			t.Errorf("%v document %s, which the program does not take:\n%s", docsReferencePages, name, out)
		}
	}
}

func TestDocsEveryMetricOnce(t *testing.T) {
	names := docsExportedMetricNames(t)
	documented := docsReferenceCounts(t, regexp.MustCompile("`([a-z_:][a-z0-9_:]*)`"))
	for _, n := range names {
		if c := documented[n]; c != 1 {
			t.Errorf("metric %s is documented %d times in %v, want once (a table row or a heading)", n, c, docsReferencePages)
		}
	}
	// Every documented metric is one the exporter exports: a row for a
	// renamed or removed metric is a broken contract.
	for name := range documented {
		if isMetric := strings.HasPrefix(name, "imichat_") || strings.HasPrefix(name, "promhttp_"); isMetric && !slices.Contains(names, name) {
			t.Errorf("%v document %s, which the exporter does not export", docsReferencePages, name)
		}
	}
}

// docsExportedMetricNames: the names the exporter exports (but the Go and
// process collectors' standard go_* and process_*), from the collectors main
// registers after a walk of a simulated tenant, and from a multi-target
// exporter's /metrics and a /probe.
func docsExportedMetricNames(t *testing.T) []string {
	t.Helper()
	var names []string
	add := func(n string) {
		if !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}

	single, err := metricset.SingleTenantNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range single {
		add(n)
	}

	f := startTwoTenants(t, 30, 30, 30)
	for _, u := range []string{f.base + "/metrics", probeURL(f.base, "acme", "4711")} {
		for n := range pull(t, &http.Client{}, u, "10").fams {
			add(n)
		}
	}
	if len(names) < 20 {
		t.Fatalf("found only %d metrics: %v", len(names), names)
	}
	slices.Sort(names)
	t.Logf("the exporter exports %d metrics (but go_* and process_*): %v", len(names), names)
	return names
}

// docsReferenceCounts counts, for every match of name's first group, the
// table rows (in their first cell) and headings of docsReferencePages that
// name it; a row or a heading counts a name once.
func docsReferenceCounts(t *testing.T, name *regexp.Regexp) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, page := range docsReferencePages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, entry := range docsEntries(string(b)) {
			seen := map[string]bool{}
			for _, m := range name.FindAllStringSubmatch(entry, -1) {
				if !seen[m[1]] {
					seen[m[1]] = true
					counts[m[1]]++
				}
			}
		}
	}
	return counts
}

// TestDocsEntries: only a table row's first cell and a heading document a
// name, outside code blocks; a table's header and delimiter rows do not.
func TestDocsEntries(t *testing.T) {
	md := "# `a_heading`\n\n| metric | meaning |\n|---|---|\n| `a_row` | not `a_meaning` |\n" +
		"| `two`, `names` | x |\n\nText naming `a_text`.\n\n```\n| `in_code` | x |\n## `in_code_heading`\n```\n"
	got := docsEntries(md)
	want := []string{"`a_heading`", "`a_row`", "`two`, `names`"}
	if !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
}

// docsEntries returns the headings' texts and the first cells of the
// table rows of a Markdown text, outside fenced code blocks.
func docsEntries(md string) []string {
	var entries []string
	inTable := false
	for _, line := range docsProse(md) {
		if h, ok := docsHeading(line); ok {
			entries = append(entries, h)
			inTable = false
			continue
		}
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(strings.Trim(trimmed, "|"), "|")
		if !inTable { // the header row; the delimiter row follows
			inTable = true
			continue
		}
		if strings.Trim(cells[0], " -:") == "" {
			continue
		}
		entries = append(entries, strings.TrimSpace(cells[0]))
	}
	return entries
}

// docsProse returns the lines of md outside fenced code blocks; the lines
// of a block are blank.
func docsProse(md string) []string {
	lines := strings.Split(md, "\n")
	fence := ""
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		switch {
		case fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")):
			fence = trimmed[:3]
			lines[i] = ""
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			lines[i] = ""
		}
	}
	return lines
}

var docsHeadingRE = regexp.MustCompile(`^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$`)

// docsHeading returns the text of an ATX heading line.
func docsHeading(line string) (string, bool) {
	m := docsHeadingRE.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// docsMarkdownFiles lists the Markdown files under root, slash-separated
// and relative to it, but those of Git and of the build's output.
func docsMarkdownFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "vendor" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(files)
	return files, err
}

var (
	// An inline link or image: [text](destination "title").
	docsLinkRE = regexp.MustCompile(`!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+"[^"]*")?\s*\)`)
	// A reference definition: [label]: destination.
	docsRefDefRE = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)`)
	// An inline code span.
	docsCodeSpanRE = regexp.MustCompile("`+[^`]*`+")
	// An HTML anchor.
	docsHTMLAnchorRE = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	// GitHub's line anchors in a file it shows as code.
	docsLineAnchorRE = regexp.MustCompile(`^L\d+(-L\d+)?$`)
)

// docsCheckLinks returns a line for every relative link in files (under
// root) whose file or anchor does not exist.
func docsCheckLinks(root string, files []string) []string {
	var problems []string
	anchors := map[string][]string{} // by file, slash-separated from root
	anchorsOf := func(file string) []string {
		if a, ok := anchors[file]; ok {
			return a
		}
		b, _ := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
		anchors[file] = docsAnchors(string(b))
		return anchors[file]
	}
	for _, file := range files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for i, line := range docsProse(string(b)) {
			line = docsCodeSpanRE.ReplaceAllString(line, "")
			var dests []string
			for _, m := range docsLinkRE.FindAllStringSubmatch(line, -1) {
				dests = append(dests, m[1])
			}
			if m := docsRefDefRE.FindStringSubmatch(line); m != nil {
				dests = append(dests, m[1])
			}
			for _, dest := range dests {
				if p := docsCheckLink(root, file, strings.Trim(dest, "<>"), anchorsOf); p != "" {
					problems = append(problems, file+":"+strconv.Itoa(i+1)+": ("+strings.Trim(dest, "<>")+") "+p)
				}
			}
		}
	}
	return problems
}

// docsCheckLink checks one destination of a link in file; "" when it
// resolves.
func docsCheckLink(root, file, dest string, anchorsOf func(string) []string) string {
	if u, err := url.Parse(dest); err != nil {
		return "does not parse: " + err.Error()
	} else if u.Scheme != "" || strings.HasPrefix(dest, "//") {
		return "" // not relative
	}
	target, fragment, _ := strings.Cut(dest, "#")
	target, err := url.PathUnescape(target)
	if err != nil {
		return "does not parse: " + err.Error()
	}
	switch {
	case target == "":
		target = file
	case strings.HasPrefix(target, "/"): // GitHub: the repository's root
		target = strings.TrimPrefix(target, "/")
	default:
		target = filepath.ToSlash(filepath.Join(filepath.Dir(file), target))
	}
	if target == ".." || strings.HasPrefix(target, "../") {
		return "leaves the repository"
	}
	info, err := os.Stat(filepath.Join(root, filepath.FromSlash(target)))
	if err != nil {
		return "no such file or directory: " + target
	}
	if fragment == "" {
		return ""
	}
	if info.IsDir() || !strings.HasSuffix(target, ".md") {
		if !info.IsDir() && docsLineAnchorRE.MatchString(fragment) {
			return ""
		}
		return "an anchor in a file that has no headings: " + target
	}
	if !slices.Contains(anchorsOf(target), fragment) {
		return "no heading or anchor #" + fragment + " in " + target
	}
	return ""
}

// docsAnchors returns the anchors GitHub gives a Markdown file: one per
// heading, by githubAnchor, a repeated one suffixed -1, -2, ...; and the
// ids and names of HTML anchors.
func docsAnchors(md string) []string {
	var anchors []string
	seen := map[string]int{}
	for _, line := range docsProse(md) {
		for _, m := range docsHTMLAnchorRE.FindAllStringSubmatch(line, -1) {
			anchors = append(anchors, m[1])
		}
		h, ok := docsHeading(line)
		if !ok {
			continue
		}
		a := githubAnchor(h)
		if n := seen[a]; n > 0 {
			anchors = append(anchors, a+"-"+strconv.Itoa(n))
		} else {
			anchors = append(anchors, a)
		}
		seen[a]++
	}
	return anchors
}

var (
	docsHeadingLinkRE = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	docsHTMLTagRE     = regexp.MustCompile(`<[^>]+>`)
)

// githubAnchor is GitHub's anchor of a heading: the text as rendered
// (link texts, code without its backticks, no emphasis markers or HTML
// tags), lower-cased, every character but letters, digits, spaces, hyphens
// and underscores dropped, and each space a hyphen.
func githubAnchor(heading string) string {
	text := docsHeadingLinkRE.ReplaceAllString(heading, "$1")
	text = docsHTMLTagRE.ReplaceAllString(text, "")
	text = strings.NewReplacer("`", "", "*", "").Replace(text)
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(text)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGithubAnchor(t *testing.T) {
	for heading, want := range map[string]string{
		"Living within the API quota":                  "living-within-the-api-quota",
		"The configuration file (multi-target mode)":   "the-configuration-file-multi-target-mode",
		"`go run . --demo` prints nothing at first":    "go-run----demo-prints-nothing-at-first",
		"ImichatAccessTokenExpired":                    "imichataccesstokenexpired",
		"Sharding, and deploying on Kubernetes":        "sharding-and-deploying-on-kubernetes",
		"**Bold** and [a link](x.md) and `imichat_up`": "bold-and-a-link-and-imichat_up",
		"Within the share, in every 24 hours":          "within-the-share-in-every-24-hours",
		"Release / container image":                    "release--container-image",
	} {
		if got := githubAnchor(heading); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", heading, got, want)
		}
	}
}
