"""Isolation (issue #7, RELIABILITY.md): a workspace's adapters are its own, names cannot leave the
app's folders, the file route serves nothing of the app's own, and demo mode caps one user.

A workspace is a browser's random id (or a name given to the API); knowing it is what lets a client
use its adapters. Shipped adapters are visible to everyone, deletable by nobody; adapters published to a
class are another matter (tests/test_gallery.py).
"""

from __future__ import annotations

import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import adapter_files, make_adapter, zip_with
from finetune.config import make_config
from finetune.jobs import JobLimitError, JobQueue
from models import inference
from models.adapters import (AdapterError, delete_adapter, find_adapter, import_zip, list_adapters, read_adapter,
                             sanitize_name, workspace_dir, workspace_path)
from models.registry import cache_dir
from ui.common import Settings, adapter_argument, ensure_workspace

OWNER, OTHER = "wowner0123456789", "wother0123456789"
TEXT = "Where is the train station?"


@pytest.fixture(scope="module")
def owned(tiny_models) -> Path:
    """OWNER's adapter 'iso-owned'."""
    return make_adapter("tiny-llama", "translation", workspace_dir(OWNER) / "iso-owned", seed=31)


@pytest.fixture(scope="module")
def client(app_client, owned):
    return app_client[0]


def names(workspace: str | None) -> set[str]:
    return {info.name for info in list_adapters(None, workspace) if not info.shipped}


# ------------------------------------------------------------------ one workspace, another


def test_another_workspace_cannot_see_the_adapter(owned):
    assert names(OWNER) == {"iso-owned"}
    assert names(OTHER) == set() and names(None) == set()
    with pytest.raises(AdapterError, match="No adapter named 'iso-owned'"):
        find_adapter("iso-owned", OTHER)


def test_another_workspace_cannot_use_it_through_the_api(client):
    from gradio_client.exceptions import AppError

    own = client.predict(TEXT, "iso-owned", OWNER, api_name="/translate")
    assert own == inference.translate(TEXT, adapter="iso-owned", workspace=OWNER)
    for workspace in (OTHER, "", "default", OWNER.upper() + "-x"):
        with pytest.raises(AppError, match="No translation adapter named 'iso-owned' is available here"):
            client.predict(TEXT, "iso-owned", workspace, api_name="/translate")


def test_another_workspace_cannot_use_it_through_the_task_functions(owned):
    with pytest.raises(AdapterError, match="No adapter named 'iso-owned'"):
        inference.translate(TEXT, adapter="iso-owned", workspace=OTHER)
    with pytest.raises(AdapterError, match="No translation adapter named 'iso-owned'"):
        adapter_argument("iso-owned", "translation", OTHER)


def test_another_workspace_cannot_overwrite_or_delete_it(owned, tmp_path):
    before = adapter_files(owned)
    impostor = make_adapter("tiny-llama", "translation", tmp_path / "impostor", seed=32)
    archive = zip_with(tmp_path / "iso-owned.zip", adapter_files(impostor))
    theirs = import_zip(archive, OTHER)  # same name, other workspace: a separate adapter

    assert theirs.path == workspace_dir(OTHER) / "iso-owned" and theirs.path != owned
    assert adapter_files(owned) == before
    delete_adapter(find_adapter("iso-owned", OTHER))  # deleting "iso-owned" from OTHER deletes OTHER's only
    assert adapter_files(owned) == before and names(OTHER) == set()


def test_shipped_adapters_are_visible_to_all_and_deletable_by_none():
    shipped = [info for info in list_adapters(None, OTHER) if info.shipped]
    assert shipped and {i.name for i in shipped} == {i.name for i in list_adapters(None, OWNER) if i.shipped}
    with pytest.raises(AdapterError, match="ships with the app and cannot be deleted"):
        delete_adapter(shipped[0])


def test_a_workspaces_adapter_shadows_a_shipped_one_only_for_itself(tmp_path):
    shipped = next(info for info in list_adapters("translation", None) if info.shipped)
    make_adapter("tiny-llama", "translation", workspace_dir(OTHER) / shipped.name, seed=33)
    try:
        assert find_adapter(shipped.name, OTHER).workspace == OTHER
        assert find_adapter(shipped.name, OWNER).shipped
    finally:
        shutil.rmtree(workspace_dir(OTHER) / shipped.name)


def test_browser_workspaces_are_random_and_kept():
    ids = {ensure_workspace(None) for _ in range(50)}
    assert len(ids) == 50 and all(re.fullmatch(r"w[0-9a-f]{16}", i) for i in ids)
    assert ensure_workspace("wexisting") == "wexisting"


# ------------------------------------------------------------------ names and folders


@pytest.mark.parametrize("name, folder", [("../../outside", "outside"), ("/etc/passwd", "etc-passwd"),
                                          ("..\\..\\win", "win"), ("a/../../b", "a-b"), (".hidden", "hidden")])
