#!/usr/bin/env bash
# What the .NET agent costs examples/HotApp, at the agent's settings (default: the defaults).
#   [MODE=inprocess|perf] [RUNS=5] [RUN_SECONDS=180] [WINDOW=00:00:03] [INTERVAL=00:01:00] [JITTER=1]
#   [TYPES=Default|All|"Default, Wall"|…] [SPANS=true|false] bench/agent-overhead.sh
# JITTER=0 runs the windows back to back when INTERVAL equals WINDOW (to measure a kind's cost while it records).
# MODE=perf: instead of the in-process agent, `hotpath agent --pid` beside HotApp samples its CPU through
# perf events (99 Hz, every CPU, continuously; needs root or CAP_PERFMON) for the whole run; the sidecar's
# own CPU and peak memory are reported apart.
# Runs HotApp RUNS times without the agent and RUNS times with it, interleaved (without, with, without, …),
# each for RUN_SECONDS, against a fresh collector on 127.0.0.1. A run holds RUN_SECONDS / INTERVAL agent cycles
# (each one WINDOW recording TYPES, then the upload; the first also pays for compiling the agent's code). Prints each run, then the mean throughput of HotApp's two busy methods and its
# mean peak working set with the agent against without.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${MODE:-inprocess}
RUNS=${RUNS:-5}
SECONDS_PER_RUN=${RUN_SECONDS:-180}
WINDOW=${WINDOW:-00:00:03}
INTERVAL=${INTERVAL:-00:01:00}
TYPES=${TYPES:-Default}
SPANS=${SPANS:-true}
if [ "${JITTER:-1}" = 0 ]; then MIN_JITTER=00:00:00; MAX_JITTER=00:00:00; else MIN_JITTER=00:00:01; MAX_JITTER=00:00:10; fi
DATA=$(mktemp -d /tmp/hotpath-agent-bench.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
URL="http://127.0.0.1:$PORT"

for project in src/Hotpath.Collector examples/HotApp src/Hotpath.Cli; do dotnet build -c Release "$project" --verbosity quiet -clp:ErrorsOnly >/dev/null; done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(dotnet --version)"
if [ "$MODE" = perf ]; then
  echo "agent: hotpath agent --pid, cpu through perf events at 99 Hz, continuous, one profile every 60 s; $RUNS runs of $SECONDS_PER_RUN s each way, interleaved"
else
  echo "agent: window $WINDOW every $INTERVAL (+$MIN_JITTER-$MAX_JITTER jitter), types $TYPES, spans $SPANS; $RUNS runs of $SECONDS_PER_RUN s each way, interleaved"
fi

dotnet src/Hotpath.Collector/bin/Release/net10.0/Hotpath.Collector.dll --Collector:Address="127.0.0.1:$PORT" --Collector:OtlpGrpcAddress= \
  --Storage:DataDirectory="$DATA/store" --Logging:LogLevel:Default=Warning >"$DATA/collector.log" 2>&1 &
COLLECTOR=$!
trap 'kill $COLLECTOR 2>/dev/null || true; sleep 1; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

HOTAPP=examples/HotApp/bin/Release/net10.0/HotApp.dll
run() { # run <label> [--agent URL]: prints "<label> <checksum rounds/s> <parse rounds/s> <peak MiB>"
  local label=$1; shift
  local line
  line=$(Hotpath__Agent__Window="$WINDOW" Hotpath__Agent__Interval="$INTERVAL" Hotpath__Agent__Types="$TYPES" Hotpath__Agent__Spans="$SPANS" \
    Hotpath__Agent__MinJitter="$MIN_JITTER" Hotpath__Agent__MaxJitter="$MAX_JITTER" dotnet "$HOTAPP" --seconds "$SECONDS_PER_RUN" "$@" | tail -n 1)
  # "throughput 1234 checksum rounds/s, 567 parse rounds/s over 60.0 s; … peak working set 118 MiB …"
  echo "$label $(sed -E 's/^throughput ([0-9]+) checksum rounds\/s, ([0-9]+) parse rounds\/s.*peak working set ([0-9]+) MiB.*/\1 \2 \3/' <<<"$line")"
}

# run_sidecar: HotApp with `hotpath agent --pid` beside it from its first line (calibrated) to its end;
# prints "with <checksum> <parse> <peak MiB>", and the sidecar's CPU and peak memory to stderr.
run_sidecar() {
  local out="$DATA/hotapp.out"
  dotnet "$HOTAPP" --seconds "$SECONDS_PER_RUN" >"$out" &
  local app=$!
  until [ -s "$out" ]; do sleep 0.1; done
  dotnet src/Hotpath.Cli/bin/Release/net10.0/hotpath.dll agent --pid "$app" --service hotapp --types cpu --cpu-sampler perf \
    --interval 60s --collector "$URL" >>"$DATA/sidecar.log" 2>&1 &
  local side=$!
  wait "$app"
  local ticks; ticks=$(awk '{print $14 + $15}' "/proc/$side/stat")
  local peak; peak=$(awk '/VmHWM/{print int($2 / 1024)}' "/proc/$side/status")
  kill "$side"; wait "$side" 2>/dev/null || true
  echo "sidecar: $(awk -v t="$ticks" -v s="$SECONDS_PER_RUN" 'BEGIN{printf "%.2f%% of a core", t / s}'), peak $peak MiB" >&2
  echo "with $(sed -E 's/^throughput ([0-9]+) checksum rounds\/s, ([0-9]+) parse rounds\/s.*peak working set ([0-9]+) MiB.*/\1 \2 \3/' <<<"$(tail -n 1 "$out")")"
}

RESULTS="$DATA/results"
for i in $(seq 1 "$RUNS"); do
  run without | tee -a "$RESULTS"
  if [ "$MODE" = perf ]; then
    run_sidecar | tee -a "$RESULTS"
  else
    run with --agent "$URL" | tee -a "$RESULTS"
  fi
done
stored=$(curl -sS "$URL/api/0/profiles?service=hotapp&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00" | grep -o '"type":"[a-z]*"' | sort | uniq -c | xargs || true)
echo "profiles stored: $stored"
awk '
  { c[$1] += $2; p[$1] += $3; m[$1] += $4; n[$1]++ }
  END {
    cw = c["with"] / n["with"]; co = c["without"] / n["without"]
    pw = p["with"] / n["with"]; po = p["without"] / n["without"]
    mw = m["with"] / n["with"]; mo = m["without"] / n["without"]
    printf "checksum rounds/s: %.0f without, %.0f with (%+.2f%%)\n", co, cw, 100 * (cw - co) / co
    printf "parse rounds/s:    %.0f without, %.0f with (%+.2f%%)\n", po, pw, 100 * (pw - po) / po
    printf "throughput change: %+.2f%% (mean of the two)\n", 50 * ((cw - co) / co + (pw - po) / po)
    printf "peak working set:  %.0f MiB without, %.0f MiB with (%+.0f MiB)\n", mo, mw, mw - mo
  }' "$RESULTS"
