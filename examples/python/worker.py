"""A Python worker of examples/python: takes numbers from the Go parent's
queue "tasks", factors them, stores the factors in the dict "results".

It reads the manager's address and key as JSON from stdin."""

import json
import sys

import goproc_manager


def factors(n: int) -> list:
    out, d = [], 2
    while d * d <= n:
        while n % d == 0:
            out.append(d)
            n //= d
        d += 1
    if n > 1:
        out.append(n)
    return out


def main() -> None:
    hello = json.load(sys.stdin)
    with goproc_manager.connect(hello["address"], bytes.fromhex(hello["key"])) as mgr:
        tasks = mgr.JoinableQueue(name="tasks")
        results = mgr.dict("results")
        done = 0
        while True:
            n = tasks.get(timeout=60)
            if n is None:
                tasks.task_done()
                break
            results[n] = factors(n)
            tasks.task_done()
            done += 1
        print(f"worker {sys.argv[1]}: {done} tasks", flush=True)


if __name__ == "__main__":
    main()
