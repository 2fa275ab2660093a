#!/usr/bin/env python3
"""Memory a hostile body costs the collector: peak and idle RSS of a collector process.

Usage: bench/hostile-memory.py [--dll PATH] [--concurrency 8] [--idle 30]
Starts a Release collector on a free 127.0.0.1 port over a temporary data directory, then for each bomb
posts one copy, then N copies at once, and reads VmRSS/VmHWM from /proc/PID/status: the peak while they
run, and RSS after --idle seconds of no requests. Every request is bounded by a 120 s timeout; the
collector is stopped at the end. Nothing leaves 127.0.0.1.
"""
import argparse, concurrent.futures, os, time, urllib.error, urllib.request, zlib

from local_collector import DLL, ROOT, local_collector


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def gzip_stream(prefix, filler, count, chunk=1 << 20):
    """gzip of prefix + filler * count, built in chunks (never the whole payload in memory)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(prefix)]
    block = filler * (chunk // len(filler))
    left = count
    per = chunk // len(filler)
    while left > 0:
        n = min(per, left)
        parts.append(compressor.compress(block if n == per else filler * n))
        left -= n
    parts.append(compressor.flush())
    return b"".join(parts)


PROFEFE = ("/api/0/profiles?service=bomb&type=cpu", {"Content-Type": "application/octet-stream"})
PUSH_GZIP = ("/push.v1.PusherService/Push", {"Content-Type": "application/proto", "Content-Encoding": "gzip"})
OTLP_GZIP = ("/v1development/profiles", {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
FOLDED = ("/ingest?name=bomb.cpu&format=folded", {"Content-Type": "text/plain"})


def bombs():
    """(name, (path, headers), body) of each hostile request."""
    # 1. A string-table entry that claims 300 MB and inflates zeros into it: refused at the size limit.
    yield "prefix-bomb (300 MB string)", PROFEFE, gzip_stream(b"\x32" + varint(300_000_000), b"\0", 300_000_000)
    # 2. 100 M empty strings: 200 MB decompressed, 100 M string slices if decoded whole.
    yield "100M empty strings", PROFEFE, gzip_stream(b"", b"\x32\x00", 100_000_000)
    # 3. One sample with 100 M packed location references (1 byte each).
    n = 100_000_000
    yield "100M location refs", PROFEFE, gzip_stream(b"\x12" + varint(n + 1 + len(varint(n))) + b"\x0a" + varint(n), b"\x01", n)
    # 4. The corpus's gzip bomb as a gzip-encoded push and OTLP request: their bodies inflate before any parse.
    bomb = open(os.path.join(ROOT, "..", "shared", "testdata", "pprof", "gzip_bomb.gz"), "rb").read()
    yield "gzip_bomb.gz as a push", PUSH_GZIP, bomb
    yield "gzip_bomb.gz as OTLP", OTLP_GZIP, bomb
    # 5. A push series with a 60 MiB label value (a pair of field 1 in a series in field 1).
    value = 60 * 1024 * 1024
    pair = b"\x0a\x01k\x12" + varint(value)
    series = b"\x0a" + varint(len(pair) + value)
    yield "push, a 60 MiB label value", PUSH_GZIP, gzip_stream(b"\x0a" + varint(len(series) + len(pair) + value) + series + pair, b"v", value)
    # 6. Folded text of 1 M distinct three-frame lines (29 MB).
    yield "folded, 1M distinct lines", FOLDED, "".join(f"f{i:07d};g{i:07d};h{i:07d} 1\n" for i in range(1_000_000)).encode()


def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) // 1024
    return fields


def reset_peak(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def post(base, target, body):
    path, headers = target
    request = urllib.request.Request(base + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dll", default=DLL)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--idle", type=int, default=30)
    args = parser.parse_args()

    payloads = list(bombs())
    with local_collector(args.dll, "hotpath-bombs-") as (base, collector):
        print(f"idle at start: RSS {status(collector.pid)['VmRSS']} MiB")
        print("| bomb | gzip size | one: status, peak RSS | %d at once: statuses, peak RSS, seconds | RSS after %d s idle |" % (args.concurrency, args.idle))
        print("|---|---|---|---|---|")
        for name, target, body in payloads:
            reset_peak(collector.pid)
            one = post(base, target, body)
            peak_one = status(collector.pid)["VmHWM"]
            reset_peak(collector.pid)
            started = time.time()
            with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
                codes = sorted(pool.map(lambda _: post(base, target, body), range(args.concurrency)))
            took = time.time() - started
            peak_many = status(collector.pid)["VmHWM"]
            time.sleep(args.idle)
            idle = status(collector.pid)["VmRSS"]
            summary = ",".join(f"{c}x{codes.count(c)}" for c in sorted(set(codes)))
            print(f"| {name} | {len(body) // 1024} KB | {one}, {peak_one} MiB | {summary}, {peak_many} MiB, {took:.1f} s | {idle} MiB |", flush=True)


if __name__ == "__main__":
    main()
