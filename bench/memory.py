"""Memory: peak RSS of a web worker under load and of the Celery worker grading.

Run from the project root: ``.venv/bin/python bench/memory.py [--seconds 20]``.

One production-shaped site (``production.production_env``: PostgreSQL, Redis,
``DEBUG=false``, as ``deploy/prod-local.sh``; the curricula imported, one
certificate issued, one shipped lab published with its self-check). Every figure
is the RSS of processes sampled every 50 ms with psutil (a process's children
included where said), against baselines measured in the same run:

- **bare Django**: a Python process that has run ``django.setup()`` and nothing
  else (the floor every process of the platform starts from);
- **web**: the platform's web command (``runplatform.web_command``: uvicorn with
  ``WEB_WORKERS=2``). Each worker process idle (started, answering ``/healthz``),
  then its peak while ``--clients`` keep-alive connections ask in turn for the
  catalogue, a lesson and ``POST /api/v1/verify`` for ``--seconds``;
- **Celery**: the grading benchmark's worker (``bench/grading.py``: prefork,
  concurrency 2), idle (started, nothing graded yet), then its peak while it
  grades ``--submissions`` notebooks submitted at once: the worker's main process
  alone, its largest pool process alone, and the whole tree (main, pool, the
  sandboxed kernels).

RSS counts pages shared between processes in each of them (prefork's pool shares
the parent's memory copy-on-write), so the tree's sum overstates what the machine
spends; the USS of the tree at the end of grading is reported beside it.

Results on stdout and in ``bench/results/memory.json`` and ``memory.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MB = 1024 * 1024
INTERVAL = 0.05  # seconds between samples


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_module(name: str):
    """A sibling benchmark as a module (``bench/grading.py`` would shadow the
    ``grading`` app if imported by its own name)."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", ROOT / "bench" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rss(processes: list[psutil.Process]) -> float:
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total / MB


