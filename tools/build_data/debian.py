"""Debian DDTP ``Translation-en`` / ``Translation-es`` indices.

Parses deb822 paragraphs and package descriptions, splits and aligns sentences,
and derives two things from them: English->Spanish sentence pairs (records
paired by ``Description-md5``) and long-description -> synopsis summarization
records.  ``debian_translations`` snapshots the apt list files into the cache.
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from tools.build_data.common import (
    FILTERS,
    _apt_install,
    _log,
    _norm_key,
    keep_pair,
    normalize_space,
    sha256_bytes,
    word_count,
)

DEBIAN_CODENAME = "bookworm"
APT_LISTS = Path("/var/lib/apt/lists")


# --------------------------------------------------------------------------
# deb822 paragraphs and package descriptions
# --------------------------------------------------------------------------


def parse_deb822(text: str) -> list[dict[str, str]]:
    """Parse deb822 paragraphs.  Multi-line values keep their continuation lines
    verbatim (including the leading space), joined with ``\\n``."""
    paragraphs: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if cur:
                paragraphs.append(cur)
            cur, last = {}, None
            continue
        if line[0] in " \t":
            if last is not None:
                cur[last] += "\n" + line
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        last = key.strip()
        cur[last] = value.strip()
    if cur:
        paragraphs.append(cur)
    return paragraphs


def split_description(value: str) -> tuple[str, list[list[str]]]:
    """Split a Description value into (synopsis, paragraphs).

    Each paragraph is a list of lines with the single leading space removed; a
    line that still starts with whitespace is a verbatim (list/code) line.
    """
    lines = value.split("\n")
    synopsis = lines[0].strip()
    paragraphs: list[list[str]] = []
    cur: list[str] = []
    for raw in lines[1:]:
        line = raw[1:] if raw[:1] in (" ", "\t") else raw
        if line.strip() == ".":
            if cur:
                paragraphs.append(cur)
            cur = []
        else:
            cur.append(line.rstrip())
    if cur:
        paragraphs.append(cur)
    return synopsis, paragraphs


def is_verbatim(paragraph: Sequence[str]) -> bool:
    return any(line[:1].isspace() for line in paragraph)


def paragraph_prose(paragraph: Sequence[str]) -> str:
    return normalize_space(" ".join(paragraph))


_BULLET = re.compile(r"^([*+\-•o]|\d+[.)]|[a-z][.)])\s")


def description_text(paragraphs: Sequence[Sequence[str]]) -> str:
    """Long description as plain text: prose lines re-flowed, list items one per
    line, paragraphs (``" ."``) separated by newlines."""
    out_paras = []
    for para in paragraphs:
        lines: list[str] = []
        mode = None
        for raw in para:
            s = raw.strip()
            if not s:
                continue
            verb = raw[:1].isspace()
            if verb:
                if mode == "verb" and not _BULLET.match(s) and lines and raw.startswith("   "):
                    lines[-1] += " " + s  # indented continuation of a list item
                else:
                    lines.append(s)
                mode = "verb"
            else:
                if mode == "prose":
                    lines[-1] += " " + s
                else:
                    lines.append(s)
                mode = "prose"
        if lines:
            out_paras.append("\n".join(normalize_space(x) for x in lines))
    return "\n".join(out_paras).strip()


# --------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------


_ABBREV = {
    "e.g.", "i.e.", "etc.", "vs.", "mr.", "mrs.", "dr.", "st.", "no.", "approx.", "cf.", "incl.",
    "vol.", "fig.", "al.", "ej.", "p.", "pág.", "aprox.", "sr.", "sra.", "núm.", "ca.", "resp.", "ver.",
    "inc.", "ltd.", "co.", "jr.", "sq.",
}
_SENT_BOUNDARY = re.compile(r"[.!?]+[\"'»”)\]]*\s+(?=[¿¡\"'«“(]*[A-ZÁÉÍÓÚÑÜ0-9])")


def split_sentences(text: str) -> list[str]:
    """Simple regex sentence splitter for English/Spanish prose.

    Splits after ``.``/``!``/``?`` followed by whitespace and an upper-case
    letter or digit, except after known abbreviations and initials (``J.``,
    ``e.g.``, ``A.C.``).
    """
    text = normalize_space(text)
    if not text:
        return []
    out: list[str] = []
    start = 0
    for m in _SENT_BOUNDARY.finditer(text):
        chunk = text[start: m.end()].strip()
        last = chunk.split()[-1].lower().strip("\"'«»“”()[]")
        if last in _ABBREV or re.fullmatch(r"(?:[^\W\d_]\.)+", last):
            continue
        out.append(chunk)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def align_paragraph_sentences(en: str, es: str) -> list[tuple[str, str]]:
    """Pair sentences of an English and a Spanish paragraph when both split into
    the same number of sentences; otherwise return nothing."""
    en_s, es_s = split_sentences(en), split_sentences(es)
    if not en_s or len(en_s) != len(es_s):
        return []
    return list(zip(en_s, es_s))


# --------------------------------------------------------------------------
# Translation pairs and summarization records
# --------------------------------------------------------------------------


def debian_pairs(en_records: Sequence[dict[str, str]], es_records: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """Sentence pairs from DDTP records paired by ``Description-md5``.

    Returns ``{"package", "source", "target"}`` dicts (synopses plus sentences of
    prose paragraphs whose sentence counts match), filtered with ``keep_pair``.
    """
    en_by_md5 = {r["Description-md5"]: r["Description-en"] for r in en_records
                 if "Description-md5" in r and "Description-en" in r}
    out: list[dict[str, str]] = []
    for rec in sorted(es_records, key=lambda r: (r.get("Package", ""), r.get("Description-md5", ""))):
        en_val = en_by_md5.get(rec.get("Description-md5", ""))
        es_val = rec.get("Description-es")
        if en_val is None or es_val is None:
            continue
        en_syn, en_paras = split_description(en_val)
        es_syn, es_paras = split_description(es_val)
        pairs = [(normalize_space(en_syn), normalize_space(es_syn))]
        if len(en_paras) == len(es_paras):
            for ep, sp in zip(en_paras, es_paras):
                if is_verbatim(ep) or is_verbatim(sp):
                    continue
                pairs.extend(align_paragraph_sentences(paragraph_prose(ep), paragraph_prose(sp)))
        for src, tgt in pairs:
            if keep_pair(src, tgt):
                out.append({"package": rec["Package"], "source": src, "target": tgt})
    return out


def summarization_records(en_records: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """``{"package", "text", "summary"}`` from Translation-en records.

    Keeps 40-250-word descriptions with a 3-15-word synopsis that is not just the
    package name; de-duplicates by first paragraph (so -dev/-doc/lib siblings
    sharing a description collapse to one record).
    """
    f = FILTERS["summarization"]
    seen: set[str] = set()
    out = []
    for rec in sorted(en_records, key=lambda r: (r.get("Package", ""), r.get("Description-md5", ""))):
        val = rec.get("Description-en")
        pkg = rec.get("Package", "")
        if not val:
            continue
        synopsis, paras = split_description(val)
        synopsis = normalize_space(synopsis)
        text = description_text(paras)
        if not (f["text_words"][0] <= word_count(text) <= f["text_words"][1]):
            continue
        if not (f["summary_words"][0] <= word_count(synopsis) <= f["summary_words"][1]):
            continue
        if _norm_key(synopsis) in (_norm_key(pkg), ""):
            continue
        key = _norm_key(text.split("\n", 1)[0])
        if key in seen:
            continue
        seen.add(key)
        out.append({"package": pkg, "text": text, "summary": synopsis})
    return out


# --------------------------------------------------------------------------
# Fetching the Translation-* indices
# --------------------------------------------------------------------------


def _find_translation(lang: str) -> Path | None:
    pat = str(APT_LISTS / f"*_dists_{DEBIAN_CODENAME}_main_i18n_Translation-{lang}*")
    hits = sorted(p for p in glob.glob(pat) if not p.endswith((".diff", ".IndexDiff")))
    return Path(hits[0]) if hits else None


def decompress(path: Path) -> bytes:
    """Read an apt list file, decompressing lz4/gz/xz/bz2 by suffix."""
    name = path.name
    if name.endswith(".lz4"):
        if shutil.which("lz4") is None:
            try:
                import lz4.frame  # type: ignore

                return lz4.frame.decompress(path.read_bytes())
            except ImportError:
                _apt_install(["lz4"])
        return subprocess.run(["lz4", "-dc", str(path)], check=True, capture_output=True).stdout
    if name.endswith(".gz"):
        import gzip

        return gzip.decompress(path.read_bytes())
    if name.endswith(".xz"):
        import lzma

        return lzma.decompress(path.read_bytes())
    if name.endswith(".bz2"):
        import bz2

        return bz2.decompress(path.read_bytes())
    return path.read_bytes()


def debian_translations(cache: Path, refresh: bool = False) -> dict[str, dict]:
    """Return {"en": {...}, "es": {...}} with decompressed text + provenance.

    The apt list files are copied into the cache on first use so rebuilds on the
    same machine use the same snapshot even after a later ``apt-get update``.
    """
    dest = cache / "debian"
    dest.mkdir(parents=True, exist_ok=True)
    cached = {lang: sorted(dest.glob(f"*Translation-{lang}*")) for lang in ("en", "es")}
    if refresh or not (cached["en"] and cached["es"]):
        if _find_translation("es") is None or _find_translation("en") is None or refresh:
            _log("apt-get update -o Acquire::Languages=es,en")
            subprocess.run(["apt-get", "update", "-o", "Acquire::Languages=es,en"], check=True)
        for old in dest.iterdir():
            old.unlink()
        for lang in ("en", "es"):
            src = _find_translation(lang)
            if src is None:
                raise RuntimeError(f"no Translation-{lang} index for {DEBIAN_CODENAME} under {APT_LISTS}")
            shutil.copy2(src, dest / src.name)
        rel = sorted(glob.glob(str(APT_LISTS / f"*_dists_{DEBIAN_CODENAME}_InRelease")))
        if rel:
            shutil.copy2(rel[0], dest / "InRelease")
        cached = {lang: sorted(dest.glob(f"*Translation-{lang}*")) for lang in ("en", "es")}
    info = {}
    rel_text = (dest / "InRelease").read_text(encoding="utf-8", errors="replace") if (dest / "InRelease").exists() else ""
    release = {}
    for key in ("Origin", "Version", "Codename", "Date"):
        m = re.search(rf"^{key}: (.*)$", rel_text, re.M)
        if m:
            release[key.lower()] = m.group(1).strip()
    for lang in ("en", "es"):
        path = cached[lang][0]
        data = decompress(path)
        info[lang] = {
            "text": data.decode("utf-8"),
            "file": path.name,
            "sha256": sha256_bytes(data),
            "release": release,
        }
    return info


def _debian_source(info: dict, langs: Sequence[str]) -> str:
    rel = next(iter(info.values()))["release"]
    desc = f"Debian {rel.get('version', '?')} ({rel.get('codename', DEBIAN_CODENAME)}) main/i18n, Release Date {rel.get('date', '?')}"
    files = ", ".join(f"Translation-{l} (sha256 {info[l]['sha256']})" for l in langs)
    return f"{desc}: {files}"
