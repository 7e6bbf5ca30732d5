# netsplice: a userspace TCP/UDP network stack with in-stack socket splicing.
# `make help` lists the targets.

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go
BIN := bin/netsplice
# Packages built with cgo (the DPDK binding) run without -race (their tests re-exec
# the test binary, one EAL per process); everything else runs with -race.
CGO_PKGS := github.com/netsplice/netsplice/driver/dpdk
FUZZTIME ?= 10s
APT_PACKAGES := pkg-config libdpdk-dev iproute2 iputils-ping ethtool socat curl iperf3

.PHONY: help deps build test unit race integration bench bench-lab run gen-lab fuzz lint soak clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

deps: ## install the Debian packages the project needs (idempotent) and fetch Go modules
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@command -v $(GO) >/dev/null || { echo "Go 1.26 is required (https://go.dev/dl/)"; exit 1; }
	$(GO) mod download

build: deps ## build bin/netsplice
	$(GO) build -o $(BIN) ./cmd/netsplice

test: deps lint ## gofmt, vet, unit tests with -race, integration tests, benchmark smoke run
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v -F -x $(foreach p,$(CGO_PKGS),-e $(p)) -e '^$$')
	$(if $(CGO_PKGS),$(GO) test -count=1 -timeout 20m $(CGO_PKGS))
	@echo "acceptance runs without the race detector (it slows them tenfold): 256 MiB each way, 10,000 connections, 256 MiB relayed under faults"
	$(GO) test -count=1 -timeout 30m -run='TestTCPBulk256|TestTCPShortConnections' ./stack
	$(GO) test -count=1 -timeout 30m -run='TestRelayFaults256' ./relay
	$(GO) test -count=1 -run='^$$' -bench=. -benchtime=1x ./... > /dev/null
	@echo "make test: all passed"

bench: deps ## run the benchmarks: go test -bench, then `netsplice bench` vs gVisor and the Linux kernel (root) in one table (bench/compare.sh), then the generator (gen-cps, gen-udp, gen-udp-sink)
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	GO=$(GO) bash bench/compare.sh
	@echo "the generator: against the in-memory wire's servers, and alone into DPDK net_null (gen-udp-sink)"
	$(GO) run ./cmd/netsplice bench --lcores 1 --poll adaptive --workload gen-cps,gen-udp,gen-udp-sink

bench-lab: deps ## bulk TCP upload, Linux to netsplice over af_packet, vs the kernel (iperf3); needs root
	$(GO) test -count=1 -run='^$$' -bench=TCPUploadVsIperf3 -benchtime=1x ./internal/lab/

run: build ## the relay lab: Linux client -> netsplice relay (DPDK af_packet) -> Linux server, each splice mode (root)
	bash scripts/relay-lab.sh $(BIN) 3

gen-lab: build ## the generator lab: netsplice gen (DPDK af_packet) against Linux echo servers at a few rates (root)
	bash scripts/gen-lab.sh $(BIN) 3

fuzz: deps ## run every fuzz target for FUZZTIME (default 10s)
	@set -e; for pkg in $$($(GO) list ./...); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done

lint: ## gofmt, go vet, and the data-path import rules
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@bad=$$(grep -lE '^\s*"(log|reflect)"' $$(find stack driver -name '*.go' ! -name '*_test.go')); \
		if [ -n "$$bad" ]; then echo "log/reflect imported on the data path:"; echo "$$bad"; exit 1; fi

soak: deps ## long soaks and many-seed sweeps (run before resolving an issue)
	NETSPLICE_SOAK=1 $(GO) test -tags soak -count=1 -timeout 90m ./...
	@echo "relay echo stress under the race detector, every mode, CPUs loaded (a stall prints every connection's and splice's state)"
	NETSPLICE_SOAK=1 NETSPLICE_ROUNDS=12 $(GO) test -race -count=1 -timeout 60m -run 'TestRelayEchoStress' ./relay

clean: ## remove build outputs
	rm -rf bin
