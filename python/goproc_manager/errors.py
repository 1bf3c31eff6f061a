"""Exceptions of goproc_manager, one per Go sentinel error.

A failure the manager reports carries a stable code (PROTOCOL.md, "Error
codes"); :func:`error_for` turns it into the exception class for that code.
The classes also derive from the built-in exception a Python program would
expect in the same situation (``queue.Empty``, ``KeyError``,
``threading.BrokenBarrierError``, ...), so ``except queue.Empty`` works on
a shared queue as on a local one.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from typing import Dict, Optional, Type

__all__ = [
    "ManagerError", "RemoteError", "ClosedError", "ManagerGone", "NoSuchObject",
    "NoSuchMethod", "NotExposed", "NotRegistered", "BadArguments", "FrameTooLarge",
    "AuthenticationError", "ProtocolError", "Empty", "Full", "Abandoned",
    "BrokenBarrier", "NotHeld", "OverReleased", "KeyNotFound", "IndexOutOfRange",
    "NotFound", "WrongType", "NotSupported", "TooLarge", "Busy", "Cancelled", "DeadlineExceeded",
    "error_for",
]


class ManagerError(Exception):
    """Base of every exception this package raises.

    ``code`` is the wire code (``""`` for none), ``method`` the method that
    failed (``"Dict.Load"``), ``remote_type`` the Go type of the error on
    the manager's side, and ``remote`` is True when the method itself
    returned the error (False when the call machinery refused the call).
    """

    code = ""

    def __init__(self, message: str = "", *, method: str = "", remote_type: str = "",
                 remote: bool = False) -> None:
        super().__init__(message or ((self.__class__.__doc__ or "").strip().splitlines() or [""])[0])
        self.message = message
        self.method = method
        self.remote_type = remote_type
        self.remote = remote

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.method}: {text}" if self.method else text


class RemoteError(ManagerError):
    """A shared object's method raised an error that is not one of the library's (a custom Go type's own error, or a panic)."""


class ClosedError(ManagerError):
    """The manager is shutting down, or this client was closed."""
    code = "closed"


class ManagerGone(ManagerError, ConnectionError):
    """The manager process is gone (it exited or the connection to it was lost)."""
    code = "manager_gone"


class NoSuchObject(ManagerError, LookupError):
    """No such object (it was freed, deleted, or never created on this manager)."""
    code = "no_such_object"


class NoSuchMethod(ManagerError, AttributeError):
    """No such method on this type."""
    code = "no_such_method"


class NotExposed(ManagerError, AttributeError):
    """The method is not exposed."""
    code = "not_exposed"


class NotRegistered(ManagerError, LookupError):
    """The type is not registered in the manager process."""
    code = "not_registered"


class BadArguments(ManagerError, TypeError):
    """Bad arguments (wrong number or types of arguments for the method)."""
    code = "bad_arguments"


class FrameTooLarge(ManagerError, ValueError):
    """A message is larger than the manager's frame size limit."""
    code = "frame_too_large"


class AuthenticationError(ManagerError, multiprocessing.AuthenticationError):
    """Authentication failed (the client and the manager hold different keys)."""
    code = "auth_failed"


class ProtocolError(ManagerError):
    """Protocol error (the peer sent bytes that are not a valid frame, or speaks another protocol version)."""
    code = "protocol"


class Empty(ManagerError, queue.Empty):
    """The queue is empty (or the dict, for popitem)."""
    code = "empty"


class Full(ManagerError, queue.Full):
    """The queue is full."""
    code = "full"


class Abandoned(ManagerError):
    """The lock or permit was acquired, but its previous holder died holding it: the state it protects may be inconsistent."""
    code = "abandoned"


class BrokenBarrier(ManagerError, threading.BrokenBarrierError):
    """The barrier is broken (a party timed out, was cancelled, died, or abort was called)."""
    code = "broken_barrier"


class NotHeld(ManagerError, RuntimeError):
    """Release of a lock this caller does not hold."""
    code = "not_held"


class OverReleased(ManagerError, ValueError):
    """A bounded semaphore was released more times than it was acquired."""
    code = "over_released"


class KeyNotFound(ManagerError, KeyError):
    """Key not found."""
    code = "key_not_found"

    def __str__(self) -> str:  # KeyError's __str__ would quote the message
        return ManagerError.__str__(self)


class IndexOutOfRange(ManagerError, IndexError):
    """Index out of range."""
    code = "index_out_of_range"


class NotFound(ManagerError, ValueError):
    """Value not found."""
    code = "not_found"


class WrongType(ManagerError, TypeError):
    """The name or proxy refers to an object of another type."""
    code = "wrong_type"


class NotSupported(ManagerError):
    """Not supported (on this platform, or by this engine)."""
    code = "not_supported"


class TooLarge(ManagerError, ValueError):
    """A request or value too large for the manager to decode (its WithMaxRequestSize)."""
    code = "too_large"


class Busy(ManagerError):
    """The manager is busy (too many blocked calls on the connection, or no read budget left); retry later."""
    code = "busy"


class Cancelled(ManagerError):
    """The call was withdrawn on the manager before it completed."""
    code = "canceled"


class DeadlineExceeded(ManagerError, TimeoutError):
    """The call's timeout expired before it completed; it was withdrawn on the manager."""
    code = "deadline_exceeded"


_BY_CODE: Dict[str, Type[ManagerError]] = {
    c.code: c for c in (
        ClosedError, ManagerGone, NoSuchObject, NoSuchMethod, NotExposed, NotRegistered,
        BadArguments, FrameTooLarge, AuthenticationError, ProtocolError, Empty, Full,
        Abandoned, BrokenBarrier, NotHeld, OverReleased, KeyNotFound, IndexOutOfRange,
        NotFound, WrongType, NotSupported, TooLarge, Busy, Cancelled, DeadlineExceeded,
    )
}
# Go sentinels with no behaviour of their own on this side.
_BY_CODE["process_exited"] = RemoteError
_BY_CODE["no_auth_key"] = AuthenticationError


def error_for(code: str, message: str, *, method: str = "", remote_type: str = "",
              remote: bool = False) -> ManagerError:
    """Return the exception for a failure with wire code ``code``.

    An unknown or empty code (a newer manager, a custom type's own error,
    or an error the Go program registered, whose code starts with
    ``"user:"``) gives a :class:`RemoteError` carrying that code.
    """
    cls: Optional[Type[ManagerError]] = _BY_CODE.get(code)
    exc = (cls or RemoteError)(message, method=method, remote_type=remote_type, remote=remote)
    if cls is None:
        exc.code = code
    return exc
