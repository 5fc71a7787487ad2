"""Orchestration: build the translation and summarization splits, the example
uploads for the Train tab, and ``MANIFEST.json``.

``build()`` is the entry point used by ``python -m tools.build_data``; the
sentiment task is built by ``tools.build_data.vader.build_sentiment``.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from finetune.data import read_jsonl
from tools.build_data.apertium import _dpkg_versions, ensure_apertium
from tools.build_data.common import (
    DEFAULT_CACHE,
    DEFAULT_EXAMPLES,
    DEFAULT_OUT,
    FILTERS,
    LICENCE_DEBIAN,
    LICENCE_DJANGO,
    LICENCE_VADER,
    REPO_ROOT,
    SEED,
    SIZES,
    TASKS,
    _log,
    _norm_key,
    _write_csv,
    _write_jsonl,
    sha256_file,
    shuffled,
    split_by_group,
    word_count,
)
from tools.build_data.debian import (
    DEBIAN_CODENAME,
    _debian_source,
    debian_pairs,
    debian_translations,
    parse_deb822,
    summarization_records,
)
from tools.build_data.django_po import DJANGO_VERSION, django_pairs, fetch_django_wheel
from tools.build_data.gettext_test import CLEANING, LICENCE_GETTEXT, SOURCES, fetch_catalogues, gettext_pairs
from tools.build_data.pypi_meta import CLEANING as CLEANING_PYPI
from tools.build_data.pypi_fetch import PACKAGES_FILE, select_records
from tools.build_data.pypi_meta import LICENCE_PYPI, pypi_splits
from tools.build_data.vader import VADER_VERSION, build_sentiment


# --------------------------------------------------------------------------
# Translation + summarization builders
# --------------------------------------------------------------------------


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
    entries.update(build_gettext_test(out, cache, train + val))
    return entries


def build_gettext_test(out: Path, cache: Path, trained: list[dict]) -> dict:
    """The second test split (software messages from PyPI packages' Spanish catalogues) and Apertium's
    translations of it, so that the adapter is also measured outside the register it was trained on."""
    from finetune.peers import apertium_translate

    catalogues, provenance = fetch_catalogues(cache)
    rows = gettext_pairs(catalogues, [r["source"] for r in trained], SIZES["translation"]["test"])
    per_origin = ", ".join(f"{sum(r['origin'] == o for r in rows)} from {o}" for o in sorted(catalogues))
    _log(f"gettext test: {len(rows)} rows ({per_origin})")
    rel = "translation/test_gettext.jsonl"
    _write_jsonl(out / rel, [{"source": r["source"], "target": r["target"]} for r in rows])
    entries = {rel: {"source": f"{provenance}; {per_origin}", "licence": LICENCE_GETTEXT, "cleaning": CLEANING}}
    preds = apertium_translate([r["source"] for r in rows])
    rel = "translation/test_gettext_apertium.jsonl"
    _write_jsonl(out / rel, [{"source": r["source"], "target": r["target"], "prediction": p} for r, p in zip(rows, preds)])
    entries[rel] = {
        "source": f"translation/test_gettext.jsonl + predictions of `apertium -u -f txt eng-spa` (Debian packages "
                  f"{_dpkg_versions(['apertium', 'apertium-eng-spa'])})",
        "licence": f"{LICENCE_GETTEXT}; predictions produced by Apertium (GPL-2.0+/GPL-3.0 tools and data)",
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


def build_summarization_pypi(out: Path, cache: Path, resample: bool = False) -> dict:
    """A second summarization domain: PyPI packages' Description -> Summary (``pypi_meta.py``), with its
    test split cut first and never trained on; rows whose summary or text is in the Debian files are out."""
    debian = [r for name in ("train", "validation", "test") for r in read_jsonl(out / f"summarization/{name}.jsonl")]
    pins = out / PACKAGES_FILE
    records, selection = select_records(cache, pins, [r["summary"] for r in debian], [r["text"] for r in debian],
                                        resample=resample)
    sz = SIZES["summarization_pypi"]
    splits = pypi_splits(records, sz["test"], sz["validation"], sz["train_max"])
    _log("summarization (PyPI): " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    entries = {}
    for name in ("train", "validation", "test"):
        rel = f"summarization/{name}_pypi.jsonl"
        _write_jsonl(out / rel, [{"text": r["text"], "summary": r["summary"]} for r in splits[name]])
        entries[rel] = {"source": " ".join(selection) + f" Pinned in {PACKAGES_FILE} (sha256 {sha256_file(pins)}); "
                                  "Description (README) -> Summary; split: sorted, shuffled with the seed, cut "
                                  "test first (one row per package, so no package is shared between splits)",
                        "licence": LICENCE_PYPI, "cleaning": CLEANING_PYPI}
    return entries


# --------------------------------------------------------------------------
# Example uploads for the Train tab
# --------------------------------------------------------------------------


def build_examples(out: Path, examples: Path) -> dict:
    sz = SIZES["examples"]
    entries = {}
    rng = random.Random(SEED)

    # Sentiment: short, balanced.
    sent = [r for r in read_jsonl(out / "sentiment/train.jsonl") if 6 <= word_count(r["text"]) <= 30 and "\n" not in r["text"]]
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
    tr = [r for r in read_jsonl(out / "translation/train.jsonl") if 3 <= word_count(r["source"]) <= 10]
    tr = tr[: sz["translation"]]
    _write_csv(examples / "translation_en_es.csv", ["source", "target"], [(r["source"], r["target"]) for r in tr])
    entries["translation_en_es.csv"] = {"source": "rows of assets/data/translation/train.jsonl (3-10 source words)",
                                        "licence": f"{LICENCE_DEBIAN}; {LICENCE_DJANGO}"}

    # Summarization: shorter descriptions.
    sm = [r for r in read_jsonl(out / "summarization/train.jsonl") if word_count(r["text"]) <= 100][: sz["summarization"]]
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
            entries = {**build_summarization(out, deb), **build_summarization_pypi(out, cache)}
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
            "command": f"python -m tools.build_data --out {out_rel}",
            "seed": SEED,
            "sizes": SIZES,
            "filters": FILTERS,
            "inputs": {
                "vaderSentiment": f"vaderSentiment=={VADER_VERSION} sdist from PyPI (pip download --no-binary :all: --no-deps)",
                "django": f"Django=={DJANGO_VERSION} wheel from PyPI (pip download --no-deps --only-binary :all:)",
                "debian": f"apt-get update -o Acquire::Languages=es,en; {DEBIAN_CODENAME} main i18n Translation-en/-es",
                "apertium": "Debian packages apertium + apertium-eng-spa",
                "pypi": "PyPI simple index + JSON API metadata of sampled packages (pinned in summarization/pypi_packages.txt)",
                "gettext": " + ".join(f"{n}=={v}" for n, v, _ in SOURCES) + " wheels from PyPI (pip download --no-deps --only-binary :all:)",
            },
            "notes": "Paths in 'files' are relative to this directory; 'examples' are relative to assets/examples.",
        },
        "files": dict(sorted(files.items())),
        "examples": dict(sorted(ex_files.items())),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    return manifest
