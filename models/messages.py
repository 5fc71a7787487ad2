"""Messages for people, in every language the app speaks.

An error a user can meet (a bad upload, a setting out of range, a missing adapter) is raised with a
message key and its arguments instead of a finished English sentence, so that each interface can
say it in its own language: the CLI and the logs print English (`str(error)`), the app shows the
language the page has chosen (`error.text(language)`). The texts live in per-package catalogues
(`models.catalogue`, `finetune.catalogue`), one table per language; a test fails when a key misses
a language or a translation asks for an argument the English one does not give.

Arguments may themselves be `Message`s (a phrase such as "column 'text'" inside a sentence); they are
said in the same language as the sentence around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

LANGUAGES = ("en", "vi")
DEFAULT_LANGUAGE = "en"
CATALOGUES: dict[str, dict[str, str]] = {language: {} for language in LANGUAGES}


def add_catalogue(tables: Mapping[str, Mapping[str, str]]) -> None:
    """Add one package's messages: {language: {key: template}} (str.format templates)."""
    for language, table in tables.items():
        CATALOGUES[language].update(table)


def render(key: str, language: str = DEFAULT_LANGUAGE, args: Mapping[str, Any] | None = None) -> str:
    """The message `key` in `language` (English where that language lacks it), arguments filled in."""
    template = CATALOGUES.get(language, {}).get(key) or CATALOGUES[DEFAULT_LANGUAGE][key]
    said = {name: value.text(language) if isinstance(value, (Message, Listing)) else value
            for name, value in (args or {}).items()}
    return template.format(**said)


@dataclass(frozen=True)
class Message:
    """A message not yet put into words: its key and arguments."""

    key: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def text(self, language: str = DEFAULT_LANGUAGE) -> str:
        return render(self.key, language, self.args)

    def __str__(self) -> str:
        return self.text()


def say(key: str, **args: Any) -> Message:
    return Message(key, args)


@dataclass(frozen=True)
class Listing:
    """Several phrases said one after another, e.g. every problem of a setting."""

    items: tuple[Any, ...]
    separator: str = ", "

    def text(self, language: str = DEFAULT_LANGUAGE) -> str:
        return self.separator.join(item.text(language) if isinstance(item, (Message, Listing)) else str(item)
                                   for item in self.items)


class LocalizedError(Exception):
    """An error whose message a person reads: `str()` is English, `text(language)` any language.

    Subclasses keep their own types (ConfigError is still a ValueError) so callers catch what they did."""

    def __init__(self, message: Message | str, **args: Any):
        self.message = message if isinstance(message, Message) else Message(message, args)
        super().__init__(self.message.text())

    def text(self, language: str = DEFAULT_LANGUAGE) -> str:
        return self.message.text(language)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its message (a training worker's error crosses to the app's process)."""
        return type(self), (self.message,)


def error_text(error: BaseException, language: str = DEFAULT_LANGUAGE) -> str:
    """What to show a person for any error: its own words in `language` where it has a message key."""
    return error.text(language) if isinstance(error, LocalizedError) else str(error)
