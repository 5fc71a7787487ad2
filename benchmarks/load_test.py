"""Load test: `python -m benchmarks.load_test [--quick] [--clients 30] [--seconds 60] [--tiny] [--output FILE]`.

The app runs in its own process on loopback (`--serve`, what `python app.py` runs plus one long
training job it starts itself, so every request competes with training). N gradio_client clients,
each in its own thread, call /translate, /sentiment, /summarize and /chat round-robin for the
duration: a class of thirty by default. Then a burst of requests posted at the same moment shows what
a client over capacity is told (gradio's queue holds 64 events; the model endpoints are not limited by
it, their engines keep the line). Reported: requests, failures, p50/p95 latency per
endpoint, the app's resident memory (the app process alone, and with its children: the training
worker) after warm-up and after the load, and whether the app process grew by less than the bound.

--tiny serves the tiny random test models (a quick check that everything works, in a throwaway
LORA_PLAYGROUND_HOME); the default serves the real offline models (the usual cache).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks.common import ROOT, cpu_busy_note, machine, percentile  # noqa: E402

WORKSPACE = "load-test"
GROWTH_BOUND_MIB = 300
# endpoint -> the arguments of one typical request (text, adapter or persona, [history,] workspace)
REQUESTS: dict[str, tuple[Any, ...]] = {
    "/translate": ("The weather is nice today, so we are going to the beach.", "base", ""),
    "/sentiment": ("I loved this movie: the acting was wonderful and the story kept me hooked.", "base", ""),
    "/summarize": ("This package provides a command-line tool that converts images between PNG, JPEG and GIF. "
                   "It can resize and rotate pictures and works on whole folders at once.", "base", ""),
    "/chat": ("Give me one tip for learning a new language.", "base", [], ""),
}


# ---------------------------------------------------------------- the app's process


def serve(port: int) -> None:
    """The app as `python app.py` runs it, plus a training job that outlasts the test."""
    from app import build_demo, launch_options
    from finetune.config import make_config
    from finetune.data import load_examples
    from finetune.jobs import JobQueue
    from models.registry import DEFAULT_BASE, register_models_from_env
    from ui.common import Settings

    register_models_from_env()
    jobs = JobQueue()
    data = load_examples(ROOT / "assets" / "examples" / "sentiment_reviews.csv", "sentiment")
    config = make_config("sentiment", "quick", base=DEFAULT_BASE["sentiment"], max_steps=100_000, epochs=100)
    jobs.submit(config, data.records, WORKSPACE, None)  # nothing saved: it is stopped at the end
    try:
        build_demo(Settings(), jobs).launch(server_name="127.0.0.1", server_port=port, quiet=True, **launch_options())
    finally:
        jobs.close()


def tiny_models_file(folder: Path) -> Path:
    """Build the tests' tiny models and list them, as the defaults, in a LORA_PLAYGROUND_MODELS file."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import TINY, TINY_DEFAULTS, build_tiny_model, tiny_spec

    models = []
    for key in TINY:
        spec = tiny_spec(key, build_tiny_model(key, folder / key))
        models.append({k: v for k, v in asdict(spec).items() if k != "package"})
    listing = folder / "models.json"
    listing.write_text(json.dumps({"models": models, "defaults": TINY_DEFAULTS}))
    return listing


def rss_mib(pid: int, with_children: bool) -> float:
    """Resident memory of a process (and of all its descendants), from /proc."""
    pids = {pid}
    if with_children:
        parents: dict[int, list[int]] = defaultdict(list)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                parents[int(fields[1])].append(int(stat.parent.name))
            except (OSError, IndexError, ValueError):
                continue
        todo = [pid]
        while todo:
            children = parents.get(todo.pop(), [])
            pids.update(children)
            todo.extend(children)
    total = 0
    for each in pids:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total / 1024


# ---------------------------------------------------------------- the clients


@dataclass
class Outcome:
    endpoint: str
    seconds: float
    error: str = ""  # "" when the request succeeded
    resets: int = 0  # gradio_client stream races retried (see `call`)


@dataclass
class Burst:
    sent: int = 0
    queued: int = 0  # the server took it: an event id came back
    refused: int = 0  # HTTP 503, queue full
    refusal: str = ""  # the server's message for a refused one
    other: Counter = field(default_factory=Counter)
    client_told: str = ""  # what gradio_client said to a request sent while the queue was full
    drained_s: float = 0.0  # until a normal request succeeded again
    served_after: bool = False


