"""A zip file read one entry at a time, in memory that does not grow with its entries.

Python's zipfile reads the whole central directory into objects first: about 540 bytes an
entry, 300 MB for the registry's 560,000 studies before the first is read. Here the directory
is walked as a stream (ZIP64 included: more than 65,535 entries need it) and each entry is read
and checked against its CRC as it comes. Stored and deflated entries, as the registry's are;
anything else is said to be unsupported."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_MAX16, _MAX32 = 0xFFFF, 0xFFFFFFFF
_CHUNK = 1 << 20


class ZipError(Exception):
    """The file is not a whole zip, or an entry cannot be read; the message says which."""


@dataclass(frozen=True)
class Entry:
    name: str
    method: int
    flags: int
    crc: int
    compressed: int
    size: int
    offset: int  # of its local header


def directory(path: Path) -> tuple[int, int, int]:
    """(entries, the central directory's offset, its size), from the end of the file; ZipError
    when there is no end record (a download cut short)."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        end = f.tell()
        tail_len = min(end, 22 + _MAX16 + 20)
        f.seek(end - tail_len)
        tail = f.read(tail_len)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise ZipError("not a whole zip file (no index at its end)")
    (_sig, _disk, _cd_disk, _n_disk, entries, cd_size, cd_offset, _comment) = struct.unpack(
        "<4s4H2LH", tail[at : at + 22]
    )
    if _MAX16 in (entries,) or _MAX32 in (cd_size, cd_offset):
        loc = at - 20
        if loc < 0 or tail[loc : loc + 4] != _EOCD64_LOCATOR:
            raise ZipError("a ZIP64 file without its ZIP64 index")
        (record_at,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
        with open(path, "rb") as f:
            f.seek(record_at)
            record = f.read(56)
        if len(record) < 56 or record[:4] != _EOCD64:
            raise ZipError("its ZIP64 index is damaged")
        entries, _n, cd_size, cd_offset = struct.unpack("<4Q", record[24:56])
    if cd_offset + cd_size > end:
        raise ZipError("not a whole zip file (its index points past its end)")
    return entries, cd_offset, cd_size


def entries(path: Path) -> Iterator[Entry]:
    """Every entry of the central directory, in order, read as a stream."""
    _n, offset, size = directory(path)
    with open(path, "rb") as f:
        f.seek(offset)
        left = size
        buf, pos = b"", 0

        def fill(need: int) -> bool:
            """At least ``need`` bytes from pos on, reading more when there are."""
            nonlocal buf, pos, left
            while len(buf) - pos < need and left > 0:
                more = f.read(min(_CHUNK, left))
                if not more:
                    break
                left -= len(more)
                buf, pos = buf[pos:] + more, 0
            return len(buf) - pos >= need

        while fill(4):
            if not fill(46) or buf[pos : pos + 4] != _CENTRAL:
                raise ZipError("its index is damaged")
            (flags, method, _t, _d, crc, csize, usize, nlen, xlen, clen) = struct.unpack_from(
                "<2H2H3L3H", buf, pos + 8
            )
            (local,) = struct.unpack_from("<L", buf, pos + 42)
            need = 46 + nlen + xlen + clen
            if not fill(need):
                raise ZipError("its index is cut short")
            raw_name = buf[pos + 46 : pos + 46 + nlen]
            extra = buf[pos + 46 + nlen : pos + 46 + nlen + xlen]
            pos += need
            if _MAX32 in (csize, usize, local):
                usize, csize, local = _zip64(extra, usize, csize, local)
            name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
            yield Entry(name, method, flags, crc, csize, usize, local)


def _zip64(extra: bytes, usize: int, csize: int, local: int) -> tuple[int, int, int]:
    """The sizes and offset a ZIP64 extra field holds in place of 0xFFFFFFFF."""
    i = 0
    while i + 4 <= len(extra):
        tag, length = struct.unpack("<2H", extra[i : i + 4])
        body = extra[i + 4 : i + 4 + length]
        if tag == 1:
            values = [struct.unpack("<Q", body[j : j + 8])[0] for j in range(0, len(body) - 7, 8)]
            out = []
            for field in (usize, csize, local):
                out.append(values.pop(0) if field == _MAX32 and values else field)
            return out[0], out[1], out[2]
        i += 4 + length
    raise ZipError("an entry's ZIP64 sizes are missing")


# No study record is near 10 MB (the largest, with results, are about 2 MB): an entry past
# this is not one, and is never inflated into memory.
MAX_ENTRY = 32 * 1024 * 1024


def read(handle: BinaryIO, entry: Entry, limit: int = MAX_ENTRY) -> bytes:
    """One entry's bytes, checked against its CRC; an entry larger than ``limit``, as its
    index says or as it inflates, is refused before it fills memory."""
    if entry.flags & 0x1:
        raise ZipError(f"{entry.name} is encrypted")
    if entry.size > limit or entry.compressed > limit:
        raise ZipError(f"{entry.name} is too large to be a study record ({entry.size:,} bytes)")
    handle.seek(entry.offset)
    header = handle.read(30)
    if len(header) < 30 or header[:4] != _LOCAL:
        raise ZipError(f"{entry.name}: its data is not where the index says")
    nlen, xlen = struct.unpack("<2H", header[26:30])
    handle.seek(entry.offset + 30 + nlen + xlen)
    data = handle.read(entry.compressed)
    if len(data) != entry.compressed:
        raise ZipError(f"{entry.name} is cut short")
    if entry.method == 8:
        inflate = zlib.decompressobj(-15)
        try:
            data = inflate.decompress(data, limit + 1)  # never more than the limit, whatever
        except zlib.error as exc:  # the index claims
            raise ZipError(f"{entry.name} is damaged ({exc})") from None
        if len(data) > limit:
            raise ZipError(f"{entry.name} is too large to be a study record (over {limit:,} bytes)")
    elif entry.method != 0:
        raise ZipError(f"{entry.name} is compressed in a way trialwatch does not read")
    if len(data) != entry.size or zlib.crc32(data) != entry.crc:
        raise ZipError(f"{entry.name} is damaged (its checksum does not match)")
    return data
