"""Lab launch: how much the site adds to a bare JupyterHub spawn.

Run from the project root: ``.venv/bin/python bench/lab_launch.py [--rounds N]``.

One real hub (the project's ``labs/jupyterhub_config.py``, free ports, a temporary
state directory) and one throw-away site database serve both variants, alternated
round by round, each round with hub users that have never had a server:

- **baseline**: ``POST /hub/api/users/<name>/server`` with the service token, then
  ``GET /hub/api/users/<name>`` until the default server is ready. The hub user is
  created before the clock starts: this is the spawn and nothing else, over one
  kept-alive ``httpx.Client`` as a bare script would use.
- **site**: ``labs.services.lab_launch`` (ensures the hub user, starts the server),
  then, when it answers "starting", ``labs.hub.server_status`` until ready and
  ``labs.services.lab_files_place`` — the whole path to a ready lab with its
  notebook and data in place. (The hub holds a spawn request up to 10 s, so a
  fast spawn comes back ready and ``lab_launch`` places the files itself.) The
  time spent in ``lab_files_place`` is reported apart.

Both poll the hub at the same interval, so polling granularity cancels out of the
ratio. A warm-up round (not counted) pays the one-time costs first: the disk cache
for ``jupyterhub-singleuser`` and, in this process, the site's URLconf import.
Everything started here (the hub, its servers, the temporary directories) is
removed at exit, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
LAB_SOURCES = ROOT / "tests" / "labs" / "data"
TARGET_RATIO = 1.2
TARGET_BURST_RATIO = 3.0  # burst p95 / single p95
HUB_START_DEADLINE = 90.0
SPAWN_DEADLINE = 120.0  # above the hub's own HUB_SPAWN_TIMEOUT (90 s)
STOP_DEADLINE = 60.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def usable_cpus() -> int:
    """The CPUs this process (and what it starts) may run on: ``taskset`` narrows
    them, which ``os.cpu_count()`` does not see."""
    return len(os.sched_getaffinity(0)) or 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Hub:
    """A real JupyterHub started as tests/labs/conftest.py's ``hub`` fixture does."""

    def __init__(self, *, spawn_limit: int = 20, fork_server: bool = True) -> None:
        self.spawn_limit = spawn_limit
        self.fork_server = fork_server
        self.state = Path(tempfile.mkdtemp(prefix="bench-hub-", dir="/tmp"))  # noqa: S108
        self.url = f"http://127.0.0.1:{free_port()}"
        self.api = f"{self.url}/hub/api"
        self.token = secrets.token_hex(24)
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self, *, config: Path | None = None) -> None:
        bin_dir = Path(sys.executable).parent
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            "HUB_STATE_DIR": str(self.state),
            "JUPYTERHUB_URL": self.url,
            "HUB_API_PORT": str(free_port()),
            "HUB_PROXY_API_PORT": str(free_port()),
            "JUPYTERHUB_API_TOKEN": self.token,
            "HUB_OAUTH_CLIENT_ID": "jupyterhub-bench",
            "HUB_OAUTH_CLIENT_SECRET": secrets.token_hex(16),
            "SITE_URL": f"http://127.0.0.1:{free_port()}",
            "HUB_SPAWN_TIMEOUT": "90",
            # As settings.HUB_CONCURRENT_SPAWN_LIMIT (20 unless set) passes it on.
            "HUB_CONCURRENT_SPAWN_LIMIT": str(self.spawn_limit),
            # As settings.HUB_FORK_SERVER passes it on (labs/forkserver.py).
            "HUB_FORK_SERVER": "1" if self.fork_server else "0",
        }
        self._log = (self.state / "hub.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603
            [
                str(bin_dir / "jupyterhub"),
                "-f",
                str(config or ROOT / "labs" / "jupyterhub_config.py"),
            ],
            cwd=self.state,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )

    def wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + HUB_START_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("JupyterHub exited:\n" + self.log_tail())
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api}/", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError("JupyterHub did not start:\n" + self.log_tail())

    def log_tail(self, lines: int = 40) -> str:
        path = self.state / "hub.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGTERM lets the hub stop its servers (cleanup_servers) and the proxy.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Servers and the culler run in sessions of their own: any the hub left.
        with contextlib.suppress(Exception):
            sys.path.insert(0, str(ROOT))
            from labs.processes import hub_strays_stop

            hub_strays_stop(self.state)
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.state, ignore_errors=True)


