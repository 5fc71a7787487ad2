"""The continuous-batching engine on tiny models: every request gets the tokens `generate` gives it
alone, whoever it shares the steps with; requests join, leave, wait in line and fail on their own.

Tiny random fp32 models: no argmax is close enough to a tie for the batch's shape to flip it, so
token lists compare exactly (as in test_batching).
"""

from __future__ import annotations

import pytest
import torch

from models.engine import Engine, GenerationRequest, Scheduler
from models.generation import stop_at_newline
from models.inference import attach, resolve_target
from models.loading import load_base
from models.mixed_lora import per_row_adapters

PROMPTS = ["Where is the train station?", "Hi.", "The weather is nice today, and we are going to the beach tomorrow.",
           "Thank you very much for your help."]


@pytest.fixture(autouse=True)
def _fresh(fresh_models):
    yield


def _ids(tokenizer, text: str) -> tuple[int, ...]:
    return tuple(tokenizer(text)["input_ids"])


def _alone(loaded, request: GenerationRequest) -> list[int]:
    """What `generate` gives one request on its own."""
    model = loaded.model
    inputs = torch.tensor([request.prompt])
    stops = sorted(request.stop_ids) or None
    with torch.inference_mode(), per_row_adapters(model, [request.adapter or "__base__"]):
        output = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs),
                                max_new_tokens=request.max_new_tokens, do_sample=False,
                                repetition_penalty=request.repetition_penalty, eos_token_id=stops,
                                stopping_criteria=request.stopping, pad_token_id=loaded.tokenizer.pad_token_id)
    return output[0, inputs.shape[1]:].tolist()


def _engine(loaded, **limits) -> Engine:
    return Engine(lambda: loaded.model, loaded.lock, Scheduler(**limits))


def _adapter_keys(loaded, tiny_adapters, names):
    return [attach(loaded, resolve_target("translation", str(tiny_adapters[name])).info) for name in names]


@pytest.mark.parametrize("base", ["tiny-llama", "tiny-gemma3"])
def test_requests_together_get_the_tokens_each_gets_alone(tiny_models, base):
    loaded = load_base(base)
    requests = [GenerationRequest(_ids(loaded.tokenizer, text), max_new_tokens=limit, repetition_penalty=penalty)
                for text, limit, penalty in zip(PROMPTS, [3, 12, 30, 7], [1.0, 1.1, 1.3, 1.0])]
    engine = _engine(loaded)
    streams = engine.submit_all(requests)
    assert [stream.tokens() for stream in streams] == [_alone(loaded, request) for request in requests]
    assert len(engine.step_sizes) == 30  # the longest one's tokens: every request was prefilled in the first step
    assert engine.scheduler.active == [] and engine.scheduler.waiting == []


def test_a_prompt_longer_than_the_sliding_window_and_read_in_chunks(tiny_models):
    """gemma-3's sliding layers (window 16 in the tiny model) see only recent tokens, in every chunk."""
    loaded = load_base("tiny-gemma3")
    long_text = " ".join(PROMPTS * 3)
    request = GenerationRequest(_ids(loaded.tokenizer, long_text), max_new_tokens=24)
    assert len(request.prompt) > 3 * 16
    for budget in (5, 16, 1024):
        engine = _engine(loaded, prefill_budget=budget, idle_prefill_budget=budget)
        assert engine.submit(request).tokens() == _alone(loaded, request)


def test_a_request_joining_mid_generation_gets_the_same_tokens(tiny_models):
    loaded = load_base("tiny-llama")
    first = GenerationRequest(_ids(loaded.tokenizer, PROMPTS[2]), max_new_tokens=40)
    late = GenerationRequest(_ids(loaded.tokenizer, PROMPTS[0]), max_new_tokens=10)
    engine = _engine(loaded)
    stream = engine.submit(first)
    states = stream.states()
    while len(next(states).tokens) < 5:  # the first is decoding when the second arrives
        pass
    joined = engine.submit(late)
    assert joined.tokens() == _alone(loaded, late)
    assert stream.tokens() == _alone(loaded, first)
    assert 2 in engine.step_sizes and engine.step_sizes[-1] == 1  # they shared steps; the longer one ended alone


