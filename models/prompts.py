"""Prompt formats shared by training and inference, so an adapter always sees what it was trained on.

Adapters learn the zero-shot format. The bare base model gets the same format preceded by two
worked examples (few-shot), its best prompt without training.
"""

from __future__ import annotations

from typing import Any

_CAUSAL_TEMPLATES = {
    "translation": ("English: {source}\nSpanish:", " {target}"),
    "summarization": ("Text: {text}\nOne-line summary:", " {summary}"),
}
_SEQ2SEQ_TEMPLATES = {
    "translation": ("translate English to Spanish: {source}", "{target}"),
    "summarization": ("summarize: {text}", "{summary}"),
}
_FEW_SHOT = {
    "translation": [
        {"source": "Good morning, how are you?", "target": "Buenos días, ¿cómo estás?"},
        {"source": "This program prints the list of files.", "target": "Este programa muestra la lista de archivos."},
    ],
    "summarization": [
        {"text": "This package contains a small command-line tool that converts images between PNG, JPEG and GIF "
                 "formats. It can resize and rotate pictures and works on whole folders at once.",
         "summary": "command-line image format converter"},
        {"text": "A library for reading and writing spreadsheet files from Python programs. It supports formulas, "
                 "styles and charts, and can stream very large sheets.",
         "summary": "Python library for spreadsheet files"},
    ],
}
SOURCE_FIELD = {"translation": "source", "summarization": "text"}
TARGET_FIELD = {"translation": "target", "summarization": "summary"}


def prompt_and_target(task: str, record: dict[str, Any], architecture: str) -> tuple[str, str]:
    """The model input and the text it should produce, for a training or evaluation record."""
    templates = _SEQ2SEQ_TEMPLATES if architecture == "seq2seq" else _CAUSAL_TEMPLATES
    prompt, target = templates[task]
    return prompt.format(**record), target.format(**record)


def generation_prompt(task: str, text: str, architecture: str, few_shot: bool) -> str:
    """The input for generating a translation or summary; few-shot examples only for causal bases."""
    prompt = prompt_and_target(task, {SOURCE_FIELD[task]: text, TARGET_FIELD[task]: ""}, architecture)[0]
    if not few_shot or architecture == "seq2seq":
        return prompt
    shots = ["".join(prompt_and_target(task, example, architecture)) for example in _FEW_SHOT[task]]
    return "\n\n".join(shots + [prompt])


def chat_messages(message: str, history: list[dict[str, str]] | None = None,
                  system: str | None = None) -> list[dict[str, str]]:
    """History as OpenAI-style messages (what gradio's Chatbot gives), plus the new user turn."""
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": m["role"], "content": m["content"]} for m in history or [] if m.get("content")]
    return messages + [{"role": "user", "content": message}]
