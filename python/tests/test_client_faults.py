"""The client against a scripted fake manager (no Go needed): bad replies
give typed errors, and the client goes on."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
import threading
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import msgpack
import pytest

import goproc_manager as gpm

KEY = b"fake key"
Script = Callable[[int], Optional[List[bytes]]]  # request id -> frames to send (None: hang up)


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def ok(rid: int, result: object) -> bytes:
    return frame(msgpack.packb([2, rid, 0, result]))


class FakeManager:
    """Speaks the handshake, then answers each request by its method."""

    def __init__(self, path: Path, scripts: Dict[str, Script]) -> None:
        self.scripts = scripts
        self.sid = os.urandom(16)
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(str(path))
        self.srv.listen(16)
        self.conns: List[socket.socket] = []
        self.accepted = 0
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    def accept(self) -> None:
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def read(c: socket.socket) -> bytes:
        def exactly(n: int) -> bytes:
            buf = b""
            while len(buf) < n:
                chunk = c.recv(n - len(buf))
                if not chunk:
                    raise EOFError
                buf += chunk
            return buf
        (n,) = struct.unpack(">I", exactly(4))
        return exactly(n)

    def serve(self, c: socket.socket) -> None:
        try:
            sn = os.urandom(32)
            c.sendall(frame(msgpack.packb([2, sn])))
            cn, session, mac_c, version = msgpack.unpackb(self.read(c))
            if not hmac.compare_digest(mac_c, hmac.new(KEY, b"manager/1 client" + sn + cn + session, hashlib.sha256).digest()):
                c.sendall(frame(msgpack.packb([False, None, None, 0, 0, "auth_failed", ""])))
                c.close()
                return
            mac_s = hmac.new(KEY, b"manager/1 server" + cn + sn, hashlib.sha256).digest()
            c.sendall(frame(msgpack.packb([True, mac_s, self.sid, 1024, 1, "", ""])))
            while True:
                req = msgpack.unpackb(self.read(c), raw=False)
                frames = self.scripts.get(req[4], lambda rid: [ok(rid, None)])(req[1])
                if frames is None:
                    c.close()
                    return
                c.sendall(b"".join(frames))
        except (EOFError, OSError):
            pass

    def close(self) -> None:
        self.srv.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Callable[[Dict[str, Script]], FakeManager]]:
    made: List[FakeManager] = []

    def make(scripts: Dict[str, Script]) -> FakeManager:
        m = FakeManager(tmp_path / "fake.sock", scripts)
        made.append(m)
        return m
    yield make
    for m in made:
        m.close()


def test_undecodable_result_is_a_protocol_error_and_the_client_goes_on(fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake({"Bad": lambda rid: [frame(b"\x94\x02" + msgpack.packb(rid) + b"\x00\xc1")],
          "Good": lambda rid: [ok(rid, 42)]})
    with gpm.connect(str(tmp_path / "fake.sock"), KEY) as mgr:
        with pytest.raises(gpm.ProtocolError):
            mgr._call(1, 1, "Bad")
        assert mgr._call(1, 1, "Good") == 42


def test_oversized_frame_drops_the_connection(fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    m = fake({"Huge": lambda rid: [struct.pack(">I", 1 << 20) + b"\x94"],
              "Good": lambda rid: [ok(rid, "fine")]})
    with gpm.connect(str(tmp_path / "fake.sock"), KEY) as mgr:
        with pytest.raises(gpm.ProtocolError):
            mgr._call(1, 1, "Huge")
        before = m.accepted
        assert mgr._call(1, 1, "Good") == "fine"
        assert m.accepted == before + 1, "the poisoned connection was not reused"


def test_replies_to_other_ids_are_skipped(fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake({"Late": lambda rid: [ok(rid + 100, "not mine"), ok(rid, "mine")]})
    with gpm.connect(str(tmp_path / "fake.sock"), KEY) as mgr:
        assert mgr._call(1, 1, "Late") == "mine"


def test_failure_codes_become_exceptions(fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def fail(code: str) -> Script:
        return lambda rid: [frame(msgpack.packb([2, rid, 1, [True, code, "*errs.Error", "why " + code]]))]
    fake({"Empty": fail("empty"), "Odd": fail("a_code_from_the_future"), "Held": fail("not_held")})
    with gpm.connect(str(tmp_path / "fake.sock"), KEY) as mgr:
        with pytest.raises(gpm.Empty) as e:
            mgr._call(1, 1, "Empty")
        assert e.value.remote and e.value.code == "empty" and "why empty" in str(e.value)
        with pytest.raises(gpm.RemoteError) as e2:
            mgr._call(1, 1, "Odd")
        assert e2.value.code == "a_code_from_the_future"
        with pytest.raises(RuntimeError):
            mgr._call(1, 1, "Held")


def test_a_lost_connection_is_not_a_dead_manager(fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake({"Drop": lambda rid: None, "Good": lambda rid: [ok(rid, 1)]})
    with gpm.connect(str(tmp_path / "fake.sock"), KEY) as mgr:
        with pytest.raises(gpm.ManagerError) as e:
            mgr._call(1, 1, "Drop")
        assert not isinstance(e.value, gpm.ManagerGone), "the manager (its watcher connection) is alive"
        assert "may or may not have run" in str(e.value)
        assert mgr._call(1, 1, "Good") == 1


def test_wrong_server_key(fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake({})
    with pytest.raises(gpm.AuthenticationError):
        gpm.connect(str(tmp_path / "fake.sock"), b"another key", timeout=5)
