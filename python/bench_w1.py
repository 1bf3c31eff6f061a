#!/usr/bin/env python3
"""W1 (dict round trip) through goproc_manager beside Python's own
multiprocessing.Manager, in the same run.

W1 (BENCHMARKS.md): one client, sequential, n x (d[i] = i; x = d[i]); a
store or a load is one op. Python's side is exactly the anchor's
(../shared/anchors/python_manager_bench.py, w1_dict_rtt); ours runs the
same loop on a goproc_manager dict served by a Go manager (the interop
tests' python/tests/gomanager, built with `go build` unless --gomanager
names a binary). Both managers listen on Unix sockets.

Usage (from the repository root; Debian's python3 has msgpack):
    /usr/bin/python3 python/bench_w1.py [--n 10000] [--runs 3]

Prints one JSON object per measurement, then a summary line with the
median ops/s of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import goproc_manager  # noqa: E402


def pct(sorted_vals: List[int], p: float) -> float:
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def w1(d: Any, n: int) -> Dict[str, Any]:
    d["warm"] = 0
    d["warm"]
    lat = []
    pc = time.perf_counter_ns
    t0 = time.perf_counter()
    x = None
    for i in range(n):
        a = pc(); d[i] = i; b = pc(); x = d[i]; c = pc()  # noqa: E702 - the anchor's loop
        lat.append(b - a)
        lat.append(c - b)
    el = time.perf_counter() - t0
    assert x == n - 1 and len(d) == n + 1
    s = sorted(lat)
    return {"ops": 2 * n, "elapsed_s": round(el, 4), "ops_per_s": round(2 * n / el),
            "p50_us": round(pct(s, 50) / 1e3, 2), "p99_us": round(pct(s, 99) / 1e3, 2)}


def run_python(n: int) -> Dict[str, Any]:
    with mp.get_context("fork").Manager() as m:
        return w1(m.dict(), n)


def run_ours(address: str, key: bytes, n: int) -> Dict[str, Any]:
    with goproc_manager.connect(address, key) as mgr:
        d = mgr.dict()
        r = w1(d, n)
        d.clear()
        return r


def start_gomanager(binary: str, workdir: str) -> "tuple[subprocess.Popen, str, bytes]":
    info_file = os.path.join(workdir, "info.json")
    proc = subprocess.Popen([binary, "serve", "-info", info_file], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    if not ready or proc.stdout.readline().strip() != b"ready":
        proc.kill()
        raise SystemExit("the Go manager did not start")
    info = json.load(open(info_file))
    return proc, info["address"], bytes.fromhex(info["key"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="iterations (2 ops each)")
    ap.add_argument("--runs", type=int, default=3, help="alternating runs of each")
    ap.add_argument("--gomanager", help="a built python/tests/gomanager binary")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        binary = args.gomanager
        if not binary:
            binary = os.path.join(tmp, "gomanager")
            subprocess.run(["go", "build", "-o", binary, "./python/tests/gomanager"],
                           cwd=HERE.parent, check=True)
        proc, address, key = start_gomanager(binary, tmp)
        try:
            results: Dict[str, List[Dict[str, Any]]] = {"python": [], "goproc_manager": []}
            runners: Dict[str, Callable[[], Dict[str, Any]]] = {
                "python": lambda: run_python(args.n),
                "goproc_manager": lambda: run_ours(address, key, args.n),
            }
            for run in range(args.runs):
                for source, fn in runners.items():
                    r = {"workload": "W1", "source": source, "run": run, "iterations": args.n, **fn()}
                    print(json.dumps(r), flush=True)
                    results[source].append(r)
        finally:
            proc.stdin.close()
            proc.wait(10)
    ours = statistics.median(r["ops_per_s"] for r in results["goproc_manager"])
    theirs = statistics.median(r["ops_per_s"] for r in results["python"])
    print(json.dumps({"workload": "W1", "summary": True,
                      "goproc_manager_ops_per_s": round(ours), "python_manager_ops_per_s": round(theirs),
                      "ratio": round(ours / theirs, 2), "target": 1.5}))


if __name__ == "__main__":
    main()
