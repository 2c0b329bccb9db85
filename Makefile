# admit: make build | run | test | bench | soak | lint | fuzz | clean
SHELL := /bin/bash
GO    ?= go
BIN   := bin/admit
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PKGS  := ./...
# Short fuzz runs for `make fuzz`; longer with FUZZTIME=10m.
FUZZTIME ?= 30s

.PHONY: build run test bench lint fuzz soak clean check-go deps
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

check-go:
	@command -v $(GO) >/dev/null || { echo "Go is required: https://go.dev/doc/install (Debian: see README)"; exit 1; }

# PostgreSQL binaries (initdb, pg_ctl) for the sales tests and make run;
# Debian's package is installed when none is found. Tests start their own
# throwaway server from them unless ADMIT_TEST_PG names one.
deps:
	@if [ -z "$$ADMIT_TEST_PG" ] && ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "PostgreSQL not found: installing Debian's postgresql package"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

build: check-go
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/admit

# A local 3-node cluster of real processes; data under .data/, Ctrl-C stops it.
run: build deps
	./$(BIN) dev $(ARGS)

# Every test, with the race detector. Fuzz targets run their seed corpus.
test: check-go deps
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	@if command -v promtool >/dev/null 2>&1; then \
		promtool check rules deploy/prometheus/rules.yml && promtool test rules deploy/prometheus/rules_test.yml; \
	else echo "promtool not installed: alert rules not checked (make lint installs it)"; fi

# admit against etcd (3 members) and PostgreSQL on this machine, one run,
# one load generator, one ticket set: bench/results/compare.{md,json,png}.
# 5-10 minutes; ARGS=--quick for 1-2. Not part of CI. See bench/README.md.
bench: check-go bench-deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/admit
	cd bench/compare && $(GO) build -o ../../bin/admit-bench-compare .
	./$(BIN) bench compare --out bench/results $(ARGS)

# etcd (Debian's etcd-server: /usr/bin/etcd) and the PostgreSQL server
# binaries (initdb, pg_ctl, postgres), installed when missing.
bench-deps:
	@if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then \
		echo "etcd not found: installing Debian's etcd-server package"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null; \
	fi
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "PostgreSQL not found: installing Debian's postgresql package"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

# The go test benchmarks beside the hot paths (what `make bench` was).
bench-micro: check-go
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m $(PKGS)
.PHONY: bench-deps bench-micro

lint: check-go
	@command -v promtool >/dev/null 2>&1 || $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
	promtool check rules deploy/prometheus/rules.yml
	promtool test rules deploy/prometheus/rules_test.yml
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 $(PKGS)

fuzz: check-go
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./validator/code/
	$(GO) test -run '^$$' -fuzz '^FuzzBase45$$' -fuzztime $(FUZZTIME) ./validator/code/
	$(GO) test -run '^$$' -fuzz '^FuzzTicket$$' -fuzztime $(FUZZTIME) ./validator/ticket/
	$(GO) test -run '^$$' -fuzz '^FuzzState$$' -fuzztime $(FUZZTIME) ./validator/ticket/
	$(GO) test -run '^$$' -fuzz '^FuzzDecide$$' -fuzztime $(FUZZTIME) ./validator/rules/
	$(GO) test -run '^$$' -fuzz '^FuzzScanRequestFastPath$$' -fuzztime $(FUZZTIME) ./validator/gate/
	$(GO) test -run '^$$' -fuzz '^FuzzScanResponseBytes$$' -fuzztime $(FUZZTIME) ./validator/gate/

# The fault tests (validator/faults) for SOAK each (default 10m) with
# repeated faults, and the failover drill for 20 rounds; make test runs
# the same tests for a few seconds each.
SOAK ?= 10m
soak: check-go build
	ADMIT_SOAK=$(SOAK) $(GO) test -race -count=1 -v -timeout 3h ./validator/faults/
	./$(BIN) drill failover --rounds 20

clean:
	rm -rf bin .data
