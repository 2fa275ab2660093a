#!/usr/bin/env python3
"""Cost of a find with many label pairs on the embedded store.

Usage: bench/label-filter.py [--dll PATH] [--profiles 2000] [--pairs 50]
Starts a Release collector on a free 127.0.0.1 port over a temporary data directory, stores N copies of
cpu_2.pb.gz that each carry the same P labels, then times 20 finds that filter on all P pairs (every
stored profile matches). Stops the collector at the end; nothing leaves 127.0.0.1.
"""
import argparse, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser()
parser.add_argument("--dll", default=os.path.join(root, "src/Hotpath.Collector/bin/Release/net10.0/Hotpath.Collector.dll"))
parser.add_argument("--profiles", type=int, default=2000)
parser.add_argument("--pairs", type=int, default=50)
args = parser.parse_args()

s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
data = tempfile.mkdtemp(prefix="hotpath-labels-")
collector = subprocess.Popen(["dotnet", args.dll, f"--Collector:Address=127.0.0.1:{port}", f"--Storage:DataDirectory={data}",
                              "--Logging:LogLevel:Default=Warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"
try:
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).read()
            break
        except OSError:
            if time.time() > deadline:
                sys.exit("collector did not start")
            time.sleep(0.2)
    body = open(os.path.join(root, "..", "shared", "testdata", "pprof", "cpu_2.pb.gz"), "rb").read()
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
finally:
    collector.terminate()
    try:
        collector.wait(timeout=30)
    except subprocess.TimeoutExpired:
        collector.kill()
    shutil.rmtree(data, ignore_errors=True)
