"""What an adapter changed, for one input: the evidence behind "the adapter writes differently".

A translation, summary or chat reply is read back by the bare base and by the adapter in one
teacher-forced forward pass (two rows of one batch, each through its own adapter): for every token
of the reply, the probability each gave it, and the base's own first choice at that place. The
difference of log-probabilities says how strongly the adapter pushed towards the words it wrote.
Each side reads the prompt it is served with (the bare base gets the worked examples first), so the
base's first choice is what the base would have written there. The probabilities are the model's
own, before the repetition penalty that decoding applies.

A classification shows both probability distributions, and which words moved each model's decision:
every text with one word left out is classified in the same batch, and a word's effect is how much
the log-odds of the adapter's answer fall without it (leave-one-word-out: one batch, no gradients,
cheap on a CPU).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from models.generation import (chat_prompt_messages, chat_request, class_probabilities, clip_text, padding_side,
                               text_budget, text_request)
from models.inference import (ChatTurn, InputError, Target, chat_streams, check_history, final_texts,
                              generation_streams, require_text, resolve_target)
from models.loading import LoadedBase
from models.mixed_lora import BASE, per_row_adapters
from models.tasks import TaskSpec, get_task

MAX_WORDS = 60  # words whose effect a classification explains (the rest stay in every variant)


@dataclass(frozen=True)
class TokenChange:
    """One token of the adapter's output, as the adapter and the bare base saw it."""

    token: str = field(metadata={"help": "The token's text."})
    adapter_probability: float = field(metadata={"help": "p(token) with the adapter."})
    base_probability: float = field(metadata={"help": "p(token) from the bare base at the same place."})
    base_choice: str = field(metadata={"help": "The token the bare base found most likely there."})
    base_choice_probability: float = field(metadata={"help": "Its probability."})

    @property
    def change(self) -> float:
        """log p_adapter − log p_base: above 0, the adapter made this token more likely."""
        return math.log(max(self.adapter_probability, 1e-12)) - math.log(max(self.base_probability, 1e-12))


@dataclass(frozen=True)
class GenerationExplanation:
    task: str
    adapter: str | None
    output: str
    tokens: list[TokenChange]

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "adapter": self.adapter, "output": self.output,
                "tokens": [{**asdict(token), "change": token.change} for token in self.tokens]}


@dataclass(frozen=True)
class WordEffect:
    """How much the log-odds of the adapter's answer fall when this word is left out (for the adapter, and
    for the base reading the same texts): above 0, the word speaks for that answer."""

    word: str
    adapter_effect: float
    base_effect: float


@dataclass(frozen=True)
class ClassificationExplanation:
    task: str
    adapter: str | None
    label: str  # the adapter's answer: the label whose probability the word effects follow
    adapter_probabilities: dict[str, float]
    base_probabilities: dict[str, float]
    words: list[WordEffect]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "words": [asdict(word) for word in self.words]}


def explain(task: str, text: str, adapter: str | None, output: str | None = None,
            history: list[dict[str, Any]] | None = None, workspace: str | None = None,
            owner: str | None = None) -> GenerationExplanation | ClassificationExplanation:
    """What `adapter` changed for `text` (a chat message after `history`). A generation's `output` is
    the adapter's answer to explain; when it is empty the adapter writes it first."""
    spec = get_task(task)
    require_text(text)
    if not adapter:
        raise InputError("explain.needs_adapter")
    target = resolve_target(task, adapter, workspace=workspace)
    if spec.kind == "classify":
        return _explain_classification(spec, text, target)
    history = check_history(history)
    if not (output or "").strip():
        output = adapter_answer(spec.name, text, adapter, history, workspace, owner)
    return GenerationExplanation(task, target.info.name if target.info else None, output,
                                 _token_changes(spec, text, output, history, target))


def adapter_answer(task: str, text: str, adapter: str, history: list[dict[str, Any]] | None = None,
                   workspace: str | None = None, owner: str | None = None) -> str:
    """The adapter's whole answer to `text` (a chat message after `history`), as the app serves it."""
    spec = get_task(task)
    if spec.kind == "chat":
        streams = chat_streams([ChatTurn(text, history, adapter)], workspace=workspace, owner=owner, task=spec.name)
    else:
        streams = generation_streams(spec.name, [(text, adapter)], workspace=workspace, owner=owner)
    return final_texts(streams)[0]


def _prompt_ids(spec: TaskSpec, loaded: LoadedBase, text: str, history: list[dict[str, Any]],
                bare: bool) -> list[int]:
    """The prompt a side is served with, built by the serving's own requests (`models.generation`); a
    seq2seq encoder's input as `generate_texts` builds it."""
    model, tokenizer, limit = loaded.model, loaded.tokenizer, loaded.spec.max_input_tokens
    if spec.kind == "chat":
        messages = chat_prompt_messages(tokenizer, text, history, None, limit)
        return list(chat_request(model, tokenizer, messages, None, limit, task=spec.name).prompt)
    if loaded.spec.architecture == "causal":
        return list(text_request(model, tokenizer, spec.name, text, None, limit, few_shot=bare).prompt)
    text = clip_text(tokenizer, text, text_budget(tokenizer, "seq2seq", spec.name, limit))
    return tokenizer(spec.generation_prompt(text, "seq2seq", few_shot=False), truncation=True,
                     max_length=limit)["input_ids"]


