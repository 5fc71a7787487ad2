"""What a chat reply shows: its place in line, its text, and a reply cut at its length limit."""

from __future__ import annotations

from models.inference import Partial, to_last_sentence
from ui.chat import reply_text
from ui.i18n import text


def test_a_cut_reply_ends_at_its_last_whole_sentence():
    assert to_last_sentence("Paris is the capital. It has many muse") == "Paris is the capital."
    assert to_last_sentence("Is it? Yes! It is… and then") == "Is it? Yes! It is…"
    # No sentence ends in the second half: cutting would hide most of the reply, so it stays whole.
    assert to_last_sentence("Yes. The capital of France is a city on the Seine with") == (
        "Yes. The capital of France is a city on the Seine with")
    assert to_last_sentence("3.14 is pi and so on") == "3.14 is pi and so on"  # a decimal point is no end


def test_reply_text_says_why_a_reply_ended_early():
    cut = reply_text(Partial("Hello there. And the", done=True, cut=True), "vi")
    assert cut.startswith("Hello there.\n\n") and text("vi", "chat.cut") in cut and "And the" not in cut
    assert reply_text(Partial("Hello there. And the", done=False), "en") == "Hello there. And the"
    assert reply_text(Partial("  ", done=True), "en") == text("en", "chat.no_reply")
    assert reply_text(Partial("", ahead=2), "en") == text("en", "common.waiting", ahead=2)
