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
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
LAB_SOURCES = ROOT / "tests" / "labs" / "data"
TARGET_RATIO = 1.2
HUB_START_DEADLINE = 90.0
SPAWN_DEADLINE = 120.0  # above the hub's own HUB_SPAWN_TIMEOUT (90 s)
STOP_DEADLINE = 60.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Hub:
    """A real JupyterHub started as tests/labs/conftest.py's ``hub`` fixture does."""

    def __init__(self) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="bench-hub-", dir="/tmp"))  # noqa: S108
        self.url = f"http://127.0.0.1:{free_port()}"
        self.api = f"{self.url}/hub/api"
        self.token = secrets.token_hex(24)
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self) -> None:
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
        }
        self._log = (self.state / "hub.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603
            [
                str(bin_dir / "jupyterhub"),
                "-f",
                str(ROOT / "labs" / "jupyterhub_config.py"),
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
        self.calls: list[float] = []

    def __enter__(self) -> PlaceTimer:
        def timed(**kwargs: Any) -> None:
            start = time.perf_counter()
            try:
                return self.original(**kwargs)
            finally:
                self.calls.append(time.perf_counter() - start)

        self.services.lab_files_place = timed
        return self

    def __exit__(self, *exc: object) -> None:
        self.services.lab_files_place = self.original


def site_launch(user: Any, lab: Any, poll: float, timer: PlaceTimer) -> dict:
    """Seconds from ``lab_launch`` to a ready server with the lab's files placed,
    and how much of it was ``lab_files_place``."""
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
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0 or args.poll <= 0:
        parser.error("--rounds must be >= 1, --warmup >= 0 and --poll > 0")

    # SIGTERM unwinds like Ctrl-C, so the finally below always cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    hub = Hub()
    var_dir = Path(tempfile.mkdtemp(prefix="bench-var-", dir="/tmp"))  # noqa: S108
    started: list = []
    try:
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
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
