"""Unit tests of the encoding (no manager needed): the bytes PROTOCOL.md
shows, and Go's encoding conventions (PROTOCOL.md §5)."""

from __future__ import annotations

from pathlib import Path
import msgpack
import pytest

from goproc_manager import ProxyRef, _codec
from goproc_manager.client import request_body

PROTOCOL = Path(__file__).resolve().parents[2] / "PROTOCOL.md"


def doc_bytes(prefix: str) -> bytes:
    """The bytes on the first PROTOCOL.md line starting with prefix that
    shows bytes (hex pairs and "quoted" strings, up to another token)."""
    for line in PROTOCOL.read_text().splitlines():
        if not line.startswith(prefix):
            continue
        out = bytearray()
        rest = line[len(prefix):].strip()
        while rest:
            if rest[0] == '"':
                end = rest.index('"', 1)
                out += rest[1:end].encode()
                rest = rest[end + 1:].strip()
                continue
            tok, _, rest = rest.partition(" ")
            rest = rest.strip()
            if len(tok) != 2:
                break
            try:
                out.append(int(tok, 16))
            except ValueError:
                break
        if out:
            return bytes(out)
    raise AssertionError(f"PROTOCOL.md has no line starting with {prefix!r}")


def pack(v: object) -> bytes:
    return bytes(_codec.new_packer(lambda o: (_ for _ in ()).throw(TypeError(o))).pack(v))


def target(obj: int, handle: int) -> bytes:
    return bytes(msgpack.packb(obj)) + bytes(msgpack.packb(handle))


def test_request_bytes_are_the_documented_ones() -> None:
    body = request_body(pack, 0, target(5, 1), "Load", ["a"], None)
    frame = len(body).to_bytes(4, "big") + body
    assert frame == doc_bytes("request   ")
    with_timeout = request_body(pack, 1, target(7, 1), "Get", [], 1.5)
    assert with_timeout == bytes([0x97]) + doc_bytes("request   97")


@pytest.mark.parametrize("value,want", [
    (0, "00"), (127, "7f"), (128, "cc80"), (200, "ccc8"), (65535, "cdffff"), (1 << 40, "cf0000010000000000"),
    (-1, "ff"), (-32, "e0"), (-33, "d0df"), (-200, "d1ff38"), (-(1 << 40), "d3ffffff0000000000"),
    (1.25, "cb3ff4000000000000"), (True, "c3"), (None, "c0"),
    ("a", "a161"), ("a" * 32, "d920" + "61" * 32), (b"\x00", "c40100"),
    ({"b": 1, "a": 2}, "82a16102a16201"),
    ({10: "x", -1: "y", "k": "z"}, "830aa178a16ba17affa179"),
    ([{"b": 1, "a": 2}], "9182a16102a16201"),
    ({"z": {"b": 1, "a": 2}}, "81a17a82a16102a16201"),
    ((1, 2), "920102"),
])
def test_values_encode_as_go_encodes_them(value: object, want: str) -> None:
    assert _codec.encode(value, pack).hex() == want


def test_proxy_reference_encoding() -> None:
    sid = bytes(range(16))
    ref = ProxyRef(sid, 5, "Dict")
    packer = _codec.new_packer(lambda o: msgpack.ExtType(_codec.PROXY_EXT, _codec.proxy_payload(o.server_id, o.id, o.typeid)))
    b = bytes(packer.pack(ref))
    assert b[:3] == bytes([0xC7, 0x19, 0x07])
    assert b[3:] == bytes([0x93, 0xC4, 0x10]) + sid + b"\x05\xa4Dict"
    assert _codec.parse_proxy(b[3:]) == (sid, 5, "Dict")
    with pytest.raises(ValueError):
        _codec.parse_proxy(bytes([0x93, 0xC4, 0x01, 0x00, 0x05, 0xA0]))


def test_decoding_round_trips_text_exactly() -> None:
    raw = b"\xa2\xff\xfe"  # a str that is not UTF-8, as a Go string may be
    v = _codec.unpackb(raw, lambda c, d: None)
    assert _codec.encode(v, pack) == raw


