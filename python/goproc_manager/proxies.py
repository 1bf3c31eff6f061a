"""Proxies to shared objects, read like Python's SyncManager proxies.

Every method is one call to the manager (PROTOCOL.md §9 lists the methods
each one uses). A proxy is safe to use from several threads. A proxy that
arrived in a reply holds a reference to its object, given back by
:meth:`BaseProxy.close` or when the proxy is garbage-collected.
"""

from __future__ import annotations

import struct
import time
import weakref
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional,
                    Tuple, Type, Union)

import msgpack

from . import errors
from .errors import Abandoned, BrokenBarrier, Cancelled, DeadlineExceeded, Empty, Full, KeyNotFound

if TYPE_CHECKING:  # pragma: no cover
    from .client import Manager

__all__ = [
    "BaseProxy", "Proxy", "DictProxy", "ListProxy", "ArrayProxy", "NamespaceProxy", "ValueProxy", "QueueProxy",
    "JoinableQueueProxy", "LockProxy", "RLockProxy", "SemaphoreProxy", "BoundedSemaphoreProxy",
    "ConditionProxy", "EventProxy", "BarrierProxy", "make_proxy",
]

_TIMED_OUT = (DeadlineExceeded, Cancelled)
_MISSING: Any = object()
#: The NaN Go's math.NaN() returns: a dict's NaN keys are all stored as it.
_GO_NAN: float = struct.unpack(">d", bytes.fromhex("7ff8000000000001"))[0]


def _key(k: Any) -> Any:
    """A dict key as the Go client sends it: a float key -0.0 as 0.0 (they
    are equal) and every NaN as one NaN, so that both are found again.
    Floats inside a composite key are left as they are."""
    if type(k) is float and (k == 0 or k != k):
        return _GO_NAN if k != k else 0.0
    return k


def _wait_timeout(timeout: Optional[float]) -> Optional[float]:
    """Python's timeout conventions (None or negative: wait forever)."""
    if timeout is None or timeout < 0:
        return None
    return float(timeout)


class BaseProxy:
    """A handle to a shared object: its manager, its id, its typeid.

    Each proxy object is its own handle (the owner of an RLock). Proxies
    can be stored in shared containers and passed to Go (they travel as
    proxy references).
    """

    __slots__ = ("_manager", "_id", "_typeid", "_handle", "_target", "_finalizer", "__weakref__")
    _manager: "Manager"
    _id: int
    _typeid: str
    _handle: int
    _target: bytes
    _finalizer: Optional[weakref.finalize]

    def __init__(self, manager: "Manager", object_id: int, typeid: str, owns_ref: bool) -> None:
        object.__setattr__(self, "_manager", manager)
        object.__setattr__(self, "_id", object_id)
        object.__setattr__(self, "_typeid", typeid)
        object.__setattr__(self, "_handle", manager._new_handle())
        # The object and handle as every request carries them.
        object.__setattr__(self, "_target", msgpack.packb(object_id) + msgpack.packb(self._handle))
        fin = weakref.finalize(self, manager._decrefs.append, object_id) if owns_ref else None
        if fin is not None:
            fin.atexit = False
        object.__setattr__(self, "_finalizer", fin)

    @property
    def typeid(self) -> str:
        """The typeid the object was registered under ("Dict", ...)."""
        return self._typeid

    @property
    def id(self) -> int:
        """The object's id in its manager."""
        return self._id

    def _call(self, method: str, *args: Any, timeout: Optional[float] = None) -> Any:
        try:
            return self._manager._invoke(self._target, method, args, timeout)
        except errors.ManagerError as e:
            if e.method == method:
                e.method = f"{self._typeid}.{method}"
            raise

    def _timed(self, method: str, timeout: Optional[float], *args: Any) -> Tuple[bool, Any]:
        """Call method with a timeout; (False, None) when it expired."""
        try:
            return True, self._call(method, *args, timeout=timeout)
        except _TIMED_OUT:
            return False, None

    def close(self) -> None:
        """Give back this proxy's reference to the object; an unnamed object
        is freed once no proxy in any process refers to it. Calls through
        the proxy fail afterwards (other proxies are unaffected). It may be
        called more than once."""
        fin = self._finalizer
        if fin is not None and fin.detach() is not None:
            try:
                self._manager._decref(self._id)
            except errors.ManagerError:
                pass  # the session is over: the manager released everything

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._typeid}#{self._id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseProxy) and other._manager is self._manager and other._id == self._id

    def __hash__(self) -> int:
        return hash((id(self._manager), self._id))

    def __reduce__(self) -> Any:
        raise TypeError("a proxy cannot be pickled: store it in a shared object, or pass its name "
                        "(mgr.dict(name) opens the same object in another process)")


