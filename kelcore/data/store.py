"""The packed feature store: every sequence of one preparation in one buffer, read back as read-only views.

Why: the prepared data is the memory of a large preparation (LMD-full's 176,581 melodies hold ~2.4 GB of float32
inputs). Held in numpy arrays it is anonymous memory, which only swap can free; views into a memory-mapped file are
page cache: the kernel reads pages in when the trainer touches them and may drop them again (they are clean copies of
the file). So the extracted sequences are streamed into the store as they come, and ``Sequence.inputs`` /
``targets`` become views into it. A small store (up to :data:`SPILL_BYTES`, e.g. any demo corpus) stays in one
in-memory buffer with the same layout and the same read-only views: no file, no system call, nothing slower than
plain arrays; past that size the writer moves what it holds into the file and goes on there.

Layout (little-endian)::

    header   b"KELPACK\\0", format version (u32), 4 reserved bytes                       16 bytes
    inputs   every record's inputs, raw float32 in C order, one after another
    targets  every record's targets, likewise (apart from the inputs: reading them all touches only this part)
    index    int64 [count, 12]: inputs offset, targets offset, inputs ndim, targets ndim, 4 + 4 dimensions
    footer   b"KELPEND\\0", index offset (u64), count (u64), crc32 of the index (u32), 4 reserved bytes  32 bytes

:class:`PackedWriter` fills a temp file beside the store (named with the writing process's id) and renames it over
the store only in :meth:`PackedWriter.commit`, so a killed run never leaves a store under its final name; the temp
file of a process that no longer runs is removed by the next writer of the same store. :func:`open_store` refuses
(:class:`TornStore`) any file whose header, footer, size, index checksum or record bounds do not hold.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import struct
import tempfile
import zlib
from array import array
from pathlib import Path
from types import TracebackType
from typing import IO, Callable, Iterable

import numpy as np

MAGIC = b"KELPACK\0"
END = b"KELPEND\0"
VERSION = 1
MAX_DIMS = 4
_HEADER = struct.Struct("<8sI4x")
_FOOTER = struct.Struct("<8sQQI4x")
_COLUMNS = 4 + 2 * MAX_DIMS
_PADDING = [(0,) * (MAX_DIMS - ndim) for ndim in range(MAX_DIMS + 1)]
_ITEM = np.dtype(np.float32).itemsize
CHUNK_BYTES = 16 << 20  # what one read/write of an in-place update (normalisation) moves at most, roughly
#: A store stays in memory up to this many bytes of features, and goes to its file past them.
SPILL_BYTES = 32 << 20

__all__ = ["PackedStore", "PackedWriter", "TornStore", "open_store", "CHUNK_BYTES", "SPILL_BYTES"]


class TornStore(ValueError):
    """A file that is not a complete packed store (a torn write, a truncated copy, another file): never used."""


class PackedStore:
    """A complete store: :meth:`pair` gives one record's (inputs, targets) as read-only views.

    The views are plain read-only ``ndarray`` objects over one buffer: an ``np.memmap`` of the file (``path``), or
    the writer's memory for a small store (``path`` None). They keep that buffer alive, so the file may be renamed
    or replaced on disk while they are in use.
    """

    def __init__(self, path: Path | None, buffer: np.memmap | memoryview, index: np.ndarray) -> None:
        self.path = path
        self._map = buffer
        self._index = index

    def __len__(self) -> int:
        return len(self._index)

    def pair(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """Record ``slot``'s (inputs, targets) as read-only float32 views into the store."""
        row = self._index[slot].tolist()
        return self._view(row[0], _shape(row, 0)), self._view(row[1], _shape(row, 1))

    def _view(self, offset: int, shape: tuple[int, ...]) -> np.ndarray:
        return np.ndarray(shape, dtype=np.float32, buffer=self._map, offset=offset)

    def extent(self, slot: int) -> tuple[int, tuple[int, ...]]:
        """(byte offset, shape) of record ``slot``'s inputs."""
        row = self._index[slot].tolist()
        return row[0], _shape(row, 0)


def _shape(row: list[int], which: int) -> tuple[int, ...]:
    start = 4 + which * MAX_DIMS
    return tuple(row[start:start + row[2 + which]])


def _row(inputs_at: int, inputs: np.ndarray, targets_at: int, targets: np.ndarray) -> tuple[int, ...]:
    """One index row: offsets, dimensions and the shapes padded with zeros to :data:`MAX_DIMS`."""
    return ((inputs_at, targets_at, inputs.ndim, targets.ndim) + inputs.shape + _PADDING[inputs.ndim]
            + targets.shape + _PADDING[targets.ndim])


