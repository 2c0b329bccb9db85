# admit: make build | run | test | bench | soak | lint | fuzz | clean
SHELL := /bin/bash
GO    ?= go
BIN   := bin/admit
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PKGS  := ./...
# Short fuzz runs for `make fuzz`; longer with FUZZTIME=10m.
FUZZTIME ?= 30s

.PHONY: run-deps build run test rules bench lint fuzz soak clean check-go deps
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

check-go:
	@command -v $(GO) >/dev/null || { echo "Go is required: https://go.dev/doc/install (Debian: see README)"; exit 1; }

# What the tests need, installed from Debian's packages when missing (with
# sudo when not root): PostgreSQL binaries (initdb, pg_ctl) for the sales
# tests and make run (tests start their own throwaway server from them
# unless ADMIT_TEST_PG names one), promtool (package prometheus) to check
# the alert rules, and etcd (package etcd-server) for the bench/compare
# smoke test, and chromium for the web console's browser tests
# (sales/console); fonts-droid-fallback is the CJK font printed tickets
# embed for Chinese text (sales/console print.go).
# make run needs PostgreSQL and the font.
deps: NEED := postgresql prometheus etcd-server chromium fonts-droid-fallback
run-deps: NEED := postgresql fonts-droid-fallback
deps run-deps:
	@missing=""; for p in $(NEED); do case $$p in \
		postgresql) [ -n "$$ADMIT_TEST_PG" ] || command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing $$p";; \
		prometheus) command -v promtool >/dev/null 2>&1 || missing="$$missing $$p";; \
		etcd-server) command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || missing="$$missing $$p";; \
		chromium) command -v chromium >/dev/null 2>&1 || missing="$$missing $$p";; \
		fonts-droid-fallback) test -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf || missing="$$missing $$p";; \
	esac; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

build: check-go
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/admit

# A local 3-node cluster of real processes; data under .data/, Ctrl-C stops it.
run: build run-deps
	./$(BIN) dev $(ARGS)

# Every test, with the race detector, in both modules (the main one and
# bench/compare); the alert rules with promtool. Fuzz targets run their
# seed corpus.
test: check-go deps
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	cd bench/compare && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 10m ./...
	$(MAKE) --no-print-directory rules

# The Prometheus alert rules: syntax, then their unit tests.
rules:
	promtool check rules deploy/prometheus/rules.yml
	promtool test rules deploy/prometheus/rules_test.yml

# admit against etcd (3 members) and PostgreSQL on this machine, one run,
# one load generator, one ticket set: bench/results/compare.{md,json,png}.
# 5-10 minutes; ARGS=--quick for 1-2. Not part of CI. See bench/README.md.
bench: check-go deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/admit
	cd bench/compare && $(GO) build -o ../../bin/admit-bench-compare .
	./$(BIN) bench compare --out bench/results $(ARGS)

bench-deps: deps

# The go test benchmarks beside the hot paths (what `make bench` was).
bench-micro: check-go
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m $(PKGS)
.PHONY: bench-deps bench-micro

# Formatting, vet, staticcheck, the alert rules, and no large files in git:
# build outputs are ignored, and any tracked file over 1 MiB outside
# bench/results and testdata fails.
lint: check-go deps rules
	@big=$$(git ls-files -z | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$$1 > 1048576 {print $$2}' | grep -v -E '(^|/)(bench/results|testdata)/' || true); \
	if [ -n "$$big" ]; then echo "tracked files over 1 MiB (build outputs? add them to .gitignore):"; echo "$$big"; exit 1; fi
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
	$(GO) test -run '^$$' -fuzz '^FuzzScanRequest$$' -fuzztime $(FUZZTIME) ./validator/gate/
	$(GO) test -run '^$$' -fuzz '^FuzzScanBatch$$' -fuzztime $(FUZZTIME) ./validator/gate/
	$(GO) test -run '^$$' -fuzz '^FuzzIssueBody$$' -fuzztime $(FUZZTIME) ./validator/gate/
	$(GO) test -run '^$$' -fuzz '^FuzzChangeBody$$' -fuzztime $(FUZZTIME) ./validator/gate/
	$(GO) test -run '^$$' -fuzz '^FuzzGateBody$$' -fuzztime $(FUZZTIME) ./validator/gate/
	$(GO) test -run '^$$' -fuzz '^FuzzZoneBody$$' -fuzztime $(FUZZTIME) ./validator/gate/
	$(GO) test -run '^$$' -fuzz '^FuzzParkBody$$' -fuzztime $(FUZZTIME) ./validator/gate/
	$(GO) test -run '^$$' -fuzz '^FuzzEventCursor$$' -fuzztime $(FUZZTIME) ./validator/gate/
	$(GO) test -run '^$$' -fuzz '^FuzzCredential$$' -fuzztime $(FUZZTIME) ./validator/gate/
	$(GO) test -run '^$$' -fuzz '^FuzzParseTable$$' -fuzztime $(FUZZTIME) ./sales/member/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME) ./validator/agent/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeUse$$' -fuzztime $(FUZZTIME) ./validator/agent/

# The fault tests (validator/faults) for SOAK each (default 10m) with
# repeated faults, and the failover drill for 20 rounds; make test runs
# the same tests for a few seconds each.
SOAK ?= 10m
soak: check-go build
	ADMIT_SOAK=$(SOAK) $(GO) test -race -count=1 -v -timeout 3h ./validator/faults/
	./$(BIN) drill failover --rounds 20

clean:
	rm -rf bin .data