def test_hostile_names_land_inside_the_workspace(owned, tmp_path, name, folder):
    archive = zip_with(tmp_path / "upload.zip", adapter_files(owned))
    info = import_zip(archive, OTHER, name=name)
    try:
        assert info.path == workspace_dir(OTHER) / folder
        assert info.path.resolve().parent == workspace_dir(OTHER).resolve()
    finally:
        shutil.rmtree(info.path)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80))
def test_any_workspace_name_stays_inside_the_library(workspace):
    try:
        path = workspace_path(workspace)
    except AdapterError as error:
        assert "is not a usable workspace name" in str(error)
        return
    library = (cache_dir() / "adapters").resolve()
    assert path.resolve().parent == library and path.name == sanitize_name(workspace)


def test_reading_a_workspace_creates_no_folder():
    """Any client can name any workspace: listing one must not leave a folder behind."""
    listed = "wnever-written-0001"
    assert list_adapters(None, listed) is not None
    with pytest.raises(AdapterError):
        find_adapter("x", listed)
    assert not workspace_path(listed).exists()


def test_a_folder_in_the_current_directory_cannot_stand_in_for_a_library_name(owned, tmp_path, monkeypatch):
    """Before the fix a plain name was tried as a folder of the working directory first."""
    decoy = make_adapter("tiny-llama", "translation", tmp_path / "iso-owned", seed=34)
    monkeypatch.chdir(tmp_path)
    assert find_adapter("iso-owned", OWNER).path == owned
    with pytest.raises(AdapterError, match="No translation adapter named 'iso-owned'"):
        adapter_argument("iso-owned", "translation", OTHER)  # what the app checks before any lookup
    assert read_adapter(decoy).name == "iso-owned"


@pytest.mark.parametrize("target", ["/etc/passwd", "app.py", "{home}/browser-secret",
                                    "{home}/adapters/" + OWNER + "/iso-owned/adapter_model.safetensors",
                                    "{home}/adapters/" + OWNER + "/iso-owned/playground.json"])
def test_the_file_route_serves_none_of_the_apps_own_files(client, owned, target):
    """Gradio serves /gradio_api/file=<path> only for files it made or was allowed: not the app's
    code, not the secret that encrypts browser state, not anyone's adapter folder."""
    from ui.common import browser_secret

    browser_secret()  # make sure the file exists
    path = Path(target.format(home=cache_dir()))
    path = path if path.is_absolute() else Path(__file__).resolve().parents[1] / path
    assert path.is_file()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(file_url(client, path), timeout=30)
    assert refused.value.code == 403  # "File not allowed"


def file_url(client, path: Path | str) -> str:
    return f"{client.src.rstrip('/')}/gradio_api/file={path}"


def test_the_file_route_does_serve_what_gradio_was_given(client, tmp_path):
    """The control for the test above: the same route returns an uploaded file."""
    import httpx

    (tmp_path / "upload.txt").write_text("hello")
    with open(tmp_path / "upload.txt", "rb") as handle:
        [stored] = httpx.post(client.upload_url, files=[("files", ("upload.txt", handle))], timeout=30).json()
    assert urllib.request.urlopen(file_url(client, stored), timeout=30).read() == b"hello"


# ------------------------------------------------------------------ demo mode


def test_demo_mode_caps_rows_bytes_steps_and_jobs(monkeypatch):
    from ui.train import training_config

    monkeypatch.setenv("LORA_PLAYGROUND_DEMO", "1")
    demo = Settings.from_env()
    assert demo.demo and demo.limits.max_rows == 2_000 and demo.limits.max_bytes == 2 * 1024 * 1024
    assert (demo.max_steps, demo.max_active_jobs) == (200, 1)
    assert training_config("sentiment", "tiny-bert", "quick", 8, 1e-3, 100, 50_000, demo.max_steps).max_steps == 200
    assert training_config("sentiment", "tiny-bert", "quick", 8, 1e-3, 100, -1, demo.max_steps).max_steps == 200
    monkeypatch.setenv("LORA_PLAYGROUND_DEMO", "0")
    assert Settings.from_env() == Settings()


def test_demo_mode_allows_one_active_job_per_workspace(tiny_models, monkeypatch):
    monkeypatch.setenv("LORA_PLAYGROUND_DEMO", "1")
    queue = JobQueue(Settings.from_env().max_active_jobs)
    records = [{"text": f"{word} film {i}", "label": label} for i in range(6)
               for word, label in (("great", "positive"), ("awful", "negative"))]
    config = make_config("sentiment", "quick", base="tiny-bert", max_steps=100_000, epochs=100, max_length=16)
    try:
        first = queue.submit(config, records, OWNER, None)
        with pytest.raises(JobLimitError, match="already has 1 job"):
            queue.submit(config, records, OWNER, None)
        other = queue.submit(config, records, OTHER, None)  # another browser is not held back
        assert queue.cancel(other.id) and queue.cancel(first.id)
        assert queue.wait(first.id, 120).state == "cancelled"
        again = queue.submit(config, records, OWNER, None)  # finished: the workspace may start again
        queue.cancel(again.id)
    finally:
        queue.close()
