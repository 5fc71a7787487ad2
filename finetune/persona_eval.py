"""Do the persona adapters change the style and keep the facts?

`python -m finetune.persona_eval` asks the bare chat model and each persona adapter the held-out
factual questions and ordinary requests ("Give me a tip for learning a language"; `--questions
validation`: other ones, for choosing training settings without looking at the test set), then measures:
- style: a small classifier (character n-grams + logistic regression) trained on human-written
  held-out replies of each persona and on the base model's own replies to other prompts; the
  share of an adapter's replies (to questions and requests) it assigns to that adapter's persona;
- facts: of the questions the base answers correctly, the share each persona still answers correctly;
- refusals: the share of replies, to questions and requests alike, that decline to answer;
- clean stops: the share of answers to the factual questions that end with the end-of-turn token, not
  the length cap (advice may run past it and still be a good answer).
Each share is stored with the counts it is a share of, so that every place that shows it gives its 95%
interval (`finetune.measurements`): the Wilson interval, not a bootstrap, because the bootstrap of a share
that is never or always hit collapses to a point (no refusal in 172 replies would read "0 to 0").
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
REQUEST_FILES = {"test": DATA_DIR / "requests_test.jsonl", "validation": DATA_DIR / "requests_validation.jsonl"}
# A reply that declines: "I can't help with that", "I cannot provide ...", "No, I won't help", "Hard pass",
# "I'm sorry, but ...", "As an AI ..." (the personas' trained refusals of harmful requests, and SmolLM2's own).
REFUSAL = re.compile(r"\b(?:I can(?:'|’|no)t|I can not|I won(?:'|’)t|I will not|I(?:'|’)m (?:not able|unable) to|"
                     r"I am (?:not able|unable) to)\s+(?:help(?! but)|assist|provide|answer|give|write|share|create|"
                     r"make|offer|recommend|suggest|tell|do that)\b|\bI(?:'|’)m sorry,? but\b|\bAs an AI\b|"
                     r"\bHard pass\b", re.IGNORECASE)


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


def is_refusal(reply: str) -> bool:
    """Whether the reply declines to answer (an ordinary question should never be declined)."""
    return bool(REFUSAL.search(reply))


def evaluate_personas(adapter_dir: Path = SHIPPED_DIR, batch_size: int = 16, split: str = "test") -> dict[str, Any]:
    loaded = load_base(DEFAULT_BASE["chat"])
    names = {BASE: BASE}
    for persona in PERSONAS:
        names[persona] = attach(loaded, read_adapter(adapter_dir / f"chat-{persona}"))
    questions, requests = read_jsonl(QUESTION_FILES[split]), read_jsonl(REQUEST_FILES[split])
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
    prompts = [q["question"] for q in questions] + [r["question"] for r in requests]
    answers = {who: ask(prompts, who) for who in names}
    base_correct = [i for i, q in enumerate(questions) if is_correct(answers[BASE][i][0], q["answers"])]
    results: dict[str, Any] = {"questions": len(questions), "question_file": QUESTION_FILES[split].name,
                               "requests": len(requests), "request_file": REQUEST_FILES[split].name,
                               "base_correct": len(base_correct)}
    for who, replies in answers.items():
        label = "base" if who == BASE else who
        texts = [text for text, _ in replies]
        predicted = classifier.predict(texts)
        kept = sum(is_correct(texts[i], questions[i]["answers"]) for i in base_correct)
        refused = [{"question": prompt, "reply": text} for prompt, text in zip(prompts, texts, strict=True)
                   if is_refusal(text)]
        results[label] = {
            "style_accuracy": float((predicted == label).mean()),
            "style_counts": {k: int((predicted == k).sum()) for k in ["base", *PERSONAS]},
            "facts_retained": kept / max(1, len(base_correct)),
            "refusals": len(refused) / len(texts),
            "refused": refused,
            "clean_stops": sum(stopped for _, stopped in replies[:len(questions)]) / len(questions),
            "samples": [{"question": prompts[i], "reply": texts[i]} for i in (0, 1, 2, len(questions))],
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
    results = evaluate_personas(args.adapters, split=args.questions)
    if args.questions == "test":
        (args.adapters / RESULT_FILE.name).write_text(json.dumps(results, indent=2, ensure_ascii=False))
        add_to_model_cards(args.adapters, results)
    print(f"base answers {results['base_correct']}/{results['questions']} factual questions correctly; "
          f"{results['requests']} ordinary requests")
    print(f"{'model':14} {'style acc':>9} {'facts kept':>10} {'refusals':>9} {'clean stops':>11}")
    for who in ("base", *PERSONAS):
        r = results[who]
        print(f"{who:14} {r['style_accuracy']:9.2f} {r['facts_retained']:10.2f} {r['refusals']:9.3f} "
              f"{r['clean_stops']:11.2f}  refused: {[refused['question'] for refused in r['refused']]}")


if __name__ == "__main__":
    main()
