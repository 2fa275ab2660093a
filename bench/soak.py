#!/usr/bin/env python3
"""Memory under a mixed load: peak RSS and how fast it comes back.

Usage: bench/soak.py [--seconds 120] [--posters 16] [--mergers 4] [--readers 4] [--explorers 2] [--dll PATH]
Starts a Release collector on a free 127.0.0.1 port; posters send the corpus's CPU profiles stamped now with
labels host (50 values) and version (3); mergers merge the service's CPU profiles of the last hour; readers
open the UI's flame view of it; explorers rank its hosts. Every request is bounded by a 120 s timeout and the
load stops by itself. RSS (VmRSS of /proc/PID/status) is read every second; after the load, idle RSS at 10 s
and 30 s. Prints requests and errors per kind, the peak and the idle figures. Nothing leaves 127.0.0.1.
"""
import argparse, gzip, os, random, threading, time, urllib.error, urllib.request

from local_collector import DLL, ROOT, local_collector


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--posters", type=int, default=16)
    parser.add_argument("--mergers", type=int, default=4)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--explorers", type=int, default=2)
    parser.add_argument("--dll", default=DLL)
    args = parser.parse_args()
    corpus = os.path.join(ROOT, "..", "shared", "testdata", "pprof")
    # The corpus's own times are in the past: strip them (field 9, time_nanos) so that the collector stamps each now.
    bodies = [strip_time(gzip.decompress(open(os.path.join(corpus, f"cpu_{i}.pb.gz"), "rb").read())) for i in (1, 2, 3)]
    counts, errors = {}, {}
    lock = threading.Lock()
    with local_collector(args.dll) as (base, collector):
        stop = time.time() + args.seconds
        window = "from=now-1h&to=now"

        def worker(kind, make):
            while time.time() < stop:
                url, data = make()
                try:
                    urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=120).read()
                    key = counts
                except (urllib.error.URLError, OSError):
                    key = errors
                with lock:
                    key[kind] = key.get(kind, 0) + 1

        kinds = [("post", args.posters, lambda: (f"{base}/api/0/profiles?service=soak&type=cpu&labels=host%3Dh{random.randrange(50)},version%3D1.{random.randrange(3)}",
                                                 random.choice(bodies))),
                 ("merge", args.mergers, lambda: (f"{base}/api/0/profiles/merge?service=soak&type=cpu&{window}", None)),
                 ("ui", args.readers, lambda: (f"{base}/api/0/ui/profile?service=soak&type=cpu&{window}", None)),
                 ("explore", args.explorers, lambda: (f"{base}/api/0/ui/explore?service=soak&type=cpu&key=host&{window}", None))]
        threads = [threading.Thread(target=worker, args=(kind, make)) for kind, n, make in kinds for _ in range(n)]
        idle = rss_mib(collector.pid)
        for t in threads:
            t.start()
        peak = idle
        while any(t.is_alive() for t in threads):
            peak = max(peak, rss_mib(collector.pid))
            time.sleep(1)
        after = {}
        for wait in (10, 30):
            time.sleep(wait - (10 if wait == 30 else 0))
            after[wait] = rss_mib(collector.pid)
        print(f"{args.seconds} s: " + ", ".join(f"{k} {counts.get(k, 0)} ({errors.get(k, 0)} errors)" for k, *_ in kinds))
        print(f"RSS: idle {idle:.0f} MiB, peak {peak:.0f} MiB, 10 s after {after[10]:.0f} MiB, 30 s after {after[30]:.0f} MiB")


def strip_time(raw):
    """The profile without its time_nanos field (9): walks the top-level fields."""
    out, i = bytearray(), 0
    while i < len(raw):
        start = i
        key, i = varint(raw, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, i = varint(raw, i)
        elif wire == 2:
            length, i = varint(raw, i)
            i += length
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        if field != 9:
            out += raw[start:i]
    return bytes(out)


def varint(data, i):
    value = shift = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


if __name__ == "__main__":
    main()
