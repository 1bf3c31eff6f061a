"""A Python child process of the interop tests: python3 child.py INFO_FILE ROLE ARGS...

It reads the manager's address and key from INFO_FILE (never argv)."""

from __future__ import annotations

import json
import sys
import time

import goproc_manager


def main() -> None:
    info_file, role, *args = sys.argv[1:]
    with open(info_file) as f:
        info = json.load(f)
    mgr = goproc_manager.connect(info["address"], bytes.fromhex(info["key"]))
    if role == "consume":  # QUEUE: get until -1, print the items as JSON
        q = mgr.Queue(name=args[0])
        got = []
        while True:
            item = q.get(timeout=30)
            if item == -1:
                break
            got.append(item)
        print(json.dumps(got, separators=(",", ":")))
    elif role == "hold-lock":  # NAME: acquire, say so, wait to be killed
        lock = mgr.Lock(args[0])
        lock.acquire()
        print("held", flush=True)
        time.sleep(120)  # sleep-ok: killed by the test long before
    elif role == "take":  # QUEUE: get one item of a JoinableQueue, say it, wait to be killed
        item = mgr.JoinableQueue(name=args[0]).get(timeout=30)
        print(json.dumps(item), flush=True)
        time.sleep(120)  # sleep-ok: killed by the test long before
    elif role == "hold-permit":  # NAME VALUE: take a permit, say so, wait to be killed
        sem = mgr.Semaphore(int(args[1]), name=args[0])
        sem.acquire()
        print("held", flush=True)
        time.sleep(120)  # sleep-ok: killed by the test long before
    elif role == "barrier":  # NAME PARTIES: wait, print the index
        print(mgr.Barrier(int(args[1]), name=args[0]).wait(timeout=30))
    elif role == "modify":  # NAME KEY N: modify n times
        d = mgr.dict(args[0])
        for _ in range(int(args[2])):
            d.modify(args[1], lambda v: v + 1, default=0)
        print("done")
    else:
        raise SystemExit(f"unknown role {role}")
    mgr.close()


if __name__ == "__main__":
    main()