def call(client: Any, endpoint: str) -> Outcome:
    """One request, timed. A CancelledError is gradio_client's own race, not an answer from the app:
    the server closes a session's event stream after its last event, and a request the client sends
    just then is tagged to the closing stream and cancelled locally. It is retried (up to twice) and
    counted; the time includes the retries."""
    from concurrent.futures import CancelledError

    started, resets = time.perf_counter(), 0
    while True:
        try:
            client.predict(*REQUESTS[endpoint], api_name=endpoint)
            return Outcome(endpoint, time.perf_counter() - started, resets=resets)
        except CancelledError as error:
            if resets == 2:
                return Outcome(endpoint, time.perf_counter() - started, f"CancelledError: {error}", resets)
            resets += 1
        except Exception as error:  # noqa: BLE001 - every failure is counted, whatever it is
            return Outcome(endpoint, time.perf_counter() - started, f"{type(error).__name__}: {error}"[:200], resets)


def load(url: str, clients: int, seconds: float) -> tuple[list[Outcome], float]:
    """`clients` threads, each with its own Client, calling the endpoints round-robin until the time
    is up (timed from when every client has connected). Returns the outcomes and the seconds taken."""
    from gradio_client import Client

    outcomes: list[Outcome] = []
    lock, connected, go = threading.Lock(), threading.Barrier(clients + 1), threading.Event()
    stop_at: list[float] = []

    def run(number: int) -> None:
        client = Client(url, verbose=False)
        connected.wait()
        go.wait()
        endpoints = list(REQUESTS)
        turn = number
        while time.perf_counter() < stop_at[0]:
            outcome = call(client, endpoints[turn % len(endpoints)])
            turn += 1
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    connected.wait()
    started = time.perf_counter()
    stop_at.append(started + seconds)
    go.set()
    for thread in threads:
        thread.join()
    return outcomes, time.perf_counter() - started


def burst(url: str, size: int) -> Burst:
    """`size` requests posted to the queue at the same moment, more than it holds. Raw HTTP (the
    first step of every gradio_client call), so all arrive together: each is queued or refused."""
    import httpx
    from gradio_client import Client

    client = Client(url, verbose=False)
    endpoints = list(REQUESTS)
    bodies = [{"data": list(REQUESTS[e]), "fn_index": client._infer_fn_index(e, None), "session_hash": f"burst-{i}"}
              for i, e in ((i, endpoints[i % len(endpoints)]) for i in range(size))]
    result, lock, start = Burst(sent=size), threading.Lock(), threading.Barrier(size)

    def post(body: dict[str, Any]) -> None:
        start.wait()
        try:
            answer = httpx.post(client.sse_data_url, json=body, timeout=120)
            code, detail = answer.status_code, answer.json().get("detail", "") if answer.status_code != 200 else ""
        except Exception as error:  # noqa: BLE001
            code, detail = 0, f"{type(error).__name__}: {error}"
        with lock:
            if code == 200:
                result.queued += 1
            elif code == 503:
                result.refused, result.refusal = result.refused + 1, str(detail)
            else:
                result.other[f"{code} {detail}"[:120]] += 1

    threads = [threading.Thread(target=post, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    began = time.perf_counter()
    told = call(client, "/sentiment")
    result.client_told = told.error or "answered normally"
    deadline = time.monotonic() + 600
    while told.error and time.monotonic() < deadline:
        time.sleep(1)
        told = call(client, "/sentiment")
    result.served_after, result.drained_s = not told.error, time.perf_counter() - began
    return result


def train_status(url: str) -> dict[str, Any]:
    from gradio_client import Client

    return Client(url, verbose=False).predict(WORKSPACE, api_name="/train_status")


# ---------------------------------------------------------------- the run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the app exited with code {server.returncode}")
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the app did not answer within {timeout:.0f} s")


def run(clients: int, seconds: float, burst_size: int, tiny: bool) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="load-test-"))
    env = dict(os.environ)
    if tiny:
        env["LORA_PLAYGROUND_MODELS"] = str(tiny_models_file(scratch / "models"))
        env["LORA_PLAYGROUND_HOME"] = str(scratch / "home")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = open(scratch / "app.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.load_test", "--serve", str(port)], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    report: dict[str, Any] = {"app_log": str(scratch / "app.log")}
    try:
        wait_for(url, server, 300)
        report["rss_started"] = rss_mib(server.pid, False), rss_mib(server.pid, True)
        for endpoint in REQUESTS:  # load every model once, then wait for the training to be under way
            from gradio_client import Client

            warm = call(Client(url, verbose=False), endpoint)
            if warm.error:
                raise RuntimeError(f"warm-up {endpoint} failed: {warm.error}")
        deadline = time.monotonic() + 600
        while (status := train_status(url))["progress"]["step"] < 1:
            if status["state"] != "running" or time.monotonic() > deadline:
                raise RuntimeError(f"the training job is not training: {status}")
            time.sleep(1)
        report["rss_before"] = rss_mib(server.pid, False), rss_mib(server.pid, True)
        report["steps_before"] = status["progress"]["step"]
        report["outcomes"], report["load_seconds"] = load(url, clients, seconds)
        status = train_status(url)
        report["steps_after"], report["job_state"] = status["progress"]["step"], status["state"]
        report["rss_after"] = rss_mib(server.pid, False), rss_mib(server.pid, True)
        report["burst"] = burst(url, burst_size)
        report["rss_after_burst"] = rss_mib(server.pid, False), rss_mib(server.pid, True)
        report["alive"] = server.poll() is None
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(server.pid, signal.SIGKILL)  # the training worker too
        except ProcessLookupError:
            pass
        log.close()
    return report


