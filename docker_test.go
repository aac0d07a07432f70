package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The Makefile's dry runs and the container image as make docker builds it.
// There may be no Docker engine where the tests run: the image is checked by
// reading the Dockerfile and .dockerignore against what make docker does.

// makeDryRun runs make -n with args, as a user would at a shell (none of an
// enclosing make's flags), and returns its output; it fails the test unless
// make exits 0.
func makeDryRun(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	cmd := exec.Command("make", append([]string{"-n"}, args...)...)
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != "MAKEFLAGS" && name != "MFLAGS" && name != "MAKELEVEL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// make -n test only prints: the release test's script, which runs make
// itself, is printed, not run.
func TestMakeDryRunTest(t *testing.T) {
	out := makeDryRun(t, "test")
	if !strings.Contains(out, "bash scripts/release_test.sh") {
		t.Errorf("make -n test does not print the release test:\n%s", out)
	}
	if regexp.MustCompile(`(?m)^release_test: `).MatchString(out) {
		t.Errorf("make -n test ran scripts/release_test.sh:\n%s", out)
	}
}

// make docker builds the linux binary of the release build for DOCKER_ARCH,
// then the image from it, tagged with the version.
func TestMakeDocker(t *testing.T) {
	version := readVersionFile(t)
	for _, arch := range []string{"amd64", "arm64"} {
		out := makeDryRun(t, "docker", "DOCKER_ARCH="+arch)
		build := strings.Index(out, "for p in linux/"+arch+"; do")
		docker := strings.Index(out, "docker build ")
		if build < 0 || docker < build {
			t.Fatalf("make docker DOCKER_ARCH=%s does not cross-build linux/%s before docker build:\n%s", arch, arch, out)
		}
		for _, want := range []string{
			"-o .build/$os-$arch/imichat_exporter$ext",
			"version.Version=" + version + " ",
			"--build-arg ARCH=" + arch,
			"--build-arg OS=linux",
			"--build-arg VERSION=" + version,
			"-t imichat_exporter:" + version + " .",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("make -n docker DOCKER_ARCH=%s: no %q in\n%s", arch, want, out)
			}
		}
	}
}

// The Dockerfile copies what make docker builds and the LICENSE, which
// .dockerignore lets through, and carries the OCI labels of the Prometheus
// project's exporters.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Instructions, continuation lines joined, comments dropped.
	var instructions []string
	joined := ""
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if l, cont := strings.CutSuffix(line, "\\"); cont {
			joined += l + " "
			continue
		}
		if s := strings.TrimSpace(joined + line); s != "" {
			instructions = append(instructions, s)
		}
		joined = ""
	}
	labels := map[string]string{}
	labelRE := regexp.MustCompile(`([a-z0-9.]+)="([^"]*)"`)
	var copies []string
	for _, in := range instructions {
		switch verb, rest, _ := strings.Cut(in, " "); verb {
		case "LABEL":
			for _, m := range labelRE.FindAllStringSubmatch(rest, -1) {
				labels[m[1]] = m[2]
			}
		case "COPY":
			f := strings.Fields(rest)
			copies = append(copies, f[:len(f)-1]...)
		}
	}
	for _, key := range []string{"authors", "vendor", "title", "description", "source", "url", "documentation", "licenses", "version", "revision"} {
		if labels["org.opencontainers.image."+key] == "" {
			t.Errorf("Dockerfile: no org.opencontainers.image.%s label", key)
		}
	}
	if got := labels["org.opencontainers.image.licenses"]; got != "Apache-2.0" {
		t.Errorf("licenses label %q, want Apache-2.0, as LICENSE", got)
	}

	// What make docker builds, as the Dockerfile's ARGs name it.
	for _, want := range []string{".build/${OS}-${ARCH}/imichat_exporter", "LICENSE"} {
		if !slices.Contains(copies, want) {
			t.Errorf("Dockerfile copies %v, not %s", copies, want)
		}
	}
	ignore, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range copies {
		for _, arch := range []string{"amd64", "arm64"} {
			path := strings.NewReplacer("${OS}", "linux", "${ARCH}", arch).Replace(src)
			if !dockerContextHolds(string(ignore), path) {
				t.Errorf(".dockerignore keeps %s, which the Dockerfile copies, out of the build context", path)
			}
		}
	}
	if dockerContextHolds(string(ignore), "go.mod") || dockerContextHolds(string(ignore), ".git") {
		t.Errorf(".dockerignore sends more than the binary and LICENSE to the builder")
	}
	if _, err := os.Stat("LICENSE"); err != nil {
		t.Error(err)
	}
}

// dockerContextHolds reports whether .dockerignore's rules let path into
// the build context: the last pattern that matches the path or a directory
// above it decides, ! keeps.
func dockerContextHolds(rules, path string) bool {
	keep := true
	for _, line := range strings.Split(rules, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pattern, negated := strings.CutPrefix(line, "!")
		for p := path; p != "." && p != "/"; p = filepath.Dir(p) {
			if ok, _ := filepath.Match(filepath.Clean(pattern), p); ok {
				keep = negated
				break
			}
		}
	}
	return keep
}

func TestDockerContextHolds(t *testing.T) {
	rules := "# comment\n*\n!.build/linux-*/imichat_exporter\n!LICENSE\n"
	for path, want := range map[string]bool{
		".build/linux-amd64/imichat_exporter":  true,
		"LICENSE":                              true,
		"README.md":                            false,
		".build/darwin-arm64/imichat_exporter": false,
	} {
		if got := dockerContextHolds(rules, path); got != want {
			t.Errorf("dockerContextHolds(%q) = %v, want %v", path, got, want)
		}
	}
}
