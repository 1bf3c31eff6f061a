"""The client session: connections to a manager, calls, proxies' factories."""

from __future__ import annotations

import collections
import itertools
import os
import socket
import struct
import threading
import time
import weakref
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Type, TypeVar

import msgpack

from . import _codec, errors
from ._conn import Address, Conn, ConnectionLost, open_conn
from .errors import ClosedError, FrameTooLarge, ManagerError, ManagerGone
from .proxies import (ArrayProxy, BarrierProxy, BaseProxy, BoundedSemaphoreProxy, ConditionProxy, DictProxy,
                      EventProxy, JoinableQueueProxy, ListProxy, LockProxy, NamespaceProxy, QueueProxy,
                      RLockProxy, SemaphoreProxy, ValueProxy, _key, make_proxy)

P = TypeVar("P", bound=BaseProxy)

__all__ = ["Manager", "connect", "ProxyRef"]

_HEADER = struct.Struct(">I")
_SCALARS = (str, int, bytes, float, bool, type(None))
_ARRAYS = [bytes((0x90 | n,)) for n in range(16)]
_METHODS: Dict[str, bytes] = {}
_UNSET: Any = object()
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def _pack_uint(n: int) -> bytes:
    return bytes(msgpack.packb(n))


#: How much longer than its timeout a call waits for the manager's own
#: deadline reply before it sends a cancel (the manager withdraws the call
#: by itself at the timeout; this only covers a slow network or a manager
#: that does not honour the timeout field).
TIMEOUT_MARGIN = 0.05
#: How long a call that sent a cancel waits for the manager to confirm the
#: withdrawal (or to report that the call completed first).
CANCEL_GRACE = 2.0
#: How long a call whose connection broke waits for the watcher to confirm
#: that the manager is gone.
PROBE_TIMEOUT = 1.0
#: How long a withdrawn call's reply is awaited in the background before
#: its connection is closed (see Manager._reconcile).
RECONCILE_TIMEOUT = 30.0
#: Idle connections kept for later calls.
MAX_IDLE = 16

_managers: "weakref.WeakSet[Manager]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for m in list(_managers):
        m._forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class ProxyRef:
    """A proxy of another manager, or decoded where no session owns it:
    data naming a shared object (server id, object id, typeid)."""

    __slots__ = ("server_id", "id", "typeid")

    def __init__(self, server_id: bytes, object_id: int, typeid: str) -> None:
        self.server_id, self.id, self.typeid = server_id, object_id, typeid

    def __repr__(self) -> str:
        return f"<ProxyRef {self.typeid}#{self.id} of manager {self.server_id.hex()[:8]}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProxyRef) and (self.server_id, self.id) == (other.server_id, other.id)

    def __hash__(self) -> int:
        return hash((self.server_id, self.id))


def _uint_at(b: bytes, i: int) -> Tuple[int, int]:
    c = b[i]
    if c < 0x80:
        return c, i + 1
    if c == 0xCC:
        return b[i + 1], i + 2
    if c == 0xCD:
        return _U16.unpack_from(b, i + 1)[0], i + 3
    if c == 0xCE:
        return _U32.unpack_from(b, i + 1)[0], i + 5
    if c == 0xCF:
        return _U64.unpack_from(b, i + 1)[0], i + 9
    raise errors.ProtocolError("malformed response envelope")