def tree(root: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return [root, *root.children(recursive=True)]
    return []


class Peaks:
    """Samples ``measure()`` (name → MB) every 50 ms in a thread; keeps each
    name's peak and the median of its samples."""

    def __init__(self, measure: Callable[[], dict[str, float]]) -> None:
        self.measure = measure
        self.samples: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            with contextlib.suppress(psutil.Error):
                for name, value in self.measure().items():
                    self.samples.setdefault(name, []).append(value)
            if self._stop.wait(INTERVAL):
                return

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def result(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, values in self.samples.items():
            ordered = sorted(values)
            out[name] = {
                "peak": round(ordered[-1], 1),
                "median": round(ordered[len(ordered) // 2], 1),
                "samples": len(values),
            }
        return out


def sample_for(seconds: float, measure: Callable[[], dict[str, float]]) -> dict:
    with Peaks(measure) as peaks:
        time.sleep(seconds)
    return peaks.result()


# --- Baseline: a bare Django process ------------------------------------------------


def bare_django(seconds: float) -> dict:
    """A process that ran ``django.setup()`` and waits: its RSS."""
    code = (
        "import sys, django; django.setup(); "
        "print('ready', flush=True); sys.stdin.read()"
    )
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=os.environ.copy(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the bare Django process did not start")
        handle = psutil.Process(process.pid)
        return sample_for(seconds, lambda: {"process": rss([handle])})["process"]
    finally:
        process.stdin.close()
        process.wait(timeout=20)


# --- Web --------------------------------------------------------------------------


def web_fixtures() -> dict[str, str]:
    from wagtail.models import Locale

    from courses.models import LessonPage

    lesson = LessonPage.objects.live().order_by("path").first()
    if lesson is None:
        raise RuntimeError("no lesson was imported")
    return {
        "catalogue": "/en/",
        "lesson": lesson.get_translation(Locale.get_default()).url,
    }


def web_start(port: int, log_path: Path) -> subprocess.Popen:
    from lms.management.commands.runplatform import web_command

    with log_path.open("w") as output:
        process = subprocess.Popen(  # noqa: S603
            web_command(BIN, "127.0.0.1", port),
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"the web server stopped:\n{log_path.read_text()}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"the web server did not answer:\n{log_path.read_text()}")
    # Every worker up (each answers /healthz once it has loaded the site).
    workers = int(os.environ["WEB_WORKERS"])
    deadline = time.monotonic() + 60
    while len(web_workers(process)) < workers and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    return process


def web_workers(server: subprocess.Popen) -> list[psutil.Process]:
    """uvicorn's worker processes (not multiprocessing's resource tracker)."""
    found = []
    for child in psutil.Process(server.pid).children():
        with contextlib.suppress(psutil.Error):
            if "resource_tracker" not in " ".join(child.cmdline()):
                found.append(child)
    return found


def web_stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def web_load(
    port: int, paths: dict[str, str], token: str, *, clients: int, seconds: float
) -> dict[str, Any]:
    """Each client asks for the catalogue, the lesson and a verification in turn."""
    requests = [
        ("GET", paths["catalogue"], None, {}),
        ("GET", paths["lesson"], None, {}),
        (
            "POST",
            "/api/v1/verify",
            token.encode(),
            {"Content-Type": "application/vc+jwt"},
        ),
    ]
    counts = [0] * clients
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        turn = n
        while time.perf_counter() < stop:
            method, path, body, headers = requests[turn % len(requests)]
            turn += 1
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"{method} {path}: {response.status}")
                return
            counts[n] += 1
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])
    elapsed = time.perf_counter() - started
    return {"requests": sum(counts), "per_second": round(sum(counts) / elapsed, 1)}


def web_memory(args: argparse.Namespace, var_dir: Path, token: str) -> dict[str, Any]:
    from django.core.management import call_command

    # DEBUG=false serves the collected, hashed static files (as prod-local.sh).
    call_command("collectstatic", "--noinput", verbosity=0)
    paths = web_fixtures()
    port = free_port()
    server = web_start(port, var_dir / "web.log")
    try:
        supervisor = psutil.Process(server.pid)
        workers = web_workers(server)

        def measure() -> dict[str, float]:
            values = {f"worker {i + 1}": rss(tree(w)) for i, w in enumerate(workers)}
            values["supervisor"] = rss([supervisor])
            return values

        log(f"Web: {len(workers)} workers idle, then {args.seconds:g} s of load...")
        idle = sample_for(2.0, measure)
        with Peaks(measure) as peaks:
            load = web_load(
                port, paths, token, clients=args.clients, seconds=args.seconds
            )
        loaded = peaks.result()
    finally:
        web_stop(server)
    names = [name for name in idle if name.startswith("worker")]
    return {
        "workers": len(names),
        "paths": paths,
        "load": {"clients": args.clients, "seconds": args.seconds, **load},
        "idle": idle,
        "under_load": loaded,
        "worker_idle_mb": max(idle[n]["median"] for n in names),
        "worker_peak_mb": max(loaded[n]["peak"] for n in names),
    }


# --- Celery -------------------------------------------------------------------------


def celery_memory(args: argparse.Namespace, var_dir: Path, bench) -> dict[str, Any]:
    log("Publishing the lab (self-check)...")
    lab = bench.lab_publish(args.lab)
    lab.max_attempts = 10**4
    lab.save(update_fields=["max_attempts"])
    _kinds, data, _source = bench.notebooks(lab, args.submissions)
    owned = bench.Owned(var_dir)
    try:
        log("Starting the worker (prefork, concurrency 2)...")
        owned.worker_start()
        root = psutil.Process(owned.worker.pid)

        def measure() -> dict[str, float]:
            pool = root.children()
            return {
                "worker alone": rss([root]),
                "largest pool process": max((rss([p]) for p in pool), default=0.0),
                "tree": rss(tree(root)),
            }

        time.sleep(2)
        idle = sample_for(3.0, measure)
        log(f"Celery: grading {len(data)} submissions at once...")
        with Peaks(measure) as peaks:
            started = time.perf_counter()
            ids = [bench.submit(lab, notebook).pk for notebook in data]
            bench.wait_graded(ids)
            elapsed = time.perf_counter() - started
            uss = 0.0
            for process in tree(root):
                with contextlib.suppress(psutil.Error):
                    uss += process.memory_full_info().uss / MB
        grading = peaks.result()
        after = sample_for(2.0, measure)
    finally:
        owned.stop()
    return {
        "lab": lab.slug,
        "submissions": len(data),
        "grading_seconds": round(elapsed, 1),
        "idle": idle,
        "grading": grading,
        "after": after,
        "tree_uss_mb_at_end": round(uss, 1),
    }


# --- Report -------------------------------------------------------------------------


def ratios(result: dict[str, Any]) -> dict[str, float]:
    bare = result["bare_django"]["median"]
    web, celery = result["web"], result["celery"]
    idle, grading = celery["idle"], celery["grading"]
    return {
        "web worker peak / bare Django": web["worker_peak_mb"] / bare,
        "web worker peak / idle web worker": web["worker_peak_mb"]
        / web["worker_idle_mb"],
        "Celery worker alone, peak / idle": grading["worker alone"]["peak"]
        / idle["worker alone"]["median"],
        "largest pool process, peak / idle": grading["largest pool process"]["peak"]
        / idle["largest pool process"]["median"],
        "largest pool process, peak / bare Django": grading["largest pool process"][
            "peak"
        ]
        / bare,
        "Celery tree, peak / idle": grading["tree"]["peak"] / idle["tree"]["median"],
    }


def table(result: dict[str, Any]) -> str:
    bare = result["bare_django"]
    web, celery = result["web"], result["celery"]
    lines = [
        "# Memory",
        "",
        f"{result['date']}, {result['cpus']} CPUs, code {result['git']}; "
        f"{result['environment']}. RSS in MB, sampled every 50 ms.",
        "",
        "| process | baseline (median) | peak under work | peak ÷ baseline |",
        "|---|---|---|---|",
        f"| bare Django (`django.setup()` only) | {bare['median']} | "
        f"{bare['peak']} | |",
    ]
    for name in sorted(web["idle"]):
        idle, loaded = web["idle"][name], web["under_load"][name]
        lines.append(
            f"| web: uvicorn {name} | {idle['median']} | {loaded['peak']} | "
            f"{loaded['peak'] / idle['median']:.2f} |"
        )
    for name in ("worker alone", "largest pool process", "tree"):
        idle, busy = celery["idle"][name], celery["grading"][name]
        lines.append(
            f"| Celery: {name} | {idle['median']} | {busy['peak']} | "
            f"{busy['peak'] / idle['median']:.2f} |"
        )
    load = web["load"]
    lines += [
        "",
        f"Web load: {load['clients']} keep-alive clients for {load['seconds']:g} s "
        f"asking in turn for {web['paths']['catalogue']}, {web['paths']['lesson']} "
        f"and POST /api/v1/verify: {load['requests']} requests "
        f"({load['per_second']}/s), all 200. Celery: {celery['submissions']} "
        f"submissions of {celery['lab']} at once, graded in "
        f"{celery['grading_seconds']} s; the tree's USS when the last was graded: "
        f"{celery['tree_uss_mb_at_end']} MB (RSS counts shared pages in each "
        "process).",
        "",
        "| ratio | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value:.2f} |" for name, value in result["ratios"].items()]
    return "\n".join(lines)


def run(args: argparse.Namespace, var_dir: Path) -> dict[str, Any]:
    from production import environment_summary, production_env

    bench_grading = bench_module("grading")
    with production_env("memory", var_dir=var_dir) as env:
        os.environ.update(
            {
                "LABS_SOURCE_DIR": str(ROOT / "labs" / "notebooks"),
                "MEDIA_ROOT": str(var_dir / "media"),
                "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            }
        )
        log("Migrating, importing the curricula, issuing a certificate...")
        token = bench_module("verify").site_setup(var_dir, production=True)
        log("Bare Django process...")
        bare = bare_django(2.0)
        web = web_memory(args, var_dir, token)
        celery = celery_memory(args, var_dir, bench_grading)
        result: dict[str, Any] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "git": bench_grading.git_state(),
            "environment": environment_summary(env),
            "load_before": args.load_before,
            "bare_django": bare,
            "web": web,
            "celery": celery,
        }
    result["ratios"] = {k: round(v, 3) for k, v in ratios(result).items()}
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="web load (20)")
    parser.add_argument("--clients", type=int, default=4, help="web clients (4)")
    parser.add_argument("--lab", default="landed-cost", help="the lab graded")
    parser.add_argument("--submissions", type=int, default=10, help="graded (10)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    args.load_before = [round(x, 2) for x in os.getloadavg()]
    sys.path.insert(0, str(ROOT))

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    var_dir = Path(tempfile.mkdtemp(prefix="bench-memory-", dir="/tmp"))  # noqa: S108
    try:
        result = run(args, var_dir)
    except KeyboardInterrupt:
        log("Interrupted.")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        import shutil

        shutil.rmtree(var_dir, ignore_errors=True)
    text = table(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "memory.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
