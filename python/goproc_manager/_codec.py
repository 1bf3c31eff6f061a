"""Encoding of values the way the Go client encodes them (PROTOCOL.md §5).

The manager compares stored keys and values as bytes, so Python must write
the bytes Go writes for the same value: integers in their shortest form
and strings as str (msgpack's own defaults), and every map with its entries
sorted by the bytes of their encoded keys (Go sorts them; a Python dict
keeps insertion order). Proxies travel as msgpack extension 7.
"""

from __future__ import annotations

import struct
from operator import itemgetter
from typing import Any, Callable, List, Tuple

import msgpack

PROXY_EXT = 7

_SCALARS = (str, int, bytes, float, bool, type(None))
_first = itemgetter(0)


def map_header(n: int) -> bytes:
    """The msgpack header of a map of n entries."""
    if n < 16:
        return bytes((0x80 | n,))
    if n < 1 << 16:
        return b"\xde" + struct.pack(">H", n)
    return b"\xdf" + struct.pack(">I", n)


def array_header(n: int) -> bytes:
    """The msgpack header of an array of n elements."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


def has_map(v: Any) -> bool:
    """Whether v holds a dict at any depth (and so needs sorting)."""
    if isinstance(v, dict):
        return True
    if isinstance(v, (list, tuple)):
        for e in v:
            if type(e) not in _SCALARS and has_map(e):
                return True
    return False


def canonical(v: Any, pack: Callable[[Any], bytes]) -> bytes:
    """Encode v with pack, sorting the entries of every dict in it by the
    bytes of their encoded keys, as the Go client does."""
    if type(v) in _SCALARS:
        return pack(v)
    if isinstance(v, dict):
        entries: List[Tuple[bytes, bytes]] = [
            (canonical(k, pack), canonical(x, pack)) for k, x in v.items()]
        entries.sort(key=_first)
        return map_header(len(entries)) + b"".join(k + x for k, x in entries)
    if isinstance(v, (list, tuple)):
        if not has_map(v):
            return pack(v)
        return array_header(len(v)) + b"".join(canonical(e, pack) for e in v)
    return pack(v)


def new_packer(default: Callable[[Any], Any]) -> "msgpack.Packer":
    """A packer with Go's conventions: str as str, bytes as bin, floats as
    float64, surrogate-escaped text round-tripping exactly."""
    return msgpack.Packer(use_bin_type=True, autoreset=True, default=default,
                          unicode_errors="surrogateescape")


def encode(v: Any, pack: Callable[[Any], bytes]) -> bytes:
    """Encode one argument or stored value."""
    if type(v) in _SCALARS:
        return pack(v)
    return canonical(v, pack)


def unpackb(data: Any, ext_hook: Callable[[int, bytes], Any]) -> Any:
    """Decode one msgpack value as the client returns it to callers."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=ext_hook,
                           unicode_errors="surrogateescape")


def proxy_payload(server_id: bytes, object_id: int, typeid: str) -> bytes:
    """The payload of a proxy extension: [server_id bin, id uint, typeid str]."""
    return bytes(msgpack.packb([server_id, object_id, typeid], use_bin_type=True))


def parse_proxy(payload: bytes) -> Tuple[bytes, int, str]:
    """Parse a proxy extension payload (see proxy_payload)."""
    v = msgpack.unpackb(payload, raw=False)
    if (not isinstance(v, list) or len(v) != 3 or not isinstance(v[0], bytes) or len(v[0]) != 16
            or not isinstance(v[1], int) or not isinstance(v[2], str)):
        raise ValueError("malformed proxy reference")
    return v[0], v[1], v[2]
