"""Offline "peer" systems that fine-tuned models are compared against.

* sentiment:     VADER (rule-based, pip dependency ``vaderSentiment``).
* translation:   Apertium eng-spa (Debian package; its test-set outputs are
                 stored in ``assets/data/translation/test_apertium.jsonl`` so
                 evaluation never needs apt).
* summarization: the lead baseline (first N words).
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_label(texts: list[str]) -> list[str]:
    """Label each text "positive" (VADER compound >= 0) or "negative"."""
    analyzer = _vader()
    return ["positive" if analyzer.polarity_scores(t)["compound"] >= 0 else "negative" for t in texts]


def _apertium(text: str, pair: str, timeout: float) -> str:
    proc = subprocess.run(
        ["apertium", "-u", "-f", "txt", pair],
        input=text, capture_output=True, text=True, encoding="utf-8", check=True, timeout=timeout,
    )
    return proc.stdout


def apertium_translate(texts: list[str], pair: str = "eng-spa", timeout: float = 600.0) -> list[str]:
    """Translate each text with Debian's ``apertium -u eng-spa`` (one output per input).

    All texts go through one call as newline-separated lines; if the line count
    does not survive, falls back to one call per text.  Raises RuntimeError if
    apertium is not installed (``apt-get install apertium apertium-eng-spa``).
    """
    if not texts:
        return []
    if shutil.which("apertium") is None:
        raise RuntimeError("apertium not found: apt-get install apertium apertium-eng-spa")
    clean = [" ".join(t.split()) for t in texts]
    lines = _apertium("\n".join(clean) + "\n", pair, timeout).rstrip("\n").split("\n")
    if len(lines) != len(clean) or any(c and not l.strip() for c, l in zip(clean, lines)):
        lines = [_apertium(c + "\n", pair, timeout).strip() if c else "" for c in clean]
    return [" ".join(line.split()) for line in lines]


def lead_summary(text: str, n_words: int = 10) -> str:
    """Lead baseline: the first ``n_words`` words of ``text``."""
    return " ".join(text.split()[:n_words])
