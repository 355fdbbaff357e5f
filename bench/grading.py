"""Grading: the pipeline on two worker processes against nbgrader's command line.

Run from the project root: ``.venv/bin/python bench/grading.py [--lab SLUG]``.

One throw-away site (SQLite under a temporary VAR_DIR, a private redis-server, one
shipped lab published with its self-check) and one ``celery worker`` (prefork,
concurrency 2) serve every measurement, in the same run:

- **throughput**: the same N notebooks (default 40: right, half right, wrong code
  and blank, in turn — ``tests/grading/test_equivalence.py`` builds them) graded
  (a) by the pipeline: ``submission_create`` for all N, until every row is
  ``graded``; (b) by ``nbgrader autograde <lab>`` from the command line over the N
  submissions of a prepared course directory, which grades them one after
  another (``generate_assignment`` runs before the clock starts). The worker is
  warmed first (one grading per pool process), as a long-lived worker is.
- **latency**: submissions one at a time to an idle worker, from just before
  ``submission_create`` to the row's ``graded_at``; against raw nbclient: the
  same notebooks, with the hidden tests the grading puts back, executed by
  ``nbclient.NotebookClient`` (fresh kernel, no sandbox, no nbgrader).
- **where the time goes**: a few gradings run in this process through
  ``grading.nbgrader.submission_grade`` with timers around its steps (no code
  changed, only wrapped), and the cost of importing nbgrader in a fresh process.

Scores of the two throughput variants are compared submission by submission.
Results: a table on stdout; ``bench/results/grading.json`` and ``grading.md``
(``--out``). Everything started (redis, the worker, kernels, temp dirs) is removed
at exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LABS = ROOT / "labs" / "notebooks"
KINDS = ("right", "half", "wrong", "blank")
TARGET_THROUGHPUT = 1.7  # pipeline (2 processes) / command line
TARGET_LATENCY = (1.5, 0.5)  # p50 <= 1.5 x raw p50 + 0.5 s
DEADLINE = 900.0  # seconds for any one wait
EMBEDDED = "embedded default: SQLite, a private redis-server, DEBUG on"


_console = sys.stderr  # progress lines; nbgrader's own output goes to a log file


def log(message: str) -> None:
    print(message, file=_console, flush=True)


@contextlib.contextmanager
def output_to(path: Path):
    """Send this process's stdout and stderr (file descriptors, so nbgrader, the
    kernels and the subprocesses too) to ``path``; progress still reaches the
    console."""
    global _console
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    _console = os.fdopen(os.dup(2), "w")
    with path.open("w") as file:
        os.dup2(file.fileno(), 1)
        os.dup2(file.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            _console.close()
            _console = sys.stderr


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = (len(ordered) - 1) * q
    low, high = int(index), min(int(index) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "n": len(samples),
        "p50": round(percentile(samples, 0.5), 4),
        "p95": round(percentile(samples, 0.95), 4),
        "mean": round(statistics.fmean(samples), 4),
        "min": round(min(samples), 4),
        "max": round(max(samples), 4),
    }


class CpuMeter:
    """CPU seconds used by a tree of processes, and how busy the whole machine was
    (other sessions included), between ``start()`` and ``stop()``.

    The tree (``roots()`` and all their descendants: for the pipeline the worker,
    its pool and the sandboxed kernels; for the command line, nbgrader and its
    kernels) is sampled ten times a second, each process's last reading kept: a
    process's final tenth of a second may be missed, the same for both variants.
    """

    def __init__(self, roots) -> None:
        self.roots = roots
        self.seen: dict[tuple[int, float], float] = {}
        self.before: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()

    def _sample(self) -> None:
        import psutil

        for root in self.roots():
            with contextlib.suppress(psutil.Error):
                for process in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        times = process.cpu_times()
                        key = (process.pid, process.create_time())
                        self.seen[key] = times.user + times.system

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def start(self) -> CpuMeter:
        import psutil

        self._sample()
        self.before = dict(self.seen)
        self._machine = psutil.cpu_times()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        import psutil

        self._stop.set()
        self._thread.join()
        self._sample()
        after = psutil.cpu_times()
        own = sum(cpu - self.before.get(key, 0.0) for key, cpu in self.seen.items())
        spent = {
            name: getattr(after, name) - getattr(self._machine, name)
            for name in after._fields
        }
        total = sum(spent.values())
        idle = spent.get("idle", 0) + spent.get("iowait", 0)
        return {
            "cpu_seconds": round(own, 3),
            "machine_busy_percent": round(100 * (1 - idle / total), 1) if total else 0,
            # time the hypervisor gave the machine's CPUs to others
            "steal_percent": round(100 * spent.get("steal", 0) / total, 1)
            if total
            else 0,
        }


# --- Processes this run owns ----------------------------------------------------------


class Owned:
    """redis-server and the worker: started here, stopped at exit whatever happens."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.redis: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.worker_name = f"bench-grading-{os.getpid()}@bench"

    def redis_start(self) -> None:
        import redis

        socket = self.var_dir / "run" / "redis.sock"
        socket.parent.mkdir(parents=True)
        self.redis = subprocess.Popen(  # noqa: S603
            [
                shutil.which("redis-server", path=str(BIN)) or "redis-server",
                "--port",
                "0",
                "--unixsocket",
                str(socket),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(socket.parent),
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = redis.Redis(unix_socket_path=str(socket))
        for _ in range(200):
            with contextlib.suppress(redis.ConnectionError):
                client.ping()
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def worker_start(self) -> None:
        from lms.celery import app

        self.worker = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "lms",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "-n",
                self.worker_name,
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=(self.var_dir / "worker.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.worker.poll() is None:
            if app.control.ping(destination=[self.worker_name], timeout=1.0):
                return
        raise RuntimeError("the worker did not start:\n" + self.worker_log())

    def pids(self) -> list[int]:
        return [p.pid for p in (self.redis, self.worker) if p is not None]

    def worker_log(self) -> str:
        path = self.var_dir / "worker.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        for process, grace in ((self.worker, 60), (self.redis, 10)):
            if process is None:
                continue
            if process.poll() is None:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=grace)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


# --- The site -------------------------------------------------------------------------


def django_setup(var_dir: Path, *, production: bool = False) -> None:
    """lms.settings on a throw-away SQLite database and this run's private Redis;
    with ``production``, on what ``bench.production.production_env`` has set."""
    if not production:
        for name in ("REDIS_URL", "CELERY_BROKER_URL", "CACHE_KEY_PREFIX"):
            os.environ.pop(name, None)
        os.environ["DATABASE_URL"] = f"sqlite:///{var_dir / 'db.sqlite3'}"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "lms.settings",
            "VAR_DIR": str(var_dir),
            "LABS_SOURCE_DIR": str(LABS),
            "MEDIA_ROOT": str(var_dir / "media"),
            "LOG_LEVEL": "WARNING",
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def lab_publish(slug: str):
    from labs.models import Lab
    from labs.services import lab_publish, labs_import

    lab = next(lab for lab in labs_import(publish=False) if lab.slug == slug)
    lab_publish(lab=lab)
    if lab.status != Lab.Status.PUBLISHED:
        raise RuntimeError(f"{slug} did not publish:\n{lab.check_log}")
    return lab


def notebooks(lab, count: int) -> tuple[list[str], list[bytes], dict]:
    """``count`` submissions cycling through the kinds, and the source notebook."""
    from labs.services import lab_release_dir
    from tests.grading.test_equivalence import submissions

    source = json.loads((LABS / lab.slug / lab.notebook).read_text())
    release = json.loads((lab_release_dir(lab) / lab.notebook).read_text())
    built = submissions(source, release)
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    return kinds, [built[kind] for kind in kinds], source


_users = iter(range(10**9))


def submit(lab, data: bytes):
    """One submission from a new trainee (attempts are limited per trainee)."""
    from grading import services
    from lms.accounts.models import Role, User

    user = User.objects.create(username=f"bench-{next(_users)}", role=Role.TRAINEE)
    return services.submission_create(user=user, lab=lab, data=data)


def wait_graded(ids: list[int], poll: float = 0.05) -> None:
    from grading.models import Submission

    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        rows = Submission.objects.filter(pk__in=ids)
        if rows.filter(status="error").exists():
            raise RuntimeError(
                "a grading failed: " + "; ".join(rows.values_list("error", flat=True))
            )
        if rows.filter(status="graded").count() == len(ids):
            return
        time.sleep(poll)
    raise RuntimeError(f"not graded within {DEADLINE:g} s")


# --- (a) the pipeline -----------------------------------------------------------------


def pipeline_throughput(lab, data: list[bytes], owned: Owned) -> dict[str, Any]:
    import psutil

    from grading.models import Submission

    meter = CpuMeter(lambda: [psutil.Process(p) for p in (os.getpid(), *owned.pids())])
    meter.start()
    started = time.perf_counter()
    submitted_at = []
    ids = []
    for notebook in data:
        submitted_at.append(time.time())
        ids.append(submit(lab, notebook).pk)
    wait_graded(ids)
    wall = time.perf_counter() - started
    cpu = meter.stop()
    rows = Submission.objects.in_bulk(ids)
    latencies = [
        rows[pk].graded_at.timestamp() - at
        for pk, at in zip(ids, submitted_at, strict=True)
    ]
    return {
        "wall": wall,
        "ids": ids,
        "scores": [float(rows[pk].score) for pk in ids],
        **cpu,
        "burst_latency": summary(latencies),
        "grading_seconds": summary([rows[pk].seconds for pk in ids]),
    }


def pipeline_latency(lab, data: list[bytes]) -> dict[str, Any]:
    """One at a time to an idle worker: submit → graded_at, and its parts."""
    from grading.models import Submission

    total, queue, grade, write = [], [], [], []
    for notebook in data:
        at = time.time()
        submission = submit(lab, notebook)
        wait_graded([submission.pk], poll=0.02)
        row = Submission.objects.get(pk=submission.pk)
        started = row.grading_started_at.timestamp()
        total.append(row.graded_at.timestamp() - at)
        queue.append(started - at)
        grade.append(row.seconds)
        write.append(row.graded_at.timestamp() - started - row.seconds)
    return {
        "latency": summary(total),
        "parts": {
            "submit_to_claim": summary(queue),
            "submission_grade": summary(grade),
            "claim_and_save": summary(write),
        },
    }


# --- (b) nbgrader's command line ------------------------------------------------------


def _nbgrader(root: Path, *args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603
        [str(BIN / "nbgrader"), *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {args[0]} failed:\n{result.stderr[-4000:]}")
    return time.perf_counter() - started


def cli_throughput(lab, data: list[bytes], root: Path, owned: Owned) -> dict[str, Any]:
    """A course directory with the N submissions; the clock runs around
    ``nbgrader autograde`` alone."""
    from nbgrader.api import Gradebook

    shutil.copytree(LABS / lab.slug, root / "source" / lab.slug)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        "c.CourseDirectory.course_id = 'bench'\n"
    )
    _nbgrader(root, "generate_assignment", lab.slug, "--force")
    students = [f"s{i:03d}" for i in range(len(data))]
    for student, notebook in zip(students, data, strict=True):
        folder = root / "submitted" / student / lab.slug
        folder.mkdir(parents=True)
        (folder / lab.notebook).write_bytes(notebook)
    import psutil

    ours = set(owned.pids())
    meter = CpuMeter(
        lambda: [p for p in psutil.Process().children() if p.pid not in ours]
    ).start()
    wall = _nbgrader(root, "autograde", lab.slug, "--force")
    cpu = meter.stop()
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        scores = [
            float(gradebook.find_submission(lab.slug, student).score)
            for student in students
        ]
    return {"wall": wall, "scores": scores, **cpu}


# --- (c) raw nbclient -----------------------------------------------------------------


def as_graded(notebook: bytes, source: dict):
    """The submission with the source's test cells (hidden tests included), as the
    grading runs it."""
    import nbformat

    tests = {
        cell["metadata"]["nbgrader"]["grade_id"]: cell["source"]
        for cell in source["cells"]
        if cell["metadata"].get("nbgrader", {}).get("grade")
        and not cell["metadata"]["nbgrader"].get("solution")
    }
    parsed = json.loads(notebook)
    for cell in parsed["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in tests:
            cell["source"] = tests[grade_id]
    return nbformat.reads(json.dumps(parsed), as_version=4)


def raw_nbclient(lab, data: list[bytes], source: dict) -> dict[str, Any]:
    from nbclient import NotebookClient

    from labs.services import lab_release_dir

    path = str(lab_release_dir(lab))
    times = []
    for notebook in data:
        parsed = as_graded(notebook, source)
        started = time.perf_counter()
        NotebookClient(
            parsed,
            timeout=30,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": path}},
        ).execute()
        times.append(time.perf_counter() - started)
    return summary(times)


# --- (d) where the time goes ----------------------------------------------------------


class Timers:
    """Wraps functions and methods with timers; ``restore()`` puts them back."""

    def __init__(self) -> None:
        self.spent: dict[str, list[float]] = defaultdict(list)
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Time ``owner.name`` (a module function or a class's plain or async
        method); a name that is not there (the code moved) is skipped."""
        if name not in vars(owner):
            return
        original = vars(owner)[name]
        spent = self.spent[label]
        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def timed(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    spent.append(time.perf_counter() - started)

        else:

            @functools.wraps(original)
            def timed(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    spent.append(time.perf_counter() - started)

        self._undo.append((owner, name, original))
        setattr(owner, name, timed)

    def medians(self, per_run: tuple[str, ...], runs: int) -> dict[str, float]:
        """Median per call; for labels in ``per_run``, the total per run instead."""
        return {
            label: round(
                sum(values) / runs if label in per_run else statistics.median(values),
                4,
            )
            for label, values in self.spent.items()
            if values
        }

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()


CELLS = "kernel: cells executed (per notebook)"


def lab_imports(source: dict, *, path: str, samples: int = 3) -> float:
    """Median seconds a fresh kernel spends on the lab's own import statements
    (what a kernel started ahead, with them done, would save)."""
    import nbformat
    from nbclient import NotebookClient

    lines = [
        line
        for cell in source["cells"]
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if line.startswith("import ")
        or (line.startswith("from ") and " import " in line)
    ]
    code = "import time as _t\n_s = _t.perf_counter()\n" + "\n".join(lines)
    code += "\nprint(_t.perf_counter() - _s)"
    times = []
    for _ in range(samples):
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        metadata = {"metadata": {"path": path}}
        NotebookClient(
            notebook, timeout=60, kernel_name="python3", resources=metadata
        ).execute()
        times.append(float(notebook.cells[0].outputs[0]["text"]))
    return round(statistics.median(times), 4)


def _kernel_timers(timers: Timers) -> None:
    from jupyter_client.asynchronous.client import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    timers.wrap(AsyncKernelManager, "start_kernel", "kernel: start process")
    timers.wrap(AsyncKernelClient, "wait_for_ready", "kernel: wait until ready")
    timers.wrap(NotebookClient, "async_execute_cell", CELLS)
    timers.wrap(AsyncKernelManager, "shutdown_kernel", "kernel: shutdown")


def breakdown(lab, data: list[bytes], source: dict) -> dict[str, Any]:
    """Run gradings in this process with timers around submission_grade's steps,
    and raw nbclient with the same kernel timers; seconds."""
    from nbclient import NotebookClient
    from nbgrader.apps import NbGraderAPI

    from grading import nbgrader as adapter
    from grading import sandbox
    from grading.notebooks import notebook_bytes, notebook_check, notebook_mend
    from labs.services import lab_release_dir

    import_seconds = float(
        subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-c",
                "import time; t = time.perf_counter(); "
                "from nbgrader.apps import NbGraderAPI; "
                "print(time.perf_counter() - t)",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    imports = lab_imports(source, path=str(lab_release_dir(lab)))
    template = adapter.template_ensure(lab)  # built by the worker already
    copies = []
    for _ in range(len(data)):
        target = Path(tempfile.mkdtemp(prefix="bench-copy-"))
        started = time.perf_counter()
        shutil.copytree(template / "source", target / "source")
        shutil.copy2(template / "gradebook.db", target / "gradebook.db")
        copies.append(time.perf_counter() - started)
        shutil.rmtree(target)
    notebooks = []
    for notebook in data:
        mended, _restored = notebook_mend(
            lab=lab, notebook=notebook_check(lab=lab, data=notebook)
        )
        notebooks.append(notebook_bytes(mended))
    adapter.submission_grade(lab=lab, notebook=notebooks[0])  # imports, not timed

    timers = Timers()
    timers.wrap(adapter, "submission_grade", "submission_grade (total)")
    timers.wrap(adapter, "template_ensure", "template: ensure (cached)")
    timers.wrap(sandbox.Sandbox, "close", "sandbox: close (kill uid, clean up)")
    timers.wrap(adapter, "_api", "nbgrader: NbGraderAPI()")
    timers.wrap(NbGraderAPI, "autograde", "nbgrader: autograde (total)")
    timers.wrap(adapter, "_cells_read", "gradebook: read scores")
    _kernel_timers(timers)
    try:
        for notebook in notebooks:
            adapter.submission_grade(lab=lab, notebook=notebook)
        pipeline = timers.medians((CELLS,), len(notebooks))
        pipeline["template: copy source and gradebook"] = round(
            statistics.median(copies), 4
        )
        for values in timers.spent.values():
            values.clear()  # the wrappers hold these lists
        path = str(lab_release_dir(lab))
        raw_total = []
        for notebook in data:
            parsed = as_graded(notebook, source)
            started = time.perf_counter()
            NotebookClient(
                parsed,
                timeout=30,
                kernel_name="python3",
                allow_errors=True,
                resources={"metadata": {"path": path}},
            ).execute()
            raw_total.append(time.perf_counter() - started)
        raw = timers.medians((CELLS,), len(data))
        raw["raw nbclient (total)"] = round(statistics.median(raw_total), 4)
    finally:
        timers.restore()
    return {
        "samples": len(data),
        "nbgrader_import_fresh_process": round(import_seconds, 4),
        "lab_imports_in_a_fresh_kernel": imports,
        "pipeline_in_process": pipeline,
        "raw_nbclient": raw,
    }


# --- Report ---------------------------------------------------------------------------


def git_state() -> str:
    """The commit measured, and whether the grading code had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", "grading", "labs", "lms")
    commit = git("rev-parse", "--short", "HEAD")
    return f"{commit} + uncommitted changes" if dirty else commit


def table(result: dict[str, Any]) -> str:
    t, lat = result["throughput"], result["latency"]
    lines = [
        f"Grading bench, lab {result['lab']}, {t['submissions']} submissions "
        f"({', '.join(f'{k} {v}' for k, v in t['kinds'].items())}), "
        f"{result['cpus']} CPUs, load {result['load_before']} before; "
        f"{result['date']}, code {result['git']}",
        "",
        f"Environment: {result.get('environment', EMBEDDED)}.",
        "",
        "| throughput (round: order) | wall s | submissions/s | CPU s per "
        "submission | machine busy | stolen |",
        "|---|---|---|---|---|---|",
    ]
    labels = {"pipeline": "pipeline, prefork x2", "cli": "nbgrader autograde CLI"}
    for number, measured in enumerate(t["per_round"], 1):
        for variant in measured["order"]:
            m = measured[variant]
            lines.append(
                f"| {number}: {labels[variant]} | {m['wall']:.2f} | "
                f"{t['submissions'] / m['wall']:.3f} | "
                f"{m['cpu_seconds'] / t['submissions']:.2f} | "
                f"{m['machine_busy_percent']:.0f}% | {m.get('steal_percent', 0):.0f}% |"
            )
    lines += [
        "",
        f"Throughput ratio pipeline/CLI (medians): **{t['ratio']:.2f}x** "
        f"(target >= {TARGET_THROUGHPUT}: {'met' if t['target_met'] else 'NOT met'});"
        f" ceiling if CPU-bound on 2 free cores: {t['ratio_ceiling_cpu_bound']:.2f}x;"
        f" scores agree for {t['scores_agree']}/{t['submissions']} submissions.",
        "",
        "| latency, idle worker | p50 s | p95 s | min s | max s |",
        "|---|---|---|---|---|",
    ]
    for label, stats in (
        ("pipeline: submit to graded", lat["pipeline"]["latency"]),
        ("- submit to claim", lat["pipeline"]["parts"]["submit_to_claim"]),
        ("- submission_grade", lat["pipeline"]["parts"]["submission_grade"]),
        ("- claim and save", lat["pipeline"]["parts"]["claim_and_save"]),
        ("raw nbclient", lat["raw_nbclient"]),
    ):
        lines.append(
            f"| {label} | {stats['p50']:.3f} | {stats['p95']:.3f} | "
            f"{stats['min']:.3f} | {stats['max']:.3f} |"
        )
    lines += [
        "",
        f"Latency target: p50 {lat['pipeline']['latency']['p50']:.3f} s <= "
        f"{lat['bound']:.3f} s (1.5 x raw p50 + 0.5 s): "
        f"{'met' if lat['target_met'] else 'NOT met'}.",
    ]
    if "breakdown" in result:
        b = result["breakdown"]
        lines += [
            "",
            f"Where the time goes (medians of {b['samples']} gradings in one "
            "process, seconds):",
            "",
            "| step | pipeline | raw nbclient |",
            "|---|---|---|",
        ]
        for key, value in b["pipeline_in_process"].items():
            raw = b["raw_nbclient"].get(key)
            lines.append(f"| {key} | {value:.3f} | {'' if raw is None else raw} |")
        lines.append(
            f"| raw nbclient (total) | | {b['raw_nbclient']['raw nbclient (total)']} |"
        )
        lines.append(
            f"| import nbgrader in a fresh process | "
            f"{b['nbgrader_import_fresh_process']:.3f} | |"
        )
        lines.append(
            f"| the lab's imports in a fresh kernel | "
            f"{b['lab_imports_in_a_fresh_kernel']:.3f} | |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace, owned: Owned, var_dir: Path) -> dict[str, Any]:
    load_before = os.getloadavg()
    if not args.production:
        owned.redis_start()
    log("Migrating a throw-away database and publishing the lab (self-check)...")
    django_setup(var_dir, production=args.production)
    lab = lab_publish(args.lab)
    lab.max_attempts = 10**4
    lab.save(update_fields=["max_attempts"])
    kinds, data, source = notebooks(lab, args.submissions)
    log("Starting the worker (prefork, concurrency 2) and warming it up...")
    owned.worker_start()
    warm = [submit(lab, data[0]).pk, submit(lab, data[1]).pk]
    wait_graded(warm)

    rounds: list[dict[str, Any]] = []
    scores: dict[str, list[float]] = {}
    extra: dict[str, Any] = {}
    for index in range(args.rounds):
        order = ["cli", "pipeline"] if index % 2 == 0 else ["pipeline", "cli"]
        measured_round: dict[str, Any] = {"order": order}
        for variant in order:
            if variant == "cli":
                measured = cli_throughput(lab, data, var_dir / f"cli-{index}", owned)
            else:
                measured = pipeline_throughput(lab, data, owned)
                extra = measured
            scores[variant] = measured["scores"]
            measured_round[variant] = {
                "wall": round(measured["wall"], 3),
                "cpu_seconds": measured["cpu_seconds"],
                "machine_busy_percent": measured["machine_busy_percent"],
                "steal_percent": measured["steal_percent"],
            }
            log(
                f"round {index + 1}: {variant} {measured['wall']:.2f} s, "
                f"{measured['cpu_seconds']:.1f} CPU s, machine "
                f"{measured['machine_busy_percent']:.0f}% busy, "
                f"{measured['steal_percent']:.0f}% stolen"
            )
        rounds.append(measured_round)

    latency_data = data[: args.latency]
    log(f"Latency: {len(latency_data)} submissions one at a time...")
    latency = pipeline_latency(lab, latency_data)
    log("Raw nbclient on the same notebooks...")
    raw = raw_nbclient(lab, latency_data, source)
    bound = TARGET_LATENCY[0] * raw["p50"] + TARGET_LATENCY[1]

    def median(variant: str, key: str) -> float:
        return statistics.median(r[variant][key] for r in rounds)

    pipeline_wall, cli_wall = median("pipeline", "wall"), median("cli", "wall")
    ratio = cli_wall / pipeline_wall
    cpu_per = {v: median(v, "cpu_seconds") / len(data) for v in ("pipeline", "cli")}
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "lab": lab.slug,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "git": git_state(),
        "load_before": [round(x, 2) for x in load_before],
        "environment": args.environment,
        "throughput": {
            "submissions": len(data),
            "kinds": {k: kinds.count(k) for k in KINDS},
            "rounds": args.rounds,
            "per_round": rounds,
            "pipeline_wall_median": round(pipeline_wall, 3),
            "cli_wall_median": round(cli_wall, 3),
            "ratio": round(ratio, 3),
            "target": TARGET_THROUGHPUT,
            "target_met": ratio >= TARGET_THROUGHPUT,
            "scores_agree": sum(
                a == b for a, b in zip(scores["pipeline"], scores["cli"], strict=True)
            ),
            "cpu_seconds_per_submission": {
                v: round(cpu, 3) for v, cpu in cpu_per.items()
            },
            # 2 free cores, all CPU-bound: 2 x CLI CPU per submission / pipeline CPU
            "ratio_ceiling_cpu_bound": round(
                2 * cpu_per["cli"] / cpu_per["pipeline"], 3
            ),
            "pipeline_burst_latency": extra["burst_latency"],
            "pipeline_grading_seconds": extra["grading_seconds"],
        },
        "latency": {
            "pipeline": latency,
            "raw_nbclient": raw,
            "bound": round(bound, 4),
            "target_met": latency["latency"]["p50"] <= bound,
        },
    }
    if args.breakdown:
        log(f"Breakdown: {args.breakdown} gradings in this process...")
        result["breakdown"] = breakdown(lab, data[: args.breakdown], source)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lab", default="landed-cost", help="a shipped lab")
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=1, help="throughput rounds (1)")
    parser.add_argument(
        "--latency", type=int, default=20, help="one-at-a-time submissions (20)"
    )
    parser.add_argument(
        "--breakdown", type=int, default=8, help="in-process timed gradings (8; 0: no)"
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / "bench" / "results"),
        help="where grading.json and grading.md go ('' not to write them)",
    )
    parser.add_argument(
        "--production",
        action="store_true",
        help="PostgreSQL, Redis and DEBUG=false as deploy/prod-local.sh; results "
        "in grading-production.json and .md",
    )
    args = parser.parse_args(argv)
    if not (LABS / args.lab / "lab.yaml").is_file():
        parser.error(f"no shipped lab {args.lab!r} in {LABS}")
    if args.submissions < 2 or args.rounds < 1 or args.latency < 1:
        parser.error("--submissions >= 2, --rounds >= 1, --latency >= 1")
    args.latency = min(args.latency, args.submissions)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    var_dir = Path(tempfile.mkdtemp(prefix="bench-grading-", dir="/tmp"))  # noqa: S108
    owned = Owned(var_dir)
    output = var_dir / "bench.log"
    args.environment = EMBEDDED
    try:
        with contextlib.ExitStack() as stack:
            if args.production:
                from production import environment_summary, production_env

                env = stack.enter_context(production_env("grading", var_dir=var_dir))
                args.environment = environment_summary(env)
            stack.enter_context(output_to(output))
            try:
                result = run(args, owned, var_dir)
            finally:
                owned.stop()  # before the database is dropped
    except KeyboardInterrupt:
        log("Interrupted.")
        return 130
    except Exception:
        log("Output (tail):\n" + output.read_text(errors="replace")[-4000:])
        log("Worker log (tail):\n" + owned.worker_log())
        raise
    finally:
        log("Cleaning up...")
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        owned.stop()
        if "django" in sys.modules:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
        shutil.rmtree(var_dir, ignore_errors=True)
    text = table(result)
    name = "grading-production" if args.production else "grading"
    if args.out:
        out = Path(args.out)
        if args.production and (out / "grading.json").exists():
            embedded = json.loads((out / "grading.json").read_text())
            text += "\n\n" + comparison(result, embedded)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / f"{name}.md").write_text(text + "\n")
    print(text)
    return 0


def comparison(production: dict[str, Any], embedded: dict[str, Any]) -> str:
    """The production-shaped figures beside the embedded default's (grading.json,
    an earlier run: compare the ratios, each measured against its own run's
    baseline, rather than the seconds)."""
    rows = [
        f"Against the embedded default (grading.json, {embedded['date']}, code "
        f"{embedded['git']}; each ratio against its own run's baseline):",
        "",
        "| | embedded default | production-shaped |",
        "|---|---|---|",
    ]
    for label, get in (
        ("throughput ratio pipeline/CLI", lambda r: r["throughput"]["ratio"]),
        ("submissions", lambda r: r["throughput"]["submissions"]),
        (
            "pipeline wall s per submission",
            lambda r: round(
                r["throughput"]["pipeline_wall_median"]
                / r["throughput"]["submissions"],
                3,
            ),
        ),
        (
            "CLI wall s per submission",
            lambda r: round(
                r["throughput"]["cli_wall_median"] / r["throughput"]["submissions"], 3
            ),
        ),
        (
            "pipeline CPU s per submission",
            lambda r: r["throughput"]["cpu_seconds_per_submission"]["pipeline"],
        ),
        ("latency p50 s", lambda r: r["latency"]["pipeline"]["latency"]["p50"]),
        ("latency p95 s", lambda r: r["latency"]["pipeline"]["latency"]["p95"]),
        ("raw nbclient p50 s", lambda r: r["latency"]["raw_nbclient"]["p50"]),
        (
            "latency p50 / raw nbclient p50",
            lambda r: round(
                r["latency"]["pipeline"]["latency"]["p50"]
                / r["latency"]["raw_nbclient"]["p50"],
                3,
            ),
        ),
        (
            "submit to claim p50 s",
            lambda r: r["latency"]["pipeline"]["parts"]["submit_to_claim"]["p50"],
        ),
        (
            "claim and save p50 s",
            lambda r: r["latency"]["pipeline"]["parts"]["claim_and_save"]["p50"],
        ),
    ):
        values = []
        for result in (embedded, production):
            try:
                values.append(str(get(result)))
            except (KeyError, TypeError, ZeroDivisionError):
                values.append("")
        rows.append(f"| {label} | {values[0]} | {values[1]} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
