"""The job queue: jobs run in a spawned worker process, one at a time, and survive its death."""

from __future__ import annotations

import os
import signal
import time

import pytest

from finetune.config import make_config
from finetune.jobs import CANCELLED, DONE, FAILED, JobLimitError, JobQueue, WORKER_NICENESS
from finetune.speeds import SpeedBook, training_examples
from models.adapters import read_adapter, workspace_dir

POSITIVE = ["I loved it, wonderful and great.", "An excellent, happy film.", "Good acting and a great story.",
            "Wonderful music, I was happy.", "Great fun from start to end."]
NEGATIVE = ["Terrible, boring and bad.", "An awful, sad mess.", "Bad acting and a boring story.",
            "I hated it, awful.", "Boring and terrible from start to end."]
RECORDS = [{"text": f"{text} ({i})", "label": label} for i in range(4)
           for label, texts in (("positive", POSITIVE), ("negative", NEGATIVE)) for text in texts]
JOB_TIMEOUT = 240


def tiny_config(**overrides):
    settings = dict(base="tiny-bert", max_steps=3, batch_size=8, eval_limit=8, max_length=32)
    return make_config("sentiment", "quick", **{**settings, **overrides})


def long_config():
    """A job that would train for many minutes: for Stop and kill tests."""
    return tiny_config(max_steps=100_000, epochs=100)


