"""A second translation test set, in another register than package descriptions: the human Spanish
gettext catalogues shipped inside two Python packages on PyPI, Sphinx (a documentation tool's
messages and command-line help) and trytond (an ERP server's field help and error messages).

It is only tested on, never trained on: Django's catalogues feed the training file, so neither
package here is Django, and every row whose source is also in train/validation is dropped. Apertium's
translations of it are stored beside it, as for the Debian test split.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Iterable

from tools.build_data.common import _norm_key, _pip_download, keep_pair, normalize_space, sha256_file, shuffled
from tools.build_data.django_po import parse_po

# (distribution, version, catalogues inside its wheel), pinned so that the build is repeatable.
SOURCES = (
    ("sphinx", "9.0.4", ("sphinx/locale/es/LC_MESSAGES/sphinx.po",)),
    ("trytond", "8.2.1", ("trytond/ir/locale/es.po", "trytond/res/locale/es.po")),
)
LICENCE_GETTEXT = "BSD-2-Clause (Sphinx); GPL-3.0-or-later (trytond)"
CLEANING = ("non-fuzzy, non-plural, non-empty msgstr; HTML tags removed; a trailing ': <placeholder>' cut off "
            "(e.g. 'syntax error in your configuration file: %s'), any other printf/brace placeholder skips the "
            "entry; the translation pair filter (3-60 words, length ratio, no code/paths/lists); sentence-like "
            "(starts with a letter, at most half the words capitalised, so no Title Case labels); duplicates and "
            "sources found in translation train/validation dropped; sorted, then shuffled with the seed")

_PLACEHOLDER = re.compile(r"%\(\w+\)[a-zA-Z]|%[sdifr]|\{[^}]*\}|%%")
_TRAILING_PLACEHOLDER = re.compile(r"\s*:\s*(%\(\w+\)[a-zA-Z]|%[sdifr]|\{\w*\})[\s.]*$")
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*>")


def _clean(text: str) -> str | None:
    """The message with tags and a trailing ': %s' removed, or None when a placeholder is left inside."""
    text = normalize_space(_TRAILING_PLACEHOLDER.sub("", _HTML_TAG.sub("", text)))
    return None if _PLACEHOLDER.search(text) or "&" in text else text


def _sentence_like(text: str) -> bool:
    """Prose rather than a label: "Module Config Start" or "View Tree State" are menu names, not messages."""
    words = text.split()
    return text[:1].isalpha() and sum(w[:1].isupper() for w in words) * 2 <= len(words)


def gettext_pairs(catalogues: dict[str, str], exclude: Iterable[str], size: int, seed: int = 0) -> list[dict]:
    """Up to `size` clean ``{"source", "target", "origin"}`` pairs from .po texts (origin name -> text),
    none of whose sources is in `exclude` (after ``_norm_key``); deterministic for the same inputs."""
    seen = {_norm_key(s) for s in exclude}
    pairs = []
    for origin in sorted(catalogues):
        for entry in parse_po(catalogues[origin]):
            if entry["fuzzy"] or entry["msgid_plural"] is not None or entry["msgstr_plural"]:
                continue
            source, target = _clean(entry["msgid"] or ""), _clean(entry["msgstr"] or "")
            if not source or not target or not keep_pair(source, target) or not _sentence_like(source):
                continue
            if _norm_key(source) not in seen:
                seen.add(_norm_key(source))
                pairs.append({"source": source, "target": target, "origin": origin})
    return shuffled(pairs, seed=seed, key=lambda r: (r["source"], r["target"], r["origin"]))[:size]


def fetch_catalogues(cache: Path) -> tuple[dict[str, str], str]:
    """The catalogues' texts by origin ("sphinx==9.0.4:sphinx/locale/...") and their provenance in words."""
    texts, provenance = {}, []
    for name, version, paths in SOURCES:
        dest = cache / name
        wheels = sorted(dest.glob(f"{name}-{version}-*.whl"))
        if not wheels:
            _pip_download(dest, f"{name}=={version}", "--only-binary", ":all:")
            wheels = sorted(dest.glob(f"{name}-{version}-*.whl"))
        with zipfile.ZipFile(wheels[0]) as wheel:
            for path in paths:
                texts[f"{name}=={version}:{path}"] = wheel.read(path).decode("utf-8")
        provenance.append(f"PyPI wheel {wheels[0].name} (sha256 {sha256_file(wheels[0])}): {', '.join(paths)}")
    return texts, "; ".join(provenance)
