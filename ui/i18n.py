"""Every string the app's own interface shows, in English and Vietnamese, by key (the tables are
`ui.strings_en` and `ui.strings_vi`).

`ui.common.Localizer` re-labels components when the language radio changes, and handlers pass the
language to `text()` for what they write. gradio's own strings ("Drop File Here", the footer) follow
through `gr.I18n` (`ui.page`); the engine's messages (errors, model cards) are in the catalogues of
`models.messages`.
"""

from __future__ import annotations

from ui.strings_en import EN as _EN
from ui.strings_vi import VI as _VI

LANGUAGES = {"en": "English", "vi": "Tiếng Việt"}
DEFAULT_LANGUAGE = "en"

STRINGS = {"en": _EN, "vi": _VI}


def text(language: str, key: str, **values: object) -> str:
    """The string for `key` in `language` (English when missing there), with `values` filled in."""
    template = STRINGS.get(language, _EN).get(key) or _EN[key]
    return template.format(**values) if values else template
