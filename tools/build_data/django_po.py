"""Django's Spanish gettext catalogues -> translation pairs.

Reads every ``django/**/locale/es/LC_MESSAGES/django.po`` from the Django wheel
with a minimal .po parser and keeps plain (non-fuzzy, non-plural,
placeholder-free) entries that pass ``keep_pair``.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Iterable

from tools.build_data.common import _pip_download, keep_pair, normalize_space

DJANGO_VERSION = "5.2.19"


_PO_ESC = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _po_unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        s = s[1:-1]
    return re.sub(r"\\(.)", lambda m: _PO_ESC.get(m.group(1), m.group(1)), s)


def parse_po(text: str) -> list[dict]:
    """Minimal gettext .po parser.

    Returns entries ``{"msgctxt", "msgid", "msgid_plural", "msgstr", "msgstr_plural",
    "fuzzy", "obsolete"}`` (msgstr_plural maps index -> string).
    """
    entries: list[dict] = []

    def new() -> dict:
        return {"msgctxt": None, "msgid": None, "msgid_plural": None, "msgstr": None,
                "msgstr_plural": {}, "fuzzy": False, "obsolete": False}

    cur = new()
    field: tuple | None = None

    def flush() -> None:
        nonlocal cur, field
        if cur["msgid"] is not None:
            entries.append(cur)
        cur, field = new(), None

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
            continue
        if line.startswith("#~"):
            cur["obsolete"] = True
            continue
        if line.startswith("#,"):
            if cur["msgid"] is not None:
                flush()
            if "fuzzy" in [f.strip() for f in line[2:].split(",")]:
                cur["fuzzy"] = True
            continue
        if line.startswith("#"):
            continue
        m = re.match(r"^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(\".*\")$", line)
        if m:
            kw, idx, val = m.group(1), m.group(2), _po_unquote(m.group(3))
            if kw in ("msgid", "msgctxt") and cur["msgid"] is not None and (cur["msgstr"] is not None or cur["msgstr_plural"]):
                flush()
            if kw == "msgstr" and idx is not None:
                cur["msgstr_plural"][int(idx)] = val
                field = ("msgstr_plural", int(idx))
            else:
                cur[kw] = val
                field = (kw,)
            continue
        if line.startswith('"') and field is not None:
            val = _po_unquote(line)
            if field[0] == "msgstr_plural":
                cur["msgstr_plural"][field[1]] += val
            else:
                cur[field[0]] += val
    flush()
    return [e for e in entries if not e["obsolete"]]


_PLACEHOLDER = re.compile(r"%\(\w+\)[a-zA-Z]|%[sdifr]|\{[^}]*\}|%%")


def po_pairs(entries: Iterable[dict]) -> list[dict[str, str]]:
    """Usable ``{"source", "target"}`` pairs from parsed .po entries: skips the
    header, empty/fuzzy/plural entries and strings with format placeholders."""
    out = []
    for e in entries:
        src, tgt = e.get("msgid") or "", e.get("msgstr") or ""
        if not src or not tgt or e.get("fuzzy") or e.get("msgid_plural") is not None or e.get("msgstr_plural"):
            continue
        if _PLACEHOLDER.search(src) or _PLACEHOLDER.search(tgt):
            continue
        out.append({"source": normalize_space(src), "target": normalize_space(tgt)})
    return out


def fetch_django_wheel(cache: Path) -> Path:
    dest = cache / "django"
    hits = sorted(dest.glob(f"[Dd]jango-{DJANGO_VERSION}-*.whl"))
    if not hits:
        _pip_download(dest, f"django=={DJANGO_VERSION}", "--only-binary", ":all:")
        hits = sorted(dest.glob(f"[Dd]jango-{DJANGO_VERSION}-*.whl"))
    return hits[0]


def django_pairs(wheel: Path) -> list[dict[str, str]]:
    pat = re.compile(r"^django/(conf|contrib/[^/]+)/locale/es/LC_MESSAGES/django\.po$")
    out = []
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(n for n in zf.namelist() if pat.match(n)):
            for p in po_pairs(parse_po(zf.read(name).decode("utf-8"))):
                if keep_pair(p["source"], p["target"]):
                    out.append({"package": "django:" + name, **p})
    return out