class Proxy(BaseProxy):
    """A proxy to an object of a custom Go type: call its exposed methods
    by their Go names, ``p.call("Inc", 2)`` or ``p.Inc(2)``."""

    __slots__ = ()

    def call(self, method: str, *args: Any, timeout: Optional[float] = None) -> Any:
        """Call the exposed method (its Go name) with args and return its
        result. With a timeout (seconds) a blocking method is withdrawn on
        the manager when it expires (raising DeadlineExceeded)."""
        return self._call(method, *args, timeout=timeout)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if not name[:1].isupper():
            raise AttributeError(name)

        def method(*args: Any, timeout: Optional[float] = None) -> Any:
            return self._call(name, *args, timeout=timeout)
        method.__name__ = name
        return method


class DictProxy(BaseProxy):
    """A shared dict (Go: Dict). Keys and values are msgpack data; keys are
    compared by their encoding, as Go does (``1`` and ``1.0`` differ).
    Values are copies: ``d[k]["x"] = 1`` changes a local copy; use
    :meth:`modify` for an atomic read-modify-write."""

    __slots__ = ()

    def __getitem__(self, key: Any) -> Any:
        value, ok = self._call("Load", _key(key))
        if not ok:
            raise KeyError(key)
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        """The value under key, or default when it is absent."""
        value, ok = self._call("Load", _key(key))
        return value if ok else default

    def __setitem__(self, key: Any, value: Any) -> None:
        self._call("Store", _key(key), value)

    def __delitem__(self, key: Any) -> None:
        if not self._call("Delete", _key(key)):
            raise KeyError(key)

    def __len__(self) -> int:
        return int(self._call("Len"))

    def __contains__(self, key: Any) -> bool:
        return bool(self._call("Has", _key(key)))

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def keys(self) -> List[Any]:
        """Every key, in insertion order (one snapshot)."""
        return list(self._call("Keys"))

    def values(self) -> List[Any]:
        """Every value, in the insertion order of their keys."""
        return list(self._call("Values"))

    def items(self) -> List[Tuple[Any, Any]]:
        """Every (key, value) pair, in insertion order, as one consistent
        snapshot."""
        return [(k, v) for k, v in self._call("Items")]

    def copy(self) -> Dict[Any, Any]:
        """A local dict with the same items."""
        return {k: v for k, v in self._call("Items")}

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove key and return its value; default (or KeyError) when absent."""
        value, ok = self._call("LoadAndDelete", _key(key))
        if ok:
            return value
        if default is _MISSING:
            raise KeyError(key)
        return default

    def popitem(self) -> Tuple[Any, Any]:
        """Remove and return the last inserted (key, value) pair."""
        try:
            k, v = self._call("PopItem")
        except Empty:
            raise KeyNotFound("popitem(): dictionary is empty") from None
        return k, v

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """The value under key, storing default first if the key is absent (atomic)."""
        value, _ = self._call("SetDefault", _key(key), default)
        return value

    def update(self, other: Union[Mapping[Any, Any], Iterable[Tuple[Any, Any]]] = (), **kwargs: Any) -> None:
        """Store every pair, atomically (no caller sees some stored and
        others not)."""
        pairs = list(other.items()) if isinstance(other, Mapping) else list(other)
        pairs.extend(kwargs.items())
        self._call("Update", [[_key(k), v] for k, v in pairs])

    def clear(self) -> None:
        """Remove every item."""
        self._call("Clear")

    def compare_and_swap(self, key: Any, old: Any, new: Any) -> bool:
        """Store new under key if its value is old; report whether it did."""
        return bool(self._call("CompareAndSwap", _key(key), old, new))

    def add(self, key: Any, n: Union[int, float] = 1) -> Any:
        """Atomically add n to the number under key (absent: 0) and return
        the sum."""
        return self._call("Add", _key(key), n)

    def modify(self, key: Any, fn: Callable[[Any], Any], default: Any = None) -> Any:
        """Atomically replace the value under key with fn(value) (fn gets
        default when the key is absent) and return the new value. fn may
        run more than once: when another process wrote the key meanwhile,
        it runs again on the new value, so no update is lost."""
        while True:
            value, version, ok = self._call("LoadVersion", _key(key))
            new = fn(value if ok else default)
            if self._call("StoreIfVersion", _key(key), version if ok else 0, new):
                return new


class _SequenceProxy(BaseProxy):
    """What ListProxy and ArrayProxy share: Python's indexing and slicing,
    len, iteration and a local copy."""

    __slots__ = ()

    def __getitem__(self, i: Union[int, slice]) -> Any:
        if isinstance(i, slice):
            return list(self._call("GetSlice", i.start, i.stop, i.step))
        return self._call("Get", i)

    def __setitem__(self, i: Union[int, slice], value: Any) -> None:
        if isinstance(i, slice):
            self._call("SetSlice", i.start, i.stop, i.step, list(value))
        else:
            self._call("Set", i, value)

    def __len__(self) -> int:
        return int(self._call("Len"))

    def __iter__(self) -> Iterator[Any]:
        return iter(self._call("All"))

    def tolist(self) -> List[Any]:
        """A local copy of every element."""
        return list(self._call("All"))


class ListProxy(_SequenceProxy):
    """A shared list (Go: List) with Python's indexing and slicing."""

    __slots__ = ()

    def __delitem__(self, i: Union[int, slice]) -> None:
        if isinstance(i, slice):
            self._call("DeleteSlice", i.start, i.stop, i.step)
        else:
            self._call("Delete", i)

    def __contains__(self, value: Any) -> bool:
        return bool(self._call("Contains", value))

    def __iadd__(self, values: Iterable[Any]) -> "ListProxy":
        self.extend(values)
        return self

    copy = _SequenceProxy.tolist

    def append(self, value: Any) -> None:
        """Add value at the end."""
        self._call("Append", value)

    def extend(self, values: Iterable[Any]) -> None:
        """Add every value at the end, atomically."""
        self._call("Extend", list(values))

    def insert(self, i: int, value: Any) -> None:
        """Insert value before index i (clamped, as in Python)."""
        self._call("Insert", i, value)

    def pop(self, i: int = -1) -> Any:
        """Remove and return the element at i (default: the last); IndexError when empty."""
        return self._call("Pop", i)

    def remove(self, value: Any) -> None:
        """Remove the first element equal to value; ValueError (NotFound) if none."""
        self._call("Remove", value)

    def index(self, value: Any, start: Optional[int] = None, stop: Optional[int] = None) -> int:
        """The index of the first element equal to value in [start, stop); ValueError if none."""
        return int(self._call("Index", value, start, stop))

    def count(self, value: Any) -> int:
        """How many elements equal value."""
        return int(self._call("Count", value))

    def reverse(self) -> None:
        """Reverse in place."""
        self._call("Reverse")

    def sort(self, *, reverse: bool = False) -> None:
        """Sort in place (numbers with numbers, strings with strings)."""
        self._call("Sort", bool(reverse))

    def clear(self) -> None:
        """Remove every element."""
        self._call("Clear")

    def modify(self, fn: Callable[[List[Any]], List[Any]]) -> List[Any]:
        """Atomically replace the whole list with fn(a copy of it), retrying
        when another process changed it meanwhile; return the new list."""
        while True:
            items, version = self._call("LoadVersion")
            new = list(fn(list(items)))
            if self._call("StoreIfVersion", version, new):
                return new


