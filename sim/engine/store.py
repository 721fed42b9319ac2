"""Results store: the driver's buffer, journal and bundles, and what is complete on disk.

Why: a Monte Carlo run must survive Ctrl-C, a kill or a crashed worker without losing or
corrupting finished replicates, resume by skipping them, and still write few files at a million
replicates. Only the driver writes (workers return their tables, see ``worker``):

1. every result is appended to the journal as it arrives (``journal``: nothing finished is lost);
2. results are buffered and written as a **bundle** (``bundles``: one Parquet file per table,
   written atomically, ``runs`` last) once enough are buffered, at the end of a wave, or on
   Ctrl-C; then the journal is cleared;
3. the next run into the folder first turns a leftover journal into a bundle, then reads every
   bundle's footer and runs rows (``bundles.inspect``) and trusts only those that pass: the rest
   are moved to ``shards/rejected/`` and their replicates are recomputed.

Completion is tracked per point and block as the index of the chunk that holds each replicate,
so planning asks "is replicate r of point p done?" in O(1) and memory grows with blocks, not rows.
Compaction into ``runs.parquet``, ``timeseries.parquet`` and ``incidents.parquet`` lives in
``compaction``.

Layout under ``out_dir``::

    .gapsim.lock                      the folder's lock (``lock``)
    shards/<table>/<bundle>.parquet   bundles (table: runs | timeseries | incidents)
    shards/journal/<session>-<n>.journal
    shards/failures/log.jsonl         one JSON record per failed replicate (latest wins)
    shards/rejected/                  bundles that failed their checks, kept for inspection
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.engine import bundles, frames, journal
from sim.engine.bundles import BLOCK, Bundle, BundleProblem, Chunk
from sim.engine.frames import REPLICATE, TABLES
from sim.engine.worker import TaskResult

#: Buffered results are written as a bundle beyond any of these (bytes, replicates, chunks).
#: The bytes bound the driver's memory: it holds the buffer, and writing it briefly costs about
#: as much again (Arrow's allocator keeps what the Parquet writer used). 16 MB, not 64 MB: the
#: driver's peak no longer grows with long horizons (200 x 40,000 days: 339 MB at 64 MB, 280 MB
#: at 16 MB, against 256 MB for 10 replicates), at the cost of up to 4x the bundles for outputs
#: of more than 4 kB a replicate (about 4,500 instead of 1,100 at 10^6 one-year replicates of
#: the real model, ~75 kB each; small outputs are bundled by FLUSH_REPLICATES as before).
FLUSH_BYTES = 16 * 2**20
FLUSH_REPLICATES = 4096
FLUSH_CHUNKS = 1024


def _session() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class ResultStore:
    """The shard tree of one run folder, as seen and written by the driver.

    Args:
        out_dir: the run directory; shards go under ``out_dir/shards``.
        flush_bytes, flush_replicates, flush_chunks: bundle size limits (see module doc).
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        flush_bytes: int = FLUSH_BYTES,
        flush_replicates: int = FLUSH_REPLICATES,
        flush_chunks: int = FLUSH_CHUNKS,
    ) -> None:
        self.out_dir = Path(out_dir).resolve()
        self.shard_dir = self.out_dir / "shards"
        self.failure_log = self.shard_dir / "failures" / "log.jsonl"
        self.rejected_dir = self.shard_dir / "rejected"
        self.flush_bytes = flush_bytes
        self.flush_replicates = flush_replicates
        self.flush_chunks = flush_chunks
        self.session = _session()
        self.bundles: list[Bundle] = []
        self.chunks: list[Chunk] = []
        self.notes: list[str] = []
        self.stats = {"bundles_written": 0, "files_written": 0, "journal_segments": 0,
                      "replicates_recovered": 0, "bundles_rejected": 0}
        self._owner: dict[str, dict[int, np.ndarray]] = {}
        self._buffer: list[Chunk] = []
        self._buffer_bytes = 0
        self._buffer_reps = 0
        self._seq = 0
        self._failures: dict[str, dict[str, Any]] = {}
        self._failure_lines = 0
        self._journal = journal.Journal(self.shard_dir / "journal", self.session)
        self.points: dict[str, dict[str, Any]] = {}  # point hash -> what it covers

    def describe(self, point: str, info: Mapping[str, Any]) -> None:
        """Record what a point hash covers (stored in the footers of bundles holding it)."""
        self.points[point] = dict(info)

    def stored_points(self) -> dict[str, dict[str, Any]]:
        """What the point hashes found in the folder's bundles cover (from their footers)."""
        out: dict[str, dict[str, Any]] = {}
        for bundle in self.bundles:
            for point, info in bundle.points.items():
                if isinstance(info, dict):
                    out.setdefault(point, info)
        return out

    def table_path(self, table: str) -> Path:
        """Path of a compacted table."""
        return self.out_dir / f"{table}.parquet"

    # --------------------------------------------------------------------------- opening

    def open(self) -> list[str]:
        """Prepare the tree, recover a leftover journal and index every trusted bundle.

        Call with the folder's lock held. Returns notes for the user (one line each): bundles
        set aside, replicates recovered, shards of an older layout that are not resumed.
        """
        for sub in (*TABLES, "failures"):
            (self.shard_dir / sub).mkdir(parents=True, exist_ok=True)
        self._remove_temporary_files()
        for stem in bundles.stems(self.shard_dir):
            try:
                self._register(bundles.inspect(self.shard_dir, stem))
            except BundleProblem as problem:
                self._reject(stem, problem)
        self._remove_orphans()
        self._recover_journal()
        self._load_failures()
        old = [p for p in (self.shard_dir / "runs").iterdir() if p.is_dir()]
        if old:
            self.notes.append(
                f"{self.shard_dir / 'runs'}: {len(old)} folder(s) of per-replicate shards from an "
                "older gapsim are not resumed (their ids predate input hashing); delete them to "
                "free space"
            )
        return self.notes

    def _remove_temporary_files(self) -> None:
        """Delete gapsim's own temporary files (a killed write); nothing else."""
        for folder in (self.out_dir, self.shard_dir, *(self.shard_dir / t for t in TABLES)):
            if folder.is_dir():
                for path in folder.iterdir():
                    if bundles.is_tmp(path.name) and path.is_file():
                        path.unlink(missing_ok=True)

    def _remove_orphans(self) -> None:
        """Drop timeseries/incidents files of a bundle whose runs file was never written.

        Such a bundle was cut short by a kill while it was being written; its results are still
        in the journal, which is turned into a bundle next.
        """
        known = {b.stem for b in self.bundles} | set(self._rejected_stems())
        for table in ("timeseries", "incidents"):
            for path in (self.shard_dir / table).glob("*.parquet"):
                stem = path.name[: -len(".parquet")]
                if stem not in known and bundles.STEM.match(stem):
                    path.unlink(missing_ok=True)

    def _rejected_stems(self) -> list[str]:
        return [p.name.split(".")[0] for p in self.rejected_dir.glob("*")] if (
            self.rejected_dir.is_dir()) else []

    def reject(self, stem: str, problem: BundleProblem) -> None:
        """Set a bundle aside after it was found damaged, and forget what it held."""
        self._reject(stem, problem)
        self.bundles, self.chunks, self._owner = [], [], {}
        for name in bundles.stems(self.shard_dir):
            try:
                self._register(bundles.inspect(self.shard_dir, name))
            except BundleProblem as other:
                self._reject(name, other)

    def _reject(self, stem: str, problem: BundleProblem) -> None:
        """Move a bundle's files to ``shards/rejected/`` and say so."""
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        for table in TABLES:
            path = self.shard_dir / table / f"{stem}.parquet"
            if path.exists():
                shutil.move(path, self.rejected_dir / f"{stem}.{table}.parquet")
        self.stats["bundles_rejected"] += 1
        self.notes.append(
            f"{problem.path}: {problem.reason}; set aside in {self.rejected_dir}, its replicates "
            "are computed again"
        )

    def _register(self, bundle: Bundle) -> None:
        index = len(self.bundles)
        self.bundles.append(bundle)
        for chunk in bundle.chunks:
            chunk.bundle = index
            cid = len(self.chunks)
            self.chunks.append(chunk)
            owner = self._owner.setdefault(chunk.point, {}).get(chunk.block)
            if owner is None:
                owner = np.full(BLOCK, -1, dtype=np.int32)
                self._owner[chunk.point][chunk.block] = owner
            slots = chunk.reps % BLOCK
            free = owner[slots] == -1
            owner[slots[free]] = cid

    def _recover_journal(self) -> None:
        """Turn journal segments left by a killed run into a bundle, then delete them."""
        found = journal.segments(self._journal.folder)
        if not found:
            return
        recovered = 0
        for path in found:
            try:
                records, torn = journal.read_segment(path)
            except OSError as err:
                records, torn = [], True
                self.notes.append(f"{path}: unreadable journal ({err}); its replicates are "
                                  "computed again")
            for header, payload in records:
                try:
                    reps = bundles.expand(header["reps"])
                    point = str(header["point"])
                    tables = frames.decode(payload)
                except (KeyError, TypeError, ValueError):
                    torn = True
                    continue
                if len(reps) == 0 or reps[0] // BLOCK != reps[-1] // BLOCK:
                    torn = True
                    continue
                recovered += self._buffer_chunk(point, reps, tables)
            if torn:
                self.notes.append(f"{path}: ended in a partial record (a kill while writing); "
                                  "that task's replicates are computed again")
        self.flush()
        for path in found:
            path.unlink(missing_ok=True)
        if recovered:
            self.stats["replicates_recovered"] += recovered
            self.notes.append(f"recovered {recovered} finished replicates from the journal of "
                              "an interrupted run")

    # ------------------------------------------------------------------------- completion

    def done_mask(self, point: str, n: int) -> np.ndarray:
        """Which of replicates ``0..n-1`` of a point are complete on disk or buffered."""
        done = np.zeros(n, dtype=bool)
        for block, owner in self._owner.get(point, {}).items():
            lo = block * BLOCK
            if lo >= n:
                continue
            hi = min(lo + BLOCK, n)
            done[lo:hi] = owner[: hi - lo] != -1
        return done

    def owners(self, point: str, block: int) -> np.ndarray | None:
        """Per slot of a block, the index of the chunk holding that replicate (-1: none)."""
        return self._owner.get(point, {}).get(block)

    # ---------------------------------------------------------------------------- writing

    def add(self, result: TaskResult) -> None:
        """Journal and buffer a task's results (written as a bundle when enough are buffered).

        Raises:
            OSError: the journal or a bundle could not be written (e.g. the disk is full).
        """
        if result.payload is None or not result.done:
            return
        reps = np.asarray(sorted(result.done), dtype=np.int64)
        self._journal.append({"point": result.point_hash, "reps": bundles.ranges(reps)},
                             result.payload)
        self.stats["journal_segments"] = self._journal.segments_written
        self._buffer_chunk(result.point_hash, reps, frames.decode(result.payload))
        if (self._buffer_bytes >= self.flush_bytes or self._buffer_reps >= self.flush_replicates
                or len(self._buffer) >= self.flush_chunks):
            self.flush()

    def _buffer_chunk(self, point: str, reps: np.ndarray, tables: dict[str, pa.Table]) -> int:
        """Buffer results, skipping replicates already complete. Returns how many were new."""
        block = int(reps[0] // BLOCK)
        owner = self._owner.setdefault(point, {}).get(block)
        if owner is None:
            owner = np.full(BLOCK, -1, dtype=np.int32)
            self._owner[point][block] = owner
        fresh = owner[reps % BLOCK] == -1
        if not fresh.any():
            return 0
        if not fresh.all():
            reps = reps[fresh]
            tables = {name: bundles.take(t, reps) for name, t in tables.items()}
        chunk = Chunk(point, block, reps, tables=tables)
        owner[reps % BLOCK] = -2  # buffered: complete, not yet in a bundle
        self._buffer.append(chunk)
        self._buffer_bytes += sum(t.nbytes for t in tables.values())
        self._buffer_reps += len(reps)
        return len(reps)

    def flush(self) -> None:
        """Write everything buffered as one bundle, then clear the journal.

        Raises:
            OSError: a bundle file could not be written (nothing is lost: the journal stays).
        """
        if not self._buffer:
            return
        merged: dict[tuple[str, int], list[Chunk]] = {}
        for chunk in self._buffer:
            merged.setdefault((chunk.point, chunk.block), []).append(chunk)
        chunks = [_merge(parts) for _, parts in sorted(merged.items())]
        stem = f"{self.session}-{self._seq:05d}"
        bundle = bundles.write_bundle(self.shard_dir, stem, chunks, self.points)
        self._seq += 1
        self._buffer, self._buffer_bytes, self._buffer_reps = [], 0, 0
        for chunk in chunks:  # the -2 marks become chunk indices
            self._owner[chunk.point][chunk.block][chunk.reps % BLOCK] = -1
        self._register(bundle)
        self._journal.checkpoint()
        self.stats["bundles_written"] += 1
        self.stats["files_written"] += len(TABLES)

    # --------------------------------------------------------------------------- failures

    def _load_failures(self) -> None:
        self._failures = {}
        self._failure_lines = 0
        if not self.failure_log.is_file():
            return
        for line in self.failure_log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if isinstance(record, dict) and "run_id" in record:
                self._failures[str(record["run_id"])] = record
                self._failure_lines += 1

    def failures(self) -> dict[str, dict[str, Any]]:
        """Recorded failures by run id (the latest record of each)."""
        return self._failures

    def record_failures(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append failure records to the log (flushed at once)."""
        if not records:
            return
        self.failure_log.parent.mkdir(parents=True, exist_ok=True)
        with self.failure_log.open("a", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(dict(record), sort_keys=True, default=str) + "\n")
                self._failures[str(record["run_id"])] = dict(record)
                self._failure_lines += 1

    def forget_failures(self, run_ids: set[str]) -> None:
        """Drop records of replicates that have since completed (rewritten at ``close``)."""
        for rid in run_ids:
            self._failures.pop(rid, None)

    def close(self) -> None:
        """Close the journal; rewrite the failure log if it holds superseded records."""
        self._journal.close()
        if self._failure_lines != len(self._failures) and self.failure_log.parent.is_dir():
            text = "".join(
                json.dumps(r, sort_keys=True, default=str) + "\n" for r in self._failures.values()
            )
            tmp = bundles.tmp_path(self.failure_log)
            try:
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, self.failure_log)
                self._failure_lines = len(self._failures)
            except OSError:
                pass  # superseded records are harmless; the next run tries again
            finally:
                tmp.unlink(missing_ok=True)


def _merge(parts: list[Chunk]) -> Chunk:
    """One chunk from buffered chunks of the same point and block, rows sorted by replicate.

    Tasks hand out ranges of replicates, so the parts are usually disjoint ranges: put in order
    of their first replicate they are already sorted and are concatenated without a copy (a
    flush then holds the buffer once, not twice). Interleaved parts are sorted (stably).
    """
    if len(parts) == 1:
        return parts[0]
    parts = sorted(parts, key=lambda c: int(c.reps[0]))
    reps = np.concatenate([c.reps for c in parts])
    ordered = bool(np.all(np.diff(reps) > 0))
    tables = {}
    for name in TABLES:
        table = frames.concat([c.tables[name] for c in parts])  # type: ignore[index]
        tables[name] = table if ordered else table.take(pc.sort_indices(table.column(REPLICATE)))
    return Chunk(parts[0].point, parts[0].block, reps if ordered else np.sort(reps),
                 tables=tables)


def completed_replicates(out_dir: str | os.PathLike[str]) -> dict[str, set[int]]:
    """Replicates complete in a run folder, by point hash: trusted bundles and journal records.

    Read-only and lock-free (a run may be writing): for tests, tools and progress checks.
    """
    shard_dir = Path(out_dir).resolve() / "shards"
    out: dict[str, set[int]] = {}
    for stem in bundles.stems(shard_dir):
        try:
            bundle = bundles.inspect(shard_dir, stem)
        except (BundleProblem, OSError):
            continue
        for chunk in bundle.chunks:
            out.setdefault(chunk.point, set()).update(int(r) for r in chunk.reps)
    for path in journal.segments(shard_dir / "journal"):
        try:
            records, _ = journal.read_segment(path)
        except OSError:
            continue
        for header, _ in records:
            try:
                reps = bundles.expand(header["reps"])
                out.setdefault(str(header["point"]), set()).update(int(r) for r in reps)
            except (KeyError, TypeError, ValueError):
                continue
    return out
