"""The class gallery (models.gallery) and its leaderboard (finetune.leaderboard), on the tiny models:
a published adapter is everyone's in the class and nobody else's, only its owner takes it down, and
every published adapter of a task is scored on the same rows as its base."""

from __future__ import annotations

import time

import pytest

from conftest import make_adapter
from finetune import leaderboard
from finetune.served_eval import evaluate_served
from models import inference
from models.adapters import AdapterError, delete_adapter, find_adapter, list_adapters, workspace_dir
from models.gallery import (CLASS_ENV, EVERYONE, GalleryError, class_of, entries, join_class, publish,
                            unpublish)

LAN, MINH, THIRD, ELSEWHERE = "wlan000000000001", "wminh00000000002", "wthird0000000003", "welse00000000004"
CLASS = "lop-10a"
LABELS = ["negative", "positive"]


@pytest.fixture(scope="module")
def classroom(tiny_models):
    """Lan and Minh each own a sentiment adapter; they and a third student join CLASS, a fourth does not."""
    make_adapter("tiny-bert", "sentiment", workspace_dir(LAN) / "lan-mood", seed=41, labels=LABELS)
    make_adapter("tiny-bert", "sentiment", workspace_dir(MINH) / "minh-mood", seed=42, labels=LABELS)
    for workspace in (LAN, MINH, THIRD):
        assert join_class(workspace, CLASS) == CLASS
    yield
    for entry in entries(CLASS):
        unpublish(entry.name, LAN if entry.name.startswith("lan") else MINH)


def wait_for_scores(code: str, task: str, count: int, timeout: float = 120) -> list[leaderboard.Standing]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, rows = leaderboard.standings(code, task)
        if len(rows) == count and all(row.state == leaderboard.SCORED for row in rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"not scored in time: {[(row.entry.name, row.state, row.error) for row in rows]}")


def test_class_code_comes_from_the_field_else_the_deployment(monkeypatch, classroom):
    assert class_of(ELSEWHERE) == EVERYONE
    monkeypatch.setenv(CLASS_ENV, "Room 12")
    assert class_of(ELSEWHERE) == "room-12" and class_of(LAN) == CLASS
    assert join_class(ELSEWHERE, "") == "room-12"


def test_a_published_adapter_is_the_class_s_and_only_the_class_s(classroom):
    entry = publish("lan-mood", "Lan's mood reader", LAN)
    assert entry.name == "lan-s-mood-reader" and entry.display_name == "Lan's mood reader"
    assert entry.class_code == CLASS and entry.owned_by(LAN) and not entry.owned_by(THIRD)
    seen = find_adapter("lan-s-mood-reader", THIRD)
    assert seen.published and not seen.shipped and seen.workspace is None
    assert "lan-s-mood-reader" in {info.name for info in list_adapters("sentiment", MINH)}
    assert "lan-s-mood-reader" not in {info.name for info in list_adapters(None, ELSEWHERE)}
    with pytest.raises(AdapterError):
        find_adapter("lan-s-mood-reader", ELSEWHERE)
    # the third student's request runs Lan's weights: the same probabilities as Lan's own adapter
    text = "What a wonderful day"
    assert inference.classify("sentiment", text, "lan-s-mood-reader", workspace=THIRD) == pytest.approx(
        inference.classify("sentiment", text, "lan-mood", workspace=LAN), abs=1e-6)


def test_only_the_owner_takes_it_down(classroom):
    publish("minh-mood", "minh-copy", MINH)
    with pytest.raises(GalleryError, match="another student"):
        unpublish("minh-copy", THIRD)
    with pytest.raises(AdapterError, match="only its owner"):
        delete_adapter(find_adapter("minh-copy", THIRD))
    with pytest.raises(GalleryError, match="Another student already published"):
        publish("lan-mood", "minh-copy", LAN)  # Lan cannot publish over Minh's
    assert unpublish("minh-copy", MINH).name == "minh-copy"
    assert "minh-copy" not in {entry.name for entry in entries(CLASS)}


