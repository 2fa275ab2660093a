#!/usr/bin/env python3
"""Cost of a find with many label pairs on the embedded store.

Usage: bench/label-filter.py [--dll PATH] [--profiles 2000] [--pairs 50]
Starts a Release collector on a free 127.0.0.1 port over a temporary data directory, stores N copies of
cpu_2.pb.gz that each carry the same P labels, then times 20 finds that filter on all P pairs (every
stored profile matches). Stops the collector at the end; nothing leaves 127.0.0.1.
"""
import argparse, os, statistics, time, urllib.request

from local_collector import DLL, ROOT, local_collector

parser = argparse.ArgumentParser()
parser.add_argument("--dll", default=DLL)
parser.add_argument("--profiles", type=int, default=2000)
parser.add_argument("--pairs", type=int, default=50)
args = parser.parse_args()

with local_collector(args.dll, "hotpath-labels-") as (base, _):
    body = open(os.path.join(ROOT, "..", "shared", "testdata", "pprof", "cpu_2.pb.gz"), "rb").read()
    labels = ",".join(f"k{i:02d}=v" for i in range(args.pairs))
    for i in range(args.profiles):
        created = f"2026-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/0/profiles?service=lb&type=cpu&labels={labels}&created_at={created}",
                                                      data=body, method="POST"), timeout=60).read()
    times = []
    for _ in range(20):
        started = time.time()
        urllib.request.urlopen(f"{base}/api/0/profiles?service=lb&from=2025-01-01T00:00:00&to=2027-01-01T00:00:00&labels={labels}", timeout=120).read()
        times.append(time.time() - started)
    print(f"{args.profiles} profiles with {args.pairs} labels, find on all {args.pairs} pairs: "
          f"p50 {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