def django_setup(*, var_dir: Path, hub: Hub) -> None:
    """Point lms.settings at the bench hub and a throw-away SQLite database."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "lms.settings",
            "VAR_DIR": str(var_dir),
            # Explicit, so no DATABASE_URL from the environment or .env is touched.
            "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
            "JUPYTERHUB_URL": hub.url,
            "JUPYTERHUB_API_URL": hub.api,
            "JUPYTERHUB_API_TOKEN": hub.token,
            "LABS_SOURCE_DIR": str(LAB_SOURCES),
            "HUB_ENABLED": "false",
            "LOG_LEVEL": "WARNING",  # no line per hub request in the output
        }
    )
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def site_prepare(*, users: int) -> tuple[Any, list[Any]]:
    """Publish the tiny lab (nbgrader self-check) and make ``users`` trainees."""
    from labs.models import Lab
    from labs.services import labs_import
    from lms.accounts.models import Role, User

    (lab,) = labs_import()
    if lab.status != Lab.Status.PUBLISHED:
        raise RuntimeError(f"The tiny lab did not publish:\n{lab.check_log}")
    trainees = [
        User.objects.create_user(username=f"bench-trainee-{i}", role=Role.TRAINEE)
        for i in range(users)
    ]
    return lab, trainees


def wait_until(check: Callable[[], bool], *, poll: float, deadline: float, what: str):
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise RuntimeError(f"Timed out waiting for {what}")
        time.sleep(poll)


# --- (a) baseline: the bare REST spawn ------------------------------------------------


def _default_server(client: httpx.Client, hub: Hub, name: str) -> dict | None:
    response = client.get(f"{hub.api}/users/{name}")
    response.raise_for_status()
    return response.json().get("servers", {}).get("")


def baseline_launch(client: httpx.Client, hub: Hub, name: str, poll: float) -> float:
    """Seconds from the spawn request to a ready server (the user already exists)."""
    created = client.post(f"{hub.api}/users/{name}")
    if created.status_code not in (201, 409):
        raise RuntimeError(f"Creating hub user {name}: HTTP {created.status_code}")
    start = time.perf_counter()
    response = client.post(f"{hub.api}/users/{name}/server")
    if response.status_code not in (201, 202):
        raise RuntimeError(f"Spawning {name}: HTTP {response.status_code}")

    def ready() -> bool:
        server = _default_server(client, hub, name)
        if server is None:
            raise RuntimeError(f"The spawn of {name} failed:\n{hub.log_tail()}")
        return bool(server.get("ready"))

    wait_until(ready, poll=poll, deadline=SPAWN_DEADLINE, what=f"{name} to be ready")
    return time.perf_counter() - start


def baseline_stop(client: httpx.Client, hub: Hub, name: str, poll: float) -> None:
    client.delete(f"{hub.api}/users/{name}/server")
    wait_until(
        lambda: _default_server(client, hub, name) is None,
        poll=poll,
        deadline=STOP_DEADLINE,
        what=f"{name}'s server to stop",
    )


# --- (b) the site: lab_launch, then place the files once ready ----------------------


class PlaceTimer:
    """Times every ``lab_files_place`` call, including the one ``lab_launch`` makes
    itself when the hub answers the spawn request with a ready server (the hub
    holds that request up to its ``slow_spawn_timeout``, 10 s). A pure wrapper:
    the call, its arguments and its result are unchanged."""

    def __init__(self) -> None:
        from labs import services

        self.services = services
        self.original = services.lab_files_place
        self._local = threading.local()

    @property
    def calls(self) -> list[float]:
        """This thread's calls (a burst launches from many threads at once)."""
        if not hasattr(self._local, "calls"):
            self._local.calls = []
        return self._local.calls

    def __enter__(self) -> PlaceTimer:
        def timed(*args: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.calls.append(time.perf_counter() - start)

        self.services.lab_files_place = timed
        return self

    def __exit__(self, *exc: object) -> None:
        self.services.lab_files_place = self.original


def progress_until_ready(name: str) -> None:
    """Follow the hub's progress event stream for ``name`` until the server is ready,
    as the lab page does (``labs.consumers.LabProgressConsumer``): one open request
    per launch instead of one status request per poll interval."""
    import asyncio

    from labs import hub

    async def follow() -> None:
        async for event in hub.server_progress(name):
            if event.get("failed"):
                raise RuntimeError(f"The spawn of {name} failed: {event}")
            if event.get("ready"):
                return
        raise RuntimeError(f"The progress of {name} ended before it was ready")

    asyncio.run(follow())


def site_launch(
    user: Any, lab: Any, poll: float, timer: PlaceTimer, *, follow: str = "poll"
) -> dict:
    """Seconds from ``lab_launch`` to a ready server with the lab's files placed,
    and how much of it was ``lab_files_place``. ``follow``: "poll" asks the hub
    for the server's status every ``poll`` s; "progress" follows the hub's
    progress stream, as the site's lab page does."""
    from labs import hub, services

    name = hub.hub_username(user.pk)
    timer.calls.clear()
    start = time.perf_counter()
    launch = services.lab_launch(user=user, lab=lab)
    if launch.status == "starting":

        def ready() -> bool:
            status = hub.server_status(name)
            if not status.exists:
                raise RuntimeError(f"The spawn of {name} failed")
            return status.ready

        if follow == "progress":
            progress_until_ready(name)
        else:
            wait_until(ready, poll=poll, deadline=SPAWN_DEADLINE, what=f"{name} ready")
        services.lab_files_place(user=user, lab=lab)
    elapsed = time.perf_counter() - start
    if not hub.contents_exists(name, f"{lab.slug}/{lab.notebook}"):
        raise RuntimeError(f"The notebook was not placed for {name}")
    place = sum(timer.calls)
    return {"total": elapsed, "place": place, "to_ready": elapsed - place}


def site_stop(user: Any, poll: float) -> None:
    from labs import hub

    name = hub.hub_username(user.pk)
    hub.server_stop(name)
    wait_until(
        lambda: not hub.server_status(name).exists,
        poll=poll,
        deadline=STOP_DEADLINE,
        what=f"{name}'s server to stop",
    )


# --- Burst: many trainees at once against single launches ---------------------------


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = (len(ordered) - 1) * q
    low, high = int(index), min(int(index) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


def spread(samples: list[float]) -> dict[str, Any]:
    return {
        "n": len(samples),
        "p50": round(percentile(samples, 0.5), 3),
        "p95": round(percentile(samples, 0.95), 3),
        "max": round(max(samples), 3),
        "samples": [round(s, 3) for s in samples],
    }


MB = 1024 * 1024


FORK_SERVER_FD = "SILKROUTE_FORK_SERVER_FD"  # as labs/forkserver.py names it


class ProcessTable:
    """One reading of the machine's process table: who started whom.

    psutil's ``children()`` reads every process's parent each time it is called;
    the burst's sampler wants some twenty trees four times a second, and that
    many readings took a noticeable share of the CPU the burst itself needs.
    """

    def __init__(self) -> None:
        import psutil

        self.children: dict[int, list[Any]] = {}
        for process in psutil.process_iter(["ppid"]):
            self.children.setdefault(process.info["ppid"], []).append(process)

    def tree(self, process: Any) -> list[Any]:
        """``process`` and everything it started."""
        found = [process]
        for member in found:  # grows as it goes: breadth first
            found.extend(self.children.get(member.pid, ()))
        return found


def hub_processes(hub: Hub, table: ProcessTable | None = None) -> dict[str, Any]:
    """The hub's processes by role: ``proxy``, ``fork_server`` (labs/forkserver.py,
    or None), ``servers`` (each trainee's single-user server, started by the hub or
    forked by its fork server) and ``services`` (anything else the hub started)."""
    import psutil

    assert hub.process is not None
    table = table or ProcessTable()
    found: dict[str, Any] = {
        "proxy": [],
        "fork_server": None,
        "servers": [],
        "services": [],
    }
    for child in table.children.get(hub.process.pid, ()):
        with contextlib.suppress(psutil.Error):
            command = " ".join(child.cmdline())
            if "jupyterhub-singleuser" in command:
                if FORK_SERVER_FD in child.environ():
                    found["fork_server"] = child
                    found["servers"].extend(table.children.get(child.pid, ()))
                else:
                    found["servers"].append(child)
            elif "labs.proxy" in command:
                found["proxy"].append(child)
            else:
                found["services"].append(child)
    return found


def tree_rss(process: Any, table: ProcessTable | None = None) -> float:
    """RSS of ``process`` and everything it started, MB (0 if it has gone)."""
    import psutil

    total = 0.0
    for member in (table or ProcessTable()).tree(process):
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss / MB
    return total


def hub_memory(hub: Hub) -> dict[str, Any]:
    """RSS of the hub, its proxy, its fork server, other services, and each
    single-user server's process tree, MB."""
    import psutil

    assert hub.process is not None
    table = ProcessTable()
    processes = hub_processes(hub, table)
    fork_server = processes["fork_server"]
    return {
        "hub": psutil.Process(hub.process.pid).memory_info().rss / MB,
        "proxy": sum(tree_rss(p, table) for p in processes["proxy"]),
        # Its own RSS: the servers it forked are counted as servers.
        "fork_server": own_rss(fork_server),
        "services": sum(tree_rss(p, table) for p in processes["services"]),
        "servers": {p.pid: tree_rss(p, table) for p in processes["servers"]},
    }


def own_rss(process: Any) -> float:
    import psutil

    if process is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        return process.memory_info().rss / MB
    return 0.0


def server_uss(hub: Hub) -> list[float]:
    """Memory each single-user server alone holds (USS: not shared with others,
    the fork server included)."""
    import psutil

    values = []
    for process in hub_processes(hub)["servers"]:
        with contextlib.suppress(psutil.Error):
            values.append(process.memory_full_info().uss / MB)
    return values


def memory_settled(hub: Hub, *, seconds: float = 3.0) -> dict[str, Any]:
    """Medians over ``seconds`` of sampling (every 0.25 s), once nothing starts."""
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(hub_memory(hub))
        time.sleep(0.25)
    servers = [rss for sample in samples[-1:] for rss in sample["servers"].values()]
    hub_rss = statistics.median(s["hub"] for s in samples)
    proxy = statistics.median(s["proxy"] for s in samples)
    result: dict[str, Any] = {
        "servers_running": len(servers),
        "hub_mb": round(hub_rss, 1),
        "proxy_mb": round(proxy, 1),
        "hub_and_proxy_mb": round(hub_rss + proxy, 1),
        "fork_server_mb": round(
            statistics.median(s["fork_server"] for s in samples), 1
        ),
        "other_services_mb": round(
            statistics.median(s["services"] for s in samples), 1
        ),
    }
    if servers:
        uss = server_uss(hub)
        result["server_rss_mb"] = {
            "median": round(statistics.median(servers), 1),
            "min": round(min(servers), 1),
            "max": round(max(servers), 1),
            "total": round(sum(servers), 1),
        }
        result["server_uss_mb_median"] = round(statistics.median(uss), 1) if uss else 0
    return result


def hub_cpu(hub: Hub) -> dict[str, Any]:
    """CPU seconds (user + system) used so far by the hub with its proxy, and by
    each single-user server with anything it started."""
    import psutil

    def used(process: psutil.Process) -> float:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            # With the children it already waited for (a subprocess run at start).
            return (
                times.user + times.system + times.children_user + times.children_system
            )
        return 0.0

    assert hub.process is not None
    table = ProcessTable()
    processes = hub_processes(hub, table)
    found: dict[str, Any] = {
        "hub": used(psutil.Process(hub.process.pid)),
        "proxy": sum(used(p) for p in processes["proxy"]),
        "fork_server": used(processes["fork_server"])
        if processes["fork_server"]
        else 0.0,
        "servers": [],
    }
    for server in processes["servers"]:
        found["servers"].append(sum(used(p) for p in table.tree(server)))
    found["hub_and_proxy"] = found["hub"] + found["proxy"]
    return found


def failure_where(error: BaseException) -> str:
    """The innermost site function a launch failed in, and the first cause."""
    causes = [error]
    while causes[-1].__cause__ is not None or causes[-1].__context__ is not None:
        causes.append(causes[-1].__cause__ or causes[-1].__context__)
    frames = [
        f"{Path(frame.filename).parent.name}.{Path(frame.filename).stem}.{frame.name}"
        for cause in causes
        for frame in traceback.extract_tb(cause.__traceback__)
        if Path(frame.filename).parent.name == "labs"
        and Path(frame.filename).parent.parent == ROOT
    ]
    root = causes[-1]
    return f"{' > '.join(dict.fromkeys(frames))}: {type(root).__name__}: {root}"


class BurstSampler:
    """Samples the hub's tree every 0.25 s while a burst runs: the hub and proxy RSS
    when the 10th launch finished, and their peak."""

    def __init__(self, hub: Hub, finished: Callable[[], int]) -> None:
        self.hub = hub
        self.finished = finished
        self.peak = 0.0
        self.peak_servers_mb = 0.0
        self.at: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            with contextlib.suppress(Exception):
                sample = hub_memory(self.hub)
                both = sample["hub"] + sample["proxy"]
                self.peak = max(self.peak, both)
                self.peak_servers_mb = max(
                    self.peak_servers_mb, sum(sample["servers"].values())
                )
                done = self.finished()
                for mark in (10, 20):
                    if done >= mark and mark not in self.at:
                        self.at[mark] = both

    def __enter__(self) -> BurstSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def single_launches(
    trainees: list[Any],
    lab: Any,
    poll: float,
    timer: PlaceTimer,
    started: list,
    follow: str,
) -> list[float]:
    """One launch at a time, each server stopped before the next: seconds each."""
    times = []
    for trainee in trainees:
        started.append(("site", trainee))
        times.append(site_launch(trainee, lab, poll, timer, follow=follow)["total"])
        site_stop(trainee, poll)
        log(f"single: {times[-1]:.3f} s")
    return times


def burst_launch(
    trainees: list[Any], lab: Any, poll: float, timer: PlaceTimer, hub: Hub, follow: str
) -> dict[str, Any]:
    """Every trainee's launch at once, one thread each (as many web requests would),
    each until its own server is ready with the lab's files placed."""
    from django.db import connection

    barrier = threading.Barrier(len(trainees) + 1)
    outcomes: list[dict[str, Any]] = [{} for _ in trainees]
    finished = [0]
    lock = threading.Lock()

    def one(index: int, trainee: Any) -> None:
        barrier.wait()
        begun = time.perf_counter()
        try:
            outcomes[index] = {
                "ok": True,
                **site_launch(trainee, lab, poll, timer, follow=follow),
            }
        except Exception as error:  # every failure is a figure, not a stop
            outcomes[index] = {"ok": False, "error": failure_where(error)}
            outcomes[index]["total"] = time.perf_counter() - begun
        finally:
            outcomes[index]["end"] = time.perf_counter()
            with lock:
                finished[0] += 1
            connection.close()  # this thread's database connection

    threads = [
        threading.Thread(target=one, args=(i, t), daemon=True)
        for i, t in enumerate(trainees)
    ]
    for thread in threads:
        thread.start()
    with BurstSampler(hub, lambda: finished[0]) as sampler:
        barrier.wait()
        begun = time.perf_counter()
        for thread in threads:
            thread.join()
    succeeded = [o for o in outcomes if o["ok"]]
    errors = [o["error"] for o in outcomes if not o["ok"]]
    return {
        "launches": len(trainees),
        "succeeded": len(succeeded),
        "failures": len(errors),
        "errors": sorted(set(errors)),
        "times": [o["total"] for o in succeeded],
        "place": [o["place"] for o in succeeded],
        "all_ready": max(o["end"] for o in outcomes) - begun,
        "hub_and_proxy_mb_at_10_ready": round(sampler.at.get(10, 0.0), 1),
        "hub_and_proxy_mb_peak": round(sampler.peak, 1),
        "servers_mb_peak": round(sampler.peak_servers_mb, 1),
    }


def servers_stop(trainees: list[Any], poll: float) -> float:
    """Stop every trainee's server at once; seconds until all are gone."""
    from labs import hub

    begun = time.perf_counter()
    names = [hub.hub_username(t.pk) for t in trainees]
    for name in names:
        with contextlib.suppress(hub.HubError):
            hub.server_stop(name)
    wait_until(
        lambda: not any(hub.server_status(n).exists for n in names),
        poll=max(poll, 0.5),
        deadline=STOP_DEADLINE * 2,
        what="the burst's servers to stop",
    )
    return time.perf_counter() - begun


def run_burst(args: argparse.Namespace, hub: Hub, var_dir: Path, started: list):
    """Single launches, the burst, single launches again, on one hub."""
    singles = args.singles
    hub.start()
    log("Setting up the site database and publishing the tiny lab...")
    with output_to(var_dir / "setup.log"):
        django_setup(var_dir=var_dir, hub=hub)
        lab, trainees = site_prepare(users=args.warmup + 2 * singles + args.burst)
    hub.wait_ready()
    log(f"Hub ready at {hub.url}; spawn limit {hub.spawn_limit}")
    warm = trainees[: args.warmup]
    before = trainees[args.warmup : args.warmup + singles]
    crowd = trainees[args.warmup + singles : args.warmup + singles + args.burst]
    after = trainees[args.warmup + singles + args.burst :]
    with PlaceTimer() as timer:
        follow = args.follow
        single_launches(warm, lab, args.poll, timer, started, follow)
        single = single_launches(before, lab, args.poll, timer, started, follow)
        idle = memory_settled(hub)
        cpu_before = hub_cpu(hub)
        site_before = time.process_time()  # this process: the site's side
        log(f"Burst: {len(crowd)} launches at once...")
        started.extend(("site", t) for t in crowd)
        burst = burst_launch(crowd, lab, args.poll, timer, hub, follow)
        site_seconds = time.process_time() - site_before
        log(
            f"burst: {burst['succeeded']}/{burst['launches']} ready, all in "
            f"{burst['all_ready']:.1f} s; failures {burst['failures']}"
        )
        time.sleep(2)  # let the last placements and the hub settle
        full = memory_settled(hub)
        cpu_after = hub_cpu(hub)
        stop_seconds = servers_stop(crowd, args.poll)
        log(f"stopped the burst's servers in {stop_seconds:.1f} s")
        single += single_launches(after, lab, args.poll, timer, started, follow)

    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": usable_cpus(),
        "load_before": args.load_before,
        "spawn_limit": hub.spawn_limit,
        "fork_server": hub.fork_server,
        "poll": args.poll,
        "follow": args.follow,
        "single": spread(single),
        "burst": {
            **{k: v for k, v in burst.items() if k not in ("times", "place")},
            "all_ready": round(burst["all_ready"], 3),
            "launch": spread(burst["times"]) if burst["times"] else None,
            "placing_the_files_p50": round(statistics.median(burst["place"]), 3)
            if burst["place"]
            else None,
        },
        "stop_all_seconds": round(stop_seconds, 3),
        # What the burst cost in CPU: its servers' starts (their CPU seconds up to
        # the settled sample) and the hub with its proxy over the whole burst. The
        # servers' total over the machine's cores is the least a burst can take.
        "cpu": {
            "server_start_seconds_median": round(
                statistics.median(cpu_after["servers"]), 2
            )
            if cpu_after["servers"]
            else None,
            "servers_total_seconds": round(sum(cpu_after["servers"]), 1),
            "hub_and_proxy_seconds": round(
                cpu_after["hub_and_proxy"] - cpu_before["hub_and_proxy"], 1
            ),
            "hub_seconds": round(cpu_after["hub"] - cpu_before["hub"], 2),
            "proxy_seconds": round(cpu_after["proxy"] - cpu_before["proxy"], 2),
            # The site's side (this process's threads, with its memory sampler).
            "site_seconds": round(site_seconds, 1),
            "fork_server_seconds": round(
                cpu_after["fork_server"] - cpu_before["fork_server"], 2
            ),
            "floor_seconds_on_all_cores": round(
                sum(cpu_after["servers"]) / usable_cpus(), 1
            ),
        },
        "memory": {"before_burst": idle, "after_burst": full},
        "target": TARGET_BURST_RATIO,
    }
    # Everything the burst cost in CPU, and what that allows on this machine's
    # cores: the burst cannot end before its CPU seconds over the cores have passed.
    cores = usable_cpus()
    total = (
        sum(cpu_after["servers"])
        + (cpu_after["hub_and_proxy"] - cpu_before["hub_and_proxy"])
        + (cpu_after["fork_server"] - cpu_before["fork_server"])
        + site_seconds
    )
    single_p95 = percentile(single, 0.95)
    result["cpu"].update(
        {
            "burst_total_seconds": round(total, 2),
            "burst_total_per_launch_seconds": round(total / max(1, len(crowd)), 3),
            "burst_floor_seconds": round(total / cores, 2),
            "ratio_floor": round(total / cores / single_p95, 2),
            "cores_for_target": round(total / (TARGET_BURST_RATIO * single_p95), 1),
        }
    )
    if burst["times"]:
        ratio = percentile(burst["times"], 0.95) / single_p95
        result["ratio_p95"] = round(ratio, 3)
        result["target_met"] = ratio <= TARGET_BURST_RATIO and not burst["failures"]
    else:
        result["ratio_p95"] = None
        result["target_met"] = False
    running = full["servers_running"]
    if running:
        per_10 = (full["hub_and_proxy_mb"] - idle["hub_and_proxy_mb"]) * 10 / running
        result["memory"]["hub_and_proxy_mb_per_10_servers"] = round(per_10, 1)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def burst_table(result: dict[str, Any]) -> str:
    single, burst = result["single"], result["burst"]
    launch = burst["launch"] or {"p50": 0, "p95": 0, "max": 0}
    verdict = "met" if result["target_met"] else "NOT met"
    ratio = result["ratio_p95"]
    memory = result["memory"]
    idle, full = memory["before_burst"], memory["after_burst"]
    rows = [
        f"## Lab launch: a burst of {burst['launches']} at once",
        "",
        f"{result['date']}, {result['cpus']} CPUs, load {result['load_before']} "
        f"before, hub spawn limit {result['spawn_limit']}, launches follow "
        + (
            "the hub's progress stream."
            if result.get("follow") == "progress"
            else f"the server's status every {result['poll']:g} s."
        ),
        "",
        "| launches | n | p50 s | p95 s | max s |",
        "|---|---|---|---|---|",
        f"| single, one at a time (before and after) | {single['n']} | "
        f"{single['p50']:.3f} | {single['p95']:.3f} | {single['max']:.3f} |",
        f"| burst, all at once | {launch.get('n', 0)} | {launch['p50']:.3f} | "
        f"{launch['p95']:.3f} | {launch['max']:.3f} |",
        "",
        f"- Burst p95 / single p95 = **{ratio if ratio is None else f'{ratio:.2f}'}**"
        f" (target <= {result['target']:g} with no failures: {verdict}).",
        f"- Failures: {burst['failures']} of {burst['launches']}"
        + (f" ({'; '.join(burst['errors'])})" if burst["errors"] else "")
        + f"; the {burst['succeeded']} launched were all ready with their files "
        f"{burst['all_ready']:.1f} s after the burst began; stopping them all took "
        f"{result['stop_all_seconds']:.1f} s.",
    ]
    cpu = result.get("cpu")
    if cpu and cpu["server_start_seconds_median"] is not None:
        rows.append(
            f"- CPU: a server's start took {cpu['server_start_seconds_median']} CPU "
            f"s (median), the burst's servers {cpu['servers_total_seconds']} CPU s "
            f"together, at least {cpu['floor_seconds_on_all_cores']} s on "
            f"{result['cpus']} cores; the hub and proxy used "
            f"{cpu['hub_and_proxy_seconds']} CPU s during the burst"
            + (
                f" (hub {cpu['hub_seconds']}, proxy {cpu['proxy_seconds']})"
                if "hub_seconds" in cpu
                else ""
            )
            + (
                f", the fork server {cpu['fork_server_seconds']} CPU s"
                if "fork_server_seconds" in cpu
                else ""
            )
            + (
                f"; the site's side (this script) {cpu['site_seconds']} CPU s."
                if "site_seconds" in cpu
                else "."
            )
        )
    if cpu and "burst_total_seconds" in cpu:
        rows.append(
            f"- The whole burst took {cpu['burst_total_seconds']} CPU s "
            f"({cpu['burst_total_per_launch_seconds']} a launch: servers, hub, "
            f"proxy, fork server, site), so it cannot end before "
            f"{cpu['burst_floor_seconds']} s on {result['cpus']} cores: a ratio of "
            f"at least {cpu['ratio_floor']} against this single p95. At this CPU "
            f"per launch the target needs about {cpu['cores_for_target']} cores."
        )
    rows += [
        "",
        "| memory, MB (RSS) | hub | proxy | hub + proxy | per server (median, "
        "min–max) | servers' USS median |",
        "|---|---|---|---|---|---|",
        f"| 0 servers | {idle['hub_mb']} | {idle['proxy_mb']} | "
        f"{idle['hub_and_proxy_mb']} | | |",
    ]
    rows.append(
        f"| 10 ready, mid-burst (others starting) | | | "
        f"{burst['hub_and_proxy_mb_at_10_ready']} | | |"
    )
    rows.append(
        f"| {full['servers_running']} servers, settled | {full['hub_mb']} | "
        f"{full['proxy_mb']} | {full['hub_and_proxy_mb']} | "
        + (
            f"{full['server_rss_mb']['median']} ({full['server_rss_mb']['min']}–"
            f"{full['server_rss_mb']['max']}) | {full['server_uss_mb_median']} |"
            if "server_rss_mb" in full
            else " | |"
        )
    )
    rows += [
        "",
        f"- Fork server: {'on' if result.get('fork_server', False) else 'off'}"
        + (
            f", {full['fork_server_mb']} MB RSS (shared with the servers it forked)."
            if full.get("fork_server_mb")
            else "."
        ),
        f"- Hub + proxy per 10 running servers: "
        f"**{memory.get('hub_and_proxy_mb_per_10_servers', 'n/a')} MB** "
        f"((settled at {full['servers_running']} − at 0) × 10 / "
        f"{full['servers_running']}); peak during the burst "
        f"{burst['hub_and_proxy_mb_peak']} MB; the servers together peaked at "
        f"{burst['servers_mb_peak']} MB.",
    ]
    return "\n".join(rows)


# --- Report -------------------------------------------------------------------------


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "samples": [round(s, 4) for s in samples],
        "median": round(statistics.median(samples), 4),
        "min": round(min(samples), 4),
        "max": round(max(samples), 4),
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        f"Lab launch, {result['rounds']} rounds "
        f"(+{result['warmup']} warm-up), poll {result['poll']:g} s",
        f"{'variant':<10} {'median s':>9} {'min s':>8} {'max s':>8}",
    ]
    for variant in ("baseline", "site"):
        stats = result[variant]
        rows.append(
            f"{variant:<10} {stats['median']:>9.3f} {stats['min']:>8.3f} "
            f"{stats['max']:>8.3f}"
        )
    verdict = "met" if result["target_met"] else "NOT met"
    rows.append(
        f"ratio median(site)/median(baseline) = {result['ratio']:.3f} "
        f"(target <= {TARGET_RATIO:g}: {verdict})"
    )
    phases = result["site_phases"]
    rows.append(
        f"site medians: to a ready server {phases['to_ready']['median']:.3f} s, "
        f"placing the files {phases['place']['median']:.3f} s"
    )
    return "\n".join(rows)


