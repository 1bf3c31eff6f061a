"""goproc_manager: Python processes share dicts, queues and locks with Go.

A client of the manager of github.com/goproc/manager (the Go analogue of
Python's multiprocessing.Manager), speaking its language-neutral msgpack
protocol (PROTOCOL.md). Pure Python plus the ``msgpack`` package::

    import goproc_manager
    mgr = goproc_manager.connect("/path/to/manager.sock", key)
    d = mgr.dict("results")          # the same dict Go's OpenDict reaches
    d["answer"] = 42
    with mgr.Lock("L"):
        ...

Values are msgpack data: numbers, strings, bytes, lists, tuples (sent as
lists), dicts, None and bools, plus proxies.
"""

from ._conn import VERSION as PROTOCOL_VERSION
from .client import Manager, ProxyRef, connect
from .errors import (Abandoned, AuthenticationError, BadArguments, BrokenBarrier, Cancelled,
                     ClosedError, DeadlineExceeded, Empty, FrameTooLarge, Full, IndexOutOfRange,
                     KeyNotFound, ManagerError, ManagerGone, NoSuchMethod, NoSuchObject, NotExposed,
                     NotFound, NotHeld, NotRegistered, NotSupported, OverReleased, ProtocolError,
                     RemoteError, TooLarge, Busy, WrongType)
from .proxies import (ArrayProxy, BarrierProxy, BaseProxy, BoundedSemaphoreProxy, ConditionProxy, DictProxy,
                      EventProxy, JoinableQueueProxy, ListProxy, LockProxy, NamespaceProxy, Proxy,
                      QueueProxy, RLockProxy, SemaphoreProxy, ValueProxy)

__version__ = "0.1.0"

__all__ = [
    "connect", "Manager", "ProxyRef", "PROTOCOL_VERSION",
    "BaseProxy", "Proxy", "DictProxy", "ListProxy", "ArrayProxy", "NamespaceProxy", "ValueProxy", "QueueProxy",
    "JoinableQueueProxy", "LockProxy", "RLockProxy", "SemaphoreProxy", "BoundedSemaphoreProxy",
    "ConditionProxy", "EventProxy", "BarrierProxy",
    "ManagerError", "RemoteError", "ClosedError", "ManagerGone", "NoSuchObject", "NoSuchMethod",
    "NotExposed", "NotRegistered", "BadArguments", "FrameTooLarge", "AuthenticationError",
    "ProtocolError", "Empty", "Full", "Abandoned", "BrokenBarrier", "NotHeld", "OverReleased",
    "KeyNotFound", "IndexOutOfRange", "NotFound", "WrongType", "NotSupported", "TooLarge", "Busy", "Cancelled",
    "DeadlineExceeded",
]
