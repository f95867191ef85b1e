#!/usr/bin/env bash
# Runs every check of every module: formatting, go vet, staticcheck, the
# tests with the race detector, and short runs of the fuzz targets.
# Tests that need Redis start their own redis-server processes on free
# 127.0.0.1 ports, the example's browser test drives headless Chromium, and
# the alert rules are checked with promtool. Install them first
# (Debian/Ubuntu: apt-get install redis-server redis-sentinel redis-tools
# chromium prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2
# Fuzz budgets are counts of executions, not durations: with a duration,
# Go 1.26's fuzzing coordinator can report a spurious "context deadline
# exceeded" failure at the deadline (golang/go#75804). 50000 executions take
# about 5 to 15 s each here. FUZZTIME=30s (or more) for a longer run.
FUZZTIME=${FUZZTIME:-50000x}
# The consistency checker (TestCheckerMemory, TestCheckerRedis) replays a
# fixed series of seeds here, so that a run can be reproduced; plain
# `go test -run TestChecker .` searches new seeds every time, and
# -checker.duration=1h searches longer.
export CHECKER_SEEDS_FROM=${CHECKER_SEEDS_FROM:-1}

if ! command -v redis-server >/dev/null 2>&1; then
	echo "warning: redis-server not found: the Redis tests will be skipped" >&2
fi

gobin=$(go env GOPATH)/bin
if [ ! -x "$gobin/staticcheck" ] || ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
	go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi

modules=$(find . -name go.mod -not -path './.git/*' -exec dirname {} \; | sort)
for mod in $modules; do
	echo "=== module $mod"
	(
		cd "$mod"
		go vet ./...
		"$gobin/staticcheck" ./...
		go test -race -count=1 ./...
	)
done

echo "=== fuzz (${FUZZTIME} each)"
go test -run '^$' -fuzz '^FuzzVerify$' -fuzztime "$FUZZTIME" -fuzzminimizetime 1s ./cookies
go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime "$FUZZTIME" -fuzzminimizetime 1s ./codec
go test -run '^$' -fuzz '^FuzzCBORUnmarshal$' -fuzztime "$FUZZTIME" -fuzzminimizetime 1s ./codec
go test -run '^$' -fuzz '^FuzzToken$' -fuzztime "$FUZZTIME" -fuzzminimizetime 1s ./csrf
go test -run '^$' -fuzz '^FuzzSummarizeUserAgent$' -fuzztime "$FUZZTIME" -fuzzminimizetime 1s .
echo "all checks passed"
