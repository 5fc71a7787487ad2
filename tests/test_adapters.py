"""Adapters: attaching and switching on a shared base, concurrency, and refusing unsafe folders/zips."""

from __future__ import annotations

import json
import re
import shutil
import struct
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import adapter_files, zip_with
from models import inference
from models.adapters import (
    AdapterError, adapter_key, delete_adapter, export_zip, find_adapter, import_zip, list_adapters, read_adapter,
    sanitize_name, save_adapter_atomically, workspace_dir,
)
from models.inference import BASE, resolve_target, translate
from models.loading import load_base
from models.mixed_lora import per_row_adapters

TEXT = "Where is the train station?"


@pytest.fixture
def copy_of(tiny_adapters, tmp_path):
    def copy(name: str, to: Path | None = None) -> Path:
        target = to or tmp_path / name
        shutil.copytree(tiny_adapters[name], target)
        return target
    return copy


def logits(task: str, text: str, adapter: str | None) -> torch.Tensor:
    """Next-token logits of the shared base with the adapter selected per row (None = bare base)."""
    target = resolve_target(task, adapter, base="tiny-llama")
    loaded = target.loaded
    inputs = loaded.tokenizer([text], return_tensors="pt").to(loaded.model.device)
    with loaded.lock, torch.inference_mode(), per_row_adapters(loaded.model, target.adapter_names(1)):
        return loaded.model(**inputs).logits


# ------------------------------------------------------------------ attach / switch / base


def test_attach_switch_and_back_to_base(tiny_adapters, fresh_models):
    a, b = str(tiny_adapters["llama-translation-a"]), str(tiny_adapters["llama-translation-b"])
    base_text = translate(TEXT, base="tiny-llama")
    base_logits = logits("translation", TEXT, None)
    loaded = load_base("tiny-llama")
    assert loaded.adapters == {}  # the bare base was used without wrapping it

    a_text, a_logits = translate(TEXT, adapter=a), logits("translation", TEXT, a)
    b_text, b_logits = translate(TEXT, adapter=b), logits("translation", TEXT, b)
    assert len(loaded.adapters) == 2  # both adapters live on the one shared base
    assert load_base("tiny-llama") is loaded

    assert not torch.allclose(a_logits, base_logits, atol=1e-3)
    assert not torch.allclose(b_logits, a_logits, atol=1e-3)
    assert a_text != b_text
    # Back to base: exactly the original output, although adapters are now attached.
    assert translate(TEXT, base="tiny-llama") == base_text
    assert torch.equal(logits("translation", TEXT, None), base_logits)
    # And switching again gives each adapter's own output, not the last one used.
    assert translate(TEXT, adapter=a) == a_text
    assert torch.equal(logits("translation", TEXT, a), a_logits)


def test_adapter_attached_once(tiny_adapters, fresh_models):
    a = str(tiny_adapters["llama-translation-a"])
    first = resolve_target("translation", a)
    second = resolve_target("translation", a)
    assert first.key == second.key and first.loaded is second.loaded
    assert list(first.loaded.adapters) == [first.key]
    assert first.adapter_names(3) == [first.key] * 3
    assert resolve_target("translation", base="tiny-llama").adapter_names(2) == [BASE, BASE]


def test_adapter_for_another_task_is_refused(tiny_adapters, fresh_models):
    with pytest.raises(AdapterError, match="chat"):
        translate(TEXT, adapter=str(tiny_adapters["llama-chat"]))


def test_resaved_adapter_at_same_path_is_reloaded(tiny_adapters, fresh_models, copy_of):
    folder = copy_of("llama-translation-a")
    a_text = translate(TEXT, adapter=str(folder))
    b_text = translate(TEXT, adapter=str(tiny_adapters["llama-translation-b"]))

    def write_b(target: Path) -> None:
        for item in tiny_adapters["llama-translation-b"].iterdir():
            shutil.copy(item, target / item.name)

    save_adapter_atomically(write_b, folder)  # a retrained adapter replaces the old one in place
    assert a_text != b_text
    assert translate(TEXT, adapter=str(folder)) == b_text


