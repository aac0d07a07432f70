# imichat_exporter — build, test and release.

# Every target builds with go1.27.3, go.mod's toolchain line: the go command
# fetches it through the module proxy when the local Go is older. Set here
# rather than with ?=, so that a machine pinning its local Go
# (GOTOOLCHAIN=local in the environment or in `go env`) does not build with
# a Go that has known vulnerabilities; `make GOTOOLCHAIN=go1.x.y ...` still
# chooses another.
export GOTOOLCHAIN = go1.27.3

GO         ?= go
NAME       := imichat_exporter
PKG        := github.com/imichat-exporter/imichat_exporter

# Version stamp of every binary, read by github.com/prometheus/common/version
# (`imichat_exporter --version`, imichat_exporter_build_info). Each is
# evaluated once; any can be set on the command line. VERSION is the
# release's, from the VERSION file (as promu reads it); the revision says
# which commit.
VERSION    ?= $(shell cat $(CURDIR)/VERSION 2>/dev/null || echo dev)
REV        ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH     ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_USER ?= $(shell id -un 2>/dev/null || echo unknown)@$(shell hostname 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)
VERSION    := $(VERSION)
REV        := $(REV)
BRANCH     := $(BRANCH)
BUILD_USER := $(BUILD_USER)
BUILD_DATE := $(BUILD_DATE)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS    := -X $(VERSION_PKG).Version=$(VERSION) \
              -X $(VERSION_PKG).Revision=$(REV) \
              -X $(VERSION_PKG).Branch=$(BRANCH) \
              -X $(VERSION_PKG).BuildUser=$(BUILD_USER) \
              -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)
# Binaries are static (CGO_ENABLED=0): no libc needed, in a busybox image
# or anywhere else. (The tests keep cgo: the race detector needs it.)

# Pinned tools, installed with `go install` under .build/tools/ (gitignored)
# by the toolchain above, and the Go vulnerability database they check
# against: this module's snapshot of golang.org/x/vulndb, turned into the
# layout govulncheck reads by tools/vulndb (the public database is not
# reachable from every machine, and a pinned one gives the same answer
# every time). Raise VULNDB_VERSION to check against newer reports.
GOVULNCHECK_VERSION := v1.9.0
STATICCHECK_VERSION := v0.8.2
VULNDB_VERSION      := v0.0.0-20261105234957-e22db6528018
TOOLS_DIR   := $(CURDIR)/.build/tools/$(GOTOOLCHAIN)
GOVULNCHECK := $(TOOLS_DIR)/govulncheck-$(GOVULNCHECK_VERSION)/govulncheck
STATICCHECK := $(TOOLS_DIR)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
VULNDB      := $(CURDIR)/.build/vulndb/$(VULNDB_VERSION)

# Release: one archive per platform, as promu lays them out.
PLATFORMS  ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
BUILD_DIR  ?= .build
TARBALLS   ?= .tarballs

.PHONY: all build test lint unit rules manifests fuzz vuln staticcheck release-test replay \
        crossbuild release docker bench demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(NAME) .

## test: everything CI runs — formatting, vet, staticcheck, govulncheck, unit
## and end-to-end tests, alerting rules, the deployment manifests, fuzzing
## and a release build. Needs
## promtool, prometheus and prometheus-alertmanager (Debian: apt-get install
## prometheus prometheus-alertmanager); the Go tools install themselves.
test: lint staticcheck vuln unit rules manifests fuzz release-test

lint:
	@out=$$(gofmt -l . | grep -v '^vendor/' || true); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...

## unit: the Go tests, the end-to-end ones (build tag e2e: real Prometheus
## and Alertmanager on loopback) included.
unit:
	$(GO) test -race -count=1 -tags e2e ./...

rules:
	bash alerts/check.sh

## manifests: deploy/, a Go module of its own (the Kubernetes and
## prometheus-operator types stay out of the exporter's dependencies):
## every manifest decoded strictly into its real Go type, the relabelling
## applied, prometheus.yml checked by promtool.
manifests:
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

## fuzz: each fuzz target for FUZZTIME (go test takes one -fuzz target per
## run). Longer: make fuzz FUZZTIME=10m (see CONTRIBUTING.md, "Fuzzing").
FUZZTIME ?= 5s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePage$$' -fuzztime $(FUZZTIME) ./apiclient/
	$(GO) test -run '^$$' -fuzz '^FuzzParseTimestamp$$' -fuzztime $(FUZZTIME) ./apiclient/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRateLimit$$' -fuzztime $(FUZZTIME) ./apiclient/

## vuln: govulncheck against the pinned database; fails on any vulnerability
## that the code reaches.
vuln: $(GOVULNCHECK) $(VULNDB)/index/db.json
	$(GOVULNCHECK) -db file://$(VULNDB) -tags e2e ./...

