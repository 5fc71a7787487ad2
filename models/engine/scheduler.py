"""Which sequences run in the next step: admission in order with a fair share per owner, and a
token budget for prompts (the vLLM / text-generation-inference shape, kept apart from the model).

Every step decodes one token for each running sequence whose prompt is in the cache, and feeds
the prompts of newly admitted sequences in chunks: while others are decoding, at most
`prefill_budget` prompt tokens per step, so that a long prompt delays their next token by a
bounded amount instead of stalling them until it is read; with nobody decoding, up to
`idle_prefill_budget` at once. A sequence leaves as soon as it ends and its place is given at
the next step. Nothing here touches torch: the runner executes the plan.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import count
from typing import TYPE_CHECKING, Any

from models.engine.attention import FIRST_CAPACITY, SequenceKV

if TYPE_CHECKING:
    from models.mixed_lora import Blend

_IDS = count()


@dataclass(frozen=True)
class GenerationRequest:
    """What a caller wants generated: greedy decoding of `prompt` (token ids) with these settings."""

    prompt: tuple[int, ...]
    adapter: str | Blend | None = None  # an adapter loaded in the model, or a blend of two; None: the bare base
    max_new_tokens: int = 200
    stop_ids: frozenset[int] = frozenset()  # tokens that end the sequence (they are kept in the output)
    stopping: Any = None  # a transformers StoppingCriteria(List), called on the sequence's ids
    repetition_penalty: float = 1.0
    owner: str | None = None  # who asked (a browser's workspace): each owner gets a fair share

    def __post_init__(self) -> None:
        if not self.prompt:
            raise ValueError("The prompt is empty.")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1.")


@dataclass(eq=False)
class Sequence:
    """A request inside the engine: how much of its prompt is in the cache, and what it generated."""

    request: GenerationRequest
    id: int = field(default_factory=lambda: next(_IDS))
    fed: int = 0  # prompt tokens already in the cache
    generated: list[int] = field(default_factory=list)
    kv: SequenceKV = field(init=False)

    def __post_init__(self) -> None:
        limit = len(self.request.prompt) + self.request.max_new_tokens
        self.kv = SequenceKV(capacity=min(limit, len(self.request.prompt) + FIRST_CAPACITY), limit=limit)

    @property
    def owner(self) -> str | None:
        return self.request.owner

    @property
    def prefilled(self) -> bool:
        return self.fed == len(self.request.prompt)

    @property
    def all_ids(self) -> list[int]:
        return [*self.request.prompt, *self.generated]


@dataclass(frozen=True)
class Chunk:
    """Tokens of one sequence in a step; `sample`: its next token is chosen from the last one's logits."""

    sequence: Sequence
    tokens: tuple[int, ...]
    sample: bool


@dataclass
class Scheduler:
    """The line of waiting sequences and the set of running ones."""

    max_active: int = 32
    max_per_owner: int = 4
    # Tokens the running sequences may hold in their caches at most (prompt + cap on new tokens each):
    # SmolLM2 keeps 46 KB per token in fp32, so a line of long conversations cannot exhaust the memory.
    max_tokens: int = 16_384
    prefill_budget: int = 256
    idle_prefill_budget: int = 1024
    waiting: list[Sequence] = field(default_factory=list)
    active: list[Sequence] = field(default_factory=list)

    def add(self, sequence: Sequence) -> None:
        self.waiting.append(sequence)

    def remove(self, sequence: Sequence) -> None:
        """Take a sequence out, wherever it is (finished, cancelled or failed)."""
        for group in (self.waiting, self.active):
            if sequence in group:
                group.remove(sequence)

    def admit(self) -> list[Sequence]:
        """Move waiting sequences into the running set, in order, while there is room (places and cache
        tokens); an owner who already runs `max_per_owner` waits for one of its own to end (others go
        past it). A sequence alone is always let in, however long."""
        running = Counter(s.owner for s in self.active)
        reserved = sum(s.kv.limit for s in self.active)
        admitted = []
        for sequence in list(self.waiting):
            if len(self.active) >= self.max_active or (self.active and reserved + sequence.kv.limit > self.max_tokens):
                break
            if sequence.owner is not None and running[sequence.owner] >= self.max_per_owner:
                continue
            self.waiting.remove(sequence)
            self.active.append(sequence)
            running[sequence.owner] += 1
            reserved += sequence.kv.limit
            admitted.append(sequence)
        return admitted

    def ahead(self) -> dict[Sequence, int]:
        """For each waiting sequence, how many are ahead of it in line: the waiting ones admitted before
        it as places free up (an owner at its share does not hold up the others)."""
        running = Counter(s.owner for s in self.active)
        places, before = {}, 0
        for sequence in self.waiting:
            places[sequence] = before
            if sequence.owner is None or running[sequence.owner] < self.max_per_owner:
                running[sequence.owner] += 1
                before += 1
        return places

    def plan(self) -> list[Chunk]:
        """The next step: one token for every decoding sequence, and prompt chunks within the budget,
        oldest first. Ordered by adapter (a blend by its text), so that each adapter's tokens are one span."""
        decoding = [s for s in self.active if s.prefilled]
        chunks = [Chunk(s, (s.generated[-1],), True) for s in decoding]
        budget = self.prefill_budget if decoding else self.idle_prefill_budget
        for sequence in self.active:
            if sequence.prefilled or budget <= 0:
                continue
            take = min(budget, len(sequence.request.prompt) - sequence.fed)
            tokens = sequence.request.prompt[sequence.fed: sequence.fed + take]
            chunks.append(Chunk(sequence, tokens, sequence.fed + take == len(sequence.request.prompt)))
            budget -= take
        return sorted(chunks, key=lambda chunk: str(chunk.sequence.request.adapter or ""))
