#!/usr/bin/env bash
# A long fuzz run: the collector test FuzzTests with N mutations (default 100000) of the real profiles in
# ../shared/testdata/pprof, against a real collector on 127.0.0.1. Fails on any 5xx or hang.
# Usage: bench/fuzz.sh [MUTATIONS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export HOTPATH_FUZZ_MUTATIONS="${1:-100000}" HOTPATH_FUZZ_SEED="${2:-$RANDOM}"
echo "fuzz: $HOTPATH_FUZZ_MUTATIONS mutations, seed $HOTPATH_FUZZ_SEED"
start=$(date +%s)
dotnet test tests/Hotpath.Collector.Tests -c Release --filter "FullyQualifiedName~FuzzTests" --logger "console;verbosity=normal"
echo "fuzz: done in $(( $(date +%s) - start )) s"
