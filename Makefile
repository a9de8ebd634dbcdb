# unisse — common tasks. `make test` is what CI runs (.ci/run).

GO      ?= go
BIN     := bin
PKGS    := ./...
FUZZTIME ?= 30s
SOAK_DURATION ?= 60s

.PHONY: all build run example test vet fmt-check docs docs-check unit race allocs bench fuzz fuzz-short soak cluster interop release proxy-test docker clean

all: build

build:
	$(GO) build -o $(BIN)/unisse ./cmd/unisse
	@if [ -f cmd/unisse-bench/main.go ]; then $(GO) build -o $(BIN)/unisse-bench ./cmd/unisse-bench; fi

# Embedded default: memory broker, uni_sse and /health on :8000, generated
# HMAC secret and API key printed at start-up. Pass ARGS="-c config.json" to
# use a Centrifugo config file.
run: build
	$(BIN)/unisse $(ARGS)

# The browser example (examples/browser): unisse and the page's server with a
# config that lets the page's origin in; prints the URL to open and the curl
# commands to publish and disconnect. UNISSE_PORT, PAGE_PORT change the ports.
example:
	GO=$(GO) examples/browser/run.sh

# The full check CI runs: formatting, docs/config.md up to date, vet, every
# test with the race detector, the multi-process tests on a real redis-server
# (cluster), unisse behind nginx (proxy-test, when nginx is installed), and a
# few seconds of every fuzzer.
test: fmt-check docs-check vet race allocs cluster proxy-test fuzz-short

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# docs/config.md is generated from engine/config (keys, types, defaults and
# the fields' doc comments); docs-check fails when it is stale.
docs:
	$(GO) run ./engine/config/gendoc

docs-check:
	$(GO) run ./engine/config/gendoc -check

race:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# The zero-allocation tests are compiled out under -race (the detector
# allocates); run them on their own.
allocs:
	$(GO) test -count=1 -run 'Alloc' $(PKGS)

# Tests without the race detector (runs the allocation tests too).
unit:
	$(GO) test -count=1 $(PKGS)

# Benchmarks beside the code (*_timing_test.go and friends).
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# A run of every fuzzer (FUZZTIME each); seeds live in testdata/fuzz. Only
# packages with a Fuzz function are visited, found by grep so that listing them
# costs no build; packages run side by side (one fuzz worker each), since
# building and starting a fuzzer costs more than the short runs themselves.
FUZZWORKERS ?= 1
fuzz:
	@pids=""; for dir in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go') | xargs -n1 dirname | sort -u); do \
	  ( for f in $$(grep -h '^func Fuzz' $$dir/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	      out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -parallel $(FUZZWORKERS) ./$$dir 2>&1) \
	        || { echo "== ./$$dir $$f FAILED"; echo "$$out"; exit 1; }; \
	      echo "== ./$$dir $$f ok"; \
	    done ) & pids="$$pids $$!"; \
	done; rc=0; for p in $$pids; do wait $$p || rc=1; done; exit $$rc

# What `make test` runs: every fuzzer for 2000 inputs past its seeds. A count,
# not a duration: a one-second -fuzztime can end while the fuzzing engine is
# still starting a worker, which Go reports as "context deadline exceeded".
SHORTFUZZTIME ?= 2000x
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(SHORTFUZZTIME)

# Churn + broadcast + slow readers for SOAK_DURATION (engine/soak_test.go,
# build tag soak; not in `make test`): healthy streams must lose nothing, slow
# readers must be closed, and goroutines, fds and heap must come back.
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -tags soak -count=1 -run '^TestSoak$$' -timeout 30m -v ./engine/

# Multi-process tests (bench/cluster, build tag cluster): three unisse nodes
# on one redis-server (needs redis-server on PATH or REDIS_SERVER).
cluster: build
	UNISSE_BIN=$(CURDIR)/$(BIN)/unisse $(GO) test -tags cluster -count=1 -timeout 15m -v ./bench/cluster/

# Interoperability with Centrifugo v6.9.1 (build tag interop): Centrifugo
# nodes, and unisse and Centrifugo nodes, on one redis-server; a unisse NATS
# broker and Centrifugo's on one embedded nats-server. Installs
# Centrifugo into bin/ from the module proxy the first time.
CENTRIFUGO_VERSION ?= v6.9.1
interop: build
	@if [ ! -x $(BIN)/centrifugo ]; then \
	  echo "installing Centrifugo $(CENTRIFUGO_VERSION) into $(BIN)/"; \
	  GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/centrifugal/centrifugo/v6@$(CENTRIFUGO_VERSION); \
	fi
	UNISSE_BIN=$(CURDIR)/$(BIN)/unisse CENTRIFUGO_BIN=$(CURDIR)/$(BIN)/centrifugo \
	  $(GO) test -tags interop -count=1 -timeout 15m -v ./bench/cluster/
	CENTRIFUGO_BIN=$(CURDIR)/$(BIN)/centrifugo \
	  $(GO) test -tags interop -count=1 -timeout 5m -v -run 'Interop|Centrifugo' ./engine/broker/natsbroker/ ./engine/broker/redisbroker/

# Release build: static (no cgo, so it runs on any Linux of the arch,
# distroless and scratch images included), without local paths (-trimpath)
# or symbol tables (-s -w), with engine.Version stamped from git, for each
# of RELEASE_PLATFORMS into dist/, plus SHA256SUMS. The binary built for this
# machine's platform is run once to check that the stamp took.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64
DIST    := dist
LDFLAGS := -s -w -X github.com/unisse/unisse/engine.Version=$(VERSION)
release:
	@rm -rf $(DIST) && mkdir -p $(DIST)
	@for p in $(RELEASE_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; out=$(DIST)/unisse-$(VERSION)-$$os-$$arch; \
	  echo "building $$out"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $$out ./cmd/unisse || exit 1; \
	done
	@cd $(DIST) && sha256sum unisse-* > SHA256SUMS
	@self=$(DIST)/unisse-$(VERSION)-$$($(GO) env GOOS)-$$($(GO) env GOARCH); \
	if [ -x $$self ]; then \
	  got=$$($$self --version); \
	  case "$$got" in *"$(VERSION)"*) ;; *) echo "$$self --version printed '$$got', want it to name $(VERSION)"; exit 1;; esac; \
	  echo "$$self --version: $$got"; \
	fi

# unisse behind a real nginx with the documented config (docs/nginx.conf;
# build tag proxy, bench/proxy): needs nginx on PATH or NGINX. Part of
# `make test` when nginx is installed (.ci/run installs it), skipped with a
# message otherwise.
proxy-test:
	@if command -v $${NGINX:-nginx} >/dev/null 2>&1; then \
	  $(GO) test -tags proxy -count=1 -timeout 5m -v ./bench/proxy/; \
	else echo "proxy-test: skipped, no nginx on PATH (apt-get install nginx-light, or set NGINX)"; fi

# The container image (Dockerfile); needs a working container daemon.
IMAGE ?= unisse:$(VERSION)
docker:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

clean:
	rm -rf $(BIN) $(DIST)
