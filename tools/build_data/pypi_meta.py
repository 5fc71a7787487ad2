"""A second summarization domain: the ``Summary`` and ``Description`` metadata of Python packages on PyPI.

Debian's long description -> synopsis pairs are all in one house style (written for ``apt``); a
package's PyPI ``Description`` (its README) -> ``Summary`` is the same task in another register:
written by thousands of authors, in Markdown or reStructuredText, with badges, install steps and code.
It is built so that an adapter trained on Debian can be tested on it (``test_pypi`` is never trained
on) and so that a model can be trained on both.

Which packages, and how a rebuild reads the same metadata: ``pypi_fetch``.

Cleaning (``clean_description``) and filters (``pypi_records``)
    Markup is removed (HTML, Markdown and reStructuredText headings, badges, images, links, code
    blocks, tables, directives), boilerplate sections (installation, usage, licence, ...) are cut,
    and the rest is laid out like the Debian texts (prose re-flowed, list items one per line).  A
    pair is dropped when its summary copies the first sentence or the lead words of the description
    (``copies_lead``) -- otherwise the task would be "copy the first line" -- when either side is
    too short or long (the Debian limits, so both domains have the same shape; a long README keeps
    its leading paragraphs up to the limit), when it is not English, when its summary is a template
    ("Add your description here") or a duplicate, and when its summary or text occurs in the Debian
    summarization files.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Iterable, Sequence

from tools.build_data.common import (
    FILTERS,
    SEED,
    _norm_key,
    normalize_space,
    shuffled,
    word_count,
)
from tools.build_data.debian import split_sentences

PYPI_LEAD_WORDS = 120  # a README keeps its leading paragraphs up to this many words (Debian texts: median ~60)
LICENCE_PYPI = ("package metadata (Summary, Description) as published on PyPI, under each package's own licence "
                "(see pypi_packages.txt for the package==version of every row)")

CLEANING = (
    "HTML comments/tags removed and entities unescaped; Markdown fenced/indented code, images, badges, "
    "link targets, reference definitions, headings, tables, emphasis and inline code marks removed; "
    "reStructuredText directives (image/code/badge substitutions ...), literal blocks, section titles, "
    "roles, link targets, grid/simple tables removed; bare URLs removed; sections whose heading is "
    "installation/usage/licence/contributing/changelog/... (or such a bare line) cut; prose paragraphs "
    "re-flowed, list items "
    "one per line as '* item'; lines that look like code, ASCII art or command-line help dropped, and "
    "lines many READMEs share (OCA's bug-tracker paragraph, licence texts, table-of-contents entries); a "
    "README keeps its leading paragraphs up to 120 words (a long first paragraph: its leading sentences). "
    "Dropped: summary copying the first sentence or mostly contained in it / in the lead words "
    "(>= 70% of its content words), text or summary outside the Debian word limits, non-English "
    "(non-ASCII letters, too few English function words, or French/German/Spanish/... ones), template "
    "summaries (shared by >= 3 packages, in a known list, or starting 'test/demo/example/my ...'), the "
    "package name as summary, duplicate texts/summaries, and any "
    "summary or text also in summarization/{train,validation,test}.jsonl (Debian)."
)


# --------------------------------------------------------------------------
# --------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------

_BOILERPLATE = re.compile(
    r"^\W*(installation|installing|install|setup|getting started|quick ?start|usage|example usage|examples?|"
    r"requirements|dependencies|prerequisites|licen[cs]e|copyright|contribut\w*|development|changelog|"
    r"change ?log|changes|release notes|history|news|credits|authors?|acknowledg\w*|support|contact|"
    r"documentation|docs|testing|tests|running tests|build|building|configuration|api|api reference|"
    r"table of contents|contents|toc|faq|links|references|citation|cite|how to use|how to install|"
    r"demo|screenshots?|roadmap|todo|status|badges|maintainers?|author|version|versions|compatibility|"
    r"release history|project links|code of conduct|security|funding|sponsors?)\b",
    re.I,
)
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+.:_])\1{2,}\s*$")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}(\s|$)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_URL = re.compile(r"<?\b[a-zA-Z][\w+.-]*://[^\s<>\"')\]]*>?|\bwww\.[^\s<>\"')\]]+")
_OPTION = re.compile(r"(^|\s)--?[a-zA-Z][\w-]*")
_BULLET = re.compile(r"^\s*([*+\-•]|\d+[.)])\s+")


def _strip_inline(line: str) -> str:
    """Inline markup -> plain text (Markdown and reStructuredText)."""
    s = line
    s = re.sub(r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)", " ", s)  # linked badge [![alt](img)](link)
    s = re.sub(r"\[!\[[^\]]*\]\[[^\]]*\]\]\[[^\]]*\]", " ", s)  # reference-style linked badge
    s = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", s)  # image
    s = re.sub(r"!\[[^\]]*\]\[[^\]]*\]", " ", s)
    s = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s)  # [text](url)
    s = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", s)  # [text][ref]
    s = re.sub(r"`([^`<]+?)\s*<[^>]+>`__?", r"\1", s)  # rst `text <url>`_
    s = re.sub(r":[\w:+-]+:`([^`]*)`", r"\1", s)  # rst :role:`text`
    s = re.sub(r"``([^`]+)``", r"\1", s)  # rst inline literal
    s = re.sub(r"`([^`]+)`__?", r"\1", s)  # rst `text`_
    s = re.sub(r"`([^`]+)`", r"\1", s)  # md inline code
    s = re.sub(r"\|[\w .-]+\|_{0,2}", " ", s)  # rst substitution |badge|
    s = re.sub(r"(?<!\w)(\*\*|__)(?=\S)(.+?)(?<=\S)\1(?!\w)", r"\2", s)  # strong
    s = re.sub(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])", r"\1", s)  # emphasis
    s = re.sub(r"(?<![\w_])_(?=\S)([^_]+?)(?<=\S)_(?![\w_])", r"\1", s)
    s = re.sub(r"\b(\w+)_(?=[\s.,;:)]|$)", r"\1", s)  # rst reference word_
    s = _URL.sub(" ", s)
    s = re.sub(r"\S*://\S*", " ", s)  # what is left of a URL whose parts were <placeholders>
    s = s.replace("**", "").replace("__", " ")  # emphasis marks left unpaired
    s = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|>])", r"\1", s)  # markdown escapes
    s = re.sub(r"\(\s*\)|\[\s*\]", " ", s)  # brackets left empty by removed links
    s = re.sub(r"\s+([,.;:!?])", r"\1", s)
    return normalize_space(s)


def _is_table(line: str) -> bool:
    s = line.strip()
    return (s.startswith("|") and s.count("|") >= 2) or bool(re.fullmatch(r"[+|=:\- ]{3,}", s)) and ("+" in s or "|" in s or "=" in s or " " in s) \
        or bool(re.fullmatch(r"\+[-=+]+\+", s))


def clean_description(text: str, max_words: int | None = None) -> str:
    """A README (Markdown, reStructuredText, HTML or plain) as plain text in the Debian texts' layout.

    Headings, badges, images, code, tables and link targets go; a section whose heading is boilerplate
    (installation, usage, licence, ...) is cut up to the next heading; prose paragraphs are re-flowed
    onto one line and list items kept one per line as ``* item``.  With ``max_words``, only whole
    leading paragraphs that fit are kept (a README's opening is what its summary describes)."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"<(script|style|pre|code|table|svg)\b.*?</\1>", "\n\n", text, flags=re.S | re.I)
    text = re.sub(r"<br\s*/?>|</?(p|div|h[1-6]|li|ul|ol|details|summary|picture|center)\b[^>]*>", "\n\n", text,
                  flags=re.I)
    text = re.sub(r"<h[1-6]\b[^>]*>.*?</h[1-6]>", "\n\n", text, flags=re.S | re.I)
    text = re.sub(r"</?[a-zA-Z][\w-]*(\s[^<>]*)?/?>", " ", text)
    text = html.unescape(text)

    lines = text.split("\n")
    blocks: list[list[str]] = []  # paragraphs of raw lines
    cur: list[str] = []
    skip_section = False
    skip_indent: int | None = None  # inside an rst directive / literal block: skip lines indented deeper
    in_fence = False
    i = 0

    def flush() -> None:
        nonlocal cur
        if cur and not skip_section:
            blocks.append(cur)
        cur = []

    while i < len(lines):
        # block quotes (Markdown '>') and line blocks (reStructuredText '| ') read as plain lines
        line = lines[i] = re.sub(r"^\s{0,3}(>\s?|\|\s(?!.*\|\s*$))", "", lines[i]) if not in_fence else lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if in_fence:
            if _FENCE.match(line):
                in_fence = False
            i += 1
            continue
        if _FENCE.match(line):
            flush()
            in_fence = True
            i += 1
            continue
        if skip_indent is not None:
            if not stripped or indent > skip_indent:
                i += 1
                continue
            skip_indent = None
        # headings: markdown '#', rst/markdown setext (title + underline), rst over+underline
        heading = None
        if _MD_HEADING.match(line):
            heading = stripped.strip("#").strip()
        elif stripped and _RST_UNDERLINE.match(nxt.strip() or "x") and not _RST_UNDERLINE.match(stripped) \
                and len(nxt.strip()) >= min(3, len(stripped)) and not _BULLET.match(line):
            heading = stripped
            i += 1
        elif _RST_UNDERLINE.match(stripped) and nxt.strip() and i + 2 < len(lines) \
                and _RST_UNDERLINE.match(lines[i + 2].strip() or "x"):
            heading = nxt.strip()
            i += 2
        if heading is not None:
            flush()
            skip_section = bool(_BOILERPLATE.match(_strip_inline(heading)))
            i += 1
            continue
        if _RST_UNDERLINE.match(stripped) or re.fullmatch(r"(\*\s*){3,}|(-\s*){3,}|(_\s*){3,}", stripped):
            flush()  # transition / horizontal rule
            i += 1
            continue
        if not stripped:
            flush()
            i += 1
            continue
        if not cur and not nxt.strip() and word_count(stripped) <= 4 and _BOILERPLATE.match(_strip_inline(stripped)) \
                and not stripped.endswith((".", "!", "?")):
            skip_section = True  # a bare "License" / "Usage" line: a heading without its markup
            i += 1
            continue
        if re.match(r"\.\.\s", stripped) or stripped == "..":  # rst directive, comment, target, substitution
            flush()
            skip_indent = indent
            i += 1
            continue
        if re.match(r"^\s{0,3}\[[^\]]+\]:\s*\S", line):  # markdown reference definition
            i += 1
            continue
        if indent >= 4 and not cur and not (blocks and _BULLET.match(blocks[-1][-1])):
            # an indented code block (markdown) or block quote / literal (rst): skip the block
            skip_indent = indent - 1
            i += 1
            continue
        if _is_table(line):
            flush()
            i += 1
            continue
        if stripped.startswith((">>>", "$ ", "...", "% ", "pip install", "python -m", "conda install")):
            flush()
            skip_indent = indent - 1 if indent else -1
            i += 1
            continue
        cur.append(line.rstrip())
        if stripped.endswith("::"):  # rst literal block follows
            cur[-1] = cur[-1][:-2].rstrip() + (":" if not cur[-1][:-2].rstrip().endswith(":") else "")
            flush()
            skip_indent = indent
        i += 1
    flush()

    paras: list[str] = []
    for block in blocks:
        out: list[str] = []  # raw items (markup still in: a link may span lines), then stripped
        for raw in block:
            s = raw.strip()
            bullet = _BULLET.match(s)
            body = s[bullet.end():] if bullet else s
            if bullet or not out:
                out.append(("* " if bullet else "") + body)
            elif out[-1].startswith("* ") and raw[:1].isspace():
                out[-1] += " " + body  # continuation of a list item
            elif out[-1].startswith("* "):
                out.append(body)
            else:
                out[-1] += " " + body
        out = [("* " if x.startswith("* ") else "") + _strip_inline(x[2:] if x.startswith("* ") else x) for x in out]
        out = [normalize_space(x) for x in out if any(ch.isalpha() for ch in x) and _prose_like(x)]
        if out:
            paras.append("\n".join(out))
    # A line ending in ':' whose list or code was removed introduces nothing, nor does a label
    # such as 'Example:': drop them.
    paras = ["\n".join(ln for j, ln in enumerate(p.split("\n"))
                       if not ln.endswith(":") or (word_count(ln) > 3 and not (
                           j == p.count("\n") and not (k + 1 < len(paras) and paras[k + 1].startswith("* ")))))
             for k, p in enumerate(paras)]
    paras = [p for p in paras if p]
    if max_words is not None:
        kept, n = [], 0
        for p in paras:
            if n + word_count(p) > max_words:
                if not kept:  # a long first paragraph: its leading sentences that fit
                    for sent in split_sentences(p.split("\n", 1)[0]):
                        if n + word_count(sent) > max_words:
                            break
                        kept.append(sent)
                        n += word_count(sent)
                    kept = [" ".join(kept)] if kept else []
                break
            kept.append(p)
            n += word_count(p)
        paras = kept
    return "\n".join(paras).strip()


# Lines that many READMEs share word for word (OCA's Odoo add-on template, licence texts, a table of
# contents): they say nothing about the package.
_BOILERPLATE_LINE = re.compile(
    r"^(bugs are tracked on github issues|do not contact contributors directly|odoo community association|"
    r"the development of this module has been financially supported|this module is maintained by|"
    r"the above copyright notice|the software is provided \"?as is|permission is hereby granted|copyright \(c\)|"
    r"free software: |licen[cs]e: |initial release$)", re.I)


def _prose_like(line: str) -> bool:
    """Words rather than leftovers of code or markup: mostly letters, few code characters; not a
    boilerplate line, a lone word or a table-of-contents entry ("* Installation")."""
    s = line[2:] if line.startswith("* ") else line
    if not s or word_count(s) < 2 and not line.startswith("* ") or _BOILERPLATE_LINE.match(s):
        return False
    if line.startswith("* ") and word_count(s) <= 3 and _BOILERPLATE.match(s):
        return False
    letters = sum(ch.isalpha() or ch.isspace() for ch in s)
    code = sum(ch in "{}[]<>=$|`\\;#~^*" for ch in s)
    return letters >= 0.75 * len(s) and code <= len(s) // 100 and len(_OPTION.findall(s)) < 2


# --------------------------------------------------------------------------
# The first-sentence copy check and the filters
# --------------------------------------------------------------------------

_STOP = frozenset(
    "a an the and or of for to in on with by from as at is are be this that it its into your you can "
    "which using use used via based simple python package library module tool tools".split())
_ENGLISH = frozenset(
    "the and of to a in is for that with it as on are this be by from an or can which you your it's "
    "not will have has use using also all more".split())

_FOREIGN = frozenset(
    "para pour avec und der die das mit für fur een het voor una los las del con dans sur les des une ein "
    "eine zur zum não nao em um uma é della che ou você sind ist nicht auf für est sont que qui il di dal".split())

TEMPLATE_SUMMARIES = frozenset(_norm_key(s) for s in (
    "Add your description here", "A short description of the project", "A small example package",
    "My first Python package", "Package description", "A sample Python project", "A Python package",
    "Short description", "Description", "Python package", "A python library", "No description",
    "Test package", "A test package", "UNKNOWN", "TODO", "A package", "An example package",
    "A simple Python package", "Default template for PDM package", "A description of the package",
    "Your project description", "A Python project", "An awesome package",
))


# "test demo for x", "my first package", "a placeholder": not a summary of anything
_PLACEHOLDER = re.compile(r"^(a |an |the )?(test|testing|demo|sample|example|placeholder|my|hello|dummy|tutorial)\b")


def _content_words(text: str) -> list[str]:
    return [w for w in _norm_key(text).split() if w not in _STOP]


def copies_lead(summary: str, text: str) -> bool:
    """True when the summary is (mostly) a copy of the text's opening: equal to or contained in its
    first sentence, or at least 70% of its content words found in the first sentence or in the lead
    words (the first ``2 * len(summary) + 10`` words).  Such pairs teach copying, not summarizing."""
    first = split_sentences(text.split("\n", 1)[0])[:1]
    first_key = _norm_key(first[0]) if first else ""
    s_key = _norm_key(summary)
    if not s_key or not first_key:
        return bool(s_key)
    if s_key == first_key or s_key in first_key or first_key in s_key:
        return True
    words = _content_words(summary)
    if not words:
        return True
    lead = set(_norm_key(" ".join(text.split()[: 2 * word_count(summary) + 10])).split())
    first_words = set(first_key.split())
    found = max(sum(w in first_words for w in words), sum(w in lead for w in words))
    return found >= 0.7 * len(words)


def is_english(text: str) -> bool:
    """Crude but dependency-free: almost only ASCII letters, and English function words make up at
    least 8% of the words and outnumber common French/German/Spanish/Portuguese/Dutch ones four to one
    (a German or Chinese README fails one or the other).  A summary with any of those words is dropped too."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters or sum(ch.isascii() for ch in letters) < 0.98 * len(letters):
        return False
    words = _norm_key(text).split()
    english, foreign = sum(w in _ENGLISH for w in words), sum(w in _FOREIGN for w in words)
    return bool(words) and english >= 0.08 * len(words) and foreign * 4 <= english


def summary_ok(summary: str, name: str) -> bool:
    f = FILTERS["summarization"]
    if not (f["summary_words"][0] <= word_count(summary) <= f["summary_words"][1]):
        return False
    key = _norm_key(summary)
    if key in TEMPLATE_SUMMARIES or key in (_norm_key(name), "") or _URL.search(summary) or _PLACEHOLDER.match(key):
        return False
    letters = [ch for ch in summary if ch.isalpha()]
    return bool(letters) and all(ch.isascii() for ch in letters) and len(letters) >= 0.6 * len(summary.replace(" ", ""))


def pypi_records(metas: dict[str, dict | None], exclude_summaries: Iterable[str] = (),
                 exclude_texts: Iterable[str] = ()) -> tuple[list[dict], Counter]:
    """``{"package", "version", "text", "summary"}`` records from metadata by name, and the number of
    packages dropped by each filter (in the order the filters are applied; a package counts once)."""
    f = FILTERS["summarization"]
    lo, hi = f["text_words"]
    bad_s = {_norm_key(s) for s in exclude_summaries}
    bad_t = {_norm_key(t) for t in exclude_texts}
    bad_t |= {_norm_key(t.split("\n", 1)[0]) for t in exclude_texts}
    drops: Counter = Counter()
    cands = []
    for name in sorted(metas):
        meta = metas[name]
        if not meta:
            drops["gone (404)"] += 1
            continue
        info = meta["info"]
        summary = normalize_space(info.get("summary") or "")
        desc = info.get("description") or ""
        if not summary or not desc.strip() or desc.strip() == "UNKNOWN":
            drops["no summary or description"] += 1
            continue
        if not summary_ok(summary, name):
            drops["summary: length/template/name/URL/non-ASCII"] += 1
            continue
        text = clean_description(desc, max_words=PYPI_LEAD_WORDS)
        if not (lo <= word_count(text) <= hi):
            drops[f"text not {lo}-{hi} words after cleaning"] += 1
            continue
        if not is_english(text) or sum(w in _FOREIGN for w in _norm_key(summary).split()) >= 1:
            drops["not English"] += 1
            continue
        if copies_lead(summary, text):
            drops["summary copies the first sentence / lead words"] += 1
            continue
        if _norm_key(summary) in bad_s or _norm_key(text) in bad_t or _norm_key(text.split("\n", 1)[0]) in bad_t:
            drops["also in the Debian summarization files"] += 1
            continue
        cands.append({"package": name, "version": info.get("version") or "", "text": text, "summary": summary})
    # Templates: a summary shared by 3+ packages is boilerplate (a generator's default), not a summary.
    counts = Counter(_norm_key(r["summary"]) for r in cands)
    out, seen_s, seen_t = [], set(), set()
    for r in cands:
        s_key, t_key = _norm_key(r["summary"]), _norm_key(r["text"].split("\n", 1)[0])
        if counts[s_key] >= 3:
            drops["summary shared by 3+ packages (template)"] += 1
        elif s_key in seen_s or t_key in seen_t:
            drops["duplicate summary or first paragraph"] += 1
        else:
            seen_s.add(s_key)
            seen_t.add(t_key)
            out.append(r)
    return out, drops


def pypi_splits(records: Sequence[dict], test: int, validation: int, train: int | None = None,
                seed: int = SEED) -> dict[str, list[dict]]:
    """Test, validation and train: sorted, shuffled with the seed, cut test-first.

    Each package gives one record, so no package is shared between splits; cutting the test split
    first keeps it fixed however large train is made."""
    rows = shuffled(records, seed=seed, key=lambda r: (r["package"], r["version"], r["summary"], r["text"]))
    a, b = test, test + validation
    return {"test": rows[:a], "validation": rows[a:b], "train": rows[b: None if train is None else b + train]}