$(GOVULNCHECK):
	GOBIN=$(@D) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)

$(VULNDB)/index/db.json: tools/vulndb/main.go
	@mkdir -p $(dir $(VULNDB))
	$(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) > $(VULNDB).download.json
	$(GO) run ./tools/vulndb -download $(VULNDB).download.json -out $(VULNDB)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) -tags e2e ./...

$(STATICCHECK):
	GOBIN=$(@D) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## crossbuild: $(BUILD_DIR)/OS-ARCH/imichat_exporter for each of PLATFORMS
## (the Dockerfile's input).
crossbuild:
	@set -e; for p in $(PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; ext=; [ "$$os" != windows ] || ext=.exe; \
	  echo ">> building $$os/$$arch"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" \
	    -o $(BUILD_DIR)/$$os-$$arch/$(NAME)$$ext . ; \
	done

## release: $(TARBALLS)/imichat_exporter-VERSION.OS-ARCH.tar.gz (.zip for
## windows), each holding imichat_exporter-VERSION.OS-ARCH/ with the binary,
## LICENSE and README.md, and sha256sums.txt of them.
release: crossbuild
	@set -e; mkdir -p $(TARBALLS); \
	rm -f $(TARBALLS)/$(NAME)-*.tar.gz $(TARBALLS)/$(NAME)-*.zip $(TARBALLS)/sha256sums.txt; \
	stage=$$(mktemp -d); trap 'rm -rf "$$stage"' EXIT; \
	out=$$(cd $(TARBALLS) && pwd); \
	for p in $(PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; ext=; [ "$$os" != windows ] || ext=.exe; \
	  dir=$(NAME)-$(VERSION).$$os-$$arch; \
	  mkdir -p "$$stage/$$dir"; \
	  cp $(BUILD_DIR)/$$os-$$arch/$(NAME)$$ext "$$stage/$$dir/"; \
	  cp LICENSE README.md "$$stage/$$dir/"; \
	  chmod 0755 "$$stage/$$dir/$(NAME)$$ext"; chmod 0644 "$$stage/$$dir/LICENSE" "$$stage/$$dir/README.md"; \
	  if [ "$$os" = windows ]; then \
	    archive=$$dir.zip; (cd "$$stage" && zip -q -X -r "$$out/$$archive" "$$dir"); \
	  else \
	    archive=$$dir.tar.gz; \
	    tar -C "$$stage" --owner=0 --group=0 --numeric-owner --sort=name -czf "$$out/$$archive" "$$dir"; \
	  fi; \
	  echo ">> $(TARBALLS)/$$archive"; \
	done; \
	cd $(TARBALLS) && sha256sum $(NAME)-* > sha256sums.txt

## release-test: the linux/arm64 archive, built in a temporary directory and
## checked (scripts/release_test.sh). The script runs make itself: through
## RELEASE_TEST_MAKE, not $(MAKE) on the recipe line, which make would run
## even under -n (make -n test must only print).
RELEASE_TEST_MAKE = $(MAKE)
release-test:
	MAKE="$(RELEASE_TEST_MAKE)" bash scripts/release_test.sh

## docker: the container image, from the release build's binary for
## linux/DOCKER_ARCH (crossbuild: .build/linux-ARCH/imichat_exporter, the
## Dockerfile's input), tagged DOCKER_IMAGE:DOCKER_TAG and labelled with the
## version and revision. Works from a fresh clone; needs a Docker engine
## (DOCKER=podman works too). The binary's path is fixed: keep BUILD_DIR.
DOCKER       ?= docker
DOCKER_ARCH  ?= amd64
DOCKER_IMAGE ?= $(NAME)
DOCKER_TAG   ?= $(VERSION)
docker: PLATFORMS = linux/$(DOCKER_ARCH)
docker: crossbuild
	$(DOCKER) build --build-arg ARCH=$(DOCKER_ARCH) --build-arg OS=linux \
	  --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REV) \
	  -t $(DOCKER_IMAGE):$(DOCKER_TAG) .

## replay: the quota replay's matrix (docs/engine.md, "The quota replay"): one
## line per workload and strategy; then its scenarios (docs/engine.md,
## "Scenarios: the day something goes wrong"): a comment line with each
## scenario's thresholds, then one line per scenario and strategy.
## Benchmarks of a few minutes each, not tests.
replay:
	@$(GO) test -run '^$$' -bench '^Benchmark(Replay|Scenarios)$$' -benchtime 1x -timeout 60m ./refresh/ | grep -E '^(replay|service|scenario|# scenario) '

## bench: the benchmarks quoted in CONTRIBUTING.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

demo:
	$(GO) run . --demo

clean:
	rm -rf $(NAME) $(NAME).exe $(BUILD_DIR) $(TARBALLS)
