#!/usr/bin/env bash
# Load figures for the collector, against a fresh collector on 127.0.0.1.
#   [ENGINE=sqlite|s3|clickhouse|s3,clickhouse] bench/load.sh [SEED_COUNT]    (default: sqlite, 100000)
# For s3 and clickhouse it starts s3rver (from .test-tools, installed by test.sh) and/or clickhouse-server too.
# Prints the machine, then: ingest rate of a real 14 KB CPU profile over 16 connections, find latency over
# SEED_COUNT stored profiles, merge latency and memory for 1,000 CPU profiles, and bytes on disk per profile.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-100000}
DATA=$(mktemp -d /tmp/hotpath-bench.XXXXXX)
source bench/engines.sh
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
CPU=../shared/testdata/pprof/cpu_2.pb.gz
command -v wrk >/dev/null || { apt-get update -qq >/dev/null; apt-get install -y -qq wrk >/dev/null; }

for project in src/Hotpath.Collector bench/Hotpath.Load; do dotnet build -c Release "$project" --verbosity quiet -clp:ErrorsOnly >/dev/null; done
LOAD="dotnet bench/Hotpath.Load/bin/Release/net10.0/Hotpath.Load.dll"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(dotnet --version)"

ENGINE=${ENGINE:-sqlite}
ENGINE_ARGS=(--Storage:Type="$ENGINE")
ENGINE_PIDS=()
start_engine_servers bench
echo "engine: $ENGINE"

start_collector() {
  dotnet src/Hotpath.Collector/bin/Release/net10.0/Hotpath.Collector.dll --Collector:Address="127.0.0.1:$PORT" --Collector:OtlpGrpcAddress= "${ENGINE_ARGS[@]}" \
    --Storage:DataDirectory="$DATA/sqlite" --Storage:Retention=0 --Logging:LogLevel:Default=Warning >"$DATA.log" 2>&1 &
  COLLECTOR=$!
  for _ in $(seq 1 100); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "collector did not start"; exit 1
}
trap 'status=$?; [ $status = 0 ] || tail -n 20 "$DATA.log"; kill $COLLECTOR "${ENGINE_PIDS[@]}" 2>/dev/null || true; sleep 1; rm -rf "$DATA" "$DATA.log"' EXIT

start_collector
# wrk (C, 2 threads) drives ingest so that the load generator takes little of the 2 cores.
export PROFILE="$PWD/$CPU" TYPE=cpu
metric() { curl -fsS "$URL/metrics" | awk -v m="$1" 'index($0, m) == 1 && $0 !~ /^#/ { s += $NF } END { printf "%d\n", s }'; }
drained() { # waits until the journal is shipped; prints the seconds it took
  local t0; t0=$(date +%s.%N)
  while [ "$(metric hotpath_journal_pending_profiles)" != 0 ]; do sleep 0.1; done
  python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')"
}
wrk -t2 -c16 -d10s -s bench/ingest.lua "$URL" >/dev/null   # warm-up: JIT tiering
drained >/dev/null
before=$(metric hotpath_profiles_written_total)
wrk -t2 -c16 -d20s -s bench/ingest.lua "$URL" | tail -n 1
if [[ ",$ENGINE," == *,clickhouse,* ]]; then
  # Acknowledged is not enough: the rate that lasts is what reached ClickHouse, once the journal is shipped.
  drain=$(drained)
  written=$(( $(metric hotpath_profiles_written_total) - before ))
  python3 -c "print(f'shipped to ClickHouse {$drain} s after the load ended: {$written} profiles in {20 + $drain:.1f} s = {$written / (20 + $drain):.0f}/s sustained')"
fi
kill $COLLECTOR; wait $COLLECTOR 2>/dev/null || true
rm -rf "$DATA/sqlite"
ENGINE_ARGS+=(--Storage:S3:Prefix=seeded/)
[[ ",$ENGINE," == *,clickhouse,* ]] && ENGINE_ARGS=("${ENGINE_ARGS[@]/Database=bench/Database=seeded}")

start_collector
$LOAD seed "$URL" "$CPU" "$COUNT"
$LOAD find "$URL" 500
$LOAD merge "$URL" "$COLLECTOR" 10

kill $COLLECTOR; wait $COLLECTOR 2>/dev/null || true   # graceful stop checkpoints the WAL
if [ "$ENGINE" = sqlite ] && command -v sqlite3 >/dev/null; then
  read -r bodies profiles < <(sqlite3 -separator ' ' "$DATA/sqlite/hotpath.db" 'SELECT sum(size), count(*) FROM profiles')
  disk=$(du -cb "$DATA"/sqlite/hotpath.db* "$DATA"/sqlite/bodies/*.seg | tail -n 1 | cut -f1)
  python3 -c "print(f'disk: {$disk} bytes for {$profiles} profiles of {$bodies} body bytes = {$disk/$bodies:.3f}x the bodies, {$disk/$profiles:.0f} bytes per profile')"
fi
