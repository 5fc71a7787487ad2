"""Blending two personas (Persona chat): the engine mixes two adapters' LoRA updates per token, the
shared model unchanged. Weight 0 and 1 give each persona's own tokens exactly; 0.5 agrees with the
adapter peft's `add_weighted_adapter(combination_type="cat")` builds; other users' requests in the
same steps get what they get alone; bad requests say what is wrong.

Tiny random fp32 models: no argmax is close enough to a tie for rounding to flip it, so token lists
compare exactly (as in test_engine).
"""

from __future__ import annotations

import math

import pytest
import torch

from models.adapters import AdapterError, workspace_dir
from models.engine import Engine, GenerationRequest, Scheduler
from models.inference import ChatTurn, InputError, attach, chat_streams, final_texts, resolve_blend, resolve_target
from models.loading import load_base
from models.mixed_lora import BASE, MASKED_TOKENS, Blend, TokenRoutes, blend, forget_stacked, per_row_adapters

PROMPTS = ["Where is the train station?", "Hi.", "The weather is nice today, and we are going to the beach tomorrow.",
           "Thank you very much for your help."]
WORKSPACE = "blend-tests"


@pytest.fixture(autouse=True)
def _fresh(fresh_models):
    yield


@pytest.fixture(scope="module")
def personas(tiny_models, tmp_path_factory) -> dict[str, str]:
    """Two chat personas on tiny-llama, far enough apart to answer differently, by folder path."""
    from conftest import make_adapter

    root = tmp_path_factory.mktemp("personas")
    return {name: str(make_adapter("tiny-llama", "chat", root / name, seed=seed, scale=1.0))
            for name, seed in (("first", 31), ("second", 32))}


def _keys(loaded, personas) -> tuple[str, str]:
    first, second = (attach(loaded, resolve_target("chat", personas[name]).info) for name in ("first", "second"))
    return first, second


def _request(loaded, text: str, adapter, tokens: int = 12) -> GenerationRequest:
    return GenerationRequest(tuple(loaded.tokenizer(text)["input_ids"]), adapter=adapter, max_new_tokens=tokens)


def _alone(loaded, request: GenerationRequest) -> list[int]:
    return Engine(lambda: loaded.model, loaded.lock, Scheduler()).submit(request).tokens()


def test_weight_0_and_1_give_each_personas_own_tokens(personas):
    loaded = load_base("tiny-llama")
    first, second = _keys(loaded, personas)
    assert blend(first, second, 0.0) == first and blend(first, second, 1) == second
    assert blend(first, first, 0.4) == first
    for text in (PROMPTS[2], " ".join(PROMPTS * 4)):  # one token per step, and a prompt read in one long chunk
        own = [_alone(loaded, _request(loaded, text, key)) for key in (first, second)]
        assert own[0] != own[1]
        # Built directly, not through `blend`: the routes themselves drop the persona with no share.
        assert [_alone(loaded, _request(loaded, text, Blend(first, second, weight))) for weight in (0.0, 1.0)] == own
    assert len(loaded.tokenizer(" ".join(PROMPTS * 4))["input_ids"]) > MASKED_TOKENS


def _peft_blend(loaded, adapters: list[str], weights: list[float]) -> str:
    """The same blend made the other way: a new adapter from peft (the concatenated ranks, exact for LoRA)."""
    name = f"peft-blend-{len(loaded.model.peft_config)}"
    loaded.model.add_weighted_adapter(adapters, weights, name, combination_type="cat")
    forget_stacked(loaded.model)
    return name


def _logits(model, ids: list[int], adapter) -> torch.Tensor:
    """One forward pass with every token routed to `adapter` (the engine's per-token path)."""
    with torch.inference_mode(), per_row_adapters(model, TokenRoutes([(adapter or BASE, 0, len(ids))])):
        return model(input_ids=torch.tensor([ids])).logits[0]


def test_a_half_blend_is_peft_s_weighted_adapter_and_neither_persona(personas):
    loaded = load_base("tiny-llama")
    first, second = _keys(loaded, personas)
    mixed = blend(first, second, 0.5)
    assert isinstance(mixed, Blend)
    peft_name = _peft_blend(loaded, [first, second], [0.5, 0.5])
    for text in (PROMPTS[0], " ".join(PROMPTS * 4)):  # the masked path, and the per-span one (> MASKED_TOKENS)
        ids = loaded.tokenizer(text)["input_ids"]
        torch.testing.assert_close(_logits(loaded.model, ids, mixed), _logits(loaded.model, ids, peft_name),
                                   rtol=1e-5, atol=1e-5)
        ours = _alone(loaded, _request(loaded, text, mixed))
        assert ours == _alone(loaded, _request(loaded, text, peft_name))
        assert ours not in ([_alone(loaded, _request(loaded, text, key)) for key in (first, second)])


def test_a_blend_scales_one_persona_when_the_other_side_is_the_base(personas):
    loaded = load_base("tiny-llama")
    first, _ = _keys(loaded, personas)
    ids = loaded.tokenizer(PROMPTS[2])["input_ids"]
    bare, full = _logits(loaded.model, ids, None), _logits(loaded.model, ids, first)
    scaled = _logits(loaded.model, ids, blend(None, first, 0.3))
    assert not torch.allclose(scaled, bare) and not torch.allclose(scaled, full)
    peft_name = _peft_blend(loaded, [first], [0.3])  # (one adapter: peft scales both A and B by sqrt(0.3))
    torch.testing.assert_close(scaled, _logits(loaded.model, ids, peft_name), rtol=1e-5, atol=1e-5)