def test_publishing_refuses_what_is_not_yours_and_shipped_names(classroom):
    with pytest.raises(AdapterError, match="No adapter named"):
        publish("minh-mood", "stolen", LAN)  # not even visible to Lan
    with pytest.raises(GalleryError, match="not one of your own"):
        publish("sentiment-movies", "mine-now", LAN)
    with pytest.raises(GalleryError, match="ships with the app"):
        publish("lan-mood", "sentiment-movies", LAN)
    publish("lan-mood", "lan-second", LAN)
    with pytest.raises(GalleryError, match="the most allowed"):
        publish("lan-mood", "lan-third", LAN, max_per_owner=2)
    unpublish("lan-second", LAN)


def test_the_owner_deleting_their_own_copy_leaves_the_published_one(tiny_models, classroom):
    make_adapter("tiny-bert", "sentiment", workspace_dir(LAN) / "lan-draft", seed=43, labels=LABELS)
    publish("lan-draft", "lan-draft-shared", LAN)
    delete_adapter(find_adapter("lan-draft", LAN))
    assert find_adapter("lan-draft-shared", THIRD).published
    unpublish("lan-draft-shared", LAN)


def test_every_adapter_is_scored_on_the_same_rows_as_its_base(classroom):
    publish("lan-mood", "Lan's mood reader", LAN)
    publish("minh-mood", "Minh's mood reader", MINH)
    rows = wait_for_scores(CLASS, "sentiment", 2)
    tests, _ = leaderboard.standings(CLASS, "sentiment")
    assert not tests.teacher and len(tests.records) == 300
    own = {}  # each owner measuring their own adapter and the base on the same rows
    for workspace, name in ((LAN, "lan-mood"), (MINH, "minh-mood")):
        *_, done = evaluate_served("sentiment", tests.records, [None, name], workspace=workspace, base="tiny-bert")
        own[name] = (done.results[0].metrics, done.results[1].metrics)
    by_name = {row.entry.name: row for row in rows}
    for published, name in (("lan-s-mood-reader", "lan-mood"), ("minh-s-mood-reader", "minh-mood")):
        assert by_name[published].before == own[name][0] and by_name[published].after == own[name][1]
        assert by_name[published].settings["rank"] == 4 and by_name[published].settings["base"] == "tiny-bert"
    accuracies = [row.after["accuracy"] for row in rows]
    assert accuracies == sorted(accuracies, reverse=True)


def test_the_teacher_s_set_replaces_the_bundled_one_and_only_the_teacher_changes_it(classroom):
    rows = [{"text": "I love it", "label": "positive"}, {"text": "I hate it", "label": "negative"},
            {"text": "Great fun", "label": "positive"}, {"text": "Awful and dull", "label": "negative"}]
    tests = leaderboard.set_test_set(CLASS, "sentiment", rows, LAN)
    assert tests.teacher and tests.records == rows
    with pytest.raises(GalleryError, match="only it can change"):
        leaderboard.set_test_set(CLASS, "sentiment", None, MINH)
    scored = wait_for_scores(CLASS, "sentiment", 2)
    assert {row.after["examples"] for row in scored} == {4} and {row.before["examples"] for row in scored} == {4}
    assert leaderboard.set_test_set(CLASS, "sentiment", None, LAN).records[0]["text"] != "I love it"


def test_the_api_publishes_lists_and_guards_like_the_tab(app_client, classroom):
    from gradio_client.exceptions import AppError

    client, _ = app_client
    published = client.predict("minh-mood", "Minh via API", MINH, api_name="/publish")
    assert published == {"name": "minh-via-api", "display_name": "Minh via API", "task": "sentiment",
                         "class": CLASS, "published": published["published"]}
    with pytest.raises(AppError, match="another student"):
        client.predict("minh-via-api", THIRD, api_name="/unpublish")
    deadline = time.monotonic() + 120
    while True:
        board = client.predict("sentiment", THIRD, api_name="/gallery")
        mine = next(row for row in board["adapters"] if row["name"] == "minh-via-api")
        if mine["state"] == "scored" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert board["class"] == CLASS and board["rows"] == 300 and not board["teacher_set"]
    assert mine["state"] == "scored" and set(mine["after"]) >= {"accuracy", "macro_f1", "examples"}
    assert client.predict("sentiment", ELSEWHERE, api_name="/gallery")["adapters"] == []  # another class
    assert client.predict("minh-via-api", MINH, api_name="/unpublish")["name"] == "minh-via-api"