def test_rows_with_different_adapters_in_one_step_each_get_their_own(tiny_adapters):
    loaded = load_base("tiny-llama")
    keys = _adapter_keys(loaded, tiny_adapters, ["llama-translation-a", "llama-translation-b"])
    adapters = [keys[0], None, keys[1], keys[0]]
    requests = [GenerationRequest(_ids(loaded.tokenizer, text), adapter=adapter, max_new_tokens=8)
                for text, adapter in zip(PROMPTS, adapters)]
    engine = _engine(loaded)
    together = [stream.tokens() for stream in engine.submit_all(requests)]
    assert together == [_alone(loaded, request) for request in requests]
    swapped = GenerationRequest(requests[0].prompt, adapter=keys[1], max_new_tokens=8)
    assert engine.submit(swapped).tokens() != together[0]  # and the adapters really differ


def test_stop_tokens_and_the_end_of_the_line_end_a_sequence(tiny_models):
    loaded = load_base("tiny-llama")
    prompt = _ids(loaded.tokenizer, PROMPTS[0])
    free = _engine(loaded).submit(GenerationRequest(prompt, max_new_tokens=12)).tokens()
    stop = free[4]
    stopped = _engine(loaded).submit(GenerationRequest(prompt, max_new_tokens=12, stop_ids=frozenset({stop}))).tokens()
    assert stopped == free[: free.index(stop) + 1]
    newline = GenerationRequest(prompt, max_new_tokens=12, stopping=stop_at_newline(loaded.tokenizer))
    assert _engine(loaded).submit(newline).tokens() == _alone(loaded, newline)


def test_a_finished_sequence_leaves_and_frees_its_cache(tiny_models):
    loaded = load_base("tiny-llama")
    engine = _engine(loaded)
    short, long = (GenerationRequest(_ids(loaded.tokenizer, PROMPTS[0]), max_new_tokens=n) for n in (2, 9))
    streams = engine.submit_all([short, long])
    assert [len(s.tokens()) for s in streams] == [2, 9]
    assert list(engine.step_sizes) == [2, 2] + [1] * 7  # the short one left after its second token
    assert engine._streams == {} and engine.scheduler.active == []


def test_a_cancelled_request_frees_its_place_within_one_step(tiny_models):
    loaded = load_base("tiny-llama")
    engine = _engine(loaded, max_active=1)
    leaving, waiting = engine.submit_all([GenerationRequest(_ids(loaded.tokenizer, PROMPTS[2]), max_new_tokens=200),
                                          GenerationRequest(_ids(loaded.tokenizer, PROMPTS[1]), max_new_tokens=3)])
    states = leaving.states()
    while len(next(states).tokens) < 3:
        pass
    leaving.cancel()
    steps_at_cancel = len(engine.step_sizes)
    assert len(waiting.tokens()) == 3
    assert len(leaving.tokens()) < 10
    assert len(engine.step_sizes) - steps_at_cancel <= 2 + 3  # at most the step running at the time, then its 3


def test_an_error_in_one_request_fails_only_that_request(tiny_models):
    loaded = load_base("tiny-llama")
    engine = _engine(loaded)
    good = GenerationRequest(_ids(loaded.tokenizer, PROMPTS[0]), max_new_tokens=6)
    bad = GenerationRequest(_ids(loaded.tokenizer, PROMPTS[1]), adapter="no-such-adapter", max_new_tokens=6)
    streams = engine.submit_all([good, bad, good])
    with pytest.raises(ValueError, match="no-such-adapter"):
        streams[1].tokens()
    assert streams[0].tokens() == streams[2].tokens() == _alone(loaded, good)


def test_admission_beyond_the_limit_waits_in_order_and_says_how_many_are_ahead(tiny_models):
    loaded = load_base("tiny-llama")
    engine = _engine(loaded, max_active=2)
    requests = [GenerationRequest(_ids(loaded.tokenizer, text), max_new_tokens=4, owner=f"browser-{i}")
                for i, text in enumerate(PROMPTS)]
    streams = engine.submit_all(requests)
    readers = [stream.states() for stream in streams]  # (a reader that is dropped cancels its request)
    first_states = [next(reader) for reader in readers]
    assert [state.ahead for state in first_states] == [None, None, 0, 1]
    last_in_line = [state.ahead for state in streams[3].states() if not state.tokens]
    assert last_in_line[0] == 1 and last_in_line[-1] is None  # (a reader sees the latest place, not every one)
    assert [stream.tokens() for stream in streams] == [_alone(loaded, request) for request in requests]
    assert list(engine.step_sizes) == [2] * 8  # two at a time: the first two's 4 tokens, then the others'