def test_a_blend_in_the_same_steps_leaves_other_users_replies_unchanged(personas, tiny_adapters):
    loaded = load_base("tiny-llama")
    first, second = _keys(loaded, personas)
    other = attach(loaded, resolve_target("chat", str(tiny_adapters["llama-chat"])).info)
    adapters = [first, blend(first, second, 0.3), None, other, blend(second, None, 0.6), second]
    requests = [_request(loaded, PROMPTS[i % len(PROMPTS)], adapter) for i, adapter in enumerate(adapters)]
    engine = Engine(lambda: loaded.model, loaded.lock, Scheduler())
    together = [stream.tokens() for stream in engine.submit_all(requests)]
    assert together == [_alone(loaded, request) for request in requests]
    assert max(engine.step_sizes) == len(requests)  # they really shared steps


def test_a_blend_keeps_its_own_prompts_and_forgetting_a_persona_drops_them(personas):
    loaded = load_base("tiny-llama")
    first, second = _keys(loaded, personas)
    engine = Engine(lambda: loaded.model, loaded.lock, Scheduler())
    mixed = blend(first, second, 0.5)
    for adapter in (first, mixed):
        engine.submit(_request(loaded, PROMPTS[2], adapter, tokens=3)).tokens()
    assert engine.prefixes.hits == 0  # the same prompt under another adapter (the blend) is read again
    assert {owner for owner, _ in engine.prefixes._entries} == {first, mixed}
    engine.prefixes.forget(second)
    assert {owner for owner, _ in engine.prefixes._entries} == {first}


def _reply(turn: ChatTurn) -> str:
    return final_texts(chat_streams([turn], workspace=WORKSPACE))[0]


@pytest.fixture
def library(tiny_models, monkeypatch):
    """The personas in a workspace's library (found by name), tiny-llama as the chat base."""
    from conftest import make_adapter
    from models.registry import DEFAULT_BASE

    monkeypatch.setitem(DEFAULT_BASE, "chat", "tiny-llama")
    folder = workspace_dir(WORKSPACE)
    for name, seed in (("sarcastic", 31), ("cheerful", 32)):
        if not (folder / name).exists():
            make_adapter("tiny-llama", "chat", folder / name, seed=seed, scale=1.0)
    if not (folder / "other-base").exists():
        make_adapter("tiny-gemma3", "chat", folder / "other-base", seed=33)
    return folder


def test_chat_turns_blend_by_name_and_the_ends_are_the_personas(library):
    alone = {name: _reply(ChatTurn("Hello!", adapter=name)) for name in ("sarcastic", "cheerful")}
    assert _reply(ChatTurn("Hello!", adapter="sarcastic", blend_with="cheerful", weight=0)) == alone["sarcastic"]
    assert _reply(ChatTurn("Hello!", adapter="sarcastic", blend_with="cheerful", weight=1.0)) == alone["cheerful"]
    assert _reply(ChatTurn("Hello!", adapter="cheerful", blend_with="cheerful", weight=0.5)) == alone["cheerful"]
    half = _reply(ChatTurn("Hello!", adapter="sarcastic", blend_with="cheerful", weight=0.5))
    assert half not in alone.values()
    base = _reply(ChatTurn("Hello!"))  # the blend beside the bare base, as compare mode sends them
    both = final_texts(chat_streams([ChatTurn("Hello!", adapter="sarcastic", blend_with="cheerful", weight=0.5),
                                     ChatTurn("Hello!")], workspace=WORKSPACE))
    assert both == [half, base]


@pytest.mark.parametrize("weight", [-0.1, 1.5, math.nan, "0.5", True, None])
def test_a_weight_outside_0_to_1_is_refused(library, weight):
    with pytest.raises(InputError) as error:
        resolve_blend("chat", "sarcastic", "cheerful", weight, workspace=WORKSPACE)
    assert error.value.message.key == "inference.blend_weight"
    assert "Trọng số trộn" in error.value.text("vi")


def test_personas_of_other_bases_or_tasks_are_refused(library, tiny_adapters):
    with pytest.raises(AdapterError) as error:
        resolve_blend("chat", "sarcastic", "other-base", 0.5, workspace=WORKSPACE)
    assert error.value.message.key == "inference.blend_bases" and "tiny-gemma3" in str(error.value)
    with pytest.raises(AdapterError) as error:
        resolve_blend("chat", "sarcastic", str(tiny_adapters["llama-translation-a"]), 0.5, workspace=WORKSPACE)
    assert error.value.message.key == "inference.wrong_task"
    from models.loading import loaded_bases

    assert "tiny-gemma3" not in {loaded.spec.key for loaded in loaded_bases()}  # refused before loading its base


def test_the_blend_chat_endpoint_streams_the_blended_reply(library, app_client):
    client, _ = app_client
    expected = _reply(ChatTurn("Hello!", adapter="sarcastic", blend_with="cheerful", weight=0.5))
    assert client.predict("Hello!", "sarcastic", "cheerful", 0.5, [], WORKSPACE, api_name="/blend_chat") == expected
    assert client.predict("Hello!", "sarcastic", "cheerful", 0.0, [], WORKSPACE, api_name="/blend_chat") == \
        _reply(ChatTurn("Hello!", adapter="sarcastic"))
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="blend weight"):
        client.predict("Hello!", "sarcastic", "cheerful", 2.0, [], WORKSPACE, api_name="/blend_chat")
    with pytest.raises(AppError, match="No chat adapter named 'nobody'"):
        client.predict("Hello!", "sarcastic", "nobody", 0.5, [], WORKSPACE, api_name="/blend_chat")