@contextlib.contextmanager
def output_to(path: Path):
    """Send this process's stdout and stderr (file descriptors, so nbgrader's
    kernels too) to ``path``; on failure, show its tail."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("w") as file:
        os.dup2(file.fileno(), 1)
        os.dup2(file.fileno(), 2)
        try:
            yield
        except BaseException:
            restore = True
            raise
        else:
            restore = False
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            if restore:
                tail = path.read_text(errors="replace").splitlines()[-40:]
                log("\n".join(tail))


def run(args: argparse.Namespace, hub: Hub, var_dir: Path, started: list) -> dict:
    hub.start()
    # The hub starts while the site migrates and publishes the lab (~15 s each).
    log("Setting up the site database and publishing the tiny lab...")
    with output_to(var_dir / "setup.log"):
        django_setup(var_dir=var_dir, hub=hub)
        lab, trainees = site_prepare(users=args.rounds + args.warmup)
    hub.wait_ready()
    log(f"Hub ready at {hub.url}")

    times: dict[str, list[float]] = {"baseline": [], "site": []}
    phases: dict[str, list[float]] = {"to_ready": [], "place": []}
    with (
        httpx.Client(
            headers={"Authorization": f"token {hub.token}"}, timeout=10
        ) as client,
        PlaceTimer() as timer,
    ):
        for index in range(args.warmup + args.rounds):
            warm = index < args.warmup
            name = f"bench-base-{index}"
            trainee = trainees[index]

            def baseline(name: str = name) -> dict[str, float]:
                started.append(("baseline", name))
                elapsed = baseline_launch(client, hub, name, args.poll)
                baseline_stop(client, hub, name, args.poll)
                return {"total": elapsed}

            def site(trainee: Any = trainee) -> dict[str, float]:
                started.append(("site", trainee))
                measured = site_launch(trainee, lab, args.poll, timer)
                site_stop(trainee, args.poll)
                return measured

            # Alternate which goes first, so neither always follows the other.
            order = [("baseline", baseline), ("site", site)]
            if index % 2:
                order.reverse()
            line = []
            for variant, measure in order:
                measured = measure()
                line.append(f"{variant} {measured['total']:.3f} s")
                if not warm:
                    times[variant].append(measured["total"])
                    for phase in phases:
                        if phase in measured:
                            phases[phase].append(measured[phase])
            label = "warm-up" if warm else f"round {index - args.warmup + 1}"
            log(f"{label}: " + ", ".join(line))

    baseline, site = summary(times["baseline"]), summary(times["site"])
    ratio = site["median"] / baseline["median"]
    return {
        "rounds": args.rounds,
        "warmup": args.warmup,
        "poll": args.poll,
        "baseline": baseline,
        "site": site,
        "site_phases": {phase: summary(values) for phase, values in phases.items()},
        "ratio": round(ratio, 4),
        "target": TARGET_RATIO,
        "target_met": ratio <= TARGET_RATIO,
    }


def cleanup(hub: Hub, var_dir: Path, started: list) -> None:
    """Stop any server a round left running, then the hub; remove the temp dirs."""
    if hub.process is not None and hub.process.poll() is None:
        for variant, who in started:
            with contextlib.suppress(Exception):
                if variant == "baseline":
                    httpx.delete(
                        f"{hub.api}/users/{who}/server",
                        headers={"Authorization": f"token {hub.token}"},
                        timeout=5,
                    )
                else:
                    from labs import hub as hub_client

                    hub_client.server_stop(hub_client.hub_username(who.pk))
    hub.stop()
    if "django" in sys.modules and os.environ.get("VAR_DIR") == str(var_dir):
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
    shutil.rmtree(var_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds (1)")
    parser.add_argument(
        "--poll", type=float, default=0.1, help="hub polling interval, s (0.1)"
    )
    parser.add_argument(
        "--follow",
        choices=("progress", "poll"),
        default="progress",
        help="--burst: how a launch waits for its server: the hub's progress "
        "stream, as the lab page does (progress), or status every --poll s",
    )
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")
    parser.add_argument(
        "--burst",
        type=int,
        default=0,
        help="launches at once against single launches (0: the default comparison)",
    )
    parser.add_argument(
        "--no-fork-server",
        action="store_true",
        help="--burst: start every server from scratch (HUB_FORK_SERVER=0)",
    )
    parser.add_argument(
        "--singles", type=int, default=3, help="single launches before and after (3)"
    )
    parser.add_argument(
        "--spawn-limit",
        type=int,
        default=int(os.environ.get("HUB_CONCURRENT_SPAWN_LIMIT", "20")),
        help="the hub's concurrent spawn limit (settings' default, 20)",
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / "bench" / "results"),
        help="where lab_launch.json and .md go ('' not to write them)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0 or args.poll <= 0:
        parser.error("--rounds must be >= 1, --warmup >= 0 and --poll > 0")
    if args.burst < 0 or args.singles < 1:
        parser.error("--burst must be >= 0 and --singles >= 1")
    args.load_before = [round(x, 2) for x in os.getloadavg()]

    # SIGTERM unwinds like Ctrl-C, so the finally below always cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    hub = Hub(spawn_limit=args.spawn_limit, fork_server=not args.no_fork_server)
    var_dir = Path(tempfile.mkdtemp(prefix="bench-var-", dir="/tmp"))  # noqa: S108
    started: list = []
    try:
        if args.burst:
            result = run_burst(args, hub, var_dir, started)
        else:
            result = run(args, hub, var_dir, started)
    except KeyboardInterrupt:
        log("Interrupted.")
        return 130
    finally:
        log("Cleaning up...")
        # A second Ctrl-C would leave the hub and its servers behind: finish first.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cleanup(hub, var_dir, started)
    key = "site_against_bare_spawn"
    if args.burst:
        key = "burst_without_fork_server" if args.no_fork_server else "burst"
    text = burst_table(result) if args.burst else table(result)
    if args.out:
        results_write(Path(args.out), key, result)
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


def results_write(out: Path, key: str, result: dict[str, Any]) -> None:
    """Keep each mode's latest figures side by side in lab_launch.json and .md."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "lab_launch.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[key] = result
    path.write_text(json.dumps(saved, indent=2) + "\n")
    parts = ["# Lab launch"]
    if "site_against_bare_spawn" in saved:
        parts += [
            "## The site against a bare REST spawn",
            "```\n" + table(saved["site_against_bare_spawn"]) + "\n```",
        ]
    for burst in ("burst", "burst_without_fork_server"):
        if burst in saved:
            parts.append(burst_table(saved[burst]))
    (out / "lab_launch.md").write_text("\n\n".join(parts) + "\n")


if __name__ == "__main__":
    sys.exit(main())