def test_one_owner_gets_a_fair_share_and_the_others_go_past_it():
    scheduler = Scheduler(max_active=4, max_per_owner=2)
    from models.engine.scheduler import Sequence

    line = [Sequence(GenerationRequest((1, 2), owner=owner)) for owner in ["a", "a", "a", "a", "b", "c"]]
    for sequence in line:
        scheduler.add(sequence)
    scheduler.admit()
    assert [s.owner for s in scheduler.active] == ["a", "a", "b", "c"]
    assert list(scheduler.ahead().values()) == [0, 0]  # a's third and fourth wait for a's own to end
    scheduler.remove(scheduler.active[0])
    scheduler.admit()
    assert [s.owner for s in scheduler.active] == ["a", "b", "c", "a"]


def test_long_sequences_wait_for_cache_room_but_one_alone_always_runs():
    from models.engine.scheduler import Sequence

    scheduler = Scheduler(max_tokens=100)
    huge, small, other = (Sequence(GenerationRequest(tuple(range(n)), max_new_tokens=10)) for n in (150, 30, 50))
    for sequence in (huge, small, other):
        scheduler.add(sequence)
    assert scheduler.admit() == [huge]  # alone: let in although it needs 160
    scheduler.remove(huge)
    assert scheduler.admit() == [small, other]  # 40 + 60 tokens fit the 100
    late = Sequence(GenerationRequest((1,), max_new_tokens=10))
    scheduler.add(late)
    assert scheduler.admit() == [] and scheduler.ahead() == {late: 0}


def test_prompt_chunks_stay_within_the_budget_while_others_decode():
    from models.engine.scheduler import Sequence

    scheduler = Scheduler(prefill_budget=8, idle_prefill_budget=20)
    first, second = Sequence(GenerationRequest(tuple(range(30)))), Sequence(GenerationRequest(tuple(range(5))))
    scheduler.add(first)
    scheduler.add(second)
    scheduler.admit()
    plan = scheduler.plan()
    assert [len(chunk.tokens) for chunk in plan] == [20] and not plan[0].sample  # nobody decodes: the idle budget
    first.fed, first.generated = 30, [7]
    plan = scheduler.plan()
    assert [(chunk.sequence, len(chunk.tokens), chunk.sample) for chunk in plan] == [(first, 1, True), (second, 5, True)]


def test_generate_all_runs_a_batch_in_the_callers_thread(tiny_adapters):
    loaded = load_base("tiny-llama")
    key = _adapter_keys(loaded, tiny_adapters, ["llama-translation-a"])[0]
    requests = [GenerationRequest(_ids(loaded.tokenizer, text), adapter=adapter, max_new_tokens=5)
                for text, adapter in zip(PROMPTS, [key, None, key, None])]
    engine = _engine(loaded, max_active=3)
    assert engine.generate_all(requests) == [_alone(loaded, request) for request in requests]
    assert engine._worker is None


def test_a_prompt_that_begins_like_an_earlier_one_reuses_its_keys_and_gets_the_same_tokens(tiny_adapters):
    loaded = load_base("tiny-gemma3")  # with a sliding window (16) shorter than the shared prefix
    frame = " ".join(PROMPTS * 2)
    first, second = (GenerationRequest(_ids(loaded.tokenizer, f"{frame} {tail}"), max_new_tokens=12)
                     for tail in ("Hi.", "Thank you."))
    engine = _engine(loaded)
    assert engine.submit(first).tokens() == _alone(loaded, first)
    assert engine.submit(second).tokens() == _alone(loaded, second)
    shared = next(i for i, (a, b) in enumerate(zip(first.prompt, second.prompt)) if a != b)
    assert engine.prefixes.hits == 1 and engine.prefixes.reused_tokens == shared > 16


def test_a_conversations_next_turn_reuses_the_whole_previous_turn(tiny_adapters):
    loaded = load_base("tiny-llama")
    key = _adapter_keys(loaded, tiny_adapters, ["llama-translation-a"])[0]
    engine = _engine(loaded)
    turn = GenerationRequest(_ids(loaded.tokenizer, PROMPTS[2]), adapter=key, max_new_tokens=6)
    reply = engine.submit(turn).tokens()
    following = GenerationRequest((*turn.prompt, *reply, *_ids(loaded.tokenizer, " And then?")), adapter=key,
                                  max_new_tokens=6)
    assert engine.submit(following).tokens() == _alone(loaded, following)
    assert engine.prefixes.reused_tokens == len(turn.prompt) + len(reply) - 1  # all it had read
    other_adapter = GenerationRequest(following.prompt, max_new_tokens=6)  # the bare base: nothing to reuse
    assert engine.submit(other_adapter).tokens() == _alone(loaded, other_adapter)
    assert engine.prefixes.hits == 1