def open_store(path: Path) -> PackedStore:
    """Map a complete store read-only, or raise :class:`TornStore` saying what does not hold."""
    path = Path(path)
    size = path.stat().st_size
    if size < _HEADER.size + _FOOTER.size:
        raise TornStore(f"{path}: {size} bytes, too short to be a packed feature store")
    with open(path, "rb") as handle:
        magic, version = _HEADER.unpack(handle.read(_HEADER.size))
        handle.seek(size - _FOOTER.size)
        end, index_at, count, crc = _FOOTER.unpack(handle.read(_FOOTER.size))
        if magic != MAGIC or version != VERSION or end != END:
            raise TornStore(f"{path}: not a complete packed feature store (header or footer missing: a torn write?)")
        if index_at + count * _COLUMNS * 8 + _FOOTER.size != size:
            raise TornStore(f"{path}: the footer's index does not end where the file does (torn or truncated)")
        handle.seek(index_at)
        raw = handle.read(count * _COLUMNS * 8)
    if zlib.crc32(raw) != crc:
        raise TornStore(f"{path}: the index does not match its checksum")
    index = np.frombuffer(raw, dtype="<i8").reshape(count, _COLUMNS)
    _check_bounds(path, index, index_at)
    return _mapped(path, index)


def _mapped(path: Path, index: np.ndarray) -> PackedStore:
    return PackedStore(path, np.memmap(path, dtype=np.uint8, mode="r"), index)


def _check_bounds(path: Path, index: np.ndarray, data_end: int) -> None:
    """Every record lies between the header and the index (a wrong index never maps outside the data)."""
    for which in (0, 1):
        ndim = index[:, 2 + which]
        dims = index[:, 4 + which * MAX_DIMS:4 + (which + 1) * MAX_DIMS]
        used = np.arange(MAX_DIMS)[None, :] < ndim[:, None]
        nbytes = np.where(used, dims, 1).prod(axis=1) * _ITEM
        starts = index[:, which]
        if ((ndim < 0) | (ndim > MAX_DIMS) | (dims < 0).any(axis=1) | (starts < _HEADER.size)
                | (starts + nbytes > data_end)).any():
            raise TornStore(f"{path}: a record lies outside the file's data")


