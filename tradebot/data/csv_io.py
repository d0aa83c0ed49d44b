"""Read and write OHLCV candle CSV files (plain or gzip).

Format: a header row naming at least ``timestamp,open,high,low,close,volume`` (any
order, any case, extra columns ignored; ``date``/``time``/``datetime``/``open_time``
are accepted for the timestamp). Timestamps are candle open times: epoch milliseconds,
epoch seconds (values below 1e11) or ISO-8601 strings (UTC unless an offset is given).
Gzip is detected from the file's magic bytes, not its name.

Parsing uses pyarrow's multi-threaded CSV reader (about 0.2 s per million rows). Any
problem is a one-line :class:`~tradebot.core.errors.DataValidationError` naming the
file, and where it applies the 1-based data row and the column.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.atomic import atomic_path
from tradebot.core.candles import COLUMNS, Candles
from tradebot.core.errors import DataValidationError
from tradebot.data.validation import MAX_PRICE, validate_candles

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["read_candles_csv", "write_candles_csv"]

TIMESTAMP_ALIASES = ("timestamp", "date", "time", "datetime", "open_time")
PRICE_COLUMNS = COLUMNS[1:]
SECONDS_LIMIT = 1e11  # epoch values below this are seconds (1e11 s is the year 5138)
_SAMPLE = 1 << 16
_NULLS = frozenset({"", "nan", "-nan", "na", "n/a", "null", "none", "#n/a", "-1.#ind", "1.#qnan"})

_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3", "an SQLite database"),
    (b"\x7fELF", "an executable"),
    (b"\xff\xfe", "UTF-16 text: save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text: save it as UTF-8"),
)


def _err(src: str, msg: str) -> DataValidationError:
    return DataValidationError(f"{src}: {msg}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _sniff(path: Path, src: str) -> tuple[str | None, str]:
    """Return (compression, first text chunk); refuse missing, empty and binary files."""
    if not path.exists():
        raise _err(src, "file not found")
    if path.is_dir():
        raise _err(src, "is a directory, not a CSV file")
    try:
        with open(path, "rb") as f:
            raw = f.read(_SAMPLE)
        compression = "gzip" if raw[:2] == b"\x1f\x8b" else None
        if compression:
            with gzip.open(path, "rb") as g:
                raw = g.read(_SAMPLE)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise _err(src, f"corrupt gzip file ({_first_line(e)})") from e
    except OSError as e:
        raise _err(src, f"cannot read file: {e.strerror or _first_line(e)}") from e
    if not raw:
        raise _err(src, "empty file" + (" (gzip with no content)" if compression else ""))
    for magic, what in _MAGIC:
        if raw.startswith(magic):
            raise _err(src, f"not a CSV text file (looks like {what})")
    try:
        if b"\x00" in raw:
            raise UnicodeDecodeError("utf-8", raw, raw.index(b"\x00"), raw.index(b"\x00") + 1,
                                     "NUL byte")
        text = codecs.getincrementaldecoder("utf-8")().decode(raw, final=False)
    except UnicodeDecodeError as e:
        raise _err(src, f"not a CSV text file (binary data at byte {e.start})") from e
    return compression, text.lstrip("\ufeff")


def _header(text: str, src: str) -> tuple[list[str], str, int]:
    """Parse the header (first non-blank line): (lower-cased names, delimiter, lines to skip)."""
    line, skip = "", 0
    for i, candidate in enumerate(text.split("\n")):
        if candidate.strip():
            line, skip = candidate.rstrip("\r"), i + 1
            break
    if not line:
        raise _err(src, "empty file (no header row)")
    delim = next((d for d in (",", ";", "\t", "|") if d in line), ",")
    names = [n.strip().lower() for n in next(csv.reader([line], delimiter=delim))]
    return names, delim, skip


def _looks_numeric(name: str) -> bool:
    try:
        float(name)
    except ValueError:
        return False
    return True


def _locate_columns(names: list[str], src: str) -> dict[str, int]:
    """Map each needed column (timestamp, open..volume) to its index in the header."""
    found: dict[str, int] = {}
    for col in PRICE_COLUMNS:
        idx = [i for i, n in enumerate(names) if n == col]
        if len(idx) > 1:
            raise _err(src, f"duplicate column {col!r} in header")
        if idx:
            found[col] = idx[0]
    for alias in TIMESTAMP_ALIASES:
        idx = [i for i, n in enumerate(names) if n == alias]
        if len(idx) > 1:
            raise _err(src, f"duplicate column {alias!r} in header")
        if idx:
            found["timestamp"] = idx[0]
            break
    missing = [c for c in COLUMNS if c not in found]
    if missing:
        shown = ",".join(names)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        if names and all(_looks_numeric(n) for n in names):
            raise _err(src, f"no header row: first line is data ({shown}); expected a header "
                            f"{','.join(COLUMNS)}")
        what = "columns" if len(missing) > 1 else "column"
        raise _err(src, f"missing {what} {', '.join(repr(m) for m in missing)} "
                        f"(header: {shown})")
    return found


def read_candles_csv(path: str | os.PathLike[str], exchange: str = "", symbol: str = "",
                     timeframe: str = "", allow_implausible: bool = False) -> Candles:
    """Read a candle CSV (plain or gzip), validate it and return :class:`Candles`.

    ``source`` is ``"csv"``; ``meta`` holds ``path``, the ``gap_report``
    (:class:`~tradebot.data.validation.GapReport`) and ``timestamp_unit`` (``"ms"``,
    ``"s"`` for epoch seconds converted to milliseconds, or ``"iso"``). If ``timeframe``
    is given, timestamps must be aligned to it and gaps are counted in its units. Prices
    above :data:`~tradebot.data.validation.MAX_PRICE` are refused (with their row) unless
    ``allow_implausible``.
    """
    p = Path(path)
    src = str(p)
    compression, sample = _sniff(p, src)
    names, delim, skip = _header(sample, src)
    where = _locate_columns(names, src)
    unit: list[str] = []  # the timestamp column's unit, told by the parser
    try:
        arrays = _read_fast(p, src, compression, names, delim, where, skip, unit)
    except _SlowPath:
        unit.clear()
        arrays = _read_slow(p, src, compression, names, delim, where, unit)
    ts, open_, high, low, close, volume = arrays  # always the six COLUMNS
    candles = Candles(ts, open_, high, low, close, volume, exchange=exchange, symbol=symbol,
                      timeframe=timeframe, source="csv",
                      meta={"path": src, "timestamp_unit": unit[0] if unit else "ms"})
    report = validate_candles(candles, src, max_price=None if allow_implausible else MAX_PRICE)
    candles.meta["gap_report"] = report
    return candles


class _SlowPath(Exception):
    """The fast reader cannot tell exactly what is wrong (or where): use the slow one."""


def _read_fast(p: Path, src: str, compression: str | None, names: list[str], delim: str,
               where: dict[str, int], skip: int, unit: list[str]) -> list[np.ndarray]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    internal = [f"c{i}" for i in range(len(names))]
    cols = {c: internal[i] for c, i in where.items()}
    read_opts = pacsv.ReadOptions(skip_rows=skip, column_names=internal, block_size=1 << 23)
    parse_opts = pacsv.ParseOptions(delimiter=delim)
    convert_opts = pacsv.ConvertOptions(
        include_columns=[cols[c] for c in COLUMNS],
        column_types={cols[c]: pa.float64() for c in PRICE_COLUMNS},
    )
    try:
        with pa.input_stream(str(p), compression=compression) as stream:
            table = pacsv.read_csv(stream, read_opts, parse_opts, convert_opts)
    except pa.ArrowInvalid as e:
        msg = str(e)
        if "CSV parse error" in msg or "conversion error" in msg or "In CSV column" in msg:
            raise _SlowPath from e
        raise _err(src, f"cannot parse CSV ({_first_line(e)})") from e
    except (pa.ArrowException, OSError) as e:
        raise _err(src, f"cannot read CSV ({_first_line(e)})") from e
    if table.num_rows == 0:
        raise _err(src, "no data rows (header only)")

    out = [_timestamps_from_arrow(table.column(cols["timestamp"]), src, unit)]
    for c in PRICE_COLUMNS:
        column = table.column(cols[c])
        if column.null_count:
            _null_error(src, column, c)
        out.append(_writable(column.to_numpy()))
    return out


def _writable(a: np.ndarray, dtype: Any = np.float64) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=dtype)
    return a if a.flags.writeable else a.copy()


def _null_error(src: str, column: pa.ChunkedArray, name: str) -> None:
    row = int(np.argmax(column.is_null().to_numpy(zero_copy_only=False))) + 1
    raise _err(src, f"row {row}: empty or NaN value in column {name!r}")


def _timestamps_from_arrow(column: pa.ChunkedArray, src: str, unit: list[str]) -> np.ndarray:
    import pyarrow as pa

    if column.null_count:
        _null_error(src, column, "timestamp")
    t = column.type
    if pa.types.is_integer(t):
        return _epoch_to_ms(column.to_numpy().astype(np.int64, copy=False), src, unit)
    if pa.types.is_floating(t):
        return _epoch_to_ms(column.to_numpy(), src, unit)
    unit.append("iso")
    if pa.types.is_timestamp(t):
        # tz-naive values are taken as UTC (arrow stores them as epoch wall-clock time)
        as_ms = column.cast(pa.timestamp("ms", tz=t.tz), safe=False)
        return _writable(as_ms.cast(pa.int64()).to_numpy(), np.int64)
    if pa.types.is_date(t):
        as_ms = column.cast(pa.date64())
        return _writable(as_ms.cast(pa.int64()).to_numpy(), np.int64)
    unit.clear()  # text: the parser tells
    return _parse_timestamp_strings(np.asarray(column.to_numpy(zero_copy_only=False),
                                               dtype=object), src, unit)


def _epoch_to_ms(values: np.ndarray, src: str, unit: list[str]) -> np.ndarray:
    """Epoch numbers to int64 ms; the whole column is seconds if every value is < 1e11
    (``unit`` gets ``"s"`` then, else ``"ms"``)."""
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.argmax(bad)) + 1
            raise _err(src, f"row {row}: timestamp is {float(values[bad][0])!r}")
        scale = 1000.0 if np.abs(values).max() < SECONDS_LIMIT else 1.0
        unit.append("s" if scale > 1 else "ms")
        return np.rint(values * scale).astype(np.int64)
    ms = values.astype(np.int64, copy=False)
    if np.abs(ms).max() < SECONDS_LIMIT:
        unit.append("s")
        return ms * 1000
    unit.append("ms")
    return _writable(ms, np.int64)


def _parse_timestamp_strings(values: np.ndarray, src: str, unit: list[str]) -> np.ndarray:
    """Timestamps given as text: numbers (epoch s/ms) or ISO-8601, else an error at the row."""
    import pandas as pd

    text = pd.Series(values, dtype=object).astype(str).str.strip()
    if (text.str.lower().isin(_NULLS)).any():
        row = int(np.argmax(text.str.lower().isin(_NULLS).to_numpy())) + 1
        raise _err(src, f"row {row}: empty or NaN value in column 'timestamp'")
    numbers = pd.to_numeric(text, errors="coerce")
    is_number = numbers.notna().to_numpy()
    if is_number.all():
        return _epoch_to_ms(numbers.to_numpy(dtype=np.float64), src, unit)
    parsed = pd.to_datetime(text.where(~is_number, ""), utc=True, format="ISO8601",
                            errors="coerce")
    bad = ~is_number & parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad)) + 1
        shown = str(text.iloc[row - 1])[:40]
        raise _err(src, f"row {row}: timestamp {shown!r} is neither epoch seconds/milliseconds "
                        "nor an ISO-8601 date")
    if is_number.any():
        row_n, row_d = int(np.argmax(is_number)) + 1, int(np.argmax(~is_number)) + 1
        raise _err(src, f"mixed timestamp formats: row {row_n} is a number, row {row_d} a date")
    unit.append("iso")
    return _writable(parsed.dt.as_unit("ms").astype("int64").to_numpy(), np.int64)


def _open_text(p: Path, compression: str | None) -> io.TextIOBase:
    if compression == "gzip":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8-sig", newline="")
    return open(p, encoding="utf-8-sig", newline="")  # noqa: SIM115


def _read_slow(p: Path, src: str, compression: str | None, names: list[str], delim: str,
               where: dict[str, int], unit: list[str]) -> list[np.ndarray]:
    """Row-by-row reader used only when the fast one fails: finds the exact bad row/column."""
    import pandas as pd

    width = len(names)
    columns: dict[str, list[str]] = {c: [] for c in COLUMNS}
    picks = [(c, where[c]) for c in COLUMNS]
    row = 0
    try:
        with _open_text(p, compression) as f:
            reader = csv.reader(f, delimiter=delim)
            for fields in reader:  # the header: the first non-blank row
                if fields and not (len(fields) == 1 and not fields[0].strip()):
                    break
            for fields in reader:
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # blank line (the fast reader skips them too)
                row += 1
                if len(fields) != width:
                    raise _err(src, f"row {row}: expected {width} fields, got {len(fields)}")
                for c, i in picks:
                    columns[c].append(fields[i])
    except (UnicodeDecodeError, csv.Error, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise _err(src, f"cannot parse CSV near row {row + 1} ({_first_line(e)})") from e
    except OSError as e:
        raise _err(src, f"cannot read file: {e.strerror or _first_line(e)}") from e
    if row == 0:
        raise _err(src, "no data rows (header only)")

    ts = _parse_timestamp_strings(np.array(columns.pop("timestamp"), dtype=object), src, unit)
    out = [ts]
    for c in PRICE_COLUMNS:
        text = pd.Series(columns[c], dtype=object).str.strip()
        nulls = text.str.lower().isin(_NULLS).to_numpy()
        values = pd.to_numeric(text.where(~nulls, "nan"), errors="coerce").to_numpy(
            dtype=np.float64)
        bad = np.isnan(values) & ~nulls
        if bad.any():
            r = int(np.argmax(bad))
            raise _err(src, f"row {r + 1}: non-numeric value {text.iloc[r][:40]!r} "
                            f"in column {c!r}")
        if nulls.any():
            raise _err(src, f"row {int(np.argmax(nulls)) + 1}: empty or NaN value "
                            f"in column {c!r}")
        out.append(_writable(values))
    return out


def write_candles_csv(candles: Candles, path: str | os.PathLike[str]) -> Path:
    """Write ``candles`` as CSV (gzip if the name ends in ``.gz``), atomically.

    Floats are written in shortest round-trip form, so reading the file back gives
    exactly the same arrays.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    target = Path(path)
    table = pa.table({
        "timestamp": pa.array(np.asarray(candles.timestamp, dtype=np.int64)),
        **{c: pa.array(np.asarray(getattr(candles, c), dtype=np.float64)) for c in PRICE_COLUMNS},
    })
    opts = pacsv.WriteOptions(quoting_header="none", quoting_style="none", batch_size=1 << 16)
    with atomic_path(target) as tmp:
        if target.name.lower().endswith(".gz"):
            # Python's gzip at level 6 (arrow's is level 9: 20x slower); mtime=0 makes the
            # bytes reproducible
            with open(tmp, "wb") as raw, gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0
            ) as out:
                pacsv.write_csv(table, out, opts)
        else:
            pacsv.write_csv(table, str(tmp), opts)
    return target
