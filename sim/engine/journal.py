"""The driver's journal: every result is on disk the moment it arrives, before it is batched.

Why: shards hold batches of replicates (few files, even for a million replicates), so a result
waits in the driver's memory until its batch is written. A crash or SIGKILL in that window would
lose finished work; the journal closes it. Each task's result is appended to the current
segment (``shards/journal/<session>-<n>.journal``) and flushed to the operating system (a killed
process loses nothing it wrote; only a machine crash could, as with any unsynced file). When the
buffered results are written as a shard, the segments are deleted. The next run into the folder
turns any segment left behind into a shard before it plans, so no finished replicate is run
twice.

Record layout: ``b"GJR1"``, header length (u32), payload length (u64), CRC-32 of header and
payload (u32), then a JSON header (point hash, replicates) and the ``frames`` payload. Reading
stops at the first record that is cut short or fails its checksum: nothing half-written is read.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"GJR1"
SUFFIX = ".journal"
_HEAD = struct.Struct("<4sIQI")


def _record(header: dict[str, Any], payload: bytes) -> tuple[bytes, bytes, bytes]:
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    crc = zlib.crc32(payload, zlib.crc32(head))
    return _HEAD.pack(MAGIC, len(head), len(payload), crc), head, payload


class Journal:
    """Append-only journal segments of one driver session.

    Args:
        folder: the journal folder (``shards/journal``).
        session: a name unique to this run of the driver (segments are ``<session>-<n>``).
    """

    def __init__(self, folder: Path, session: str) -> None:
        self.folder = folder
        self.session = session
        self.segments_written = 0
        self._seq = 0
        self._fh: BinaryIO | None = None
        self._path: Path | None = None
        self._mine: list[Path] = []

    def append(self, header: dict[str, Any], payload: bytes) -> None:
        """Append one record and hand it to the operating system.

        Raises:
            OSError: the disk is full or unwritable (the caller reports it).
        """
        if self._fh is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._path = self.folder / f"{self.session}-{self._seq:05d}{SUFFIX}"
            self._fh = open(self._path, "ab")  # noqa: SIM115 - kept open across appends
            self._mine.append(self._path)
            self.segments_written += 1
        for part in _record(header, payload):
            self._fh.write(part)
        self._fh.flush()

    def checkpoint(self) -> None:
        """Everything appended so far is in shards now: delete this session's segments."""
        self.close()
        for path in self._mine:
            path.unlink(missing_ok=True)
        self._mine.clear()
        self._seq += 1

    def close(self) -> None:
        """Close the current segment (its records stay on disk)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def segments(folder: Path) -> list[Path]:
    """Journal segments in a folder, oldest name first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(SUFFIX) and p.is_file())


def read_segment(path: Path) -> tuple[list[tuple[dict[str, Any], memoryview]], bool]:
    """The complete records of a segment, and whether it ended in a damaged or partial record."""
    data = memoryview(path.read_bytes())
    records: list[tuple[dict[str, Any], memoryview]] = []
    for record in _records(data):
        if record is None:
            return records, True
        records.append(record)
    return records, False


def _records(data: memoryview) -> Iterator[tuple[dict[str, Any], memoryview] | None]:
    offset = 0
    while offset < len(data):
        if offset + _HEAD.size > len(data):
            yield None
            return
        magic, head_len, payload_len, crc = _HEAD.unpack_from(data, offset)
        start = offset + _HEAD.size
        end = start + head_len + payload_len
        if magic != MAGIC or end > len(data):
            yield None
            return
        head, payload = data[start : start + head_len], data[start + head_len : end]
        if zlib.crc32(payload, zlib.crc32(head)) != crc:
            yield None
            return
        try:
            header = json.loads(bytes(head))
        except ValueError:
            yield None
            return
        if not isinstance(header, dict):
            yield None
            return
        yield header, payload
        offset = end