def wait_for(queue: JobQueue, job_id: str, condition, timeout: float = JOB_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue.get(job_id)
        if condition(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"timed out; last state: {queue.get(job_id)}")


def training(job) -> bool:
    return job.progress.status == "training" and job.progress.step >= 1


@pytest.fixture
def jobs(tiny_models, tmp_path):
    queue = JobQueue(speeds=SpeedBook(tmp_path / "speeds.json"))  # no figures from other tests' jobs
    yield queue
    queue.close()


def test_job_trains_in_a_worker_and_saves_its_adapter(jobs):
    assert not jobs.speeds.speeds(tiny_config()).measured
    submitted = time.monotonic()
    job = jobs.submit(tiny_config(), RECORDS, workspace="ws-done", name="My Adapter", data_summary={"rows": 40})
    assert job.name == "my-adapter" and job.position in (0, 1)
    assert job.estimate.validation_rows == 13 and job.estimated_s > job.estimate.train_s

    finished = jobs.wait(job.id, JOB_TIMEOUT)
    took = time.monotonic() - submitted

    assert finished.state == DONE, finished.error
    assert finished.pid not in (None, os.getpid())
    assert finished.adapter_path == str(workspace_dir("ws-done") / "my-adapter")
    info = read_adapter(workspace_dir("ws-done") / "my-adapter")
    assert (info.task, info.base_model) == ("sentiment", "tiny-bert")
    assert set(finished.result["metrics"]) == {"base", "adapter"}
    assert finished.result["metrics"]["adapter"]["samples"]
    assert [step for step, _ in finished.progress.losses] == [1, 2, 3]
    assert jobs.latest("ws-done").id == job.id and jobs.latest("elsewhere") is None

    # measured on the held-out rows (13 of 40: a third, short of 30), up to eval_limit
    assert finished.result["data"]["validation_rows"] == 13 and finished.result["metrics"]["adapter"]["examples"] == 8
    # what the job measured is the next estimate's basis, kept in a file (a new book reads it)
    timings = finished.result["timings"]
    learned = SpeedBook(jobs.speeds.path).estimate(tiny_config(), len(RECORDS))
    assert learned.speeds.measured and learned.eval_examples == 8
    assert learned.speeds.train_examples_per_s == pytest.approx(
        training_examples(tiny_config(), timings["train_rows"]) / timings["train_s"], rel=0.01)
    assert learned.speeds.eval_examples_per_s == pytest.approx(timings["eval_examples"] / timings["eval_s"], rel=0.01)
    assert 0.8 * took < learned.total_s < took  # the same job again: its own duration, start to end


def test_stop_ends_a_running_job_and_saves_nothing(jobs):
    job = jobs.submit(long_config(), RECORDS, workspace="ws-stop", name="stopped")
    running = wait_for(jobs, job.id, training)
    assert os.getpriority(os.PRIO_PROCESS, running.pid) == os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS

    assert jobs.cancel(job.id)
    stopped = jobs.wait(job.id, 60)

    assert stopped.state == CANCELLED
    assert stopped.progress.step < 100_000
    assert not (workspace_dir("ws-stop") / "stopped").exists()
    assert not jobs.cancel(job.id)  # already finished


def test_a_killed_worker_fails_its_job_and_the_next_job_still_runs(jobs):
    first = jobs.submit(long_config(), RECORDS, workspace="ws-kill", name="killed")
    second = jobs.submit(tiny_config(), RECORDS, workspace="ws-kill", name="after")

    running = wait_for(jobs, first.id, training)
    assert (running.position, jobs.get(second.id).position) == (0, 1)
    os.kill(running.pid, signal.SIGKILL)

    failed = jobs.wait(first.id, 60)
    assert failed.state == FAILED
    assert "killed" in failed.error and "nothing was saved" in failed.error
    assert jobs.wait(second.id, JOB_TIMEOUT).state == DONE
    assert (workspace_dir("ws-kill") / "after").is_dir()
    assert not (workspace_dir("ws-kill") / "killed").exists()


def test_waiting_jobs_keep_their_place_and_can_leave_the_line(jobs):
    running = jobs.submit(long_config(), RECORDS, workspace="ws-line", name="a")
    second = jobs.submit(tiny_config(), RECORDS, workspace="ws-line", name="b")
    third = jobs.submit(tiny_config(), RECORDS, workspace="ws-line", name="c")
    wait_for(jobs, running.id, lambda job: job.position == 0)
    assert [jobs.get(j.id).position for j in (second, third)] == [1, 2]
    waiting = [j for j in jobs.jobs("ws-line") if j.id in (second.id, third.id)]  # one snapshot of the line
    assert waiting[0].starts_in_s > 0 and waiting[1].starts_in_s == pytest.approx(
        waiting[0].starts_in_s + waiting[0].estimated_s)
    assert jobs.get(running.id).starts_in_s is None

    assert jobs.cancel(second.id)
    assert jobs.get(second.id).state == CANCELLED
    assert jobs.get(third.id).position == 1
    for job in (running, third):
        jobs.cancel(job.id)
    assert jobs.wait(third.id, 5).state == CANCELLED


def test_demo_limit_allows_one_active_job_per_workspace(tiny_models):
    queue = JobQueue(max_active_per_workspace=1)
    try:
        first = queue.submit(long_config(), RECORDS, workspace="ws-demo", name="one")
        with pytest.raises(JobLimitError):
            queue.submit(tiny_config(), RECORDS, workspace="ws-demo", name="two")
        other = queue.submit(tiny_config(), RECORDS, workspace="ws-other", name="two")
        queue.cancel(other.id)
        queue.cancel(first.id)
    finally:
        queue.close()


def test_training_gives_way_to_requests_for_a_bounded_time():
    import threading
    import time

    from finetune.recipe import GiveWay

    busy, cancel = threading.Event(), threading.Event()
    give_way = GiveWay(busy, share=4.0, minimum_s=0.1)
    started = time.perf_counter()
    give_way(0.05, cancel)  # nobody waiting: no pause
    assert time.perf_counter() - started < 0.05
    busy.set()
    started = time.perf_counter()
    give_way(0.1, cancel)  # requests waiting: at most 4 steps' time, then the next step runs anyway
    assert 0.35 < time.perf_counter() - started < 1.0
    threading.Timer(0.1, busy.clear).start()
    started = time.perf_counter()
    give_way(10.0, cancel)  # and no longer than the requests last
    assert time.perf_counter() - started < 1.0


def test_the_queue_tells_its_workers_when_the_app_is_answering(tiny_models):
    from models import activity

    queue = JobQueue()
    try:
        assert not queue._inference_busy.is_set()
        activity.engine_busy(True)
        assert queue._inference_busy.is_set()
        activity.engine_busy(False)
        assert not queue._inference_busy.is_set()
    finally:
        queue.close()