def render(report: dict[str, Any], command: str, clients: int, seconds: float, tiny: bool) -> str:
    outcomes: list[Outcome] = report["outcomes"]
    failures = [o for o in outcomes if o.error]
    lines = [f"# Load test ({'tiny test models' if tiny else 'real offline models'})", "",
             f"- Command: `{command}`",
             f"- {clients} clients for {seconds:.0f} s ({report['load_seconds']:.0f} s measured) while a training "
             f"job ran: it went from step {report['steps_before']} to {report['steps_after']} "
             f"(state: {report['job_state']})",
             *(f"- {key}: {value}" for key, value in {**machine(), "load": cpu_busy_note()}.items()), "",
             "| endpoint | requests | failed | p50 s | p95 s | max s |", "|---|---|---|---|---|---|"]
    for endpoint in [*REQUESTS, "all"]:
        mine = [o for o in outcomes if endpoint in ("all", o.endpoint)]
        times = [o.seconds for o in mine if not o.error] or [float("nan")]
        lines.append(f"| {endpoint} | {len(mine)} | {sum(1 for o in mine if o.error)} | {percentile(times, 50):.2f} | "
                     f"{percentile(times, 95):.2f} | {max(times):.2f} |")
    lines.append(f"\nThroughput: {len(outcomes) / report['load_seconds']:.2f} requests/s. gradio_client stream "
                 f"races retried (see `call`): {sum(o.resets for o in outcomes)}.")
    if failures:
        lines.append("Failures: " + "; ".join(f"{n} x {e}" for e, n in Counter(o.error for o in failures).most_common(5)))
    growth = report["rss_after"][0] - report["rss_before"][0]
    lines += ["", "| resident memory (MiB) | app process | app + children (training worker) |", "|---|---|---|",
              *(f"| {label} | {report[key][0]:.0f} | {report[key][1]:.0f} |" for key, label in (
                  ("rss_started", "started"), ("rss_before", "after warm-up, training under way"),
                  ("rss_after", "after the load"), ("rss_after_burst", "after the burst"))),
              "", f"Growth of the app process under load: {growth:+.0f} MiB "
                  f"({'within' if growth < GROWTH_BOUND_MIB else 'OVER'} the {GROWTH_BOUND_MIB} MiB bound)."]
    b: Burst = report["burst"]
    lines += ["", f"Burst of {b.sent} requests posted at the same moment (gradio's queue holds 64 events; the model "
                  f"endpoints run as they come, in their engines' line): {b.queued} queued, {b.refused} refused with HTTP 503 \"{b.refusal}\""
                  + (f", other answers: {dict(b.other)}" if b.other else "") + ". A gradio_client request sent right "
                  f"after: \"{b.client_told}\". A normal request "
                  + (f"succeeded again after {b.drained_s:.1f} s" if b.served_after else "FAILED")
                  + f"; app process alive: {report['alive']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load_test", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s and a 120-request burst: checks that it all runs.")
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--seconds", type=float, help="Duration of the load (default 60; 10 with --quick).")
    parser.add_argument("--burst", type=int, help="Requests sent at once after the load (default 200; 120 with --quick).")
    parser.add_argument("--tiny", action="store_true", help="Serve the tiny test models instead of the real ones.")
    parser.add_argument("--output", type=Path, help="Also write the Markdown report to this file.")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    seconds = args.seconds or (10 if args.quick else 60)
    burst_size = args.burst or (120 if args.quick else 200)
    command = "python -m benchmarks.load_test" + "".join(
        f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))
    report = run(args.clients, seconds, burst_size, args.tiny)
    text = render(report, command, args.clients, seconds, args.tiny)
    print(text)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    failed = any(o.error for o in report["outcomes"]) or not report["burst"].served_after or not report["alive"]
    if failed:
        print(f"The app's output is in {report['app_log']}")
    else:
        shutil.rmtree(Path(report["app_log"]).parent, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