def test_detach_forgets_a_deleted_adapter(tiny_adapters, fresh_models, copy_of):
    folder = copy_of("llama-translation-a", workspace_dir() / "to-delete")
    info = find_adapter("to-delete")
    translate(TEXT, adapter="to-delete")
    loaded, key = load_base("tiny-llama"), adapter_key(info)
    assert key in loaded.adapters
    inference.detach(info)
    delete_adapter(info)
    assert key not in loaded.adapters and not folder.exists()
    assert key not in loaded.model.peft_config
    with pytest.raises(AdapterError, match="to-delete"):
        translate(TEXT, adapter="to-delete")


def test_concurrent_requests_each_get_their_own_adapter(tiny_adapters, fresh_models):
    texts = ["Where is the train station?", "The cat sleeps on the bed.", "Thank you very much."]
    choices = [str(tiny_adapters["llama-translation-a"]), str(tiny_adapters["llama-translation-b"]), None]
    expected = {(text, adapter): translate(text, adapter=adapter, base="tiny-llama")
                for text in texts for adapter in choices}
    assert len({expected[texts[0], adapter] for adapter in choices}) == 3  # the three really differ
    jobs = [(texts[i % len(texts)], choices[i % len(choices)]) for i in range(48)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda job: translate(job[0], adapter=job[1], base="tiny-llama"), jobs))
    assert results == [expected[job] for job in jobs]


def test_concurrent_sentiment_with_two_adapters_and_base(tiny_adapters, fresh_models):
    choices = [str(tiny_adapters["bert-sentiment-a"]), str(tiny_adapters["bert-sentiment-b"]), None]
    texts = ["I loved this movie", "This film was terrible and boring"]
    expected = {(t, c): inference.classify_sentiment(t, adapter=c, base="tiny-bert") for t in texts for c in choices}
    jobs = [(texts[i % 2], choices[i % 3]) for i in range(36)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda job: inference.classify_sentiment(job[0], job[1], "tiny-bert"), jobs))
    for job, result in zip(jobs, results):
        assert result == pytest.approx(expected[job], abs=1e-6)
    assert expected[texts[0], choices[0]] != pytest.approx(expected[texts[0], choices[1]], abs=1e-3)


# ------------------------------------------------------------------ the library


def test_find_adapter_by_name_path_and_workspace(tiny_adapters, copy_of):
    copy_of("llama-translation-a", workspace_dir() / "mine")
    copy_of("llama-translation-b", workspace_dir("team") / "mine")
    assert find_adapter("mine").path == workspace_dir() / "mine"
    assert find_adapter("mine", workspace="team").path == workspace_dir("team") / "mine"
    by_path = find_adapter(str(tiny_adapters["llama-chat"]))
    assert by_path.task == "chat" and by_path.base_model == "tiny-llama" and by_path.rank == 4
    with pytest.raises(AdapterError, match="no-such-adapter"):
        find_adapter("no-such-adapter")


def test_list_adapters_filters_by_task_and_skips_broken(copy_of):
    copy_of("llama-translation-a", workspace_dir("listing") / "good-one")
    broken = copy_of("llama-translation-b", workspace_dir("listing") / "broken-one")
    (broken / "adapter_model.safetensors").write_bytes(b"not safetensors")
    mine = [i for i in list_adapters(workspace="listing") if not i.shipped]
    assert [i.name for i in mine] == ["good-one"] and mine[0].workspace == "listing"
    assert [i for i in list_adapters("sentiment", workspace="listing") if not i.shipped] == []
    assert all(i.shipped for i in list_adapters(workspace=None))


def test_shipped_adapters_cannot_be_deleted():
    shipped = [i for i in list_adapters(workspace=None)]
    if not shipped:
        pytest.skip("no shipped adapters in assets/adapters")
    with pytest.raises(AdapterError, match="ships with the app"):
        delete_adapter(shipped[0])
    assert shipped[0].path.is_dir()


# ------------------------------------------------------------------ read_adapter refusals


def test_read_adapter_accepts_a_good_folder(tiny_adapters):
    info = read_adapter(tiny_adapters["bert-sentiment-a"])
    assert (info.task, info.base_model, info.labels) == ("sentiment", "tiny-bert", ["negative", "positive"])


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pkl"])
def test_read_adapter_refuses_pickles(copy_of, suffix):
    folder = copy_of("llama-translation-a")
    (folder / f"adapter_model{suffix}").write_bytes(b"\x80\x04pickle")
    with pytest.raises(AdapterError, match="pickle"):
        read_adapter(folder)


