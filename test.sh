#!/usr/bin/env bash
# Runs every Hotpath test on a fresh machine: installs what is missing, restores, builds with warnings as
# errors, runs every test project, then runs the profefe API conformance harness (../shared/conformance)
# against a collector it starts. Ends with "Tests: N passed, M failed"; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
OUT="$ROOT/.test"
rm -rf "$OUT"
mkdir -p "$OUT"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT

step() { echo "== $*"; }

apt_updated=0
need_deb() { # need_deb COMMAND PACKAGE: install PACKAGE from Debian when COMMAND is missing
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$apt_updated" = 0 ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
  step "installing $2"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_http() { # wait_http URL SECONDS (any HTTP answer counts)
  for _ in $(seq 1 $(( $2 * 10 ))); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

need_deb python3 python3
need_deb curl curl
need_deb chromium chromium   # browser tests (Playwright drives /usr/bin/chromium; it never downloads a browser)
need_deb node nodejs
need_deb npm npm
need_deb go golang-go   # a real Go service with net/http/pprof for the scrape tests and the quick start
need_deb faketime faketime   # libfaketime: the collector processes of the run with the clock a year ahead

# The S3-compatible server of the storage tests: s3rver from npm, in .test-tools (not committed).
if [ ! -f .test-tools/node_modules/s3rver/bin/s3rver.js ]; then
  step "installing s3rver (npm)"
  mkdir -p .test-tools
  (cd .test-tools && npm install --silent --no-audit --no-fund s3rver@3.7.1 >/dev/null)
fi
# The real Pyroscope Node.js SDK, for the test of Pyroscope's ingest with a real client.
if [ ! -f .test-tools/node_modules/@pyroscope/nodejs/package.json ]; then
  step "installing @pyroscope/nodejs (npm)"
  mkdir -p .test-tools
  (cd .test-tools && npm install --silent --no-audit --no-fund @pyroscope/nodejs@0.6.4 >/dev/null)
fi
# Buf's own tooling and Connect's Node client, for the tests of Pyroscope's query API with a real client
# generated from the service's .proto (the versions Debian's Node 20 runs; see ../shared/ENGINES.md).
if [ ! -f .test-tools/node_modules/@connectrpc/connect-node/package.json ] || [ ! -x .test-tools/node_modules/.bin/buf ]; then
  step "installing @bufbuild/buf, @bufbuild/protoc-gen-es and @connectrpc/connect-node (npm)"
  mkdir -p .test-tools
  (cd .test-tools && npm install --silent --no-audit --no-fund @bufbuild/buf@1.75.0 @bufbuild/protoc-gen-es@2.13.0 @bufbuild/protobuf@2.13.0 \
      @connectrpc/connect@2.1.1 @connectrpc/connect-node@2.1.1 >/dev/null)
fi
# Perses's own Pyroscope client (its plugin's lib/cjs/model/pyroscope-client.js); --legacy-peer-deps skips React and
# @perses-dev/core, whose only use there is fetch (the test gives it Node's own).
if [ ! -f .test-tools/node_modules/@perses-dev/pyroscope-plugin/package.json ]; then
  step "installing @perses-dev/pyroscope-plugin (npm)"
  mkdir -p .test-tools
  (cd .test-tools && npm install --silent --no-audit --no-fund --legacy-peer-deps @perses-dev/pyroscope-plugin@0.4.0 >/dev/null)
fi
# The official MCP TypeScript SDK's client, for the tests of the collector's MCP server with a client no one here wrote.
if [ ! -f .test-tools/node_modules/@modelcontextprotocol/sdk/package.json ]; then
  step "installing @modelcontextprotocol/sdk (npm)"
  mkdir -p .test-tools
  (cd .test-tools && npm install --silent --no-audit --no-fund --legacy-peer-deps @modelcontextprotocol/sdk@1.32.2 >/dev/null)
fi
s3_port=$(free_port)
mkdir -p "$OUT/s3rver"
( exec node --openssl-legacy-provider .test-tools/node_modules/s3rver/bin/s3rver.js -d "$OUT/s3rver" -a 127.0.0.1 -p "$s3_port" \
    --no-vhost-buckets --silent >"$OUT/s3rver.log" 2>&1 ) &
PIDS+=($!)
export HOTPATH_TEST_S3_URL="http://127.0.0.1:$s3_port" AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
wait_port() { for _ in $(seq 1 150); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
wait_port "$s3_port" || echo "   s3rver did not start; see $OUT/s3rver.log"

# ClickHouse (Debian's clickhouse-server), its files in .test, on free ports.
need_deb clickhouse-server clickhouse-server
ch_http=$(free_port)
ch="$OUT/clickhouse"
mkdir -p "$ch"
( exec clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- --path="$ch/data/" --tmp_path="$ch/tmp/" \
    --user_files_path="$ch/uf/" --format_schema_path="$ch/fs/" --http_port="$ch_http" --tcp_port="$(free_port)" \
    --interserver_http_port="$(free_port)" --listen_host=127.0.0.1 --logger.log="$ch/log" --logger.errorlog="$ch/err" >/dev/null 2>&1 ) &
PIDS+=($!)
export HOTPATH_TEST_CLICKHOUSE_URL="http://127.0.0.1:$ch_http"
wait_port "$ch_http" || echo "   clickhouse-server did not start; see $ch/err"

step "restore and build (Release; warnings are errors via Directory.Build.props)"
if ! dotnet restore Hotpath.slnx --verbosity quiet || ! dotnet build Hotpath.slnx -c Release --no-restore --verbosity quiet -clp:ErrorsOnly; then
  echo "build failed"
  echo "Tests: 0 passed, 1 failed"
  exit 1
fi

failures() { # failures TRX: each failed test's name and message, so that CI's log says why
  python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for result in ET.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult", ns):
    if result.get("outcome") != "Passed":
        message = result.findtext(".//t:ErrorInfo/t:Message", "", ns).strip()
        print(f"     FAILED {result.get('testName')}: " + "\n       ".join(message.splitlines()[:20]))
PY
}

passed=0
failed=0

step "dotnet test"
dotnet test Hotpath.slnx -c Release --no-build --filter "Category!=Sampling" --logger "trx" --results-directory "$OUT/trx" --verbosity quiet
# The projects whose tests store profiles with times, again with the tests' and collectors' clock a year ahead
# (tests/Hotpath.Testing/TestClock.cs): a test whose data would age out fails the day it is written.
step "dotnet test: the clock a year ahead"
ahead="Collector Cli EndToEnd Storage"
HOTPATH_TEST_CLOCK_AHEAD=365.00:00:00 dotnet test Hotpath.slnx -c Release --no-build --logger "trx" --results-directory "$OUT/trx-ahead" --verbosity quiet \
  --filter "Category!=Sampling&Category!=MachineClock&($(for p in $ahead; do printf 'FullyQualifiedName~Hotpath.%s.Tests|' "$p"; done | sed 's/|$//'))"
# Tests of measured profile shares get the machine to themselves (see tests/Hotpath.Testing/TestCategory.cs),
# in the projects that have them, each with its own results directory: ClickHouse (still merging the parts
# the tests wrote) and s3rver are stopped first, as nothing after this needs them.
kill "${PIDS[@]}" 2>/dev/null || true
wait "${PIDS[@]}" 2>/dev/null || true
PIDS=()
step "dotnet test: sampling profiler shares, one project at a time"
sampling=$(grep -l "TestCategory.Sampling" tests/*.Tests/*.cs | xargs -n 1 dirname | xargs -n 1 basename | sort -u)
for name in $sampling; do
  dotnet test "tests/$name" -c Release --no-build --filter "Category=Sampling" --logger "trx" --results-directory "$OUT/trx-sampling/$name" --verbosity quiet
done
for project in tests/*.Tests; do
  name=$(basename "$project")
  p=0
  f=0
  results=("$(grep -l "$name.dll" "$OUT"/trx/*.trx 2>/dev/null | head -n 1)")
  grep -qx "$name" <<<"$sampling" && results+=("$(ls "$OUT/trx-sampling/$name"/*.trx 2>/dev/null | head -n 1)")
  grep -qw "$(sed 's/^Hotpath\.\(.*\)\.Tests$/\1/' <<<"$name")" <<<"$ahead" && results+=("$(grep -l "$name.dll" "$OUT"/trx-ahead/*.trx 2>/dev/null | head -n 1)")
  for trx in "${results[@]}"; do
    if [ -z "$trx" ]; then
      echo "   $name: a test run left no results (the test host crashed?)"
      f=$((f + 1))
      continue
    fi
    counters=$(grep -o '<Counters [^>]*>' "$trx")
    run_failed=$(($(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters") + $(sed -n 's/.* error="\([0-9]*\)".*/\1/p' <<<"$counters")))
    p=$((p + $(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")))
    f=$((f + run_failed))
    failures "$trx"
    # A test host that crashed (a stack overflow, a fail-fast) leaves the results of the tests before it, all
    # passed, and a summary that says the run failed: the tests it did not run count as one failure.
    if [ "$run_failed" -eq 0 ] && grep -q '<ResultSummary outcome="Failed"' "$trx"; then
      echo "   $name: a test run aborted: $(grep -o '<Text>[^<]*' "$trx" | head -n 1 | cut -c7-400)"
      f=$((f + 1))
    fi
  done
  echo "   $name: $p passed, $f failed"
  passed=$((passed + p))
  failed=$((failed + f))
done

step "profefe API conformance against a fresh collector"
port=$(free_port)
data="$OUT/conformance-data"
dotnet src/Hotpath.Collector/bin/Release/net10.0/Hotpath.Collector.dll \
  --Collector:Address="127.0.0.1:$port" --Collector:OtlpGrpcAddress= --Storage:DataDirectory="$data" >"$OUT/conformance-collector.log" 2>&1 &
PIDS+=($!)
if wait_http "http://127.0.0.1:$port/healthz" 30; then
  python3 ../shared/conformance/conformance.py --base "http://127.0.0.1:$port" | tee "$OUT/conformance.txt"
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$OUT/conformance.txt" | tail -n 1)
  if [ -n "$summary" ]; then
    passed=$((passed + $(cut -d' ' -f1 <<<"$summary")))
    failed=$((failed + $(cut -d' ' -f3 <<<"$summary")))
  else
    failed=$((failed + 1))
  fi
else
  echo "   the collector did not start; see $OUT/conformance-collector.log"
  failed=$((failed + 1))
fi

echo "Tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
