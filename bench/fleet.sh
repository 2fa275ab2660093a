#!/usr/bin/env bash
# The fleet scenario of the stack store: 20 instances x 1 CPU profile a minute x DAYS (default 7) days into a
# fresh collector on the embedded store, then merges of 1 h, 24 h, 24 h + label, the whole range, and a find.
# Usage: [ENGINE=sqlite|clickhouse|s3,clickhouse] [FLEET_INSTANCES=20] bench/fleet.sh [DAYS]. Starts and stops its own collector(s) (and ClickHouse)
# bench/fleet.sh backfill [COUNT] instead writes COUNT (100,000) profiles at random times of 7 days, 20 services x 30 label sets.
# on 127.0.0.1; on ClickHouse it writes through one collector and reads through a second. Figures go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
DAYS=${1:-7}
BACKFILL=0
if [ "$DAYS" = backfill ]; then BACKFILL=${2:-100000}; fi
dotnet build src/Hotpath.Collector -c Release -v q -clp:ErrorsOnly >/dev/null
dotnet build bench/Hotpath.Load -c Release -v q -clp:ErrorsOnly >/dev/null
source bench/engines.sh
DATA=$(mktemp -d /tmp/hotpath-fleet-XXXXXX)
ENGINE=${ENGINE:-sqlite}
ENGINE_ARGS=(--Storage:Type="$ENGINE")
ENGINE_PIDS=()
PIDS=()
trap 'kill "${PIDS[@]}" "${ENGINE_PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA" "$DATA".*.log' EXIT
start_engine_servers fleet
start_collector() { # start_collector NAME: prints its port; its pid is the last of PIDS
  local port; port=$(free_port)
  dotnet src/Hotpath.Collector/bin/Release/net10.0/Hotpath.Collector.dll --Collector:Address=127.0.0.1:$port --Collector:OtlpGrpcAddress= "${ENGINE_ARGS[@]}" \
    --Storage:DataDirectory="$DATA/$1" --Storage:Retention=0 --Logging:LogLevel:Default=Warning >"$DATA.$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.2; done
  PORT=$port
}
echo "engine: $ENGINE"
start_collector a; A_PORT=$PORT; A_PID=${PIDS[-1]}
READER=()
if [ "$ENGINE" != sqlite ]; then
  # Scale-out: write through one collector, read through another on the same engine.
  start_collector b; READER=("http://127.0.0.1:$PORT" "${PIDS[-1]}")
fi
if [ "$BACKFILL" != 0 ]; then
  dotnet bench/Hotpath.Load/bin/Release/net10.0/Hotpath.Load.dll backfill "http://127.0.0.1:$A_PORT" "$A_PID" ../shared/testdata/pprof "$BACKFILL"
else
  dotnet bench/Hotpath.Load/bin/Release/net10.0/Hotpath.Load.dll fleet "http://127.0.0.1:$A_PORT" "$A_PID" ../shared/testdata/pprof "$DAYS" "${READER[@]}"
fi
if [ "$ENGINE" = sqlite ]; then
  echo "raw bodies: $(du -sm "$DATA/a/bodies" | cut -f1) MiB, database: $(du -m "$DATA/a/hotpath.db" | cut -f1) MiB, data directory: $(du -sm "$DATA/a" | cut -f1) MiB"
fi
if [[ ",$ENGINE," == *,clickhouse,* ]]; then
  # What the rollups add per stored profile: the bucket pieces' rows as sent (uncompressed) and on disk.
  ch_sql() { curl -fsS "http://127.0.0.1:$CH_PORT/" --data-binary "$1"; }
  ch_sql "OPTIMIZE TABLE fleet.bucket_pieces FINAL" # what ClickHouse's merges leave of two builders' and rebuilds' rows
  read -r bodies profiles < <(ch_sql "SELECT sum(size), count() FROM fleet.profiles WHERE service = 'fleet' FORMAT TSV")
  read -r sent disk < <(ch_sql "SELECT sum(data_uncompressed_bytes), sum(data_compressed_bytes) FROM system.parts WHERE database = 'fleet' AND table = 'bucket_pieces' AND active FORMAT TSV")
  python3 -c "print(f'bucket pieces: {$sent/$profiles:.0f} bytes per stored profile ({$sent/$bodies:.3f}x its body), {$disk/$profiles:.0f} on disk ({$disk/$bodies:.3f}x)')"
fi
