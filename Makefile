# imichat_exporter — build and test.
GO      ?= go
PKG     := github.com/imichat-exporter/imichat_exporter
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REV     ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH  ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/prometheus/common/version.Version=$(VERSION) \
           -X github.com/prometheus/common/version.Revision=$(REV) \
           -X github.com/prometheus/common/version.Branch=$(BRANCH)

.PHONY: all build test lint unit rules bench demo

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o imichat_exporter .

## test: everything CI runs — formatting, vet, unit and end-to-end tests,
## alerting rules. Needs promtool, prometheus and prometheus-alertmanager
## (Debian: apt-get install prometheus prometheus-alertmanager).
test: lint unit rules

lint:
	@out=$$(gofmt -l . | grep -v '^vendor/' || true); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

rules:
	bash alerts/check.sh

## bench: the benchmarks quoted in the README.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

demo:
	$(GO) run . --demo
