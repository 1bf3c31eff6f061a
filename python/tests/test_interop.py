"""Interop tests: Python processes and Go processes share one Go manager.

Run: /usr/bin/python3 -m pytest python/tests   (Debian's python3 has msgpack)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import msgpack
import pytest

import goproc_manager as gpm
from conftest import GoManager, finish, wait_line


# -- dicts ------------------------------------------------------------------

GO_VALUES = {
    "go_map": {"a": 1, "b": 2, "c": {"x": [1, 2], "y": 1}},
    "go_int": 1 << 40,
    "go_small": 7,
    "go_neg": -300,
    "go_str": "héllo",
    "go_bytes": b"\x00\x01\x02",
    "go_float": 1.25,
    "go_bool": True,
    "go_nil": None,
    "go_list": [1, "two", 3.5, False],
}


def test_dict_written_by_go_reads_in_python(gm: GoManager, mgr: gpm.Manager) -> None:
    gm.go("dict-set", "from-go")
    d = mgr.dict("from-go")
    assert {k: d[k] for k in GO_VALUES} == GO_VALUES
    assert d[42] == "forty-two", "an int key Go stored is found with a Python int"
    assert 42 in d and "go_map" in d and "absent" not in d
    assert len(d) == len(GO_VALUES) + 1
    # The manager compares bytes: Python's encoding of Go's map must be
    # Go's, whatever the order the Python dict was built in.
    reordered = {"c": {"y": 1, "x": [1, 2]}, "b": 2, "a": 1}
    assert d.compare_and_swap("go_map", reordered, "swapped")
    assert d["go_map"] == "swapped"


def test_dict_written_by_python_reads_in_go(gm: GoManager, mgr: gpm.Manager) -> None:
    d = mgr.dict("from-python")
    d["py_int"] = 7
    d["py_big"] = 1 << 40
    d["py_neg"] = -300
    d["py_float"] = 2.5
    d["py_str"] = "ünïcode"
    d["py_bytes"] = b"\x00\x01"
    d["py_none"] = None
    d["py_list"] = [1, "a", True]
    d["py_map"] = {"z": 1, "a": [1, {"y": 2, "b": 3}]}
    d[7] = "seven"
    d["py_nested_keys"] = {"k": "v", 10: "ten", -1: "minus one"}
    assert gm.go("dict-check", "from-python").strip() == "ok"


def test_float_keys_as_go_stores_them(gm: GoManager, mgr: gpm.Manager) -> None:
    """A NaN key is one key, and -0.0 is 0.0, in both languages."""
    assert gm.go("float-keys", "floats").strip() == "go nan"
    d = mgr.dict("floats")
    assert d[float("nan")] == "go nan" and d[0.0] == "go zero" and d[-0.0] == "go zero"
    assert len(d) == 2
    d[float("-nan")] = "python nan"
    d[-0.0] = "python zero"
    assert len(d) == 2
    assert gm.go("float-keys", "floats").strip() == "python nan"


def test_dict_methods(mgr: gpm.Manager) -> None:
    d = mgr.dict()
    d.update({"a": 1, "b": 2}, c=3)
    assert d.items() == [("a", 1), ("b", 2), ("c", 3)]
    assert d.keys() == ["a", "b", "c"] and list(d) == ["a", "b", "c"]
    assert d.values() == [1, 2, 3]
    assert d.get("zz") is None and d.get("zz", 5) == 5
    with pytest.raises(KeyError):
        d["zz"]
    with pytest.raises(KeyError):
        del d["zz"]
    del d["c"]
    assert d.pop("b") == 2 and d.pop("b", "gone") == "gone"
    assert d.setdefault("a", 9) == 1 and d.setdefault("n", 0) == 0
    assert d.add("n", 5) == 5 and d.add("n") == 6
    assert d.modify("n", lambda v: v * 10) == 60
    assert d.popitem() == ("n", 60)
    assert d.copy() == {"a": 1}
    d.clear()
    assert len(d) == 0
    with pytest.raises(KeyError):
        d.popitem()
    with pytest.raises(TypeError):
        d["s"] = {1, 2}  # a set is not msgpack data


def test_modify_loses_no_update_across_processes(gm: GoManager, mgr: gpm.Manager) -> None:
    kids = [gm.child("modify", "counters", "n", 100) for _ in range(3)]
    d = mgr.dict("counters")
    for _ in range(100):
        d.modify("n", lambda v: v + 1, default=0)
    for k in kids:
        assert finish(k) == ["done"]
    assert d["n"] == 400


# -- queues -------------------------------------------------------------------

def test_queue_go_producer_python_consumers(gm: GoManager, mgr: gpm.Manager) -> None:
    n = 300
    consumers = [gm.child("consume", "tasks", ) for _ in range(2)]
    gm.go("produce", "tasks", n, len(consumers))
    got = []
    for c in consumers:
        got.extend(json.loads(finish(c, 60)[0]))
    assert sorted(got) == list(range(n)), "every item delivered exactly once"


def test_timed_out_get_consumes_nothing(mgr: gpm.Manager) -> None:
    """An item put just as a get times out is either returned by that get
    or still in the queue: never lost."""
    q = mgr.Queue()
    n = 40
    got, left = [], []
    for i in range(n):
        putter = threading.Timer(0.03 + (i % 5) * 0.01, q.put, (i,))
        putter.start()
        try:
            got.append(q.get(timeout=0.05))
        except gpm.Empty:
            putter.join(10)
            left.append(q.get(timeout=10))
        putter.join(10)
    assert sorted(got + left) == list(range(n))
    assert q.qsize() == 0


def test_timed_out_get_is_withdrawn_on_the_manager(gm: GoManager, mgr: gpm.Manager) -> None:
    q = mgr.Queue(name="withdrawn")
    start = time.monotonic()
    with pytest.raises(gpm.Empty):
        q.get(timeout=0.2)
    assert time.monotonic() - start >= 0.2
    q.put("for go")
    # A get still waiting on the manager would take the item first.
    assert json.loads(gm.go("get", "withdrawn")) == "for go"


def test_late_get_of_a_stopped_manager_is_given_back(own_gm: GoManager) -> None:
    """A get that timed out while the manager was stopped (SIGSTOP) runs
    when it resumes; the client gives the item back."""
    mgr = own_gm.connect()
    q = mgr.Queue()
    q.put("precious")
    os.kill(own_gm.pid, signal.SIGSTOP)
    try:
        # The stop is asynchronous: wait until every thread of the manager
        # (our child) has stopped, leaving the event for its real waiter.
        os.waitid(os.P_PID, own_gm.pid, os.WSTOPPED | os.WNOWAIT)
        start = time.monotonic()
        with pytest.raises(gpm.Empty):
            q.get(timeout=0.2)
        assert time.monotonic() - start < 5
    finally:
        os.kill(own_gm.pid, signal.SIGCONT)
    assert q.get(timeout=10) == "precious", "the late get's item came back"
    mgr.close()


def test_queue_methods(mgr: gpm.Manager) -> None:
    q = mgr.Queue(2)
    assert q.empty() and q.maxsize == 2
    q.put(1)
    q.put_nowait({"b": [1], "a": None})
    assert q.full() and q.qsize() == 2
    with pytest.raises(gpm.Full):
        q.put(3, timeout=0.05)
    with pytest.raises(gpm.Full):
        q.put_nowait(3)
    assert q.get() == 1 and q.get_nowait() == {"a": None, "b": [1]}
    with pytest.raises(gpm.Empty):
        q.get_nowait()
    import queue
    with pytest.raises(queue.Empty):  # a queue.Empty, as for a local queue
        q.get(block=False)


def test_joinable_queue(mgr: gpm.Manager) -> None:
    q = mgr.JoinableQueue()
    for i in range(3):
        q.put(i)
    assert not q.join(timeout=0.05)
    for _ in range(3):
        q.get()
        q.task_done()
    assert q.join(timeout=5)
    with pytest.raises(gpm.BadArguments):
        q.task_done()


# -- locks and the other primitives ------------------------------------------

@pytest.mark.parametrize("next_owner", ["go", "python"])
def test_lock_of_killed_python_process_is_abandoned(gm: GoManager, mgr: gpm.Manager, next_owner: str) -> None:
    name = f"abandoned-{next_owner}"
    holder = gm.child("hold-lock", name)
    assert wait_line(holder) == "held"
    lock = mgr.Lock(name)
    assert lock.locked()
    assert not lock.acquire(timeout=0.1), "held by the child"
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    holder.stdout.close()
    holder.stderr.close()
    if next_owner == "go":
        assert gm.go("lock", name).strip() == "abandoned"
        assert lock.acquire(timeout=10), "reported once: the next holder gets it plainly"
        lock.release()
    else:
        with pytest.raises(gpm.Abandoned):
            lock.acquire(timeout=10)
        assert lock.locked(), "Abandoned is raised with the lock held"
        lock.release()
        with lock:
            assert lock.locked()
        assert not lock.locked()


def _kill(p: "subprocess.Popen[bytes]") -> None:
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    p.stdout.close()  # type: ignore[union-attr]
    p.stderr.close()  # type: ignore[union-attr]


def test_joinable_queue_item_of_killed_consumer_is_delivered_again(gm: GoManager, mgr: gpm.Manager) -> None:
    q = mgr.JoinableQueue(name="redeliver")
    q.put({"task": 1})
    q.put({"task": 2})
    taker = gm.child("take", "redeliver")
    assert json.loads(wait_line(taker)) == {"task": 1}
    assert q.get(timeout=10) == {"task": 2}
    q.task_done()
    _kill(taker)
    assert q.get(timeout=10) == {"task": 1}, "the dead consumer's item comes back"
    q.task_done()
    assert q.join(timeout=10)


def test_semaphore_permit_of_killed_process_comes_back(gm: GoManager, mgr: gpm.Manager) -> None:
    holder = gm.child("hold-permit", "permits", 1)
    assert wait_line(holder) == "held"
    sem = mgr.Semaphore(1, name="permits")
    assert not sem.acquire(timeout=0.1)
    _kill(holder)
    with pytest.raises(gpm.Abandoned):
        sem.acquire(timeout=10)
    assert sem.get_value() == 0, "Abandoned is raised with the permit taken"
    sem.release()


def test_threads_share_one_session(mgr: gpm.Manager) -> None:
    d = mgr.dict()
    lock = mgr.Lock()
    errors: list = []

    def work() -> None:
        try:
            for _ in range(100):
                d.add("n", 1)
                with lock:  # the session's lock: threads of this process take turns
                    d["m"] = d.get("m", 0) + 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=work, daemon=True) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert d["n"] == 600
    assert d["m"] == 600, "the lock excluded the threads of its own session from each other"


def test_lock_and_rlock(mgr: gpm.Manager) -> None:
    lock = mgr.Lock()
    with lock:
        assert lock.locked()
        assert not lock.acquire(blocking=False), "the same process waits like any other"
    with pytest.raises(gpm.NotHeld):
        lock.release()
    with pytest.raises(RuntimeError):  # NotHeld is a RuntimeError, as for threading.Lock
        lock.release()
    r = mgr.RLock(name="r")
    other = mgr.RLock(name="r")  # another proxy: another owner
    with r:
        with r:
            assert not other.acquire(blocking=False)
    assert other.acquire(timeout=1)
    other.release()


def test_semaphore_condition_event(mgr: gpm.Manager) -> None:
    s = mgr.BoundedSemaphore(2)
    assert s.acquire() and s.acquire(timeout=1)
    assert not s.acquire(timeout=0.05)
    s.release()
    assert s.get_value() == 1
    s.release()
    with pytest.raises(ValueError):
        s.release()

    e = mgr.Event()
    assert not e.wait(0.05)
    threading.Timer(0.05, e.set).start()
    assert e.wait(10) and e.is_set()

    cond = mgr.Condition()
    box = mgr.list()

    def producer() -> None:
        with cond:
            box.append("x")
            cond.notify_all()
    with cond:
        threading.Thread(target=producer).start()
        assert cond.wait_for(lambda: len(box) == 1, timeout=10)
        assert not cond.wait(0.05), "a timed-out wait returns False, the lock held again"


def test_barrier_across_go_and_python(gm: GoManager, mgr: gpm.Manager) -> None:
    go = gm.go_start("barrier", "b3", 3)
    py = gm.child("barrier", "b3", 3)
    mine = mgr.Barrier(3, name="b3").wait(timeout=30)
    out, err = go.communicate(timeout=30)
    assert go.returncode == 0, err.decode()
    indexes = {mine, int(out), int(finish(py)[0])}
    assert indexes == {0, 1, 2}


def test_barrier_timeout_breaks_it(mgr: gpm.Manager) -> None:
    b = mgr.Barrier(2)
    with pytest.raises(gpm.BrokenBarrier):
        b.wait(timeout=0.05)
    assert b.broken
    import threading as t
    with pytest.raises(t.BrokenBarrierError):
        b.wait(timeout=1)


def test_list_namespace_value(mgr: gpm.Manager) -> None:
    lst = mgr.list(items=[3, 1, 2])
    lst.append(0)
    lst += [9]
    assert lst[-1] == 9 and lst[1:3] == [1, 2] and len(lst) == 5 and 9 in lst
    lst.sort()
    assert list(lst) == [0, 1, 2, 3, 9]
    del lst[0]
    lst[0] = 10
    assert lst.pop() == 9 and lst.index(2) == 1 and lst.count(10) == 1
    with pytest.raises(IndexError):
        lst[99]
    with pytest.raises(ValueError):
        lst.remove("absent")

    ns = mgr.Namespace("named-ns", x=1)
    ns.y = "why"
    assert ns.x == 1 and ns.y == "why" and ns._add("x", 2) == 3
    del ns.y
    with pytest.raises(AttributeError):
        ns.y

    a = mgr.Array("i", [1, 2, 3])
    a[0] = 10
    a[1:] = [20, 30]
    assert a.tolist() == [10, 20, 30] and len(a) == 3 and a[-1] == 30 and a[:2] == [10, 20]
    assert a.add(1, 5) == 25
    with pytest.raises(gpm.BadArguments):
        a[:] = [1]  # the length is fixed

    assert mgr.Value("i", 7).value == 7, "SyncManager's Value(typecode, value)"
    assert mgr.dict({"a": 1}).copy() == {"a": 1} and mgr.dict(b=2).copy() == {"b": 2}
    assert mgr.list([1, 2]).tolist() == [1, 2] and mgr.list("named-list", [3]).tolist() == [3]
    assert mgr.Namespace(name="an attribute").name == "an attribute"

    v = mgr.Value(1.5)
    v.value = 2
    assert v.add(3) == 5 and v.value == 5
    assert v.compare_and_swap(5, "five") and v.get() == "five"


def test_proxies_stored_in_containers(mgr: gpm.Manager) -> None:
    d = mgr.dict()
    inner = mgr.list(items=[1])
    d["inner"] = inner
    inner.close()
    got = d["inner"]
    assert isinstance(got, gpm.ListProxy)
    got.append(2)
    assert got.tolist() == [1, 2]


def test_proxies_stored_across_languages(gm: GoManager, mgr: gpm.Manager) -> None:
    gm.go("proxy-set", "proxies")
    d = mgr.dict("proxies")
    go_list = d["go_list"]
    assert isinstance(go_list, gpm.ListProxy), "a proxy Go stored arrives typed"
    assert go_list.tolist() == [1, 2, 3]
    go_list.append(4)
    assert d["go_list"].tolist() == [1, 2, 3, 4]
    py_list = mgr.list(items=["a", 1])
    d["py_list"] = py_list
    py_list.close()  # the dict keeps the list alive
    assert json.loads(gm.go("proxy-check", "proxies")) == ["a", 1]


# -- custom types -------------------------------------------------------------

def test_custom_go_type_by_method_name(mgr: gpm.Manager) -> None:
    c = mgr.new("Counter", 5)
    assert c.typeid == "Counter"
    assert c.Inc(2) == 7 and mgr.call(c, "Inc", 1) == 8 and c.call("Get") == 8
    with pytest.raises(gpm.RemoteError) as e:
        c.Fail("boom")
    assert "boom" in str(e.value) and "Counter.Fail" in str(e.value)
    with pytest.raises(gpm.NoSuchMethod):
        c.call("Nope")
    with pytest.raises(gpm.BadArguments):
        c.Inc("not a number")
    with pytest.raises(gpm.NotRegistered):
        mgr.new("NoSuchType")
    mgr.dict("a-dict-name")
    with pytest.raises(gpm.WrongType):
        mgr.Lock("a-dict-name")


def test_references_are_given_back(mgr: gpm.Manager) -> None:
    before = mgr.count()
    proxies = [mgr.dict() for _ in range(5)]
    assert mgr.count() == before + 5
    proxies[0].close()
    del proxies[1:]
    mgr.ping()  # garbage-collected proxies are given back ahead of the next call
    assert mgr.count() == before


# -- failures -----------------------------------------------------------------

def test_wrong_key(gm: GoManager) -> None:
    with pytest.raises(gpm.AuthenticationError):
        gpm.connect(gm.address, b"not the key")
    gm.connect().close()


def test_dead_manager_raises_manager_gone(own_gm: GoManager) -> None:
    mgr = own_gm.connect()
    q = mgr.Queue()
    failure: list = []

    def blocked_get() -> None:
        try:
            q.get()
        except Exception as e:  # noqa: BLE001 - the test inspects it
            failure.append(e)
    t = threading.Thread(target=blocked_get, daemon=True)
    t.start()
    time.sleep(0.2)  # sleep-ok: lets the get reach the manager; the test holds either way
    os.kill(own_gm.pid, signal.SIGKILL)
    own_gm.proc.wait(10)
    t.join(5)
    assert not t.is_alive(), "a blocked call returns when the manager dies"
    assert isinstance(failure[0], gpm.ManagerGone)
    start = time.monotonic()
    with pytest.raises(gpm.ManagerGone):
        q.put(1)
    assert time.monotonic() - start < 1.5, "later calls fail at once"
    with pytest.raises(ConnectionError):  # ManagerGone is a ConnectionError
        mgr.ping()
    mgr.close()


def test_forked_child_must_connect_again(gm: GoManager, mgr: gpm.Manager) -> None:
    d = mgr.dict()
    d["k"] = "parent"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the inherited client refuses; a new one works
        code = 1
        try:
            try:
                d["k"] = "child, inherited"
            except gpm.ManagerError:
                with gm.connect() as own:
                    own.dict("forked")["k"] = "child"
                    code = 0
        finally:
            os.write(w, bytes([code]))
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        assert f.read(1) == b"\x00", "the child's calls"
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert d["k"] == "parent", "the parent's session is untouched"
    assert mgr.dict("forked")["k"] == "child"


def test_closed_client(gm: GoManager) -> None:
    mgr = gm.connect()
    d = mgr.dict()
    q = mgr.Queue()
    failure: list = []

    def blocked_get() -> None:
        try:
            q.get()
        except Exception as e:  # noqa: BLE001 - the test inspects it
            failure.append(e)
    t = threading.Thread(target=blocked_get, daemon=True)
    t.start()
    time.sleep(0.2)  # sleep-ok: lets the get reach the manager; the test holds either way
    mgr.close()
    mgr.close()
    t.join(5)
    assert not t.is_alive(), "close interrupts a call in flight"
    assert isinstance(failure[0], gpm.ClosedError)
    with pytest.raises(gpm.ClosedError):
        d["x"] = 1


def test_tcp(gomanager_bin) -> None:  # type: ignore[no-untyped-def]
    m = GoManager(gomanager_bin, tcp=True)
    try:
        assert ":" in m.address
        with m.connect() as mgr:
            d = mgr.dict("over-tcp")
            d["k"] = "v"
            assert d["k"] == "v"
    finally:
        m.stop()


def test_tls(gomanager_bin) -> None:  # type: ignore[no-untyped-def]
    import ssl
    m = GoManager(gomanager_bin, tls=True)
    try:
        ctx = ssl.create_default_context(cafile=m.ca)
        with m.connect(ssl_context=ctx) as mgr:
            d = mgr.dict("over-tls")
            d["k"] = "v"
        assert m.go("get-dict", "over-tls", "k").strip() == '"v"', "a Go client over TLS reads it"
        with pytest.raises(ssl.SSLCertVerificationError):  # the server's certificate is not trusted
            m.connect(ssl_context=ssl.create_default_context(), timeout=5)
        with pytest.raises(gpm.ManagerError):  # no TLS against a TLS server
            m.connect(timeout=2)
    finally:
        m.stop()


# -- protocol versions ----------------------------------------------------------

def _frame(obj: object) -> bytes:
    body = msgpack.packb(obj, use_bin_type=True)
    return struct.pack(">I", len(body)) + body


def _read_frame(s: socket.socket) -> object:
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf
    (n,) = struct.unpack(">I", exactly(4))
    return msgpack.unpackb(exactly(n), raw=False)


def test_go_server_refuses_another_version_naming_both(gm: GoManager) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(gm.address)
        hello = _read_frame(s)
        assert hello[0] == gpm.PROTOCOL_VERSION
        s.sendall(_frame([os.urandom(32), os.urandom(16), os.urandom(32), 99]))
        welcome = _read_frame(s)
    ok, code, text = welcome[0], welcome[5], welcome[6]
    assert not ok and code == "protocol"
    assert f"client speaks protocol version 99, this server version {gpm.PROTOCOL_VERSION}" in text


def test_client_refuses_another_version_naming_both(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "old.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)

    def old_server() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.sendall(_frame([1, os.urandom(32)]))
            conn.settimeout(10)
            try:
                conn.recv(1)
            except OSError:
                pass
    t = threading.Thread(target=old_server)
    t.start()
    try:
        with pytest.raises(gpm.ProtocolError) as e:
            gpm.connect(path, b"key", timeout=10)
        assert f"server speaks protocol version 1, this client version {gpm.PROTOCOL_VERSION}" in str(e.value)
    finally:
        t.join(10)
        srv.close()
