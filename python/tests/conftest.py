"""Fixtures of the interop tests: a Go manager (python/tests/gomanager),
Go clients run as processes, Python children, and a time limit per test.

Run with Debian's Python, which has msgpack and pytest:
    /usr/bin/python3 -m pytest python/tests
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

HERE = Path(__file__).resolve().parent
PYTHON_DIR = HERE.parent
REPO = PYTHON_DIR.parent
sys.path.insert(0, str(PYTHON_DIR))

import goproc_manager  # noqa: E402

#: Every test ends within this many seconds, or fails.
TEST_LIMIT = int(os.environ.get("GOPROC_TEST_LIMIT", "90"))


class TimeLimitExceeded(Exception):
    """A test ran longer than TEST_LIMIT seconds."""


@pytest.fixture(autouse=True)
def time_limit() -> Iterator[None]:
    """Fail a test that runs longer than TEST_LIMIT seconds."""
    def expired(signum: int, frame: Any) -> None:
        raise TimeLimitExceeded(f"the test ran longer than {TEST_LIMIT} s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="session")
def gomanager_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go test program, built once per run."""
    out = tmp_path_factory.mktemp("bin") / "gomanager"
    subprocess.run(["go", "build", "-o", str(out), "./python/tests/gomanager"], cwd=REPO,
                   check=True, timeout=600)
    return out


class GoManager:
    """A running `gomanager serve` process and how to reach it."""

    def __init__(self, binary: Path, tcp: bool = False, tls: bool = False) -> None:
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="gomanager-test-")
        self.info_file = os.path.join(self.dir, "info.json")
        args = [str(binary), "serve", "-info", self.info_file] + (["-tcp"] if tcp else []) + (["-tls"] if tls else [])
        # stdin is a pipe: the manager exits when it closes (so when this
        # test process dies, too).
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.stop()
            raise RuntimeError(f"gomanager serve did not start (said {line!r})")
        with open(self.info_file) as f:
            info = json.load(f)
        self.address: str = info["address"]
        self.key = bytes.fromhex(info["key"])
        self.pid: int = info["pid"]
        self.ca: str = info.get("ca", "")

    def connect(self, **kw: Any) -> goproc_manager.Manager:
        return goproc_manager.connect(self.address, self.key, **kw)

    def go(self, cmd: str, *args: Any, timeout: float = 60) -> str:
        """Run a Go client command against this manager; return its stdout."""
        r = subprocess.run([str(self.binary), cmd, "-info", self.info_file, *map(str, args)],
                           capture_output=True, timeout=timeout)
        assert r.returncode == 0, f"gomanager {cmd} failed: {r.stderr.decode()}"
        return r.stdout.decode()

    def go_start(self, cmd: str, *args: Any) -> subprocess.Popen:
        """Start a Go client command; the caller waits for it."""
        return subprocess.Popen([str(self.binary), cmd, "-info", self.info_file, *map(str, args)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def child(self, *args: Any) -> subprocess.Popen:
        """Start a Python child (tests/child.py) connected to this manager."""
        env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
        return subprocess.Popen([sys.executable, str(HERE / "child.py"), self.info_file, *map(str, args)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stdin):
            if f and not f.closed:
                f.close()


@pytest.fixture(scope="module")
def gm(gomanager_bin: Path) -> Iterator[GoManager]:
    """A Go manager shared by the tests of a module."""
    m = GoManager(gomanager_bin)
    yield m
    m.stop()


@pytest.fixture
def own_gm(gomanager_bin: Path) -> Iterator[GoManager]:
    """A Go manager for one test (one that kills it, say)."""
    m = GoManager(gomanager_bin)
    yield m
    m.stop()


@pytest.fixture
def mgr(gm: GoManager) -> Iterator[goproc_manager.Manager]:
    """A Python session with the module's manager."""
    m = gm.connect()
    yield m
    m.close()


def wait_line(p: subprocess.Popen, timeout: float = 30) -> str:
    """The next line a child prints, within timeout."""
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError("the child printed nothing")
    return p.stdout.readline().decode().strip()


def finish(p: subprocess.Popen, timeout: float = 30) -> List[str]:
    """Wait for a child; return its stdout lines, failing on an error exit."""
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, f"child failed ({p.returncode}): {err.decode()}"
    return out.decode().split()


def info_of(gm: GoManager) -> Dict[str, Any]:
    return {"address": gm.address, "key": gm.key}
