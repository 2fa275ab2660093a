#!/usr/bin/env bash
# Load figures for the collector on the embedded store, against a fresh collector on 127.0.0.1.
#   bench/load.sh [SEED_COUNT]    (default 100000)
# Prints the machine, then: ingest rate of a real 14 KB CPU profile over 16 connections, find latency over
# SEED_COUNT stored profiles, merge latency and memory for 1,000 CPU profiles, and bytes on disk per profile.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-100000}
DATA=$(mktemp -d /tmp/hotpath-bench.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
URL="http://127.0.0.1:$PORT"
CPU=../shared/testdata/pprof/cpu_2.pb.gz
command -v wrk >/dev/null || { apt-get update -qq >/dev/null; apt-get install -y -qq wrk >/dev/null; }

for project in src/Hotpath.Collector bench/Hotpath.Load; do dotnet build -c Release "$project" --verbosity quiet -clp:ErrorsOnly >/dev/null; done
LOAD="dotnet bench/Hotpath.Load/bin/Release/net10.0/Hotpath.Load.dll"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(dotnet --version)"

start_collector() {
  dotnet src/Hotpath.Collector/bin/Release/net10.0/Hotpath.Collector.dll --Collector:Address="127.0.0.1:$PORT" \
    --Storage:DataDirectory="$DATA" --Storage:Retention=0 --Logging:LogLevel:Default=Warning >"$DATA.log" 2>&1 &
  COLLECTOR=$!
  for _ in $(seq 1 100); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "collector did not start"; exit 1
}
trap 'kill $COLLECTOR 2>/dev/null || true; rm -rf "$DATA" "$DATA.log"' EXIT

start_collector
# wrk (C, 2 threads) drives ingest so that the load generator takes little of the 2 cores.
export PROFILE="$PWD/$CPU" TYPE=cpu
wrk -t2 -c16 -d10s -s bench/ingest.lua "$URL" >/dev/null   # warm-up: JIT tiering
wrk -t2 -c16 -d20s -s bench/ingest.lua "$URL" | tail -n 1
kill $COLLECTOR; wait $COLLECTOR 2>/dev/null || true
rm -rf "$DATA"; mkdir -p "$DATA"

start_collector
$LOAD seed "$URL" "$CPU" "$COUNT"
$LOAD find "$URL" 500
$LOAD merge "$URL" "$COLLECTOR" 10

kill $COLLECTOR; wait $COLLECTOR 2>/dev/null || true   # graceful stop checkpoints the WAL
if command -v sqlite3 >/dev/null; then
  read -r bodies profiles < <(sqlite3 -separator ' ' "$DATA/hotpath.db" 'SELECT sum(size), count(*) FROM profiles')
  disk=$(du -cb "$DATA"/hotpath.db* "$DATA"/bodies/*.seg | tail -n 1 | cut -f1)
  python3 -c "print(f'disk: {$disk} bytes for {$profiles} profiles of {$bodies} body bytes = {$disk/$bodies:.3f}x the bodies, {$disk/$profiles:.0f} bytes per profile')"
fi
