#!/usr/bin/env bash
# Runs shopq's whole test suite against real services:
#   - Redis: TEST_REDIS_URL, else 127.0.0.1:6379; starts redis-server on
#     loopback when none answers and one is installed; with no Redis to be
#     had, the suite runs on an embedded miniredis and says so.
#   - SMTP: mailpit, installed with `go install` and started by the tests on
#     loopback ports of their own.
# Then lint, `go test -race ./...`, and a short run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

GOBIN_DIR="$(go env GOPATH)/bin"
export PATH="$PATH:$GOBIN_DIR"
FUZZTIME="${FUZZTIME:-3s}"
LINT="${LINT:-1}"

say() { printf '\n== %s\n' "$*"; }

redis_ping() { # host port
	local reply
	reply=$(timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2 && printf 'PING\r\n' >&3 && head -c 5 <&3" 2>/dev/null || true)
	[[ "$reply" == "+PONG" ]]
}

say "Redis"
if [[ -n "${TEST_REDIS_URL:-}" ]]; then
	echo "using TEST_REDIS_URL=${TEST_REDIS_URL%%@*}@..."
elif redis_ping 127.0.0.1 6379; then
	echo "using the Redis at 127.0.0.1:6379 (tests claim databases 1-15 of their own)"
elif command -v redis-server >/dev/null; then
	echo "no Redis at 127.0.0.1:6379: starting redis-server on loopback"
	redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
		--logfile /tmp/shopq-test-redis.log
	for _ in $(seq 50); do redis_ping 127.0.0.1 6379 && break; sleep 0.1; done
	redis_ping 127.0.0.1 6379 || { echo "redis-server did not come up"; exit 1; }
else
	echo "**************************************************************"
	echo "* NO REDIS: none at 127.0.0.1:6379 and redis-server is not    *"
	echo "* installed. Tests run on an EMBEDDED miniredis; tests that    *"
	echo "* need a real server process are skipped. Install redis-server *"
	echo "* for the full suite.                                          *"
	echo "**************************************************************"
	export TEST_REDIS_URL="redis://127.0.0.1:1"
fi

say "mailpit"
if ! command -v mailpit >/dev/null; then
	echo "installing mailpit v1.33.1 (go install)"
	go install github.com/axllent/mailpit@v1.33.1
fi
command -v mailpit

if [[ "$LINT" == 1 ]]; then
	say "lint"
	if ! command -v golangci-lint >/dev/null; then
		echo "installing golangci-lint v2.15.0 (go install)"
		go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
	fi
	test -z "$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	go vet ./...
	golangci-lint run ./...
fi

say "go test -race ./..."
go test -race -count=1 -timeout 14m ./...

say "fuzz targets (${FUZZTIME} each)"
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
	pkg="./$(dirname "${f#./}")"
	grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r target; do
		echo "fuzz $pkg $target"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" -fuzzminimizetime=5s "$pkg" >/tmp/shopq-fuzz.log 2>&1 ||
			{ cat /tmp/shopq-fuzz.log; exit 1; }
	done
done
say "all tests passed"
