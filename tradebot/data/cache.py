"""The OHLCV file cache: one Parquet file per (exchange, symbol, timeframe).

Layout under ``root`` (``$TRADEBOT_HOME/data``)::

    <exchange>/<BASE>_<QUOTE>[_<SETTLE>]-<timeframe>.parquet   e.g. binance/BTC_USDT-1h.parquet

Columns ``timestamp`` (int64 ms) and ``open, high, low, close, volume`` (float64),
zstd-compressed; exchange, symbol and timeframe are stored in the schema metadata, and
``allow_implausible`` when the file was imported with prices above
:data:`~tradebot.data.validation.MAX_PRICE` on purpose (``--allow-implausible``).
Writes are atomic and validated first (bad data never replaces good data); every load
is validated too. See docs/decisions/0002-candle-cache-format.md.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from tradebot.core.atomic import atomic_path
from tradebot.core.candles import COLUMNS, Candles
from tradebot.core.errors import DataNotFoundError, DataValidationError, UsageError
from tradebot.core.timeframes import timeframe_ms
from tradebot.data.validation import MAX_PRICE, GapReport, validate_candles

__all__ = ["CacheEntry", "CachedFile", "CandleCache", "FORMAT_VERSION", "sha256_file"]

FORMAT_VERSION = "1"
_META_PREFIX = "tradebot."
_EXCHANGE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_PART = r"[A-Za-z0-9][A-Za-z0-9-]{0,63}"
_SYMBOL_RE = re.compile(rf"{_PART}(?:/{_PART})?(?::{_PART})?")
_TIMEFRAME_RE = re.compile(r"[1-9][0-9]{0,3}[smhdw]")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class CachedFile:
    """What :meth:`CandleCache.save` wrote."""

    path: Path
    sha256: str
    rows: int
    start_ms: int | None
    end_ms: int | None
    gap_report: GapReport
    exchange: str = ""
    symbol: str = ""
    timeframe: str = ""


@dataclass(frozen=True)
class CacheEntry:
    """One file found by :meth:`CandleCache.scan`, from its Parquet footer only (cheap).

    ``error`` is set (and the other fields may be empty) for a file that is not a
    readable tradebot candle file.
    """

    path: Path
    exchange: str
    symbol: str
    timeframe: str
    rows: int
    start_ms: int | None
    end_ms: int | None
    size_bytes: int
    error: str | None = None


def _check_names(exchange: str, symbol: str, timeframe: str) -> tuple[str, str, str]:
    """Validate (and normalise the exchange id to lower case) so no path can escape root."""
    ex = exchange.strip().lower() if isinstance(exchange, str) else exchange
    if not isinstance(ex, str) or not _EXCHANGE_RE.fullmatch(ex):
        raise UsageError(f"invalid exchange id {exchange!r}: expected letters, digits, '_' or '-'")
    if not isinstance(symbol, str) or not _SYMBOL_RE.fullmatch(symbol):
        raise UsageError(
            f"invalid symbol {symbol!r}: expected BASE/QUOTE or BASE/QUOTE:SETTLE "
            "(letters, digits and '-'), e.g. BTC/USDT"
        )
    if not isinstance(timeframe, str) or not _TIMEFRAME_RE.fullmatch(timeframe):
        raise UsageError(f"invalid timeframe {timeframe!r}: expected e.g. 1m, 5m, 1h, 1d")
    timeframe_ms(timeframe)
    return ex, symbol, timeframe


def _dataset(exchange: str, symbol: str, timeframe: str) -> str:
    return f"{exchange} {symbol} {timeframe}"


class CandleCache:
    """Parquet candle files under ``root`` (normally ``$TRADEBOT_HOME/data``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"CandleCache({str(self.root)!r})"

    def path_for(self, exchange: str, symbol: str, timeframe: str) -> Path:
        """``root/<exchange>/<BASE_QUOTE>-<timeframe>.parquet``; refuses unsafe names."""
        ex, sym, tf = _check_names(exchange, symbol, timeframe)
        name = sym.replace("/", "_").replace(":", "_")
        path = self.root / ex / f"{name}-{tf}.parquet"
        # belt and braces: the regexes already make this impossible
        if os.path.commonpath([os.path.abspath(path), os.path.abspath(self.root)]) != \
                os.path.abspath(self.root):
            raise UsageError(f"refusing cache path outside {self.root}: {path}")
        return path

    def exists(self, exchange: str, symbol: str, timeframe: str) -> bool:
        return self.path_for(exchange, symbol, timeframe).is_file()

    def save(self, candles: Candles, allow_implausible: bool = False) -> CachedFile:
        """Validate ``candles`` and atomically replace its cache file.

        ``candles.exchange``, ``symbol`` and ``timeframe`` name the file. Raises
        ``DataValidationError`` (and writes nothing) if the candles are invalid.
        ``allow_implausible``: prices above ``MAX_PRICE`` are kept, and the file says so
        (its loads accept them too).
        """
        if not (candles.exchange and candles.symbol and candles.timeframe):
            raise UsageError(
                "cannot cache candles without exchange, symbol and timeframe "
                f"(got {candles.exchange!r}, {candles.symbol!r}, {candles.timeframe!r})"
            )
        ex, sym, tf = _check_names(candles.exchange, candles.symbol, candles.timeframe)
        validate_candles(candles, _dataset(ex, sym, tf), timeframe_ms(tf),
                         None if allow_implausible else MAX_PRICE)
        return self._write(ex, sym, tf, iter([_rows_of(candles)]), allow_implausible)

    def extend(self, exchange: str, symbol: str, timeframe: str,
               before: np.ndarray | None = None, after: np.ndarray | None = None) -> CachedFile:
        """Atomically rewrite the cache file as ``before`` + the cached candles + ``after``.

        ``before``/``after`` are ``(n, 6)`` arrays (open time, O, H, L, C, V) that must lie
        entirely before / after the cached range; either may be empty. The file is
        streamed one row group at a time, so memory stays flat however large it is.
        Without a cached file, ``before`` + ``after`` become the file.
        """
        ex, sym, tf = _check_names(exchange, symbol, timeframe)
        path = self.path_for(ex, sym, tf)

        def chunks():  # type: ignore[no-untyped-def]
            if before is not None and len(before):
                yield _split_rows(before)
            if path.is_file():
                yield from self._stream(ex, sym, tf)
            if after is not None and len(after):
                yield _split_rows(after)

        return self._write(ex, sym, tf, chunks(), path.is_file() and _allows_implausible(path))

    def gap_report(self, exchange: str, symbol: str, timeframe: str) -> GapReport:
        """Validate the cache file one row group at a time and report its gaps."""
        ex, sym, tf = _check_names(exchange, symbol, timeframe)
        path = self.path_for(ex, sym, tf)
        if not path.is_file():
            raise DataNotFoundError(f"no cached candles for {_dataset(ex, sym, tf)}: {path} does not exist")
        checker = _StreamCheck(str(path), timeframe_ms(tf), _allows_implausible(path))
        for chunk in self._stream(ex, sym, tf):
            checker.add(chunk)
        return checker.report()

    def _stream(self, ex: str, sym: str, tf: str) -> Iterator[tuple[np.ndarray, ...]]:
        """The cached file's columns, one row group at a time."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path_for(ex, sym, tf)
        try:
            f = pq.ParquetFile(path)
            _check_schema(f.schema_arrow, path)
            for i in range(f.num_row_groups):
                table = f.read_row_group(i, columns=list(COLUMNS))
                yield tuple(_column(table, c, np.int64 if c == "timestamp" else np.float64, path)
                            for c in COLUMNS)
        except (pa.ArrowException, OSError, ValueError) as e:
            raise DataValidationError(
                f"{path}: corrupt or unreadable Parquet file ({_first_line(e)})"
            ) from e

    def _write(self, ex: str, sym: str, tf: str, chunks: Iterator[tuple[np.ndarray, ...]],
               allow_implausible: bool = False) -> CachedFile:
        """Write ``chunks`` (validated on the way) as fixed-size row groups, atomically.

        Fixed row groups make the bytes depend only on the content: the same candles give
        the same file however they arrived.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path_for(ex, sym, tf)
        checker = _StreamCheck(_dataset(ex, sym, tf), timeframe_ms(tf), allow_implausible)
        metadata = {
            f"{_META_PREFIX}exchange": ex,
            f"{_META_PREFIX}symbol": sym,
            f"{_META_PREFIX}timeframe": tf,
            f"{_META_PREFIX}format": FORMAT_VERSION,
        }
        if allow_implausible:
            metadata[f"{_META_PREFIX}allow_implausible"] = "1"
        schema = pa.schema(
            [pa.field("timestamp", pa.int64(), nullable=False)]
            + [pa.field(c, pa.float64(), nullable=False) for c in COLUMNS[1:]],
            metadata=metadata,
        )
        with atomic_path(path) as tmp:
            with pq.ParquetWriter(tmp, schema, compression="zstd",
                                  write_statistics=["timestamp"]) as writer:
                pending: list[tuple[np.ndarray, ...]] = []
                held = 0

                def flush(final: bool) -> None:
                    nonlocal pending, held
                    if not held:
                        return
                    cols = [np.concatenate([p[i] for p in pending]) for i in range(6)]
                    cut = held if final else (held // ROW_GROUP) * ROW_GROUP
                    for lo in range(0, cut, ROW_GROUP):
                        hi = min(lo + ROW_GROUP, cut)
                        writer.write_table(pa.Table.from_arrays(
                            [_arrow(col[lo:hi], f.type) for col, f in zip(cols, schema, strict=True)],
                            schema=schema))
                    pending = [tuple(col[cut:] for col in cols)] if cut < held else []
                    held -= cut

                for chunk in chunks:
                    checker.add(chunk)
                    pending.append(chunk)
                    held += len(chunk[0])
                    if held >= ROW_GROUP:
                        flush(final=False)
                flush(final=True)
            report = checker.report()
            digest = sha256_file(tmp)
        return CachedFile(path, digest, report.rows, report.start_ms, report.end_ms, report,
                          ex, sym, tf)

    def load(self, exchange: str, symbol: str, timeframe: str) -> Candles:
        """Read and validate one cache file; ``source`` is ``"cache"``.

        ``meta`` holds ``path`` and ``gap_report``. Raises ``DataNotFoundError`` naming
        the expected path if there is no file, ``DataValidationError`` naming the file if
        it is corrupt, not a candle file, for another market, or fails validation.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        ex, sym, tf = _check_names(exchange, symbol, timeframe)
        path = self.path_for(ex, sym, tf)
        if not path.is_file():
            raise DataNotFoundError(
                f"no cached candles for {_dataset(ex, sym, tf)}: {path} does not exist"
            )
        try:
            with pq.ParquetFile(path) as f:
                _check_schema(f.schema_arrow, path)
                meta = _metadata(f.schema_arrow)
                table = f.read(columns=list(COLUMNS), use_threads=True)
        except (pa.ArrowException, OSError, ValueError) as e:
            raise DataValidationError(
                f"{path}: corrupt or unreadable Parquet file ({_first_line(e)})"
            ) from e
        stored = (meta.get("exchange"), meta.get("symbol"), meta.get("timeframe"))
        if stored != (ex, sym, tf):
            raise DataValidationError(
                f"{path}: file holds {' '.join(str(s) for s in stored)}, "
                f"expected {_dataset(ex, sym, tf)}"
            )
        arrays = [_column(table, c, np.int64 if c == "timestamp" else np.float64, path)
                  for c in COLUMNS]
        ts, open_, high, low, close, volume = arrays  # always the six COLUMNS
        candles = Candles(ts, open_, high, low, close, volume, exchange=ex, symbol=sym,
                          timeframe=tf, source="cache", meta={"path": str(path)})
        top = None if meta.get("allow_implausible") == "1" else MAX_PRICE
        candles.meta["gap_report"] = validate_candles(candles, str(path), timeframe_ms(tf), top)
        return candles

    def info(self, exchange: str, symbol: str, timeframe: str) -> CacheEntry:
        """Footer-only summary of one file (``DataNotFoundError`` if missing)."""
        path = self.path_for(exchange, symbol, timeframe)
        if not path.is_file():
            raise DataNotFoundError(f"no cached candles: {path} does not exist")
        return _entry(path)

    def scan(self) -> list[CacheEntry]:
        """Every ``*.parquet`` under ``root/<exchange>/``, sorted by path.

        Reads only the Parquet footers (exchange, symbol and timeframe come from the
        schema metadata). Unreadable files are listed with ``error`` set rather than
        failing the scan.
        """
        if not self.root.is_dir():
            return []
        return [_entry(p) for p in sorted(self.root.glob("*/*.parquet")) if p.is_file()]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


ROW_GROUP = 1 << 17  # rows per Parquet row group (fixed: same content, same bytes)


def _rows_of(c: Candles) -> tuple[np.ndarray, ...]:
    return (np.ascontiguousarray(c.timestamp, dtype=np.int64),
            *(np.ascontiguousarray(getattr(c, name), dtype=np.float64) for name in COLUMNS[1:]))


def _split_rows(rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(n, 6)`` float rows as six contiguous columns (timestamp as int64)."""
    return (rows[:, 0].astype(np.int64),
            *(np.ascontiguousarray(rows[:, i], dtype=np.float64) for i in range(1, 6)))


class _StreamCheck:
    """Validates consecutive chunks and joins their gap reports (row numbers run on)."""

    def __init__(self, source: str, tf_ms: int, allow_implausible: bool = False) -> None:
        self.source = source
        self.tf = tf_ms
        self.max_price = None if allow_implausible else MAX_PRICE
        self.rows = 0
        self.gaps: list[tuple[int, int, int]] = []
        self.start: int | None = None
        self.end: int | None = None

    def add(self, chunk: tuple[np.ndarray, ...]) -> None:
        ts = chunk[0]
        if not len(ts):
            return
        cols = cast("tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]", chunk)
        part = validate_candles(Candles(*cols), f"{self.source} (from row {self.rows + 1})", self.tf,
                                self.max_price)
        first = int(ts[0])
        if self.end is not None:
            if first <= self.end:
                raise DataValidationError(
                    f"{self.source}: row {self.rows + 1}: timestamp {first} is not after the "
                    f"previous row's {self.end} (unsorted or duplicate)"
                )
            missing = (first - self.end) // self.tf - 1
            if missing > 0:
                self.gaps.append((self.end + self.tf, first - self.tf, missing))
        else:
            self.start = first
        self.gaps.extend(part.gaps)
        self.rows += len(ts)
        self.end = int(ts[-1])

    def report(self) -> GapReport:
        if not self.rows:
            raise DataValidationError(f"{self.source}: no candles (empty)")
        return GapReport(self.rows, self.gaps, self.tf, self.start, self.end)


def _metadata(schema: object) -> dict[str, str]:
    raw = getattr(schema, "metadata", None) or {}
    out: dict[str, str] = {}
    for k, v in raw.items():
        key = k.decode("utf-8", "replace")
        if key.startswith(_META_PREFIX):
            out[key[len(_META_PREFIX):]] = v.decode("utf-8", "replace")
    return out


def _allows_implausible(path: Path) -> bool:
    """Whether the file was imported with ``--allow-implausible`` (unreadable: no)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return _metadata(pq.read_schema(path)).get("allow_implausible") == "1"
    except (pa.ArrowException, OSError, ValueError):
        return False


def _check_schema(schema: object, path: Path) -> None:
    import pyarrow as pa

    assert isinstance(schema, pa.Schema)
    for c in COLUMNS:
        if c not in schema.names:
            raise DataValidationError(f"{path}: not a candle file (no column {c!r})")
        t = schema.field(c).type
        ok = pa.types.is_integer(t) if c == "timestamp" else pa.types.is_floating(t)
        if not ok:
            raise DataValidationError(f"{path}: column {c!r} has type {t}, expected "
                                      f"{'int64' if c == 'timestamp' else 'float64'}")


def _chunk_values(chunk: Any) -> np.ndarray:
    """The values of a null-free numeric Arrow array, as a numpy view of its data buffer."""
    import pyarrow as pa

    t = chunk.type
    kind = "float" if pa.types.is_floating(t) else ("uint" if pa.types.is_unsigned_integer(t) else "int")
    dt = np.dtype(f"{kind}{t.bit_width}")
    return np.frombuffer(chunk.buffers()[1], dtype=dt, count=len(chunk), offset=chunk.offset * dt.itemsize)


def _column(table: object, name: str, dtype: type, path: Path) -> np.ndarray:
    """A writable, contiguous numpy array for one column (copy only when arrow shares memory)."""
    col = table.column(name)  # type: ignore[attr-defined]
    if col.null_count:
        row = int(np.argmax(col.is_null().to_numpy(zero_copy_only=False))) + 1
        raise DataValidationError(f"{path}: row {row}: {name} is null")
    # straight from the Arrow buffers: to_numpy() imports pandas (~0.3 s of a cron run)
    chunks = [_chunk_values(c) for c in col.chunks]
    if not chunks:
        return np.empty(0, dtype=dtype)
    arr: np.ndarray = (np.ascontiguousarray(chunks[0], dtype=dtype) if len(chunks) == 1
                       else np.concatenate(chunks).astype(dtype, copy=False))
    return arr if arr.flags.writeable else arr.copy()


def _entry(path: Path) -> CacheEntry:
    import pyarrow as pa
    import pyarrow.parquet as pq

    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PAR1":
                raise DataValidationError(f"{path}: not a Parquet file")
        md = pq.read_metadata(path)
        schema = md.schema.to_arrow_schema()
        _check_schema(schema, path)
        meta = _metadata(schema)
        rows = md.num_rows
        start = end = None
        ts_index = schema.get_field_index("timestamp")
        if rows:
            first = md.row_group(0).column(ts_index).statistics
            last = md.row_group(md.num_row_groups - 1).column(ts_index).statistics
            if first is not None and first.has_min_max and last is not None \
                    and last.has_min_max:
                start, end = int(first.min), int(last.max)
            else:
                ts = pq.read_table(path, columns=["timestamp"]).column(0).to_numpy()
                start, end = int(ts[0]), int(ts[-1])
    except (pa.ArrowException, OSError, ValueError, DataValidationError) as e:
        return CacheEntry(path, "", "", "", 0, None, None, size,
                          _first_line(e).removeprefix(f"{path}: "))
    return CacheEntry(path, meta.get("exchange", ""), meta.get("symbol", ""),
                      meta.get("timeframe", ""), rows, start, end, size,
                      None if meta.get("exchange") else "no tradebot metadata")


def _arrow(values: np.ndarray, typ: Any) -> Any:
    """A null-free Arrow array over ``values``' buffer: ``pa.array(ndarray)`` imports pandas
    (~0.3 s of a cron step that writes new candles); the same column, byte for byte."""
    import pyarrow as pa

    col = np.ascontiguousarray(values, dtype=typ.to_pandas_dtype())
    return pa.Array.from_buffers(typ, len(col), [None, pa.py_buffer(col)])
