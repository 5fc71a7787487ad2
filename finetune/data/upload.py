"""Load and validate a user's upload against the data contract.

The contract (shared by the CLI, the app and the tests): a UTF-8 CSV/TSV or
JSONL file (a ``.json`` array of objects also works) with these columns:

    sentiment      text, label        (two or more label names)
    translation    source, target
    summarization  text, summary
    chat           prompt, response [, system]
                   or JSONL ``messages``: [{"role", "content"}, ...] [, system]

Header names match case-insensitively and ignoring surrounding spaces.

Line numbers: ``Problem.row`` is the physical line of the file where the row
starts, counting from 1 -- for CSV the header is line 1, so the first data row
is usually line 2; for JSONL it is the line of the object. Messages say
"Line N: ..." so the user can jump straight there in an editor.

`load_examples` never raises for problems in the file: it collects them all so
the app can show one complete list instead of a fix-one-retry loop.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import itertools
import json
import os
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

TASKS = ("sentiment", "translation", "summarization", "chat")
TASK_COLUMNS: dict[str, tuple[str, str]] = {
    "sentiment": ("text", "label"),
    "translation": ("source", "target"),
    "summarization": ("text", "summary"),
    "chat": ("prompt", "response"),
}
OPTIONAL_COLUMNS = {"chat": ("system",)}
ROLES = ("system", "user", "assistant")
# Column names people commonly use instead of ours: name -> the columns it may stand for.
SYNONYMS = {
    "sentence": ("text", "source"), "review": ("text",), "input": ("text", "source", "prompt"),
    "en": ("source", "text"), "english": ("source", "text"), "text": ("source",),
    "document": ("text",), "article": ("text",), "content": ("text",), "body": ("text",),
    "sentiment": ("label",), "class": ("label",), "polarity": ("label",), "target": ("label",), "category": ("label",),
    "es": ("target",), "spanish": ("target",), "translation": ("target",),
    "question": ("prompt",), "instruction": ("prompt",), "user": ("prompt",),
    "answer": ("response",), "output": ("response", "target", "summary"), "reply": ("response",),
    "assistant": ("response",), "completion": ("response",),
    "abstract": ("summary",), "highlights": ("summary",), "tldr": ("summary",),
}
DELIMITERS = ",;\t|"
SNIFF_BYTES = 8192
WARNING_CAP = 5  # per-row warnings of one kind shown before they are summarised
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # control characters except \t \n (\r handled apart)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")  # a line and its ending, or the last line without one
_NON_SPACE = re.compile(r"\S")
_BAD = object()  # marks a row that could not be parsed at all (already reported)
BINARY = "This looks like a binary file, not CSV/JSONL text. Upload a .csv or .jsonl file saved as UTF-8 text."


@dataclass(frozen=True)
class DataLimits:
    min_rows: int = field(default=10, metadata={"help": "fewest usable rows worth training on"})
    max_rows: int = field(default=50_000, metadata={"help": "most rows read; longer files are refused"})
    max_bytes: int = field(default=50 * 1024 * 1024, metadata={"help": "largest file accepted (checked before reading)"})
    max_cell_chars: int = field(default=20_000, metadata={"help": "longest cell accepted, in characters"})


@dataclass(frozen=True)
class Problem:
    message: str  # plain language, says what to do; starts with "Line N:" when row is set
    row: int | None = None  # physical line number in the file (1-based; CSV header is line 1)
    column: str | None = None
    severity: str = "error"  # "error" or "warning"


@dataclass
class LoadedData:
    task: str
    records: list[dict] = field(default_factory=list)  # normalized rows that passed row checks
    problems: list[Problem] = field(default_factory=list)
    source_rows: int = 0  # data rows read from the file (header and blank lines not counted)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict:
        """JSON-safe overview for the UI and the adapter's metadata."""
        out: dict[str, Any] = {"task": self.task, "rows": len(self.records), "source_rows": self.source_rows,
                               "errors": len(self.errors), "warnings": len(self.warnings)}
        if self.task == "sentiment":
            out["labels"] = dict(sorted(Counter(r["label"] for r in self.records).items()))
        if self.task == "chat":
            texts = [(m["role"], m["content"]) for r in self.records for m in r["messages"]]
            out["avg_turns"] = round(sum(len(r["messages"]) for r in self.records) / max(len(self.records), 1), 2)
        else:
            texts = [(k, v) for r in self.records for k, v in r.items() if k != "label"]
        lengths: dict[str, list[int]] = {}
        for name, text in texts:
            lengths.setdefault(name, []).append(len(text))
        out["avg_chars"] = {name: round(sum(v) / len(v), 1) for name, v in lengths.items()}
        return out