def test_read_adapter_refuses_a_pickle_in_a_subfolder(copy_of):
    folder = copy_of("llama-translation-a")
    (folder / "extra").mkdir()
    (folder / "extra" / "weights.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(AdapterError, match="pickle"):
        read_adapter(folder)


def test_read_adapter_refuses_corrupt_safetensors(copy_of):
    folder = copy_of("llama-translation-a")
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(AdapterError, match="safetensors"):
        read_adapter(folder)


def test_read_adapter_refuses_garbage_header(copy_of):
    folder = copy_of("llama-translation-a")
    (folder / "adapter_model.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(AdapterError, match="safetensors"):
        read_adapter(folder)


@pytest.mark.parametrize("rank", [10_000, 0, -1, "8", 2.5])
def test_read_adapter_refuses_bad_rank(copy_of, rank):
    folder = copy_of("llama-translation-a")
    config = json.loads((folder / "adapter_config.json").read_text())
    config["r"] = rank
    (folder / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(AdapterError, match="rank"):
        read_adapter(folder)


@pytest.mark.parametrize("missing", ["playground.json", "adapter_config.json", "adapter_model.safetensors"])
def test_read_adapter_refuses_missing_files(copy_of, missing):
    folder = copy_of("llama-translation-a")
    (folder / missing).unlink()
    with pytest.raises(AdapterError, match=re.escape(missing)):
        read_adapter(folder)


@pytest.mark.parametrize("content,pattern", [
    ("{not json", "not valid JSON"), ("[1, 2]", "JSON object"), ('{"task": "translation"}', "base_model"),
])
def test_read_adapter_refuses_bad_metadata(copy_of, content, pattern):
    folder = copy_of("llama-translation-a")
    (folder / "playground.json").write_text(content)
    with pytest.raises(AdapterError, match=pattern):
        read_adapter(folder)


def test_read_adapter_refuses_symlinks(copy_of, tmp_path):
    folder = copy_of("llama-translation-a")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    (folder / "README.md").unlink(missing_ok=True)
    (folder / "README.md").symlink_to(secret)
    with pytest.raises(AdapterError, match="symbolic link"):
        read_adapter(folder)


def test_read_adapter_refuses_symlinked_weights(copy_of, tiny_adapters):
    folder = copy_of("llama-translation-a")
    (folder / "adapter_model.safetensors").unlink()
    (folder / "adapter_model.safetensors").symlink_to(tiny_adapters["llama-translation-b"] / "adapter_model.safetensors")
    with pytest.raises(AdapterError, match="symbolic link"):
        read_adapter(folder)


def test_read_adapter_refuses_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(AdapterError, match="not an adapter folder"):
        read_adapter(tmp_path / "file")


def _same_size_other_task(folder: Path) -> None:
    """playground.json rewritten to the same length: only the modification time tells it changed."""
    metadata = folder / "playground.json"
    text = metadata.read_text()
    changed = text.replace('"task": "translation"', '"task": "translatio!"')
    assert changed != text and len(changed) == len(text)
    metadata.write_text(changed)


@pytest.mark.parametrize("damage,pattern", [
    (lambda folder: (folder / "adapter_model.pt").write_bytes(b"\x80\x04pickle"), "pickle"),
    (lambda folder: (folder / "adapter_model.safetensors").write_bytes(b"\0" * 100), "safetensors"),
    (lambda folder: (folder / "playground.json").unlink(), "playground.json"),
    (_same_size_other_task, "names task"),
])
def test_a_folder_read_once_is_checked_again_after_it_changes(copy_of, damage, pattern):
    folder = copy_of("llama-translation-a")
    assert read_adapter(folder).task == "translation"
    damage(folder)
    with pytest.raises(AdapterError, match=pattern):
        read_adapter(folder)


def test_an_unchanged_folder_is_not_parsed_again(copy_of, monkeypatch):
    from models import adapters

    folder = copy_of("llama-translation-a")
    parsed = []
    real_read_json = adapters._read_json
    monkeypatch.setattr(adapters, "_read_json", lambda path: parsed.append(path.name) or real_read_json(path))
    first, again = read_adapter(folder), read_adapter(folder, workspace="someone")
    assert parsed == ["adapter_config.json", "playground.json"]  # the second read reused the first
    assert (again.task, again.base_model, again.path, again.workspace) == ("translation", "tiny-llama", folder, "someone")
    assert first.workspace is None


# ------------------------------------------------------------------ zips


def test_export_import_roundtrip(tiny_adapters, tmp_path, fresh_models):
    original = read_adapter(tiny_adapters["llama-translation-a"])
    archive = export_zip(original, tmp_path)
    imported = import_zip(archive, workspace="zips", name="Imported Copy!")
    assert imported.name == "imported-copy" and imported.workspace == "zips"
    assert imported.path == workspace_dir("zips") / "imported-copy"
    for name in ("adapter_model.safetensors", "adapter_config.json", "playground.json"):
        assert (imported.path / name).read_bytes() == (original.path / name).read_bytes()
    assert (imported.task, imported.base_model) == (original.task, original.base_model)
    assert translate(TEXT, adapter="imported-copy", workspace="zips") == translate(TEXT, adapter=str(original.path))


def test_import_flattens_inner_folders(tiny_adapters, tmp_path):
    files = {f"my-adapter/{k}": v for k, v in adapter_files(tiny_adapters["llama-translation-a"]).items()}
    info = import_zip(zip_with(tmp_path / "nested.zip", files), workspace="zips")
    assert info.name == "nested" and (info.path / "adapter_model.safetensors").is_file()
    assert not (info.path / "my-adapter").exists()


@pytest.mark.parametrize("evil", ["../evil.txt", "../../evil.txt", "sub/../../evil.txt", "/tmp/evil.txt",
                                  "C:/evil.txt"])
def test_import_refuses_paths_outside(tiny_adapters, tmp_path, evil):
    files = {**adapter_files(tiny_adapters["llama-translation-a"]), evil: b"owned"}
    before = set(workspace_dir("zips").parent.rglob("*"))
    with pytest.raises(AdapterError, match="outside"):
        import_zip(zip_with(tmp_path / "slip.zip", files), workspace="zips")
    assert set(workspace_dir("zips").parent.rglob("*")) - before <= {workspace_dir("zips")}
    assert not (tmp_path / "evil.txt").exists()


def test_import_refuses_symlink_entries(tiny_adapters, tmp_path):
    files = {**adapter_files(tiny_adapters["llama-translation-a"]), "README.md": b"/etc/passwd"}
    with pytest.raises(AdapterError, match="symbolic link"):
        import_zip(zip_with(tmp_path / "link.zip", files, symlinks=("README.md",)), workspace="zips")
    assert not (workspace_dir("zips") / "link").exists()


def test_import_refuses_unknown_base_and_keeps_existing_adapter(tiny_adapters, tmp_path):
    existing = import_zip(export_zip(read_adapter(tiny_adapters["llama-translation-a"]), tmp_path),
                          workspace="zips", name="keep-me")
    before = adapter_files(existing.path)
    files = adapter_files(tiny_adapters["llama-translation-b"])
    metadata = json.loads(files["playground.json"])
    metadata["base_model"] = "no-such-base"
    files["playground.json"] = json.dumps(metadata).encode()
    with pytest.raises(AdapterError, match="no-such-base"):
        import_zip(zip_with(tmp_path / "keep-me.zip", files), workspace="zips")
    assert adapter_files(existing.path) == before  # the same-named adapter survived the refused upload
    assert not any(p.name.startswith(".") for p in workspace_dir("zips").iterdir())


def test_import_refuses_zip_bomb_by_declared_size(tiny_adapters, tmp_path):
    files = {**adapter_files(tiny_adapters["llama-translation-a"]), "README.md": bytes(3 << 20)}
    archive = zip_with(tmp_path / "bomb.zip", files)
    assert archive.stat().st_size < 1 << 20  # small on disk, large unpacked
    with pytest.raises(AdapterError, match="more than 2 MB"):
        import_zip(archive, workspace="zips", max_bytes=2 << 20)
    assert not (workspace_dir("zips") / "bomb").exists()


def test_size_limit_is_the_sum_of_declared_sizes(tiny_adapters, tmp_path):
    files = adapter_files(tiny_adapters["llama-translation-a"])
    total = sum(len(v) for v in files.values())
    with pytest.raises(AdapterError, match="more than"):
        import_zip(zip_with(tmp_path / "big.zip", files), workspace="zips", max_bytes=total - 1)
    assert import_zip(zip_with(tmp_path / "fits.zip", files), workspace="zips", max_bytes=total).name == "fits"


def test_import_refuses_a_zip_that_lies_about_its_size(tiny_adapters, tmp_path):
    files = {**adapter_files(tiny_adapters["llama-translation-a"]), "README.md": bytes(1 << 20)}
    archive = zip_with(tmp_path / "liar.zip", files)
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zipped:
        member = zipped.getinfo("README.md")
        central = zipped.start_dir
    # Declare 10 bytes (local header offset 22, central-directory entry offset 24) while 1 MiB is stored.
    struct.pack_into("<I", data, member.header_offset + 22, 10)
    entry = data.index(b"PK\x01\x02" + data[central + 4: central + 6], central)
    while not data[entry + 46: entry + 46 + len(b"README.md")] == b"README.md":
        entry = data.index(b"PK\x01\x02", entry + 4)
    struct.pack_into("<I", data, entry + 24, 10)
    archive.write_bytes(bytes(data))
    with zipfile.ZipFile(archive) as zipped:
        assert zipped.getinfo("README.md").file_size == 10
    with pytest.raises(AdapterError, match="damaged"):
        import_zip(archive, workspace="zips")
    assert not (workspace_dir("zips") / "liar").exists()
    assert not any(p.name.startswith(".") for p in workspace_dir("zips").iterdir())


def test_import_refuses_a_non_zip(tmp_path):
    (tmp_path / "fake.zip").write_bytes(b"this is not a zip")
    with pytest.raises(AdapterError, match="not a zip"):
        import_zip(tmp_path / "fake.zip", workspace="zips")


def test_import_refuses_a_zip_without_an_adapter(tmp_path):
    with pytest.raises(AdapterError, match="adapter_model.safetensors"):
        import_zip(zip_with(tmp_path / "empty.zip", {"notes.txt": b"hello"}), workspace="zips")
    assert not (workspace_dir("zips") / "empty").exists()


# ------------------------------------------------------------------ names and atomic saves


@pytest.mark.parametrize("hostile,expected", [
    ("../../etc/passwd", "etc-passwd"), ("..", None), ("/", None), ("  My Adapter!! ", "my-adapter"),
    ("a/b\\c", "a-b-c"), ("name\x00.bin", "name-bin"), (".hidden", "hidden"), ("Ünïcode café", "n-code-caf"),
    ("x" * 200, "x" * 64), ("", None), ("___", None), ("ok_name-1", "ok_name-1"),
])
def test_sanitize_name_on_hostile_names(hostile, expected):
    if expected is None:
        with pytest.raises(AdapterError):
            sanitize_name(hostile)
    else:
        assert sanitize_name(hostile) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100))
def test_sanitized_names_stay_inside_their_folder(name):
    try:
        cleaned = sanitize_name(name)
    except AdapterError:
        return
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", cleaned)
    root = Path("/library/workspace")
    assert (root / cleaned).resolve().parent == root


def test_save_atomically_keeps_old_folder_when_write_fails(copy_of, tmp_path):
    destination = copy_of("llama-translation-a", tmp_path / "lib" / "adapter")
    before = adapter_files(destination)

    def half_write(folder: Path) -> None:
        (folder / "adapter_model.safetensors").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_adapter_atomically(half_write, destination)
    assert adapter_files(destination) == before
    assert sorted(p.name for p in destination.parent.iterdir()) == ["adapter"]  # no hidden leftovers


def test_save_atomically_refuses_an_invalid_result(copy_of, tmp_path):
    destination = copy_of("llama-translation-a", tmp_path / "lib" / "adapter")
    before = adapter_files(destination)
    with pytest.raises(AdapterError):
        save_adapter_atomically(lambda folder: (folder / "notes.txt").write_text("no weights"), destination)
    assert adapter_files(destination) == before
    assert sorted(p.name for p in destination.parent.iterdir()) == ["adapter"]


def test_save_atomically_replaces_and_creates(tiny_adapters, tmp_path):
    destination = tmp_path / "lib" / "new"

    def write_from(source: Path):
        def write(folder: Path) -> None:
            for item in source.iterdir():
                shutil.copy(item, folder / item.name)
        return write

    save_adapter_atomically(write_from(tiny_adapters["llama-translation-a"]), destination)
    assert read_adapter(destination).metadata["hyperparameters"]["seed"] == 1
    save_adapter_atomically(write_from(tiny_adapters["llama-translation-b"]), destination)
    assert read_adapter(destination).metadata["hyperparameters"]["seed"] == 2
    assert sorted(p.name for p in destination.parent.iterdir()) == ["new"]