class Manager:
    """A session with a manager: what :func:`connect` returns.

    It makes calls over a pool of connections (a thread takes one for each
    call, so threads call concurrently), and keeps one more connection
    open only to learn at once when the manager dies: every call then
    raises :class:`~goproc_manager.errors.ManagerGone`. Everything the
    session holds (locks, semaphore permits, references to objects,
    unacknowledged JoinableQueue items) is released by the manager when
    the session ends: on :meth:`close`, or when this process exits or is
    killed.

    A Manager is safe to use from many threads. It is not inherited by a
    forked child: connect again there.
    """

    def __init__(self, address: Address, authkey: bytes, *, ssl_context: Any = None,
                 server_hostname: Optional[str] = None, timeout: float = 10.0) -> None:
        if isinstance(authkey, str):
            authkey = authkey.encode()
        if not isinstance(authkey, (bytes, bytearray)) or not authkey:
            raise TypeError("authkey must be the manager's key, as non-empty bytes")
        self.address = address
        self._key = bytes(authkey)
        self._ssl = ssl_context
        self._sni = server_hostname
        self._connect_timeout = timeout
        self._session = os.urandom(16)
        self._handles = itertools.count(1)
        self._lock = threading.Lock()  # guards _idle, _busy, _err, _closing
        self._idle: List[Conn] = []
        self._busy: Set[Conn] = set()  # connections of calls in flight, for close
        self._settling: Set[Conn] = set()  # connections of withdrawn calls (_reconcile)
        self._err: Optional[ManagerError] = None
        self._closing = False
        self._forked = False
        self._gone = threading.Event()
        # Object ids whose proxies were garbage-collected: given back
        # (decref) ahead of the next call. A finalizer may run in any
        # thread, even one holding _lock, so it only appends here.
        self._decrefs: Deque[int] = collections.deque()
        anchor, self.server_id, self.max_frame, self.pid = open_conn(
            address, self._key, self._session, timeout, ssl_context, server_hostname)
        self._anchor = anchor
        self._watcher = threading.Thread(target=self._watch, name="goproc_manager watcher", daemon=True)
        self._watcher.start()
        _managers.add(self)

    # -- session -------------------------------------------------------

    def __enter__(self) -> "Manager":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<goproc_manager.Manager {os.fspath(self.address) if not isinstance(self.address, tuple) else self.address} pid={self.pid}>"

    @property
    def closed(self) -> bool:
        """Whether the session has ended (closed, or the manager is gone)."""
        return self._err is not None

    def close(self) -> None:
        """End the session: the manager releases everything it held, and
        calls in flight in other threads raise ClosedError. It may be
        called more than once."""
        with self._lock:
            self._closing = True
            if self._err is None:
                self._err = ClosedError("this client was closed")
            idle, self._idle = self._idle, []
            busy = list(self._busy) + list(self._settling)
        for c in idle:
            c.close()
        for c in busy:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)  # wakes the call; it closes the socket
            except OSError:
                pass
        try:
            self._anchor.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._watcher is not threading.current_thread():
            self._watcher.join(5)
        self._anchor.close()

    def _watch(self) -> None:
        sock = self._anchor.sock
        try:
            while sock.recv(4096):
                pass
        except OSError:
            pass
        with self._lock:
            if self._err is None:
                self._err = ManagerGone(
                    "the manager process is gone (it exited or the connection to it was lost)")
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()
        self._gone.set()

    def _check(self) -> None:
        if self._forked:
            raise ManagerError("this client was inherited through fork: call connect() again in the child process")
        err = self._err
        if err is not None:
            raise type(err)(err.message)

    def _get_conn(self) -> Conn:
        self._check()
        with self._lock:
            if self._idle:
                conn = self._idle.pop()
                self._busy.add(conn)
                return conn
        try:
            conn, server_id, _, _ = open_conn(self.address, self._key, self._session,
                                              self._connect_timeout, self._ssl, self._sni)
        except (OSError, ManagerError) as e:
            # A dead manager refuses the dial; the watcher says so at once.
            self._gone.wait(PROBE_TIMEOUT)
            self._check()
            raise ManagerError(f"connect to the manager: {e}") from e
        if server_id != self.server_id:
            conn.close()
            with self._lock:
                if self._err is None:
                    self._err = ManagerGone("a different manager now serves this address")
            self._check()
        conn.packer = _codec.new_packer(self._default)
        with self._lock:
            if self._err is not None:
                conn.close()
                self._check()
            self._busy.add(conn)
        return conn

    def _put_conn(self, conn: Conn) -> None:
        with self._lock:
            self._busy.discard(conn)
            if self._err is None and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def _drop_conn(self, conn: Conn) -> None:
        with self._lock:
            self._busy.discard(conn)
        conn.close()

    # -- encoding ------------------------------------------------------

    def _default(self, obj: Any) -> Any:
        if isinstance(obj, BaseProxy):
            return msgpack.ExtType(_codec.PROXY_EXT, _codec.proxy_payload(
                obj._manager.server_id, obj._id, obj._typeid))
        if isinstance(obj, ProxyRef):
            return msgpack.ExtType(_codec.PROXY_EXT, _codec.proxy_payload(obj.server_id, obj.id, obj.typeid))
        raise TypeError(
            f"cannot send a {type(obj).__name__}: values are msgpack data (numbers, strings, bytes, "
            "lists, tuples, dicts, None, bools) or proxies")

    def _ext_hook(self, code: int, data: bytes) -> Any:
        if code != _codec.PROXY_EXT:
            return msgpack.ExtType(code, data)
        server_id, object_id, typeid = _codec.parse_proxy(data)
        if server_id != self.server_id:
            return ProxyRef(server_id, object_id, typeid)
        return make_proxy(self, object_id, typeid, owns_ref=True)

    def _decode(self, data: Any) -> Any:
        return _codec.unpackb(data, self._ext_hook)

    # -- calls ---------------------------------------------------------

    def _new_handle(self) -> int:
        return next(self._handles)

    def _call(self, obj: int, handle: int, method: str, args: Sequence[Any] = (),
              timeout: Optional[float] = None) -> Any:
        """Call method on object obj through handle, with args; return the
        decoded result or raise the failure's exception. With a timeout
        (seconds) the call is withdrawn on the manager when it expires,
        raising DeadlineExceeded or Cancelled, unless it completed first."""
        return self._invoke(_pack_uint(obj) + _pack_uint(handle), method, args, timeout)

    def _invoke(self, target: bytes, method: str, args: Sequence[Any],
                timeout: Optional[float]) -> Any:
        """_call with the object and handle already encoded (target): a
        proxy encodes them once."""
        idle = self._idle
        conn = None
        if idle and self._err is None:
            with self._lock:
                if idle:
                    conn = idle.pop()
                    self._busy.add(conn)
        if conn is None:
            conn = self._get_conn()
        elif self._forked:
            self._check()
        try:
            result = self._round_trip(conn, target, method, args, timeout)
        except ManagerError as e:
            if isinstance(e, _ConnBroken):
                self._drop_conn(conn)
                raise self._broken(method, e) from None
            if isinstance(e, _Poisoned):
                self._drop_conn(conn)
                raise errors.ProtocolError(e.message, method=method) from None
            if isinstance(e, _Withdrawn):
                self._reconcile(conn, e.rid, target, method, args)
                raise errors.DeadlineExceeded(
                    "timed out; the manager has not confirmed the withdrawal yet (a late result is "
                    "given back to it in the background)", method=method) from None
            self._put_conn(conn)
            raise
        except BaseException:
            # Interrupted (KeyboardInterrupt): the call may still be
            # running on the manager; closing the connection withdraws it
            # there, and no late reply can be taken for another call.
            self._drop_conn(conn)
            raise
        # _put_conn, inlined: this is every call's path.
        with self._lock:
            self._busy.discard(conn)
            if self._err is None and len(idle) < MAX_IDLE:
                idle.append(conn)
                return result
        conn.close()
        return result

    def _reconcile(self, conn: Conn, rid: int, target: bytes, method: str, args: Sequence[Any]) -> None:
        """Settle a call whose caller gave up before the manager answered
        its cancel (a stopped or overloaded manager): a daemon thread reads
        the connection until the call's reply (at most RECONCILE_TIMEOUT),
        and gives back to the manager what a late success took (an item
        goes back to the front of its queue, a lock or permit is released,
        proxies are dropped) with the "giveback" control operation. Then
        the connection is closed."""
        with self._lock:
            self._busy.discard(conn)
            if self._err is not None:
                conn.close()  # the session ends: the manager releases all
                return
            self._settling.add(conn)
        t = threading.Thread(target=self._settle, args=(conn, rid, target, method, args),
                             name="goproc_manager reconciler", daemon=True)
        t.start()

    def _settle(self, conn: Conn, rid: int, target: bytes, method: str, args: Sequence[Any]) -> None:
        try:
            conn.sock.settimeout(RECONCILE_TIMEOUT)
            while True:
                body = conn.read_frame()
                if len(body) < 4 or body[0] != 0x94 or body[1] != 0x02 or _uint_at(body, 2)[0] != rid:
                    continue
                i = _uint_at(body, 2)[1]
                if body[i] != 0:
                    return  # a failure: nothing was taken
                result = body[i + 1:]
                unpacker = msgpack.Unpacker()
                unpacker.feed(target)
                obj, handle = unpacker.unpack(), unpacker.unpack()
                pack = conn.packer.pack
                args_raw = _codec.array_header(len(args)) + b"".join(_codec.encode(a, pack) for a in args)
                gid = conn.next_id
                conn.next_id = gid + 1
                req = b"".join((b"\x96\x01", pack(gid), b"\x00\x00\xa8giveback\x96", pack(obj), pack(handle),
                                pack(method), pack(""), args_raw, result))
                conn.sock.sendall(_HEADER.pack(len(req)) + req)
                while True:  # its reply, so that it ran before the connection closes
                    body = conn.read_frame()
                    if len(body) >= 4 and body[0] == 0x94 and body[1] == 0x02 and _uint_at(body, 2)[0] == gid:
                        return
        except (OSError, ManagerError, ConnectionLost, ValueError):
            return  # the session's end settles the rest
        finally:
            with self._lock:
                self._settling.discard(conn)
            conn.close()

    def _broken(self, method: str, e: Exception) -> ManagerError:
        self._gone.wait(PROBE_TIMEOUT)
        err = self._err
        if err is not None:
            return type(err)(err.message)
        return ManagerError(f"{method}: connection lost during the call (it may or may not have run): {e}")

    def _round_trip(self, conn: Conn, target: bytes, method: str,
                    args: Sequence[Any], timeout: Optional[float]) -> Any:
        pack = conn.packer.pack
        rid = conn.next_id
        conn.next_id = rid + 1
        try:
            body = request_body(pack, rid, target, method, args, timeout)
        except (TypeError, ValueError, OverflowError) as e:
            raise errors.BadArguments(f"encode argument: {e}", method=method) from None
        if len(body) > self.max_frame:
            raise FrameTooLarge(f"request of {len(body)} bytes, limit {self.max_frame}", method=method)
        frame = _HEADER.pack(len(body)) + body
        if self._decrefs:
            frame = b"".join(self._decref_frames(conn, pack)) + frame
        sock = conn.sock
        try:
            sock.sendall(frame)
        except OSError as e:
            raise _ConnBroken(str(e)) from None
        cancelled = False
        if timeout is not None:
            deadline = time.monotonic() + timeout + TIMEOUT_MARGIN
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
        while True:
            try:
                body = conn.read_frame()
            except socket.timeout:
                if timeout is None:
                    raise  # not our socket's: a signal handler's TimeoutError
                if cancelled:
                    raise _Withdrawn(rid) from None
                cancelled = True
                try:
                    sock.sendall(_cancel_frame(rid))
                except OSError as e:
                    raise _ConnBroken(str(e)) from None
                sock.settimeout(CANCEL_GRACE)
                continue
            except ConnectionLost as e:
                raise _ConnBroken(str(e)) from None
            except errors.ProtocolError as e:
                # A framing error: the stream cannot be trusted any more.
                raise _Poisoned(e.message, method=method) from None
            if len(body) < 4 or body[0] != 0x94 or body[1] != 0x02:
                continue  # not a response to us
            c = body[2]
            if c < 0x80:
                got, i = c, 3
            else:
                got, i = _uint_at(body, 2)
            if got != rid:
                continue  # a decref's reply, or a stale one
            if timeout is not None:
                sock.settimeout(None)
            status = body[i]
            if status == 0:
                if len(body) == i + 2 and body[i + 1] == 0xC0:
                    return None
                try:
                    return _codec.unpackb(memoryview(body)[i + 1:], self._ext_hook)
                except ValueError as e:  # msgpack's errors, a malformed proxy
                    raise errors.ProtocolError(f"undecodable result: {e}", method=method) from None
            try:
                f = self._decode(memoryview(body)[i + 1:])
            except ValueError as e:
                raise errors.ProtocolError(f"undecodable failure: {e}", method=method) from None
            if not isinstance(f, list) or len(f) != 4:
                raise errors.ProtocolError("malformed failure", method=method)
            remote, code, rtype, text = f
            raise errors.error_for(code, text, method=method, remote_type=rtype, remote=bool(remote))

    def _decref_frames(self, conn: Conn, pack: Callable[[Any], bytes]) -> List[bytes]:
        frames: List[bytes] = []
        while True:
            try:
                oid = self._decrefs.popleft()
            except IndexError:
                return frames
            rid = conn.next_id
            conn.next_id = rid + 1
            body = b"\x96\x01" + pack(rid) + b"\x00\x00\xa6decref\x91" + pack(oid)
            frames.append(_HEADER.pack(len(body)) + body)

    # -- control operations ---------------------------------------------

    def ping(self) -> None:
        """Check that the manager answers."""
        self._call(0, 0, "ping")

    def count(self) -> int:
        """Return the number of live objects in the manager (for tests and
        for finding leaks)."""
        return int(self._call(0, 0, "count"))

    def delete(self, name: str) -> bool:
        """Remove the name of a named object; it is freed once no proxy
        refers to it. Return whether the name existed."""
        return bool(self._call(0, 0, "delete", (name,)))

    def new(self, typeid: str, *args: Any) -> "Any":
        """Create a shared object of the type registered as typeid in the
        manager (a built-in or a custom Go type), passing args to its
        constructor, and return a proxy to it."""
        return self._call(0, 0, "new", (typeid, *args))

    def open(self, name: str, typeid: str, *args: Any) -> "Any":
        """Return a proxy to the object named name, creating it (with args)
        if there is none: the same object Go's Open* functions reach."""
        if not name:
            raise ValueError("open: empty name")
        return self._call(0, 0, "open", (name, typeid, *args))

    def _make(self, cls: "Type[P]", typeid: str, name: Optional[str], *args: Any) -> "P":
        p = self.open(name, typeid, *args) if name is not None else self.new(typeid, *args)
        if not isinstance(p, cls):  # the manager checks typeids; this is for type checkers
            raise errors.WrongType(f"the manager returned a {type(p).__name__}, not a {cls.__name__}")
        return p

    def call(self, proxy: Any, method: str, *args: Any, timeout: Optional[float] = None) -> Any:
        """Call the exposed method (its Go name) of proxy's object with
        args and return its result. With a timeout (seconds) the call is
        withdrawn on the manager when it expires."""
        return proxy._call(method, *args, timeout=timeout)

    def _decref(self, object_id: int) -> None:
        if self._err is None and not self._forked:
            self._call(0, 0, "decref", (object_id,))

    # -- the built-in types (proxies.py) ---------------------------------

    def dict(self, name: Any = None, items: Any = None, **kwargs: Any) -> "DictProxy":
        """A shared dict: ``mgr.dict("results")`` opens the one named so
        (created if absent; Go's OpenDict reaches it); ``mgr.dict()`` creates
        a new one. Items (a mapping or pairs, and keyword arguments) fill a
        dict being created: ``mgr.dict({"a": 1})`` and ``mgr.dict(a=1)``
        work as SyncManager's dict(...) does."""
        if name is not None and not isinstance(name, str):
            name, items = None, name
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items or ())
        pairs.extend(kwargs.items())
        return self._make(DictProxy, "Dict", name, [[_key(k), v] for k, v in pairs] or None)

    def list(self, name: Any = None, items: Optional[Iterable[Any]] = None) -> "ListProxy":
        """A shared list: ``mgr.list("name")`` opens the one named so,
        ``mgr.list()`` creates one; items (``mgr.list([1, 2])``, or
        ``mgr.list("name", [1, 2])``) fill a list being created."""
        if name is not None and not isinstance(name, str):
            name, items = None, name
        return self._make(ListProxy, "List", name, list(items) if items is not None else None)

    def Array(self, typecode_or_items: Any, items: Optional[Iterable[Any]] = None,
              name: Optional[str] = None) -> ArrayProxy:
        """A shared fixed-length array: Array([1, 2, 3]), or SyncManager's
        Array("i", [1, 2, 3]) (the typecode is not needed: elements are
        msgpack values)."""
        if isinstance(typecode_or_items, str) and items is not None:
            typecode_or_items = items
        return self._make(ArrayProxy, "Array", name, list(typecode_or_items))

    def Namespace(self, name: Optional[str] = None, /, **attrs: Any) -> "NamespaceProxy":
        """A shared namespace: attributes set and read through the proxy.
        ``mgr.Namespace(x=1)`` creates one; ``mgr.Namespace("cfg", x=1)``
        opens the one named "cfg" (the name is positional, so that an
        attribute may be called name)."""
        return self._make(NamespaceProxy, "Namespace", name, attrs or None)

    def Value(self, typecode_or_value: Any = 0, value: Any = _UNSET, name: Optional[str] = None) -> "ValueProxy":
        """A shared value: ``mgr.Value(0)``, or SyncManager's
        ``mgr.Value("i", 0)`` (the typecode is not needed: the value is a
        msgpack value); name opens the one named so."""
        initial = typecode_or_value if value is _UNSET else value
        return self._make(ValueProxy, "Value", name, initial)

    def Queue(self, maxsize: int = 0, name: Optional[str] = None) -> "QueueProxy":
        """A shared FIFO queue (maxsize <= 0: unbounded)."""
        return self._make(QueueProxy, "Queue", name, maxsize)

    def JoinableQueue(self, maxsize: int = 0, name: Optional[str] = None) -> "JoinableQueueProxy":
        """A shared queue with task_done and join (at-least-once delivery)."""
        return self._make(JoinableQueueProxy, "JoinableQueue", name, maxsize)

    def Lock(self, name: Optional[str] = None) -> "LockProxy":
        """A shared lock, held by this process (session)."""
        return self._make(LockProxy, "Lock", name)

    def RLock(self, name: Optional[str] = None) -> "RLockProxy":
        """A shared reentrant lock, held by the proxy that acquired it."""
        return self._make(RLockProxy, "RLock", name)

    def Semaphore(self, value: int = 1, name: Optional[str] = None) -> "SemaphoreProxy":
        """A shared counting semaphore with value permits."""
        return self._make(SemaphoreProxy, "Semaphore", name, value)

    def BoundedSemaphore(self, value: int = 1, name: Optional[str] = None) -> "BoundedSemaphoreProxy":
        """A semaphore that refuses to be released above value."""
        return self._make(BoundedSemaphoreProxy, "BoundedSemaphore", name, value)

    def Condition(self, lock: Any = None, name: Optional[str] = None) -> "ConditionProxy":
        """A shared condition variable on lock (a Lock or RLock proxy), or on
        a lock of its own."""
        return self._make(ConditionProxy, "Condition", name, lock._id if lock is not None else 0)

    def Event(self, name: Optional[str] = None) -> "EventProxy":
        """A shared event flag."""
        return self._make(EventProxy, "Event", name)

    def Barrier(self, parties: int, name: Optional[str] = None) -> "BarrierProxy":
        """A shared barrier for parties parties."""
        return self._make(BarrierProxy, "Barrier", name, parties)


