"""One authenticated connection to a manager: frames and the handshake
(PROTOCOL.md §2 and §3)."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
from typing import Any, Optional, Tuple, Union

import msgpack

from .errors import AuthenticationError, ManagerError, ProtocolError

#: The protocol version this client speaks.
VERSION = 2

HANDSHAKE_MAX_FRAME = 1 << 10
_HEADER = struct.Struct(">I")
_READ_CHUNK = 64 << 10


class ConnectionLost(Exception):
    """The stream ended or failed (internal: the client decides whether
    the manager is gone)."""


class Conn:
    """A socket with a frame reader. Used by one call at a time."""

    __slots__ = ("sock", "buf", "next_id", "packer", "max_frame")

    def __init__(self, sock: socket.socket, max_frame: int) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.next_id = 0
        self.packer: Any = None
        self.max_frame = max_frame

    def read_frame(self) -> bytes:
        """Read the next frame's body. Raises ConnectionLost when the
        stream ends, socket.timeout (resumable: bytes read are kept) when
        the socket's timeout expires."""
        buf = self.buf
        if not buf:
            # The common case: the reply arrives whole in one read.
            chunk = self._recv()
            if len(chunk) >= 4 and _HEADER.unpack_from(chunk)[0] == len(chunk) - 4 <= self.max_frame:
                return chunk[4:]
            buf += chunk
        while True:
            if len(buf) >= 4:
                n = _HEADER.unpack_from(buf)[0]
                if n > self.max_frame:
                    raise ProtocolError(f"frame of {n} bytes, limit {self.max_frame}")
                if len(buf) >= 4 + n:
                    body = bytes(buf[4:4 + n])
                    del buf[:4 + n]
                    return body
            buf += self._recv()

    def _recv(self) -> bytes:
        """Read what the socket has (at least one byte), raising as
        read_frame says."""
        try:
            chunk = self.sock.recv(_READ_CHUNK)
        except (socket.timeout, BlockingIOError):
            raise socket.timeout("timed out") from None
        except OSError as e:
            raise ConnectionLost(str(e)) from e
        if not chunk:
            raise ConnectionLost("connection closed by the manager")
        return chunk

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _frame(obj: Any) -> bytes:
    body = bytes(msgpack.packb(obj, use_bin_type=True))
    return _HEADER.pack(len(body)) + body


def _mac(key: bytes, label: bytes, *parts: bytes) -> bytes:
    h = hmac.new(key, label, hashlib.sha256)
    for p in parts:
        h.update(p)
    return h.digest()


def _read_small(conn: Conn) -> Any:
    body = conn.read_frame()
    try:
        return msgpack.unpackb(body, raw=False)
    except Exception as e:  # any malformed body
        raise ProtocolError(f"handshake: {e}") from None


def handshake(conn: Conn, key: bytes, session: bytes) -> Tuple[bytes, int, int]:
    """Run the client's side of the handshake on conn (whose socket has a
    timeout set). Returns (server_id, max_frame, pid)."""
    saved = conn.max_frame
    conn.max_frame = HANDSHAKE_MAX_FRAME
    try:
        hello = _read_small(conn)
        if not isinstance(hello, list) or not hello or not isinstance(hello[0], int):
            raise ProtocolError("handshake: hello is not an array starting with a version")
        if hello[0] != VERSION:
            raise ProtocolError(
                f"the server speaks protocol version {hello[0]}, this client version {VERSION} "
                "(use a client and a manager of the same protocol version)")
        if len(hello) != 2 or not isinstance(hello[1], bytes):
            raise ProtocolError("handshake: malformed hello")
        server_nonce = hello[1]
        client_nonce = os.urandom(32)
        mac_c = _mac(key, b"manager/1 client", server_nonce, client_nonce, session)
        conn.sock.sendall(_frame([client_nonce, session, mac_c, VERSION]))
        try:
            welcome = _read_small(conn)
        except ConnectionLost:
            raise AuthenticationError(
                "authentication failed: the manager closed the connection during the handshake "
                "(the client and the manager hold different keys)") from None
        if not isinstance(welcome, list) or len(welcome) != 7:
            raise ProtocolError("handshake: malformed welcome")
        ok, mac_s, server_id, max_frame, pid, code, text = welcome
        if not ok:
            if code == "protocol" and text:
                raise ProtocolError(f"refused by the manager: {text}")
            raise AuthenticationError(
                "authentication failed (the client and the manager hold different keys)")
        want = _mac(key, b"manager/1 server", client_nonce, server_nonce)
        if not isinstance(mac_s, bytes) or not hmac.compare_digest(mac_s, want):
            raise AuthenticationError(
                "authentication failed: the server could not prove it holds the key")
        if not isinstance(server_id, bytes) or len(server_id) != 16:
            raise ProtocolError("handshake: malformed server id")
        return server_id, int(max_frame), int(pid)
    finally:
        conn.max_frame = saved


Address = Union[str, "os.PathLike[str]", Tuple[str, int]]


def parse_address(address: Address) -> Tuple[int, Any, Optional[str]]:
    """Return (family, sockaddr, host) for an address: a Unix socket path,
    "host:port" or a (host, port) tuple."""
    if isinstance(address, tuple):
        return socket.AF_INET, (address[0], int(address[1])), address[0]
    path = os.fspath(address)
    if "/" not in path:
        host, sep, port = path.rpartition(":")
        if sep and port.isdigit():
            host = host.strip("[]") or "127.0.0.1"
            return socket.AF_INET, (host, int(port)), host
    return socket.AF_UNIX, path, None


def dial(address: Address, timeout: float, ssl_context: Any = None,
         server_hostname: Optional[str] = None) -> socket.socket:
    """Open a socket to the manager (TLS wrapped when ssl_context is given).
    Nothing listening gives ConnectionRefusedError; a TLS failure (an
    untrusted certificate, say) its ssl.SSLError."""
    family, sockaddr, host = parse_address(address)
    shown = address if isinstance(address, tuple) else os.fspath(address)
    try:
        if family == socket.AF_UNIX:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(sockaddr)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection(sockaddr, timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as e:
        raise ConnectionRefusedError(f"dial manager at {shown}: {e}") from e
    if ssl_context is not None:
        try:
            sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname or host)
        except BaseException:
            sock.close()
            raise
    return sock


def open_conn(address: Address, key: bytes, session: bytes, timeout: float,
              ssl_context: Any = None, server_hostname: Optional[str] = None
              ) -> Tuple[Conn, bytes, int, int]:
    """Dial and authenticate a connection; returns it with the server's
    id, frame limit and pid."""
    sock = dial(address, timeout, ssl_context, server_hostname)
    conn = Conn(sock, HANDSHAKE_MAX_FRAME)
    try:
        sock.settimeout(timeout)
        try:
            server_id, max_frame, pid = handshake(conn, key, session)
        except socket.timeout:
            raise ManagerError(f"handshake with the manager timed out after {timeout} s") from None
        except ConnectionLost as e:
            raise ManagerError(f"the manager closed the connection during the handshake: {e}") from None
        sock.settimeout(None)
    except BaseException:
        conn.close()
        raise
    conn.max_frame = max_frame
    return conn, server_id, max_frame, pid


