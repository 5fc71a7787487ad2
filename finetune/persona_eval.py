"""Do the persona adapters change the style and keep the facts?

`python -m finetune.persona_eval` asks the bare chat model and each persona adapter the 40
held-out factual questions (`--questions validation`: 60 other ones, for choosing training
settings without looking at the test questions), then measures:
- style: a small classifier (character n-grams + logistic regression) trained on human-written
  held-out replies of each persona and on the base model's own replies to other prompts; the
  share of an adapter's replies it assigns to that adapter's persona;
- facts: of the questions the base answers correctly, the share each persona still answers correctly;
- clean stops: the share of replies that end with the end-of-turn token, not the length cap.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from finetune.data import read_jsonl
from finetune.recipe import model_card
from models.adapters import METADATA_FILE, SHIPPED_DIR, read_adapter
from models.generation import chat_replies
from models.inference import BASE, attach
from models.loading import load_base
from models.registry import DEFAULT_BASE

DATA_DIR = Path(__file__).resolve().parent.parent / "assets" / "data" / "chat"
PERSONAS = ("sarcastic", "cheerful", "professional")
RESULT_FILE = SHIPPED_DIR / "persona_eval.json"
QUESTION_FILES = {"test": DATA_DIR / "factual_test.jsonl", "validation": DATA_DIR / "factual_validation.jsonl"}


def style_classifier(holdout: list[dict[str, str]], base_replies: list[str]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = [r["text"] for r in holdout] + base_replies
    labels = [r["persona"] for r in holdout] + ["base"] * len(base_replies)
    classifier = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True),
                               LogisticRegression(max_iter=2000, C=10))
    return classifier.fit(texts, labels)


def is_correct(reply: str, answers: list[str]) -> bool:
    """Whether the reply names one of the answers as a word or number of its own: "2" is not in "12"
    or "2.5", "0" not in "100", but "lion" is in "lions"."""
    return any(re.search(rf"(?<!\w){re.escape(answer)}(?![0-9]|[.,][0-9])", reply, re.IGNORECASE)
               for answer in answers)


def evaluate_personas(adapter_dir: Path = SHIPPED_DIR, batch_size: int = 8,
                      questions_file: Path = QUESTION_FILES["test"]) -> dict[str, Any]:
    loaded = load_base(DEFAULT_BASE["chat"])
    names = {BASE: BASE}
    for persona in PERSONAS:
        names[persona] = attach(loaded, read_adapter(adapter_dir / f"chat-{persona}"))
    questions = read_jsonl(questions_file)
    style_prompts = [r["prompt"] for r in read_jsonl(DATA_DIR / "sarcastic.jsonl")[:40]]

    def ask(prompts: list[str], who: str) -> list[tuple[str, bool]]:
        replies = []
        for first in range(0, len(prompts), batch_size):
            rows = [[{"role": "user", "content": p}] for p in prompts[first:first + batch_size]]
            with loaded.lock:
                replies += chat_replies(loaded.model, loaded.tokenizer, rows, [names[who]] * len(rows),
                                        max_new_tokens=96)
        return replies

    classifier = style_classifier(read_jsonl(DATA_DIR / "style_holdout.jsonl"),
                                  [text for text, _ in ask(style_prompts, BASE)])
    answers = {who: ask([q["question"] for q in questions], who) for who in names}
    base_correct = [i for i, q in enumerate(questions) if is_correct(answers[BASE][i][0], q["answers"])]
    results: dict[str, Any] = {"questions": len(questions), "question_file": questions_file.name,
                               "base_correct": len(base_correct)}
    for who, replies in answers.items():
        label = "base" if who == BASE else who
        predicted = classifier.predict([text for text, _ in replies])
        results[label] = {
            "style_accuracy": float((predicted == label).mean()),
            "style_counts": {k: int((predicted == k).sum()) for k in ["base", *PERSONAS]},
            "facts_retained": sum(is_correct(replies[i][0], questions[i]["answers"]) for i in base_correct)
            / max(1, len(base_correct)),
            "clean_stops": sum(stopped for _, stopped in replies) / len(replies),
            "samples": [{"question": questions[i]["question"], "reply": replies[i][0]} for i in range(3)],
        }
    return results


def add_to_model_cards(adapters: Path, results: dict[str, Any]) -> None:
    """Write each persona's model card again, now with its figures next to the base's."""
    for persona in PERSONAS:
        folder = adapters / f"chat-{persona}"
        if persona in results and (folder / METADATA_FILE).exists():
            metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
            (folder / "README.md").write_text(model_card(metadata, results), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapters", type=Path, default=SHIPPED_DIR)
    parser.add_argument("--questions", choices=QUESTION_FILES, default="test",
                        help="test: the held-out questions, stored with the adapters and in their model cards; "
                             "validation: other questions, only printed (for choosing settings).")
    parser.add_argument("--cards-only", action="store_true", help="Rewrite the model cards from the stored results.")
    args = parser.parse_args()
    if args.cards_only:
        add_to_model_cards(args.adapters, json.loads((args.adapters / RESULT_FILE.name).read_text()))
        return
    results = evaluate_personas(args.adapters, questions_file=QUESTION_FILES[args.questions])
    if args.questions == "test":
        (args.adapters / RESULT_FILE.name).write_text(json.dumps(results, indent=2, ensure_ascii=False))
        add_to_model_cards(args.adapters, results)
    print(f"base answers {results['base_correct']}/{results['questions']} factual questions correctly")
    print(f"{'model':14} {'style acc':>9} {'facts kept':>10} {'clean stops':>11}")
    for who in ("base", *PERSONAS):
        r = results[who]
        print(f"{who:14} {r['style_accuracy']:9.2f} {r['facts_retained']:10.2f} {r['clean_stops']:11.2f}")


if __name__ == "__main__":
    main()
