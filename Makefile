# imichat_exporter — build and test.
GO      ?= go
PKG     := github.com/imichat-exporter/imichat_exporter
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REV     ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH  ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/prometheus/common/version.Version=$(VERSION) \
           -X github.com/prometheus/common/version.Revision=$(REV) \
           -X github.com/prometheus/common/version.Branch=$(BRANCH)

.PHONY: all build test lint unit rules fuzz bench demo

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o imichat_exporter .

## test: everything CI runs — formatting, vet, unit and end-to-end tests,
## alerting rules. Needs promtool, prometheus and prometheus-alertmanager
## (Debian: apt-get install prometheus prometheus-alertmanager).
test: lint unit rules fuzz

lint:
	@out=$$(gofmt -l . | grep -v '^vendor/' || true); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

rules:
	bash alerts/check.sh

## fuzz: each fuzz target for FUZZTIME (go test takes one -fuzz target per
## run). Longer: make fuzz FUZZTIME=10m (see README, "Fuzzing").
FUZZTIME ?= 5s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePage$$' -fuzztime $(FUZZTIME) ./apiclient/
	$(GO) test -run '^$$' -fuzz '^FuzzParseTimestamp$$' -fuzztime $(FUZZTIME) ./apiclient/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRateLimit$$' -fuzztime $(FUZZTIME) ./apiclient/

## bench: the benchmarks quoted in the README.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

demo:
	$(GO) run . --demo
