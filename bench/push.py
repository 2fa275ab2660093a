#!/usr/bin/env python3
"""A large Pyroscope push, and its retry: how long it takes and what is stored.

Usage: bench/push.py [--series 10000] [--format proto|json] [--dll PATH]
Starts a Release collector on a free 127.0.0.1 port, sends one push of N series (each one sample of the
corpus's block.pb.gz, service push-bench, labels series=i, sample ids set as Alloy sets them), times it,
sends the same push again (a client's retry after giving up), and counts the profiles stored. Requests are
bounded by a 600 s timeout; the collector is stopped at the end. Nothing leaves 127.0.0.1.
"""
import argparse, base64, json, os, time, urllib.request, uuid

from local_collector import DLL, ROOT, local_collector


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def label(name, value):
    return field(1, name.encode()) + field(2, value.encode())


def push_proto(series):
    body = bytearray()
    for labels, profile, sample_id in series:
        message = b"".join(field(1, label(k, v)) for k, v in labels) + field(2, field(1, profile) + field(2, sample_id.encode()))
        body += field(1, message)
    return bytes(body)


def push_json(series):
    return json.dumps({"series": [{"labels": [{"name": k, "value": v} for k, v in labels],
                                   "samples": [{"rawProfile": base64.b64encode(profile).decode(), "ID": sample_id}]}
                                  for labels, profile, sample_id in series]}).encode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10000)
    parser.add_argument("--format", choices=["proto", "json"], default="proto")
    parser.add_argument("--dll", default=DLL)
    args = parser.parse_args()
    profile = open(os.path.join(ROOT, "..", "shared", "testdata", "pprof", "block.pb.gz"), "rb").read()
    series = [([("service_name", "push-bench"), ("__name__", "block"), ("series", str(i))], profile, str(uuid.uuid4())) for i in range(args.series)]
    body, content_type = (push_proto(series), "application/proto") if args.format == "proto" else (push_json(series), "application/json")
    with local_collector(args.dll) as (base, _):
        for attempt in ("push", "retry"):
            request = urllib.request.Request(base + "/push.v1.PusherService/Push", data=body, headers={"Content-Type": content_type})
            started = time.time()
            with urllib.request.urlopen(request, timeout=600) as response:
                response.read()
            print(f"{attempt}: {args.series} series, {len(body) / 1e6:.1f} MB {args.format}, {time.time() - started:.2f} s")
        found = json.load(urllib.request.urlopen(base + "/api/0/profiles?service=push-bench&from=0001-01-01T00:00:00&to=now", timeout=600))
        print(f"stored: {len(found['body'])} profiles for {args.series} series sent twice")


if __name__ == "__main__":
    main()