def request_body(pack: Callable[[Any], bytes], rid: int, target: bytes, method: str,
                 args: Sequence[Any], timeout: Optional[float]) -> bytes:
    """The body of a request frame (PROTOCOL.md §4): [1, id, object,
    handle, method, args], or with timeout (seconds, sent in nanoseconds)
    before args. target is the object and handle, encoded."""
    mname = _METHODS.get(method)
    if mname is None:
        mname = _METHODS[method] = bytes(msgpack.packb(method))
    encoded = b"".join([pack(a) if type(a) in _SCALARS else _codec.canonical(a, pack) for a in args])
    nargs = len(args)
    header = _ARRAYS[nargs] if nargs < 16 else _codec.array_header(nargs)
    if timeout is None:
        return b"".join((b"\x96\x01", pack(rid), target, mname, header, encoded))
    return b"".join((b"\x97\x01", pack(rid), target, mname, pack(max(1, int(timeout * 1e9))), header, encoded))


class _ConnBroken(ManagerError):
    """Internal: the call's connection failed."""


class _Poisoned(ManagerError):
    """Internal: the call's connection broke the framing rules."""


class _Withdrawn(ManagerError):
    """Internal: a call timed out and the manager did not answer its cancel."""

    def __init__(self, rid: int) -> None:
        super().__init__("withdrawn")
        self.rid = rid


def _cancel_frame(rid: int) -> bytes:
    body = b"\x92\x03" + bytes(msgpack.packb(rid))
    return _HEADER.pack(len(body)) + body


def connect(address: Address, authkey: bytes, *, ssl_context: Any = None,
            server_hostname: Optional[str] = None, timeout: float = 10.0) -> Manager:
    """Connect to a manager and return the session.

    address is a Unix socket path, ``"host:port"`` or ``(host, port)`` for
    TCP; authkey the manager's key (bytes). With ssl_context (an
    :class:`ssl.SSLContext`) a TCP connection uses TLS, checking the
    server's name against server_hostname (default: the host). timeout
    bounds dialling and the handshake.

    Raises AuthenticationError for a wrong key, ProtocolError for a manager
    of another protocol version, ConnectionRefusedError when nothing
    listens at address.
    """
    return Manager(address, authkey, ssl_context=ssl_context, server_hostname=server_hostname,
                   timeout=timeout)


