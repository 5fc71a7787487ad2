"""Reading an upload: bytes to text to rows, each row with the line it starts on.

Nothing here knows about tasks: `finetune.data.contract` decides what the rows must hold. Every
refusal is reported (never raised) so that the app can show one complete list of problems.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from finetune.data.problems import DataLimits, Report
from models.messages import say

DELIMITERS = ",;\t|"
SNIFF_BYTES = 8192
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # control characters except \t \n (\r handled apart)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")  # a line and its ending, or the last line without one
_NON_SPACE = re.compile(r"\S")
BAD = object()  # marks a row that could not be parsed at all (already reported)


# ---------------------------------------------------------------------------- bytes -> text

def read_text(path: Path, limits: DataLimits, rep: Report) -> str | None:
    """Decode the file, refusing oversized, binary and non-UTF-8 files before any parsing."""
    try:
        size = os.stat(path).st_size
        if size > limits.max_bytes:  # stat first: never read a huge upload into memory
            rep.error("data.too_big", limit=limits.max_bytes)
            return None
        with open(path, "rb") as fh:  # read(n) allocates n bytes up front: ask for the size, not the limit
            raw = fh.read(min(size, limits.max_bytes) + 1)
    except OSError as e:
        rep.error("data.unreadable", reason=str(e.strerror or e))
        return None
    if len(raw) > limits.max_bytes:
        rep.error("data.too_big", limit=limits.max_bytes)
        return None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            rep.error("data.bad_utf16")
            return None
        rep.warn("data.utf16")
    elif raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        rep.error("data.workbook")
        return None
    elif b"\x00" in raw[:SNIFF_BYTES]:
        rep.error("data.binary")
        return None
    else:
        skip = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
        try:
            text = raw[skip:].decode("utf-8")
        except UnicodeDecodeError as e:
            _not_utf8(raw, skip + e.start, rep)
            return None
    if "\x00" in text[:SNIFF_BYTES]:
        rep.error("data.binary")
        return None
    if first_char(text) is None:
        rep.error("data.empty", min_rows=limits.min_rows)
        return None
    return text


def _not_utf8(raw: bytes, offset: int, rep: Report) -> None:
    """Tell Latin-1/Windows-1252 text (common from Excel) apart from binary junk, and say how to fix it."""
    sample = raw[:SNIFF_BYTES]
    controls = sum((b < 32 and b not in b"\t\n\r\f") or b == 127 for b in sample)
    if controls > len(sample) // 50:
        rep.error("data.binary")
        return
    line = raw.count(b"\n", 0, offset) + 1
    char = raw[offset:offset + 1].decode("cp1252", "replace")
    rep.error("data.not_utf8", line, byte=f"{raw[offset]:02X}", offset=offset, char=char)


# ---------------------------------------------------------------------------- text -> rows

def first_char(text: str) -> str | None:
    """The first non-space character (without copying the text, as lstrip() would)."""
    found = _NON_SPACE.search(text)
    return found.group() if found else None


def normalized_name(name: Any) -> str:
    return CONTROL.sub("", str(name)).replace("\ufeff", "").strip().lower()


def plain_text(text: str) -> str:
    return CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _capped(items: Iterator, limits: DataLimits, rep: Report) -> Iterator:
    """Stop reading after max_rows rows so an oversized file is refused without parsing it all."""
    for n, item in enumerate(items, 1):
        if n > limits.max_rows:
            rep.error("data.too_many_rows", limit=limits.max_rows)
            return
        yield item


def read_table(path: Path, text: str, limits: DataLimits, rep: Report):
    """-> (columns, display names, rows) where rows are (line, dict or None if unusable)."""
    head, ext = first_char(text), path.suffix.lower()
    if ext in (".jsonl", ".json", ".ndjson") or (ext not in (".csv", ".tsv") and head in ("{", "[")):
        rows = []
        for line, value in _capped(_json_values(text, rep), limits, rep):
            if value is not BAD and not isinstance(value, dict):
                rep.error("data.not_object", line, found=json_type(value))
            record: dict[str, Any] | None = {} if isinstance(value, dict) else None
            for key, cell in value.items() if record is not None else ():
                record.setdefault(normalized_name(key), cell)
            rows.append((line, record))
        display = {}
        for _, row in rows:
            for key in row or ():
                display.setdefault(key, key)
        return list(display), display, rows
    return _csv_table(text, ext == ".tsv", limits, rep)


def _csv_table(text: str, tsv: bool, limits: DataLimits, rep: Report):
    first = next((line for line in _lines(text) if line.strip()), "")
    delimiter = "\t" if tsv else max(DELIMITERS, key=lambda d: len(next(csv.reader([first], delimiter=d), [])))
    csv.field_size_limit(max(csv.field_size_limit(), limits.max_bytes))  # long cells get a clear error below
    cells = _csv_cells(text, delimiter, rep)
    line, header = next(cells, (0, []))
    names = [normalized_name(h) for h in header]
    for name in sorted({n for n in names if n and names.count(n) > 1}):
        rep.error("data.duplicate_column", line, name, name=name)
    display = {}
    for name, original in zip(names, header):
        display.setdefault(name, original.strip())
    rows = []
    for line, row in _capped(cells, limits, rep):
        if any(plain_text(c).strip() for c in row[len(names):]):
            shown = say("data.tab") if delimiter == "\t" else f"'{delimiter}'"
            rep.error("data.too_many_values", line, values=len(row), columns=len(names), delimiter=shown)
            rows.append((line, None))
            continue
        if len(row) < len(names) and any("\n" in c and delimiter in c for c in row):
            rep.error("data.unclosed_quote", line, values=len(row), columns=len(names))
            rows.append((line, None))
            continue
        record: dict[str, str] = {}
        for name, cell in zip(names, row):
            record.setdefault(name, cell)
        rows.append((line, record))
    return [n for n in display if n], display, rows


def _csv_cells(text: str, delimiter: str, rep: Report) -> Iterator[tuple[int, list[str]]]:
    """(start line, cells) per non-blank CSV record; quoted cells may span lines."""
    reader = csv.reader(_lines(text), delimiter=delimiter)
    previous = 0
    try:
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if any(plain_text(c).strip() for c in row):
                yield start, row
    except csv.Error as e:
        rep.error("data.csv_error", previous + 1, reason=str(e))


def _lines(text: str) -> Iterator[str]:
    """The text's lines with their endings (LF, CRLF or CR), one at a time: io.StringIO would first copy
    the whole text at 4 bytes a character, and str.split would hold every line at once."""
    for match in _LINE.finditer(text):
        yield match.group()


def _json_values(text: str, rep: Report) -> Iterator[tuple[int, Any]]:
    """(line, value) per JSONL line, or per element of a whole-file JSON array.

    Lazy on purpose: an oversized array or JSONL file is refused after max_rows values (`_capped`)
    without ever parsing (or holding) the rest."""
    if first_char(text) == "[":
        first, *rest = (line for line in itertools.islice((s for s in _lines(text) if s.strip()), 2))
        if not rest or _loads_or_bad(first) is BAD:  # a whole-file array (JSONL lines may be arrays too)
            yield from _array_items(text, rep)
            return
    else:
        try:
            whole = json.loads(text)
        except (ValueError, RecursionError):
            whole = BAD
        if whole is not BAD:
            yield text.count("\n", 0, _NON_SPACE.search(text).start()) + 1, whole
            return
    for number, line in enumerate(_lines(text), 1):
        if line.strip():
            value = _loads_or_bad(line)
            if value is BAD:
                rep.error("data.bad_json_line", number)
            yield number, value


def _loads_or_bad(line: str) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return BAD


def _array_items(text: str, rep: Report) -> Iterator[tuple[int, Any]]:
    """Walk a JSON array element by element (learning each one's line number); a syntax error ends
    the walk with one message saying where."""
    decoder, space = json.JSONDecoder(), re.compile(r"[ \t\n\r]*")
    pos = space.match(text, text.index("[") + 1).end()
    line, counted = 1, 0
    try:
        if not text.startswith("]", pos):
            while True:
                line, counted = line + text.count("\n", counted, pos), pos
                value, pos = decoder.raw_decode(text, pos)
                yield line, value
                pos = space.match(text, pos).end()
                if text.startswith("]", pos):
                    break
                if not text.startswith(",", pos):
                    raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
                pos = space.match(text, pos + 1).end()
        end = space.match(text, pos + 1).end()
        if end < len(text):
            raise json.JSONDecodeError("Extra data", text, end)
    except json.JSONDecodeError as error:
        rep.error("data.bad_json", reason=error.msg, at_line=error.lineno, at_column=error.colno)
    except RecursionError:
        rep.error("data.too_deep")


def json_type(value: Any) -> Any:
    """How to name a JSON value's kind in a message: the literal itself, or "a list", "a number"..."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return say({list: "data.type.list", dict: "data.type.object", str: "data.type.string"}.get(type(value),
                                                                                          "data.type.number"))


# ---------------------------------------------------------------------------- trusted files and writing back

def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a trusted JSONL file (the bundled data, a build's output); raises ValueError naming the line
    of a bad one. The one reader of bundled data: `datasets.Dataset.from_list` takes its records."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{number}: invalid JSON ({e.msg})") from None
    return records


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def escape_spreadsheet_cell(value: Any) -> Any:
    """Prefix ' to a cell a spreadsheet would run as a formula (CSV injection) before writing user data
    back to CSV or showing it in a table that can be copied as CSV. Loading never evaluates or alters
    such cells. Anything but a string is returned as it is."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
