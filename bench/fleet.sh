#!/usr/bin/env bash
# The fleet scenario of the stack store: 20 instances x 1 CPU profile a minute x DAYS (default 7) days into a
# fresh collector on the embedded store, then merges of 1 h, 24 h, 24 h + label, the whole range, and a find.
# Usage: bench/fleet.sh [DAYS]. Starts and stops its own collector on 127.0.0.1; figures go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
DAYS=${1:-7}
dotnet build src/Hotpath.Collector -c Release -v q -clp:ErrorsOnly >/dev/null
dotnet build bench/Hotpath.Load -c Release -v q -clp:ErrorsOnly >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
DATA=$(mktemp -d /tmp/hotpath-fleet-XXXXXX)
dotnet src/Hotpath.Collector/bin/Release/net10.0/Hotpath.Collector.dll --Collector:Address=127.0.0.1:$PORT \
  --Storage:DataDirectory="$DATA" --Storage:Retention=0 --Logging:LogLevel:Default=Warning >"$DATA.log" 2>&1 &
COLLECTOR=$!
trap 'kill $COLLECTOR 2>/dev/null; wait $COLLECTOR 2>/dev/null; rm -rf "$DATA" "$DATA.log"' EXIT
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.2; done
dotnet bench/Hotpath.Load/bin/Release/net10.0/Hotpath.Load.dll fleet "http://127.0.0.1:$PORT" $COLLECTOR ../shared/testdata/pprof "$DAYS"
echo "raw bodies: $(du -sm "$DATA/bodies" | cut -f1) MiB, database: $(du -m "$DATA/hotpath.db" | cut -f1) MiB"