class ArrayProxy(_SequenceProxy):
    """A shared fixed-length array (Go: Array): indexing and slicing (a
    slice assignment keeps the length), and atomic add(i, n)."""

    __slots__ = ()

    def add(self, i: int, n: Union[int, float] = 1) -> Any:
        """Atomically add n to element i and return the sum."""
        return self._call("Add", i, n)

    def modify(self, fn: Callable[[List[Any]], List[Any]]) -> List[Any]:
        """Atomically replace every element with fn(a copy of them) (same
        length), retrying on conflict; return the new elements."""
        while True:
            items, version = self._call("LoadVersion")
            new = list(fn(list(items)))
            if self._call("StoreIfVersion", version, new):
                return new


class NamespaceProxy(BaseProxy):
    """A shared namespace (Go: Namespace): attributes read and set through
    the proxy. Names starting with ``_`` are the proxy's own, as in
    Python's NamespaceProxy; ``_add``, ``_items`` and ``_modify`` are the
    atomic operations."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value, ok = self._call("Get", name)
        if not ok:
            raise AttributeError(f"shared namespace has no attribute {name!r}")
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            raise AttributeError(f"{name}: names starting with '_' are not shared")
        self._call("Set", name, value)

    def __delattr__(self, name: str) -> None:
        if not self._call("Delete", name):
            raise AttributeError(name)

    def _items(self) -> Dict[str, Any]:
        """Every attribute and its value (Python's vars(ns))."""
        return dict(self._call("Items"))

    def _add(self, name: str, n: Union[int, float] = 1) -> Any:
        """Atomically add n to the number in attribute name; return the sum."""
        return self._call("Add", name, n)

    def _modify(self, name: str, fn: Callable[[Any], Any], default: Any = None) -> Any:
        """Atomically replace attribute name with fn(value); see DictProxy.modify."""
        while True:
            value, version, ok = self._call("LoadVersion", name)
            new = fn(value if ok else default)
            if self._call("StoreIfVersion", name, version if ok else 0, new):
                return new

    def __repr__(self) -> str:
        return f"<NamespaceProxy Namespace#{self._id}>"


class ValueProxy(BaseProxy):
    """A shared value (Go: Value): ``.value``, get() and set(), and atomic
    add(), compare_and_swap() and modify()."""

    __slots__ = ()

    def get(self) -> Any:
        """The value."""
        return self._call("Load")

    def set(self, value: Any) -> None:
        """Store value."""
        self._call("Store", value)

    @property
    def value(self) -> Any:
        """The value (reading and assigning are one call each; use add or modify to update atomically)."""
        return self._call("Load")

    @value.setter
    def value(self, value: Any) -> None:
        """The value (reading and assigning are one call each; use add or modify to update atomically)."""
        self._call("Store", value)

    def add(self, n: Union[int, float] = 1) -> Any:
        """Atomically add n and return the sum (``v.value += n`` is not
        atomic; this is)."""
        return self._call("Add", n)

    def swap(self, value: Any) -> Any:
        """Store value and return the previous one."""
        return self._call("Swap", value)

    def compare_and_swap(self, old: Any, new: Any) -> bool:
        """Store new if the value is old (by its encoding); report whether it did."""
        return bool(self._call("CompareAndSwap", old, new))

    def modify(self, fn: Callable[[Any], Any]) -> Any:
        """Atomically replace the value with fn(value); return the new one."""
        while True:
            value, version, _ = self._call("LoadVersion")
            new = fn(value)
            if self._call("StoreIfVersion", version, new):
                return new


class QueueProxy(BaseProxy):
    """A shared FIFO queue (Go: Queue), Python's queue.Queue interface.
    A get or put that times out is withdrawn on the manager: it consumed
    or added nothing."""

    __slots__ = ()

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Put item. When the queue is full, wait (at most timeout seconds,
        then Full), unless block is False (Full at once)."""
        timeout = _wait_timeout(timeout)
        if not block or timeout == 0:
            self._call("TryPut", item)
            return
        ok, _ = self._timed("Put", timeout, item)
        if not ok:
            raise Full("put: timed out")

    def put_nowait(self, item: Any) -> None:
        """Put item, or raise Full at once."""
        self._call("TryPut", item)

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """Remove and return the next item. When the queue is empty, wait
        (at most timeout seconds, then Empty), unless block is False (Empty
        at once). A get that times out consumes nothing."""
        timeout = _wait_timeout(timeout)
        if not block or timeout == 0:
            return self._call("TryGet")
        ok, item = self._timed("Get", timeout)
        if not ok:
            raise Empty("get: timed out")
        return item

    def get_nowait(self) -> Any:
        """Remove and return the next item, or raise Empty at once."""
        return self._call("TryGet")

    def qsize(self) -> int:
        """The number of items in the queue."""
        return int(self._call("Len"))

    def empty(self) -> bool:
        """Whether the queue holds no item."""
        return bool(self._call("Empty"))

    def full(self) -> bool:
        """Whether a bounded queue holds maxsize items."""
        return bool(self._call("Full"))

    @property
    def maxsize(self) -> int:
        """The queue's capacity (0: unbounded)."""
        return int(self._call("Cap"))


class JoinableQueueProxy(QueueProxy):
    """A shared queue with task_done() and join() (Go: JoinableQueue).
    Items a process got and did not acknowledge go back to the queue when
    the process dies (at-least-once delivery)."""

    __slots__ = ()

    def task_done(self) -> None:
        """Acknowledge one item got from the queue (BadArguments if more than were got)."""
        self._call("TaskDone")

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait until every item put was got and acknowledged; with a
        timeout, return False if it expired first."""
        ok, _ = self._timed("Join", _wait_timeout(timeout))
        return ok


class _AcquireMixin(BaseProxy):
    __slots__ = ()

    def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        """Acquire, as Python's acquire(blocking, timeout): return True once
        held, False when not blocking or timed out. Raises
        :class:`~goproc_manager.errors.Abandoned` **with it held** when its
        previous holder died holding it (the state it protects may be
        half-updated: repair it, then release)."""
        timeout = _wait_timeout(timeout)
        if not blocking or timeout == 0:
            return bool(self._call("TryAcquire"))
        ok, _ = self._timed("Acquire", timeout)
        return ok

    def __enter__(self) -> bool:
        try:
            return self.acquire()
        except Abandoned:
            # The block will not run, so it must not keep the lock: give
            # it back, and let the caller learn of the abandonment.
            self._release_quietly()
            raise

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _release_quietly(self) -> None:
        try:
            self._call("Release", *self._release_args())
        except errors.ManagerError:
            pass

    def _release_args(self) -> Tuple[Any, ...]:
        return ()

    def release(self) -> None:
        """Release; NotHeld (a RuntimeError) if the caller does not hold it."""
        self._call("Release", *self._release_args())


class LockProxy(_AcquireMixin):
    """A shared lock (Go: Lock), held by this process's session: any
    thread may release it. Releasing a lock this process does not hold
    raises NotHeld (a RuntimeError, as for threading.Lock)."""

    __slots__ = ()

    def locked(self) -> bool:
        """Whether some process (or, for an RLock, some proxy) holds the lock."""
        return bool(self._call("Locked"))


class RLockProxy(LockProxy):
    """A shared reentrant lock (Go: RLock), held by the proxy object that
    acquired it: it may acquire again; other proxies, even in this
    process, wait."""

    __slots__ = ()


class SemaphoreProxy(_AcquireMixin):
    """A shared semaphore (Go: Semaphore). Permits a process holds come
    back when it dies (the next acquirer gets Abandoned)."""

    __slots__ = ()

    def release(self, n: int = 1) -> None:
        """Give back n permits, waking as many waiters."""
        self._call("Release", n)

    def _release_args(self) -> Tuple[Any, ...]:
        return (1,)

    def get_value(self) -> int:
        """The number of free permits."""
        return int(self._call("Value"))


class BoundedSemaphoreProxy(SemaphoreProxy):
    """A semaphore that refuses release above its initial value
    (OverReleased, a ValueError, as Python's BoundedSemaphore)."""

    __slots__ = ()


class ConditionProxy(_AcquireMixin):
    """A shared condition variable (Go: Condition)."""

    __slots__ = ()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Release the lock, wait for a notify, take the lock back. Return
        False if the timeout expired (the lock is held again then too)."""
        ok, _ = self._timed("Wait", _wait_timeout(timeout))
        return ok

    def wait_for(self, predicate: Callable[[], Any], timeout: Optional[float] = None) -> Any:
        """Wait until predicate() is true (evaluated here, with the lock
        held); return its last value."""
        end = None if _wait_timeout(timeout) is None else time.monotonic() + float(timeout or 0)
        result = predicate()
        while not result:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                break
            self.wait(left)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        """Wake up to n waiters; the caller must hold the lock."""
        self._call("Notify", n)

    def notify_all(self) -> None:
        """Wake every waiter; the caller must hold the lock."""
        self._call("NotifyAll")

    notifyAll = notify_all


class EventProxy(BaseProxy):
    """A shared event flag (Go: Event)."""

    __slots__ = ()

    def set(self) -> None:
        """Set the flag, waking every waiter."""
        self._call("Set")

    def clear(self) -> None:
        """Clear the flag."""
        self._call("Clear")

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return bool(self._call("IsSet"))

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until the flag is set; False if the timeout expired first."""
        ok, set_ = self._timed("Wait", _wait_timeout(timeout))
        return bool(ok and set_)


class BarrierProxy(BaseProxy):
    """A shared barrier (Go: Barrier). A wait that times out breaks it, as
    Python's does (BrokenBarrier is a threading.BrokenBarrierError)."""

    __slots__ = ()

    def wait(self, timeout: Optional[float] = None) -> int:
        """Wait for the other parties; return this caller's arrival index."""
        try:
            return int(self._call("Wait", timeout=_wait_timeout(timeout)))
        except _TIMED_OUT:
            raise BrokenBarrier("wait: timed out (the barrier is broken)") from None

    def abort(self) -> None:
        """Break the barrier: waiting and later parties get BrokenBarrier."""
        self._call("Abort")

    def reset(self) -> None:
        """Return the barrier to its initial, unbroken state."""
        self._call("Reset")

    @property
    def parties(self) -> int:
        """The number of parties needed to pass the barrier."""
        return int(self._call("Parties"))

    @property
    def n_waiting(self) -> int:
        """The number of parties waiting now."""
        return int(self._call("NWaiting"))

    @property
    def broken(self) -> bool:
        """Whether the barrier is broken."""
        return bool(self._call("Broken"))


_BY_TYPEID: Dict[str, Type[BaseProxy]] = {
    "Dict": DictProxy, "List": ListProxy, "Array": ArrayProxy, "Namespace": NamespaceProxy, "Value": ValueProxy,
    "Queue": QueueProxy, "JoinableQueue": JoinableQueueProxy, "Lock": LockProxy,
    "RLock": RLockProxy, "Semaphore": SemaphoreProxy, "BoundedSemaphore": BoundedSemaphoreProxy,
    "Condition": ConditionProxy, "Event": EventProxy, "Barrier": BarrierProxy,
}


def make_proxy(manager: "Manager", object_id: int, typeid: str, owns_ref: bool) -> BaseProxy:
    """The proxy class for typeid (a generic Proxy for custom types)."""
    return _BY_TYPEID.get(typeid, Proxy)(manager, object_id, typeid, owns_ref)
