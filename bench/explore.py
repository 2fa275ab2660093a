#!/usr/bin/env python3
"""The tag explorer over many values of one label: how long ranking them takes.

Usage: bench/explore.py [--values 5000] [--runs 5] [--dll PATH]
Starts a Release collector on a free 127.0.0.1 port, posts one profile (the corpus's block.pb.gz, at its own
time) for each of N values of label host through 16 connections, waits for the pieces to be built, then times
GET /api/0/ui/explore?key=host over all time, one after another and four at once.
Requests are bounded by a 600 s timeout; the collector is stopped at the end. Nothing leaves 127.0.0.1.
"""
import argparse, concurrent.futures, json, os, statistics, time, urllib.request

from local_collector import DLL, ROOT, local_collector


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dll", default=DLL)
    args = parser.parse_args()
    profile = open(os.path.join(ROOT, "..", "shared", "testdata", "pprof", "block.pb.gz"), "rb").read()
    # block.pb.gz carries its own time (when the corpus was recorded), so the window is all time.
    with local_collector(args.dll) as (base, _):
        def post(i):
            request = urllib.request.Request(f"{base}/api/0/profiles?service=explore&type=block&labels=host%3Dh{i:05d},region%3Deu", data=profile)
            urllib.request.urlopen(request, timeout=600).read()
        started = time.time()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(post, range(args.values)))
        print(f"posted {args.values} profiles in {time.time() - started:.1f} s")
        deadline = time.time() + 120
        while b"hotpath_rollup_pending_buckets 0\n" not in urllib.request.urlopen(base + "/metrics", timeout=60).read() and time.time() < deadline:
            time.sleep(0.5)
        url = f"{base}/api/0/ui/explore?service=explore&type=block&key=host&from=0001-01-01T00:00:00&to=now"

        def explore(_):
            t = time.time()
            body = json.load(urllib.request.urlopen(url, timeout=600))
            return time.time() - t, body["body"]["values_found"]
        alone = [explore(i) for i in range(args.runs)]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            together = list(pool.map(explore, range(4)))
        print(f"explore over {alone[0][1]} values: alone p50 {statistics.median(t for t, _ in alone) * 1000:.0f} ms, "
              f"four at once max {max(t for t, _ in together) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