class PackedWriter:
    """Streams (inputs, targets) records into a new store; nothing appears under ``path`` before :meth:`commit`.

    Records are held in memory until they pass ``spill_bytes`` (default :data:`SPILL_BYTES`), then everything goes
    to a temp file beside ``path``. Use as a context manager: leaving the block by an exception removes the temp
    files::

        with PackedWriter(run_dir / "features.kelpack") as writer:
            slot = writer.append(inputs, targets)      # any number of times, in any order of the data
            store = writer.finish()                    # the records as views (a file: still under the temp name)
            writer.update_inputs(slots, transform)     # optional: rewrite records' inputs in place, chunk-wise
            writer.commit()                            # a file: renamed over ``path``
    """

    def __init__(self, path: Path, spill_bytes: int | None = None) -> None:
        self.path = Path(path)
        self._spill_bytes = SPILL_BYTES if spill_bytes is None else spill_bytes
        self._tmp: Path | None = None  # the temp file, once spilled
        self._file: IO[bytes] = io.BytesIO()
        self._targets: IO[bytes] = io.BytesIO()
        self._file.write(_HEADER.pack(MAGIC, VERSION))
        self._inputs_end = _HEADER.size
        self._targets_end = 0
        self._rows = array("q")  # the index, flat: 12 int64 a record
        self._store: PackedStore | None = None

    def __enter__(self) -> "PackedWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is not None:
            self.discard()

    @property
    def on_disk(self) -> bool:
        """Whether the records went to the file (past ``spill_bytes``)."""
        return self._tmp is not None

    def append(self, inputs: np.ndarray, targets: np.ndarray) -> int:
        """Write one record (converted to float32, as the in-memory path would); returns its slot number."""
        if self._store is not None:
            raise RuntimeError("PackedWriter.append after finish()")
        inputs = np.asarray(inputs, dtype=np.float32)
        targets = np.asarray(targets, dtype=np.float32)
        for part in (inputs, targets):
            if not 1 <= part.ndim <= MAX_DIMS:
                raise ValueError(f"a packed record holds arrays of 1 to {MAX_DIMS} dimensions, not {part.shape}")
        self._rows.extend(_row(self._inputs_end, inputs, self._targets_end, targets))
        self._inputs_end += _write(self._file, inputs)
        self._targets_end += _write(self._targets, targets)
        if self._tmp is None and self._inputs_end + self._targets_end > self._spill_bytes:
            self._spill()
        return len(self._rows) // _COLUMNS - 1

    def _spill(self) -> None:
        """Move the records held in memory into a new temp file (and temp targets file) and go on there."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(self.path)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.{os.getpid()}.", suffix=".tmp")
        self._tmp = Path(tmp)
        held, held_targets = self._file, self._targets
        self._file = os.fdopen(fd, "w+b", buffering=1 << 20)
        self._targets = tempfile.TemporaryFile(dir=self.path.parent)
        self._file.write(held.getbuffer())  # type: ignore[attr-defined]
        self._targets.write(held_targets.getbuffer())  # type: ignore[attr-defined]

    def finish(self) -> PackedStore:
        """Append the targets, the index and the footer; return the store (a file: mapped, still the temp file)."""
        self._targets.seek(0)
        shutil.copyfileobj(self._targets, self._file)
        self._targets.close()
        index = np.frombuffer(self._rows, dtype=np.int64).astype("<i8").reshape(-1, _COLUMNS)
        index[:, 1] += self._inputs_end  # targets offsets were counted from the start of the targets part
        self._rows = array("q")
        raw = index.tobytes()
        self._file.write(raw)
        self._file.write(_FOOTER.pack(END, self._inputs_end + self._targets_end, len(index), zlib.crc32(raw)))
        self._file.flush()
        if self._tmp is None:  # what was just written: open_store's checks are for other files
            self._store = PackedStore(None, self._memory().toreadonly(), index)
        else:
            self._store = _mapped(self._tmp, index)
        return self._store

    def update_inputs(self, slots: Iterable[int], transform: Callable[[np.ndarray], np.ndarray],
                      chunk_bytes: int = CHUNK_BYTES) -> None:
        """Replace the inputs of ``slots`` by ``transform(inputs)`` (same shape, float32). On disk, with plain
        reads and writes of about ``chunk_bytes`` at a time into one reused buffer: the mapping is never written
        to, only the file under it."""
        store = self._require_store()
        extents = sorted(e for e in map(store.extent, set(slots)) if _nbytes(e[1]))
        chunks = list(_chunks(extents, chunk_bytes))
        scratch = memoryview(bytearray(max((_span(c) for c in chunks), default=0) if self.on_disk else 0))
        for chunk in chunks:
            start, data = chunk[0][0], self._load(chunk, scratch)
            for offset, shape in chunk:
                array = np.frombuffer(data, np.float32, int(np.prod(shape)), offset - start).reshape(shape)
                array[...] = transform(array)
            if self.on_disk:
                self._file.seek(start)
                self._file.write(data)
        self._file.flush()

    def _load(self, chunk: list[tuple[int, tuple[int, ...]]], scratch: memoryview) -> memoryview:
        """The bytes of ``chunk``, writable: read into ``scratch`` from the file, or the memory itself."""
        start, size = chunk[0][0], _span(chunk)
        if not self.on_disk:
            return self._memory()[start:start + size]
        self._file.seek(start)
        if self._file.readinto(scratch[:size]) != size:  # type: ignore[attr-defined]
            raise OSError(f"{self._tmp}: short read while updating the packed store")
        return scratch[:size]

    def _memory(self) -> memoryview:
        return self._file.getbuffer()  # type: ignore[attr-defined]

    def commit(self) -> PackedStore:
        """A file: rename it over ``path`` (atomic); the views already handed out stay valid. In memory: remove
        an older store at ``path`` (a preparation's folder holds its own store or none).

        No fsync: the store is written again by every preparation and never read by another one, so only a
        killed process matters (the rename covers it), not a power cut."""
        store = self._require_store()
        if self._tmp is None:  # the memory stays open: the views read it
            self.path.unlink(missing_ok=True)
        else:
            self._file.close()
            os.replace(self._tmp, self.path)
            store.path = self.path
        return store

    def discard(self) -> None:
        """Remove the temp files (an unfinished or unwanted store)."""
        if self._tmp is not None:
            for handle in (self._file, self._targets):
                handle.close()
            self._tmp.unlink(missing_ok=True)

    def _require_store(self) -> PackedStore:
        if self._store is None:
            raise RuntimeError("PackedWriter: call finish() first")
        return self._store


def _write(handle: IO[bytes], array: np.ndarray) -> int:
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    if array.nbytes:
        handle.write(array)  # type: ignore[arg-type] - a C-contiguous array is a bytes-like object
    return array.nbytes


def _nbytes(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape)) * _ITEM


def _span(chunk: list[tuple[int, tuple[int, ...]]]) -> int:
    """Bytes from the first record's inputs to the end of the last one's."""
    return chunk[-1][0] + _nbytes(chunk[-1][1]) - chunk[0][0]


def _chunks(extents: list[tuple[int, tuple[int, ...]]], chunk_bytes: int
            ) -> Iterable[list[tuple[int, tuple[int, ...]]]]:
    """Consecutive runs of extents (sorted by offset) spanning about ``chunk_bytes`` each (one record at least)."""
    chunk: list[tuple[int, tuple[int, ...]]] = []
    for extent in extents:
        if chunk and extent[0] + _nbytes(extent[1]) - chunk[0][0] > chunk_bytes:
            yield chunk
            chunk = []
        chunk.append(extent)
    if chunk:
        yield chunk


def _remove_stale_temps(path: Path) -> None:
    """Temp files of this store left by writers that were killed (their process no longer runs)."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\..*\.tmp$")
    for candidate in path.parent.glob(f".{path.name}.*.tmp"):
        match = pattern.match(candidate.name)
        if match and not _running(int(match.group(1))):
            candidate.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