def _output_ids(spec: TaskSpec, tokenizer: Any, output: str, architecture: str) -> list[int]:
    """The answer's tokens as the model writes them: a causal generation's answer follows its prompt
    after a space; a seq2seq decoder's ends with the end-of-sequence token."""
    if architecture == "seq2seq":
        return tokenizer(text_target=output)["input_ids"]
    return tokenizer((" " if spec.kind == "generate" else "") + output, add_special_tokens=False)["input_ids"]


def _token_changes(spec: TaskSpec, text: str, output: str, history: list[dict[str, Any]],
                   target: Target) -> list[TokenChange]:
    loaded = target.loaded
    tokenizer, architecture = loaded.tokenizer, loaded.spec.architecture
    answer = _output_ids(spec, tokenizer, output, architecture)
    if not answer:
        return []
    prompts = [_prompt_ids(spec, loaded, text, history, bare) for bare in (True, False)]
    with loaded.lock, torch.inference_mode(), per_row_adapters(loaded.model, [BASE, target.key]):
        if architecture == "seq2seq":
            logits = _seq2seq_logits(loaded.model, tokenizer, prompts, answer)
        else:
            logits = _causal_logits(loaded.model, tokenizer, prompts, answer)
    base, adapted = logits.float().log_softmax(-1)  # (answer tokens, vocabulary) each
    index = torch.tensor(answer)[:, None]
    base_p, adapted_p = base.gather(1, index)[:, 0].exp(), adapted.gather(1, index)[:, 0].exp()
    top_p, top = base.max(-1)
    return [TokenChange(tokenizer.decode([token]), float(pa), float(pb), tokenizer.decode([int(choice)]),
                        float(pc))
            for token, pa, pb, choice, pc in zip(answer, adapted_p, base_p, top, top_p.exp())]


def _causal_logits(model: Any, tokenizer: Any, prompts: list[list[int]], answer: list[int]) -> torch.Tensor:
    """Logits that predict each answer token after each prompt: (rows, answer tokens, vocabulary).
    The rows are padded on the left, so the answers end together and only their positions get logits
    (a vocabulary of 262k over a few-shot prompt would be most of the work)."""
    rows = [prompt + answer for prompt in prompts]
    with padding_side(tokenizer, "left"):
        batch = tokenizer.pad({"input_ids": rows}, return_tensors="pt")
    mask = batch["attention_mask"].to(model.device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    output = model(input_ids=batch["input_ids"].to(model.device), attention_mask=mask, position_ids=positions,
                   logits_to_keep=len(answer) + 1)
    return output.logits[:, :-1]


def _seq2seq_logits(model: Any, tokenizer: Any, prompts: list[list[int]], answer: list[int]) -> torch.Tensor:
    """The decoder's logits for the answer, teacher-forced after each encoder input."""
    batch = tokenizer.pad({"input_ids": prompts}, return_tensors="pt")
    labels = torch.tensor([answer] * len(prompts), device=model.device)
    return model(input_ids=batch["input_ids"].to(model.device), attention_mask=batch["attention_mask"].to(model.device),
                 labels=labels).logits


def _log_odds(p: float) -> float:
    """log(p / (1 - p)): a confident model's probability barely moves without one word (0.998 to 0.995),
    its log-odds do (6.2 to 5.3), so effects stay readable however sure the model is."""
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _explain_classification(spec: TaskSpec, text: str, target: Target) -> ClassificationExplanation:
    loaded = target.loaded
    labels = list(loaded.labels or ())
    words = text.split()
    shown = words[:MAX_WORDS]
    variants = [text] + [" ".join(words[:i] + words[i + 1:]) for i in range(len(shown))]
    limit = loaded.spec.max_input_tokens
    with loaded.lock:
        adapted = class_probabilities(loaded.model, loaded.tokenizer, variants, labels, False,
                                      [target.key] * len(variants), limit)
        base = class_probabilities(loaded.model, loaded.tokenizer, variants, labels, True, None, limit)
    label = max(adapted[0], key=adapted[0].get)
    effects = [WordEffect(word, _log_odds(adapted[0][label]) - _log_odds(with_out[label]),
                          _log_odds(base[0][label]) - _log_odds(base_without[label]))
               for word, with_out, base_without in zip(shown, adapted[1:], base[1:])]
    return ClassificationExplanation(spec.name, target.info.name if target.info else None, label, adapted[0],
                                     base[0], effects)
