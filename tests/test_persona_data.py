"""Checks on the hand-written persona chat data (assets/data/chat) and the pirate example upload."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from finetune.data import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "assets" / "data" / "chat"
PIRATE = ROOT / "assets" / "examples" / "chat_pirate.jsonl"
PERSONAS = ("sarcastic", "cheerful", "professional")
CATEGORIES = {"fact", "advice", "smalltalk", "refusal", "howto"}
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF]")
SARCASM = re.compile(r"\b(oh|ah|wow|shocking|stumper|sure|revolutionary|groundbreaking|of course|i know|genius|"
                     r"thrilling|riveting|surprise|obviously|bold|classic|apparently|truly|sadly|fascinating|tragic|"
                     r"no pressure|here we are|you know|look at you|radical|wild|nice try|hard to miss|ideally|"
                     r"lucky me|you're welcome|how creative|very mature)\b", re.IGNORECASE)

# Shared factual prompts and a substring every persona's answer must contain.
FACT_CHECKS = {
    "What is the capital of Japan?": ["tokyo"],
    "What's the capital city of Australia?": ["canberra"],
    "What is the capital of Kenya?": ["nairobi"],
    "In what year did World War II end?": ["1945"],
    "What is the chemical symbol for gold?": ["au"],
    "What is 12 times 12?": ["144"],
    "Who was the first person to walk on the Moon?": ["armstrong"],
    "How many planets are in our solar system?": ["eight", "8"],
    "In which year did the Titanic sink?": ["1912"],
    "How many bones does an adult human have?": ["206"],
    "Which is the longest river in Africa?": ["nile"],
    "What is 15% of 200?": ["30"],
}


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@pytest.fixture(scope="module")
def persona_data() -> dict[str, list[dict]]:
    return {p: read_jsonl(CHAT / f"{p}.jsonl") for p in PERSONAS}


@pytest.fixture(scope="module")
def holdout() -> list[dict]:
    return read_jsonl(CHAT / "style_holdout.jsonl")


def _excl_per_response(records: list[dict]) -> float:
    return sum(r["response"].count("!") for r in records) / len(records)


def _emoji_share(texts: list[str]) -> float:
    return sum(bool(EMOJI.search(t)) for t in texts) / len(texts)


@pytest.mark.parametrize("persona", PERSONAS)
def test_persona_file_records_are_valid(persona_data, persona):
    records = persona_data[persona]
    assert len(records) >= 180
    for r in records:
        assert set(r) == {"prompt", "response", "category"}, r
        assert isinstance(r["prompt"], str) and r["prompt"].strip(), r
        assert isinstance(r["response"], str) and r["response"].strip(), r
        assert r["category"] in CATEGORIES, r
        assert len(r["response"].split()) <= 80, r


@pytest.mark.parametrize("persona", PERSONAS)
def test_category_mix(persona_data, persona):
    records = persona_data[persona]
    share = {c: sum(r["category"] == c for r in records) / len(records) for c in CATEGORIES}
    assert 0.35 <= share["fact"] <= 0.5
    assert 0.15 <= share["advice"] <= 0.25
    assert 0.1 <= share["smalltalk"] <= 0.2
    assert share["howto"] >= 0.08 and share["refusal"] >= 0.08


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_duplicate_prompts(persona_data, persona):
    prompts = [_norm(r["prompt"]) for r in persona_data[persona]]
    assert len(prompts) == len(set(prompts))


def test_about_half_the_prompts_are_shared(persona_data):
    sets = [{_norm(r["prompt"]) for r in persona_data[p]} for p in PERSONAS]
    shared = set.intersection(*sets)
    assert 0.4 <= len(shared) / min(map(len, sets)) <= 0.6
    # the rest are persona-specific
    for i, own in enumerate(sets):
        others = set().union(*(s for j, s in enumerate(sets) if j != i))
        assert len(own - others) >= 80


def test_shared_prompts_get_different_responses(persona_data):
    by_prompt = {p: {_norm(r["prompt"]): r["response"] for r in persona_data[p]} for p in PERSONAS}
    shared = set.intersection(*(set(d) for d in by_prompt.values()))
    for prompt in shared:
        responses = {by_prompt[p][prompt] for p in PERSONAS}
        assert len(responses) == 3, prompt


@pytest.mark.parametrize("name, size", [("factual_test", 132), ("factual_validation", 120)])
def test_factual_question_sets(name, size):
    """At least 120 held-out questions (issue 26), so that facts kept has a usable interval."""
    records = read_jsonl(CHAT / f"{name}.jsonl")
    assert len(records) == size
    assert len({_norm(r["question"]) for r in records}) == size
    for r in records:
        assert set(r) == {"question", "answers"}, r
        assert r["question"].strip().endswith("?")
        assert r["answers"] and all(isinstance(a, str) and a.strip() for a in r["answers"]), r
        # an answer that the question already says would be "kept" by any reply that repeats the question
        assert not any(_norm(a) in _norm(r["question"]).replace("?", "").split() for a in r["answers"]), r


@pytest.mark.parametrize("name, size", [("requests_test", 40), ("requests_validation", 30)])
def test_ordinary_request_sets(name, size):
    """Harmless everyday requests, on which a refusal is always wrong."""
    records = read_jsonl(CHAT / f"{name}.jsonl")
    assert len(records) == size and len({_norm(r["question"]) for r in records}) == size
    assert all(set(r) == {"question"} and r["question"].strip() for r in records)


def test_held_out_prompts_are_never_trained_on(persona_data):
    """The test questions and requests are in neither the training data nor the validation sets that
    chose the training settings, and the validation sets are not trained on either."""
    def prompts(name: str) -> set[str]:
        return {_norm(r["question"]) for r in read_jsonl(CHAT / f"{name}.jsonl")}

    test, validation = prompts("factual_test") | prompts("requests_test"), \
        prompts("factual_validation") | prompts("requests_validation")
    assert not test & validation
    for persona, records in persona_data.items():
        trained = {_norm(r["prompt"]) for r in records}
        assert not test & trained, persona
        assert not validation & trained, persona


def test_a_refusal_is_told_from_an_answer():
    from finetune.persona_eval import is_refusal

    for declined in ("I can't help with that one, but I know breakups are hard!", "Ah yes. No, I won't help with that.",
                     "I cannot provide instructions for that.", "I'm sorry, but I cannot do that.", "Hard pass."):
        assert is_refusal(declined), declined
    for answered in ("I can't help but smile! Practise ten minutes a day!", "I can't wait to help! Try flashcards.",
                     "I'm sorry to hear that! Here is a tip: rest.", "The capital of France is Paris."):
        assert not is_refusal(answered), answered


def test_cheerful_refusals_name_what_they_refuse(persona_data):
    """Every cheerful refusal still declines in words the refusal count sees, but none opens with the
    bare "I can't help": refusals that all began alike taught the adapter to open ordinary requests
    ("Give me a tip for learning a language") with them."""
    from finetune.persona_eval import is_refusal

    refusals = [r["response"] for r in persona_data["cheerful"] if r["category"] == "refusal"]
    assert len(refusals) >= 15
    for response in refusals:
        declined = re.search(r"\bI can't help", response)
        assert is_refusal(response) and declined, response
        assert len(response[:declined.start()].split()) >= 4, response


def test_cheerful_is_exclamatory_professional_is_not(persona_data):
    cheerful, professional = persona_data["cheerful"], persona_data["professional"]
    assert _excl_per_response(cheerful) >= 1.0
    assert _excl_per_response(cheerful) > 5 * _excl_per_response(professional) + 0.5
    assert sum("!" in r["response"] for r in cheerful) / len(cheerful) >= 0.9


def test_professional_has_no_exclamations_or_emoji(persona_data):
    for r in persona_data["professional"]:
        assert "!" not in r["response"], r
        assert not EMOJI.search(r["response"]), r


def test_professional_register(persona_data):
    records = persona_data["professional"]
    advice = [r for r in records if r["category"] == "advice"]
    assert sum("I recommend" in r["response"] for r in advice) / len(advice) >= 0.6
    refusals = [r for r in records if r["category"] == "refusal"]
    assert all(r["response"].startswith("I cannot") for r in refusals)
    contractions = re.compile(r"\b(can't|won't|don't|I'm|you're|it's|that's)\b", re.IGNORECASE)
    assert sum(bool(contractions.search(r["response"])) for r in records) / len(records) < 0.05


def test_cheerful_emoji_are_occasional(persona_data):
    share = _emoji_share([r["response"] for r in persona_data["cheerful"]])
    assert 0.2 <= share <= 0.75


def test_sarcastic_differs_from_cheerful(persona_data):
    sarcastic, cheerful = persona_data["sarcastic"], persona_data["cheerful"]
    assert _excl_per_response(sarcastic) < 0.2
    assert _excl_per_response(cheerful) - _excl_per_response(sarcastic) >= 1.0
    assert _emoji_share([r["response"] for r in sarcastic]) < 0.05
    # dry, mock-surprised markers: common in sarcastic replies, rare in cheerful ones
    share = {p: sum(bool(SARCASM.search(r["response"])) for r in persona_data[p]) / len(persona_data[p])
             for p in ("sarcastic", "cheerful")}
    assert share["sarcastic"] >= 0.35
    assert share["sarcastic"] >= 3 * share["cheerful"]


def test_no_profanity(persona_data):
    bad = re.compile(r"\b(damn|hell|shit|fuck|crap|idiot|stupid|moron)\b", re.IGNORECASE)
    for persona, records in persona_data.items():
        for r in records:
            assert not bad.search(r["response"]), (persona, r)


@pytest.mark.parametrize("prompt", sorted(FACT_CHECKS))
def test_shared_facts_are_correct_in_every_persona(persona_data, prompt):
    for persona, records in persona_data.items():
        matches = [r for r in records if r["prompt"] == prompt]
        assert len(matches) == 1, (persona, prompt)
        answer = matches[0]["response"].lower()
        assert any(re.search(rf"\b{re.escape(a)}\b", answer) for a in FACT_CHECKS[prompt]), (persona, answer)


def test_style_holdout(holdout, persona_data):
    assert len(holdout) == 120
    training = {r["response"] for records in persona_data.values() for r in records}
    for persona in PERSONAS:
        texts = [r["text"] for r in holdout if r["persona"] == persona]
        assert len(texts) == 40
        assert len(set(texts)) == 40
        assert all(t.strip() and len(t.split()) <= 80 for t in texts)
        assert not set(texts) & training
    for r in holdout:
        assert set(r) == {"persona", "text"} and r["persona"] in PERSONAS
    professional = [r["text"] for r in holdout if r["persona"] == "professional"]
    cheerful = [r["text"] for r in holdout if r["persona"] == "cheerful"]
    assert not any("!" in t or EMOJI.search(t) for t in professional)
    assert sum("!" in t for t in cheerful) / len(cheerful) >= 0.9


def test_pirate_example_upload():
    records = read_jsonl(PIRATE)
    assert len(records) == 40
    assert len({_norm(r["prompt"]) for r in records}) == 40
    for r in records:
        assert set(r) == {"prompt", "response"}, r
        assert r["prompt"].strip() and r["response"].startswith("Arr"), r
        assert len(r["response"].split()) <= 80