class DataValidationError(ValueError):
    """Raised by `load_examples_or_raise`; str() lists the problems one per line."""

    MAX_LINES = 50

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        n_errors = sum(p.severity == "error" for p in self.problems)
        lines = [f"The data file has {n_errors} error(s):"]
        lines += [f"  {p.severity}: {p.message}" for p in self.problems[: self.MAX_LINES]]
        if len(self.problems) > self.MAX_LINES:
            lines.append(f"  ... and {len(self.problems) - self.MAX_LINES} more")
        super().__init__("\n".join(lines))


class _Report:
    """Collects problems; repeated per-row warnings of one kind are capped so the list stays readable."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.seen: Counter = Counter()
        self.caps: dict[str, int] = {}

    def error(self, message: str, line: int | None = None, column: str | None = None) -> None:
        self.problems.append(Problem(f"Line {line}: {message}" if line else message, line, column))

    def warn(self, message: str, line: int | None = None, column: str | None = None,
             kind: str | None = None, cap: int = WARNING_CAP) -> None:
        if kind:
            self.seen[kind] += 1
            self.caps[kind] = cap
            if self.seen[kind] > cap:
                return
        self.problems.append(Problem(f"Line {line}: {message}" if line else message, line, column, "warning"))

    def finish(self) -> None:
        for kind, n in self.seen.items():
            if n > self.caps[kind]:
                self.warn(f"The same warning ({kind}) applies to {n - self.caps[kind]} more row(s).")


# ---------------------------------------------------------------------------- bytes -> text

def _read_text(path: Path, limits: DataLimits, rep: _Report) -> str | None:
    """Decode the file, refusing oversized, binary and non-UTF-8 files before any parsing."""
    too_big = f"The file is larger than the {limits.max_bytes:,}-byte limit. Upload a smaller file (fewer rows)."
    try:
        size = os.stat(path).st_size
        if size > limits.max_bytes:  # stat first: never read a huge upload into memory
            rep.error(too_big)
            return None
        with open(path, "rb") as fh:  # read(n) allocates n bytes up front: ask for the size, not the limit
            raw = fh.read(min(size, limits.max_bytes) + 1)
    except OSError as e:
        rep.error(f"Could not read the file: {e.strerror or e}.")
        return None
    if len(raw) > limits.max_bytes:
        rep.error(too_big)
        return None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            rep.error("The file starts like UTF-16 text but could not be decoded. Save it as UTF-8 and upload again.")
            return None
        rep.warn("The file is UTF-16 encoded; it was read fine, but please prefer UTF-8.")
    elif raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        rep.error("This looks like an Excel workbook or zip archive, not CSV/JSONL text. "
                  "In Excel use File > Save As > 'CSV UTF-8'.")
        return None
    elif b"\x00" in raw[:SNIFF_BYTES]:
        rep.error(BINARY)
        return None
    else:
        skip = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
        try:
            text = raw[skip:].decode("utf-8")
        except UnicodeDecodeError as e:
            _not_utf8(raw, skip + e.start, rep)
            return None
    if "\x00" in text[:SNIFF_BYTES]:
        rep.error(BINARY)
        return None
    if _first_char(text) is None:
        rep.error(f"The file is empty. Upload a file with a header and at least {limits.min_rows} rows.")
        return None
    return text


def _not_utf8(raw: bytes, offset: int, rep: _Report) -> None:
    """Tell Latin-1/Windows-1252 text (common from Excel) apart from binary junk, and say how to fix it."""
    sample = raw[:SNIFF_BYTES]
    controls = sum((b < 32 and b not in b"\t\n\r\f") or b == 127 for b in sample)
    if controls > len(sample) // 50:
        rep.error(BINARY)
        return
    line = raw.count(b"\n", 0, offset) + 1
    char = raw[offset:offset + 1].decode("cp1252", "replace")
    rep.error(f"the file is not UTF-8 text (byte 0x{raw[offset]:02X} at byte offset {offset}, probably '{char}'). "
              "It looks like Latin-1/Windows-1252, as older Excel versions save it. Save it as UTF-8 "
              "(Excel: Save As > 'CSV UTF-8'; text editors: Save with encoding > UTF-8) and upload again.", line)


# ---------------------------------------------------------------------------- text -> rows

def _first_char(text: str) -> str | None:
    """The first non-space character (without copying the text, as lstrip() would)."""
    found = _NON_SPACE.search(text)
    return found.group() if found else None


def _norm(name: Any) -> str:
    return _CONTROL.sub("", str(name)).replace("\ufeff", "").strip().lower()


def _plain(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _capped(items: Iterator, limits: DataLimits, rep: _Report) -> Iterator:
    """Stop reading after max_rows rows so an oversized file is refused without parsing it all."""
    for n, item in enumerate(items, 1):
        if n > limits.max_rows:
            rep.error(f"The file has more than {limits.max_rows:,} rows; the limit is {limits.max_rows:,}. "
                      "Split it or remove rows.")
            return
        yield item


def _read_table(path: Path, text: str, limits: DataLimits, rep: _Report):
    """-> (columns, display names, rows) where rows are (line, dict or None if unusable)."""
    head, ext = _first_char(text), path.suffix.lower()
    if ext in (".jsonl", ".json", ".ndjson") or (ext not in (".csv", ".tsv") and head in ("{", "[")):
        rows = []
        for line, value in _capped(_json_values(text, rep), limits, rep):
            if value is not _BAD and not isinstance(value, dict):
                rep.error(f"expected a JSON object like {{\"column\": \"value\", ...}}, found {_json_type(value)}.", line)
            record: dict[str, Any] | None = {} if isinstance(value, dict) else None
            for key, cell in value.items() if record is not None else ():
                record.setdefault(_norm(key), cell)
            rows.append((line, record))
        display = {}
        for _, row in rows:
            for key in row or ():
                display.setdefault(key, key)
        return list(display), display, rows
    return _csv_table(text, ext == ".tsv", limits, rep)


def _csv_table(text: str, tsv: bool, limits: DataLimits, rep: _Report):
    first = next((line for line in _lines(text) if line.strip()), "")
    delimiter = "\t" if tsv else max(DELIMITERS, key=lambda d: len(next(csv.reader([first], delimiter=d), [])))
    csv.field_size_limit(max(csv.field_size_limit(), limits.max_bytes))  # long cells get a clear error below
    cells = _csv_cells(text, delimiter, rep)
    line, header = next(cells, (0, []))
    names = [_norm(h) for h in header]
    for name in sorted({n for n in names if n and names.count(n) > 1}):
        rep.error(f"column '{name}' appears more than once in the header; rename or remove the extra one.", line, name)
    display = {}
    for name, original in zip(names, header):
        display.setdefault(name, original.strip())
    rows = []
    for line, row in _capped(cells, limits, rep):
        if any(_plain(c).strip() for c in row[len(names):]):
            shown = "tab" if delimiter == "\t" else f"'{delimiter}'"
            rep.error(f"this row has {len(row)} values but the header has {len(names)} columns. "
                      f"Put double quotes around cells that contain {shown}.", line)
            rows.append((line, None))
            continue
        if len(row) < len(names) and any("\n" in c and delimiter in c for c in row):
            rep.error(f"this row has only {len(row)} of {len(names)} values and a cell runs over several lines: "
                      "probably a double quote is never closed, so the lines after it were read into one cell. "
                      "Close or remove the stray quote.", line)
            rows.append((line, None))
            continue
        record: dict[str, str] = {}
        for name, cell in zip(names, row):
            record.setdefault(name, cell)
        rows.append((line, record))
    return [n for n in display if n], display, rows


def _csv_cells(text: str, delimiter: str, rep: _Report) -> Iterator[tuple[int, list[str]]]:
    """(start line, cells) per non-blank CSV record; quoted cells may span lines."""
    reader = csv.reader(_lines(text), delimiter=delimiter)
    previous = 0
    try:
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if any(_plain(c).strip() for c in row):
                yield start, row
    except csv.Error as e:
        rep.error(f"the CSV could not be read past this point ({e}). Check for unbalanced double quotes.",
                  previous + 1)


def _lines(text: str) -> Iterator[str]:
    """The text's lines with their endings (LF, CRLF or CR), one at a time: io.StringIO would first copy
    the whole text at 4 bytes a character, and str.split would hold every line at once."""
    for match in _LINE.finditer(text):
        yield match.group()


def _json_values(text: str, rep: _Report) -> Iterator[tuple[int, Any]]:
    """(line, value) per JSONL line, or per element of a whole-file JSON array.

    Lazy on purpose: an oversized array or JSONL file is refused after max_rows values (`_capped`)
    without ever parsing (or holding) the rest."""
    if _first_char(text) == "[":
        first, *rest = (line for line in itertools.islice((s for s in _lines(text) if s.strip()), 2))
        if not rest or _loads_or_bad(first) is _BAD:  # a whole-file array (JSONL lines may be arrays too)
            yield from _array_items(text, rep)
            return
    else:
        try:
            whole = json.loads(text)
        except (ValueError, RecursionError):
            whole = _BAD
        if whole is not _BAD:
            yield text.count("\n", 0, _NON_SPACE.search(text).start()) + 1, whole
            return
    for number, line in enumerate(_lines(text), 1):
        if line.strip():
            value = _loads_or_bad(line)
            if value is _BAD:
                rep.error("this line is not valid JSON. Each line must hold one object, "
                          "like {\"text\": \"...\", \"label\": \"...\"}.", number)
            yield number, value


def _loads_or_bad(line: str) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return _BAD


def _array_items(text: str, rep: _Report) -> Iterator[tuple[int, Any]]:
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
        rep.error(f"The file is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).")
    except RecursionError:
        rep.error("The file is not valid JSON: it is nested too deeply.")


def _json_type(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {list: "a list", dict: "an object", str: "a string"}.get(type(value), "a number")


# ---------------------------------------------------------------------------- rows -> records

def _resolve_columns(task: str, columns: list[str], display: dict[str, str], rep: _Report):
    """Map each needed column to a file column; a likely misspelling stands in so row checks still run."""
    wanted = ("messages",) if task == "chat" and "messages" in columns else TASK_COLUMNS[task]
    mapping = {c: c for c in wanted + OPTIONAL_COLUMNS.get(task, ()) if c in columns}
    for want in wanted:
        if want in mapping:
            continue
        guess = _suggest(want, [c for c in columns if c not in mapping.values()])
        found = ", ".join(f"'{display[c]}'" for c in columns) or "none"
        if guess:
            hint = f" Did you mean '{display[guess]}'? Rename that column to '{want}'."
        else:
            needed = " and ".join(f"'{c}'" for c in TASK_COLUMNS[task])
            hint = f" The {task} task needs columns {needed}" + (
                ", or a JSONL 'messages' list." if task == "chat" else ".")
        rep.error(f"Column '{want}' is missing (columns found: {found}).{hint}", column=want)
        if guess:
            mapping[want] = guess
    extra = [f"'{display[c]}'" for c in columns if c not in mapping.values()]
    if extra:
        rep.warn(f"Ignoring extra column(s) {', '.join(extra)}; the {task} task only uses "
                 f"{', '.join(wanted + OPTIONAL_COLUMNS.get(task, ()))}.")
    return wanted, mapping


def _suggest(want: str, spare: list[str]) -> str | None:
    close = difflib.get_close_matches(want, spare, n=1, cutoff=0.6)
    return close[0] if close else next((c for c in spare if want in SYNONYMS.get(c, ())), None)


def _cell(value: Any, line: int, column: str, limits: DataLimits, rep: _Report,
          what: str | None = None, required: bool = True) -> str | None:
    """A cleaned text value, or None after reporting why it is unusable."""
    what = what or f"column '{column}'"
    if isinstance(value, (bool, int, float)):
        value = json.dumps(value) if isinstance(value, bool) else str(value)
        rep.warn(f"{what} holds a JSON number/boolean; it was read as the text '{value}'.", line, column,
                 kind="non-text values read as text")
    elif isinstance(value, (list, dict)):
        rep.error(f"{what} holds {_json_type(value)}, but plain text is expected.", line, column)
        return None
    if isinstance(value, str) and _CONTROL.search(value):
        rep.warn("invisible control characters were removed from the text.", line, column,
                 kind="control characters removed", cap=1)
    text = _plain(value or "").strip()
    if not text and required:
        rep.error(f"{what} is empty. Fill it in or delete the row.", line, column)
        return None
    if len(text) > limits.max_cell_chars:
        rep.error(f"{what} has {len(text):,} characters; the limit is {limits.max_cell_chars:,}. "
                  "Shorten it or split it into several rows.", line, column)
        return None
    return text


def _messages(value: Any, line: int, limits: DataLimits, rep: _Report) -> list[dict] | None:
    if not isinstance(value, list) or not value:
        rep.error("'messages' must be a non-empty list of {\"role\": ..., \"content\": ...} objects.", line, "messages")
        return None
    out, ok = [], True
    for i, message in enumerate(value, 1):
        if not isinstance(message, dict):
            rep.error(f"message {i} is not an object with 'role' and 'content'.", line, "messages")
            ok = False
            continue
        role = message.get("role")
        role = role.strip().lower() if isinstance(role, str) else role
        if role not in ROLES:
            rep.error(f"message {i} has role {role!r}; use 'system', 'user' or 'assistant'.", line, "messages")
            ok = False
        content = _cell(message.get("content"), line, "messages", limits, rep, what=f"message {i}'s content")
        ok = ok and content is not None
        out.append({"role": role, "content": content})
    return out if ok and _turns_ok([m["role"] for m in out], line, rep) else None


def _turns_ok(roles: list[str], line: int, rep: _Report) -> bool:
    """Optional leading system turn, then user/assistant alternating, ending with the reply to learn."""
    body = roles[1:] if roles[0] == "system" else roles
    for j, role in enumerate(body):
        want = ("user", "assistant")[j % 2]
        if role != want:
            rep.error(f"message {len(roles) - len(body) + j + 1} is from '{role}' but '{want}' was expected; after "
                      "an optional first system message, turns must alternate user, assistant, ...", line, "messages")
            return False
    if not body or body[-1] != "assistant":
        rep.error("the conversation must end with an assistant message (the reply the model learns).", line, "messages")
        return False
    return True


def _record(task: str, wanted: tuple, mapping: dict, line: int, row: dict, limits: DataLimits,
            rep: _Report) -> dict | None:
    """One row -> one normalized record, or None after reporting every reason it is unusable."""
    got = {w: _messages(row.get(mapping[w]), line, limits, rep) if w == "messages"
           else _cell(row.get(mapping[w]), line, w, limits, rep) for w in wanted if w in mapping}
    system = _cell(row.get(mapping["system"]), line, "system", limits, rep, required=False) if "system" in mapping else ""
    if len(got) < len(wanted) or None in got.values() or system is None:
        return None
    if task != "chat":
        return got
    messages = got.get("messages") or [{"role": "user", "content": got["prompt"]},
                                       {"role": "assistant", "content": got["response"]}]
    if system and messages[0]["role"] == "system":
        rep.error("the row has both a 'system' field and a system message; keep only one.", line, "system")
        return None
    return {"messages": ([{"role": "system", "content": system}] if system else []) + messages}


def _dedupe(records: list[dict], lines: list[int], rep: _Report) -> tuple[list[dict], list[int]]:
    seen: dict[str, int] = {}
    keep, dupes = [], []
    for record, line in zip(records, lines):
        key = json.dumps(record, sort_keys=True, ensure_ascii=False)
        if key in seen:
            dupes.append((line, seen[key]))
        else:
            seen[key] = line
            keep.append((record, line))
    if dupes:
        shown = ", ".join(f"line {a} (same as line {b})" for a, b in dupes[:10])
        more = f" and {len(dupes) - 10} more" if len(dupes) > 10 else ""
        rep.problems.append(Problem(f"{len(dupes)} duplicate row(s) were dropped: {shown}{more}.",
                                    dupes[0][0], None, "warning"))
    return [r for r, _ in keep], [n for _, n in keep]


def _check_labels(records: list[dict], lines: list[int], rep: _Report) -> None:
    counts = Counter(r["label"] for r in records)
    if len(counts) < 2:
        found = f"only '{next(iter(counts))}'" if counts else "none"
        rep.error(f"Sentiment needs at least two different labels (e.g. 'positive' and 'negative'); found {found}.",
                  column="label")
    for label, n in sorted(counts.items()):
        if n == 1:
            line = lines[next(i for i, r in enumerate(records) if r["label"] == label)]
            rep.error(f"label '{label}' appears only once; every label needs at least 2 examples. "
                      f"Add more '{label}' rows or remove this one.", line, "label")


def _check_tokens(task: str, records: list[dict], lines: list[int], count_tokens: Callable[[str], int],
                  max_tokens: int, rep: _Report) -> None:
    for record, line in zip(records, lines):
        fields = ({"messages": "\n".join(m["content"] for m in record["messages"])} if task == "chat"
                  else {k: v for k, v in record.items() if k != "label"})
        for column, text in fields.items():
            n = count_tokens(text)
            if n > max_tokens:
                rep.warn(f"column '{column}' is {n:,} tokens long; it will be truncated to {max_tokens:,} tokens.",
                         line, column, kind="will be truncated")


# ---------------------------------------------------------------------------- public API

def load_examples(path: str | os.PathLike, task: str, limits: DataLimits = DataLimits(),
                  count_tokens: Callable[[str], int] | None = None, max_tokens: int | None = None) -> LoadedData:
    """Read and check an upload. Never raises for problems in the file: they are all in `.problems`.

    Raises ValueError only for an unknown task. When `.ok` is False, `.records` may still hold rows
    (e.g. read under a misspelled column) for previewing, but they must not be trained on.
    """
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of: {', '.join(TASKS)}.")
    rep = _Report()
    data = LoadedData(task, [], rep.problems, 0)
    text = _read_text(Path(path), limits, rep)
    if text is not None:
        columns, display, rows = _read_table(Path(path), text, limits, rep)
        data.source_rows = len(rows)
        if not rows:
            rep.error(f"The file has no data rows (only a header, or nothing). Add at least {limits.min_rows} examples.")
        elif columns:
            wanted, mapping = _resolve_columns(task, columns, display, rep)
            records, lines = [], []
            for line, row in rows:
                record = _record(task, wanted, mapping, line, row, limits, rep) if row is not None else None
                if record is not None:
                    records.append(record)
                    lines.append(line)
            if all(w in mapping for w in wanted):
                records, lines = _dedupe(records, lines, rep)
                if task == "sentiment" and records:
                    _check_labels(records, lines, rep)
                if len(records) < limits.min_rows:
                    rep.error(f"Only {len(records)} usable row(s) (rows with problems and duplicates are left out); "
                              f"at least {limits.min_rows} are needed.")
                if count_tokens is not None and max_tokens is not None:
                    _check_tokens(task, records, lines, count_tokens, max_tokens, rep)
            data.records = records
    rep.finish()
    return data


def load_examples_or_raise(path: str | os.PathLike, task: str, limits: DataLimits = DataLimits(),
                           count_tokens: Callable[[str], int] | None = None,
                           max_tokens: int | None = None) -> LoadedData:
    """`load_examples`, raising DataValidationError (errors first, then warnings) if anything is an error."""
    data = load_examples(path, task, limits, count_tokens, max_tokens)
    if not data.ok:
        raise DataValidationError(data.errors + data.warnings)
    return data


def split_train_validation(records: list[dict], task: str, validation_fraction: float = 0.1, seed: int = 0,
                           min_validation: int = 2) -> tuple[list[dict], list[dict]]:
    """Deterministic split keeping the input order; sentiment is stratified so every label with
    two or more examples keeps at least one in train. Train is never empty."""
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}.")
    n = len(records)
    if validation_fraction == 0 or n < 2:
        return list(records), []
    n_val = min(max(min_validation, round(n * validation_fraction)), n - 1)
    rng = random.Random(seed)
    if task == "sentiment":
        groups: dict[Any, list[int]] = {}
        for i, record in enumerate(records):
            groups.setdefault(record["label"], []).append(i)
        take = _allocate({label: len(ix) for label, ix in groups.items()}, n_val)
        chosen: set[int] = set()
        for label in sorted(groups, key=str):
            ix = list(groups[label])
            rng.shuffle(ix)
            chosen.update(ix[: take[label]])
    else:
        chosen = set(rng.sample(range(n), n_val))
    return ([r for i, r in enumerate(records) if i not in chosen], [r for i, r in enumerate(records) if i in chosen])


def _allocate(counts: dict[Any, int], n_val: int) -> dict[Any, int]:
    """Validation slots per label: proportional, unrepresented and largest-remainder labels first,
    always leaving one example of each label in train."""
    n = sum(counts.values())
    quota = {k: n_val * c / n for k, c in counts.items()}
    take = {k: min(int(q), counts[k] - 1) for k, q in quota.items()}
    while sum(take.values()) < n_val:
        room = [k for k in counts if take[k] < counts[k] - 1]
        if not room:
            break
        take[min(room, key=lambda k: (take[k] > 0, take[k] - quota[k], str(k)))] += 1
    return take


def escape_spreadsheet_cell(value: Any) -> Any:
    """Prefix ' to a cell a spreadsheet would run as a formula (CSV injection) before writing user data
    back to CSV or showing it in a table that can be copied as CSV. Loading never evaluates or alters
    such cells. Anything but a string is returned as it is."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a trusted bundled JSONL file; raises ValueError naming the line on a bad one."""
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
