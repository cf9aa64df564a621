# shopq: background jobs for online shops.
GO      ?= go
BIN     := bin
CONFIG  ?=
FUZZTIME ?= 60s

.DEFAULT_GOAL := help

## help: list the targets
.PHONY: help
help:
	@echo "shopq make targets:"
	@sed -n 's/^## \([^:]*\): /\1\t/p' $(MAKEFILE_LIST) | awk -F'\t' '{printf "  %-12s %s\n", $$1, $$2}'

## build: build worker, enqueue, scheduler, demo and bench into ./bin
.PHONY: build
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## demo: run the whole system in one process on the real sample data (no Redis or SMTP needed)
.PHONY: demo
demo:
	$(GO) run ./cmd/demo $(DEMO_FLAGS)

## demo/serve: the demo, then keep serving the admin API and web UI on 127.0.0.1:8080
.PHONY: demo/serve
demo/serve:
	$(GO) run ./cmd/demo --serve

## test: lint and run every test with -race against real Redis and SMTP (see scripts/test.sh)
.PHONY: test
test:
	./scripts/test.sh

## test/short: unit tests only, no services
.PHONY: test/short
test/short:
	$(GO) test -short ./...

## lint: gofmt, go vet and golangci-lint
.PHONY: lint
lint:
	test -z "$$(gofmt -l .)" || (gofmt -l . && false)
	$(GO) vet ./...
	golangci-lint run ./...

## bench: throughput, latency and memory figures beside bare asynq (real Redis on loopback)
.PHONY: bench
bench:
	$(GO) run ./cmd/bench $(BENCH_FLAGS)

## fuzz: run every fuzz target for FUZZTIME (default 60s) each
.PHONY: fuzz
fuzz:
	LINT=0 FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

## run/worker: run the worker (CONFIG=path/to/shopq.yaml)
.PHONY: run/worker
run/worker:
	$(GO) run ./cmd/worker $(if $(CONFIG),--config $(CONFIG))

## up: start redis, worker, scheduler, mailpit and the web UI with docker compose
.PHONY: up
up:
	docker compose up -d --build

## down: stop the compose stack
.PHONY: down
down:
	docker compose down

## tidy: go mod tidy
.PHONY: tidy
tidy:
	$(GO) mod tidy
