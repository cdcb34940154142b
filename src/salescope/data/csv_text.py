"""CSV text as users hand it over: its encoding, separator, header and broken lines.

``read_csv`` reads a CSV file (plain or gzipped) into a frame of strings, or raises an
``InputError`` that names the file, the line and what is wrong:

* UTF-8, with or without a byte-order mark, is read as it is (by Polars, from the file);
* UTF-16 and UTF-32 (a byte-order mark, or zero bytes that charset-normalizer recognises as
  such) are decoded: nothing about them is ambiguous;
* any other encoding (Latin-1, Windows-1252, …) is refused with the line of the first byte
  UTF-8 does not allow and the encodings charset-normalizer finds it looks like, unless the
  caller names the encoding: on a short file the single-byte encodings cannot be told apart
  (Latin-1 and Windows-1250 read the same bytes as different letters), and a guess would
  store wrong letters without a word;
* a binary file, a header naming a column twice, and a line with more fields than the header
  or a broken quote are refused with the line.

A line with fewer fields than the header has its last fields empty (spreadsheets write such
lines).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import polars as pl

from salescope.domain.errors import InputError

HEAD_BYTES = 1 << 16
"""Bytes read to recognise the encoding, the separator and the header."""
SEPARATORS = (",", ";", "\t", "|")

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _open(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _head(path: Path) -> bytes:
    with _open(path) as handle:
        return handle.read(HEAD_BYTES)


def _whole(path: Path) -> bytes:
    with _open(path) as handle:
        return handle.read()


def _check_gzip(path: Path) -> None:
    """Decompress ``path`` to the end (discarding the data): a file cut short raises
    EOFError here, where Polars would read the lines before the cut without a word."""
    with _open(path) as handle:
        while handle.read(1 << 22):
            pass


def bom_encoding(head: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``head`` announces, or None."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return None


def _wide_encoding(head: bytes) -> str | None:
    """UTF-16/32 without a byte-order mark, as charset-normalizer recognises it, or None."""
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is not None and best.encoding.startswith(("utf_16", "utf_32")):
        return best.encoding
    return None


def _looks_like(data: bytes) -> list[str]:
    """The encodings charset-normalizer finds ``data`` could be in, most likely first."""
    from charset_normalizer import from_bytes

    names: list[str] = []
    for match in from_bytes(data):
        for name in [match.encoding, *match.could_be_from_charset]:
            if name not in names and name not in ("utf_8", "ascii"):
                names.append(name)
    return names[:4]


def _line_of(data: bytes, position: int) -> int:
    return data.count(b"\n", 0, position) + 1


def _not_utf8(label: str, data: bytes, error: UnicodeDecodeError) -> InputError:
    line = _line_of(data, error.start)
    byte = data[error.start : error.start + 1].hex().upper()
    candidates = _looks_like(data)
    found = f"it looks like {' or '.join(candidates)}" if candidates else "its encoding is unknown"
    return InputError.single(
        label,
        f"is not UTF-8 text (byte 0x{byte} is not allowed there): {found}; save it as "
        "UTF-8 or name its encoding with --encoding (e.g. --encoding latin-1)",
        row=line,
        row_label="line",
    )


def _decode(label: str, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise InputError.single(
            label,
            f"is not valid {encoding} text (byte "
            f"0x{data[error.start : error.start + 1].hex().upper()} cannot be read as "
            f"{encoding}); name the right encoding with --encoding",
            row=_line_of(data, error.start),
            row_label="line",
        ) from None


def _separator(header: str) -> str:
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] > 0 else ","


def _header_line(text: str) -> str:
    return text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")


def _check_header(label: str, header: str, separator: str) -> list[str]:
    """The column names of the header line; InputError when one is named twice (empty
    names, as a spreadsheet's trailing separators make, are left to Polars)."""
    names = next(csv.reader([header], delimiter=separator), [])
    seen: dict[str, int] = {}
    for number, raw in enumerate(names, start=1):
        name = raw.strip()
        if not name:
            continue
        if name in seen:
            raise InputError.single(
                label,
                f"names the column {name!r} twice in its header (columns {seen[name]} and "
                f"{number}): rename or remove one",
                row=1,
                row_label="line",
            )
        seen[name] = number
    return names


def _locate(label: str, lines: Iterator[str], separator: str) -> InputError | None:
    """The first line Polars cannot read, found again with the csv module, or None."""
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    reader = csv.reader(lines, delimiter=separator, strict=True)
    columns: int | None = None
    try:
        for fields in reader:
            if columns is None:
                columns = len(fields)
            elif len(fields) > columns and any(f.strip() for f in fields[columns:]):
                return InputError.single(
                    label,
                    f"has {len(fields)} fields where the header has {columns} (a value "
                    f"holding the separator {separator!r} must be quoted)",
                    row=reader.line_num,
                    row_label="line",
                )
    except csv.Error as error:
        return InputError.single(
            label,
            f"is not valid CSV: {error} (a quote inside a value must be doubled, and a "
            "quoted value closed)",
            row=reader.line_num or None,
            row_label="line",
        )
    finally:
        csv.field_size_limit(limit)
    return None


def _text_lines(path: Path, encoding: str) -> Iterator[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding=encoding, newline="") as handle:
        yield from handle


def read_csv(path: Path, label: str, *, encoding: str | None = None) -> pl.DataFrame:
    """``path`` as a frame of strings (see the module docstring), or InputError."""
    if path.stat().st_size == 0:
        raise InputError.single(label, "is empty: expected a header line")
    head = _head(path)
    if path.name.lower().endswith(".gz"):
        _check_gzip(path)
    if not head.strip():
        raise InputError.single(label, "is empty: expected a header line")
    chosen = encoding or bom_encoding(head)
    if chosen is None and b"\x00" in head:
        chosen = _wide_encoding(head)
        if chosen is None:
            raise InputError.single(
                label,
                "is not a text file (it holds binary data): expected CSV text, or a Parquet "
                "file named .parquet",
            )
    source: Path | bytes
    if chosen is None or codecs.lookup(chosen).name in ("utf-8", "utf-8-sig"):
        # UTF-8 (Polars skips a byte-order mark): read from the file, no copy
        header = _header_line(head.decode("utf-8", errors="replace"))
        source, text_encoding = path, "utf-8-sig"
    else:
        data = _whole(path)
        text = _decode(label, data, chosen)
        header = _header_line(text[:HEAD_BYTES])
        source, text_encoding = text.lstrip("\ufeff").encode("utf-8"), chosen
    separator = _separator(header)
    _check_header(label, header, separator)
    try:
        return pl.read_csv(
            source if isinstance(source, Path) else io.BytesIO(source),
            separator=separator,
            infer_schema=False,
            encoding="utf8",
        )
    except pl.exceptions.PolarsError as error:
        if "utf-8" in str(error).lower() and isinstance(source, Path):
            data = _whole(path)
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise _not_utf8(label, data, bad) from None
        lines = (
            _text_lines(path, text_encoding)
            if isinstance(source, Path)
            else iter(io.StringIO(source.decode("utf-8"), newline=""))
        )
        found = _locate(label, lines, separator)
        if found is not None:
            raise found from None
        raise InputError.single(label, f"cannot be read as CSV: {first_line(error)}") from error
