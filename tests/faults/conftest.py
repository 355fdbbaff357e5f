"""A platform of the fault tests' own, whose services a test can break: a
PostgreSQL cluster, a redis-server, the web process (uvicorn) on them, Celery
workers, and a tiny tmpfs for media.

The machine's shared PostgreSQL and Redis are never stopped, filled or flushed. The
cluster, Redis and the web process are started once for the session (each test
puts back what it broke, and checks the others' survived); workers are each test's
own. The tests never touch the suite's Django test database: they talk to the
platform over HTTP, as a browser or a client would, and read its database with
SQL. They run only with ``--production`` (.ci/run's production stage): they need
root (mount, a cluster run as ``nobody``) and PostgreSQL's server binaries.

The schema is made from the models (``migrate --run-syncdb`` with migrations off):
running the ~100 migrations takes over a minute here, and what the faults test
does not depend on how the tables came to be.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import NOT_INHERITED
from tests.grading.conftest import DATA, grading_release  # noqa: F401
from tests.grading.test_worker import Worker

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WAIT = 120  # seconds: the bound on any wait for a grading or a service


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"waited {timeout:g} s for {what}")


# --- Redis ------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A redis-server on a free loopback port, without persistence."""

    port: int
    folder: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server", path=str(BIN)) or "redis-server"
        self.process = subprocess.Popen(  # noqa: S603
            [server, "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self.answers, f"redis-server on port {self.port}", 30)

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """SHUTDOWN NOSAVE: everything in it (queues, groups, cache) is gone."""
        import redis

        if self.process is None:
            return
        with contextlib.suppress(redis.RedisError):
            redis.Redis(port=self.port, socket_timeout=2).shutdown(nosave=True)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


# --- PostgreSQL -------------------------------------------------------------------


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster of the test's own, run as ``nobody`` (initdb refuses
    root), trust authentication on a free loopback port."""

    bin: Path
    data: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(  # noqa: S603
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
            + [str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60"]
            + list(args),
            check=True,
            capture_output=True,
            timeout=90,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        self._ctl("-o", options, "-l", str(self.data / "server.log"), "start")

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: open connections are cut, new ones refused."""
        self._ctl("-m", "fast", "stop")

    def sql(self, statement: str, params=(), database: str = "postgres"):
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else None


def postgres_start(data: Path) -> PostgresCluster:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.fail(
            "PostgreSQL's server binaries are missing (apt-get install postgresql)"
        )
    data.mkdir(mode=0o700)
    shutil.chown(data, "nobody", "nogroup")
    subprocess.run(  # noqa: S603
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        + [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres"]
        + ["--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with (data / "postgresql.conf").open("a") as conf:  # scratch data: speed
        conf.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
    cluster = PostgresCluster(bin=bin_dir, data=data, port=free_port())
    cluster.start()
    return cluster


# --- The platform -------------------------------------------------------------------

PASSWORD = "faults-password-42"
USERS = ("killed", "redis", "postgres", "storage")
SETUP = """
import os
import shutil
from pathlib import Path

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management import call_command
from wagtail.models import Locale

from labs.models import Lab
from labs.services import _source_digest, lab_release_dir
from lms.accounts.models import User

call_command("migrate", run_syncdb=True, verbosity=0)
for code in ("en", "zh-hans"):
    Locale.objects.get_or_create(language_code=code)
for name in os.environ["FAULTS_USERS"].split():
    user = User.objects.create_user(
        name, f"{name}@example.org", os.environ["FAULTS_PASSWORD"], role="trainee"
    )
    EmailAddress.objects.create(
        user=user, email=user.email, verified=True, primary=True
    )
data = Path(os.environ["LABS_SOURCE_DIR"])
lab = Lab.objects.create(
    slug="grading-lab",
    title="Grading lab",
    notebook="grading-lab.ipynb",
    data_files=["data/qty.csv"],
    points=5,
    pass_mark=60,
    max_attempts=10,
    source_sha256=_source_digest(
        data / "grading-lab", ["grading-lab.ipynb", "data/qty.csv"]
    ),
    status=Lab.Status.PUBLISHED,
)
shutil.copytree(os.environ["FAULTS_RELEASE"], lab_release_dir(lab))
"""
SYNCDB = """
from django.conf import settings


class Off(dict):
    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        return None


settings.MIGRATION_MODULES = Off()  # the schema from the models, at once
import django

django.setup()
"""


@dataclass
class Platform:
    var_dir: Path
    postgres: PostgresCluster
    redis: RedisServer
    url: str = ""
    web: subprocess.Popen | None = None
    web_log: Path | None = None
    lab: str = "grading-lab"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env.update(
            DJANGO_SETTINGS_MODULE="lms.settings_test",
            VAR_DIR=str(self.var_dir),
            DATABASE_URL=self.postgres.url("silkroute"),
            REDIS_URL=self.redis.url,
            LABS_SOURCE_DIR=str(DATA),
            HUB_ENABLED="false",
            PATH=f"{BIN}:{os.environ.get('PATH', '')}",
            WEB_WORKERS="1",
            **extra,
        )
        return env

    def sql(self, statement: str, params=()) -> list[tuple]:
        return self.postgres.sql(statement, params, database="silkroute") or []

    def submissions(self, user: str) -> list[dict]:
        """``user``'s submissions, by attempt, with how many cell grades each has."""
        keys = ("id", "attempt", "status", "score", "deliveries", "grader", "unsent")
        rows = self.sql(
            f"SELECT {', '.join(f's.{key}' for key in keys)}, (SELECT count(*)"  # noqa: S608
            " FROM grading_cellgrade c WHERE c.submission_id = s.id)"
            " FROM grading_submission s JOIN accounts_user u ON u.id = s.user_id"
            " WHERE u.username = %s ORDER BY s.attempt",
            [user],
        )
        return [dict(zip((*keys, "cells"), row, strict=True)) for row in rows]

    def notebook(self, answers: dict[str, str], *, padding: int = 0) -> bytes:
        """The lab's release with ``answers`` (grade_id → source) put in."""
        release = self.var_dir / "labs" / self.lab / "v1" / "grading-lab.ipynb"
        notebook = json.loads(release.read_text())
        for cell in notebook["cells"]:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in answers:
                cell["source"] = answers[grade_id]
        if padding:
            notebook["metadata"]["padding"] = "x" * padding
        return json.dumps(notebook).encode()

    def submit(self, client: httpx.Client, token: str, data: bytes) -> int:
        """Hand ``data`` in through the API; the new submission's id."""
        answer = client.post(
            f"/api/v1/labs/{self.lab}/submissions",
            files={"notebook": ("lab.ipynb", data)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def submission(self, pk: int) -> dict:
        keys = ("id", "status", "score", "deliveries", "grader", "unsent", "error")
        row = self.sql(
            f"SELECT {', '.join(keys)}, (SELECT count(*) FROM grading_cellgrade"  # noqa: S608
            " WHERE submission_id = %s) FROM grading_submission WHERE id = %s",
            [pk, pk],
        )[0]
        return dict(zip((*keys, "cells"), row, strict=True))

    def graded(self, pk: int, *logs: Worker, timeout: float = WAIT) -> dict:
        """Wait for submission ``pk`` to be graded (or in error); its row."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.submission(pk)
            if row["status"] in ("graded", "error"):
                assert row["status"] == "graded", row
                return row
            time.sleep(0.3)
        outputs = "\n".join(worker.output() for worker in logs)
        pytest.fail(f"submission {pk} was not graded in {timeout:g} s:\n{outputs}")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)

    def web_answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False


def _web_start(platform: Platform) -> None:
    from lms.management.commands.runplatform import web_command

    port = free_port()
    platform.url = f"http://127.0.0.1:{port}"
    platform.web_log = platform.var_dir / "web.log"
    platform.web = subprocess.Popen(  # noqa: S603
        web_command(BIN, "127.0.0.1", port),
        cwd=ROOT,
        env=platform.env(),
        stdout=platform.web_log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture(scope="session")
def platform(grading_release) -> Iterator[Platform]:  # noqa: F811
    """The session's platform: cluster, Redis and web process, with four trainees
    (one per test, password ``PASSWORD``) and the published grading lab."""
    var_dir = Path(tempfile.mkdtemp(prefix="faults-"))
    var_dir.chmod(0o711)  # the cluster's user passes through to its own folder
    redis_server = RedisServer(port=free_port(), folder=var_dir)
    redis_server.start()
    cluster = None
    platform = None
    try:
        cluster = postgres_start(var_dir / "pg")
        cluster.sql("CREATE DATABASE silkroute")
        platform = Platform(var_dir=var_dir, postgres=cluster, redis=redis_server)
        _web_start(platform)  # it needs no table until the first request
        setup = subprocess.run(  # noqa: S603
            [sys.executable, "-c", SYNCDB + SETUP],
            cwd=ROOT,
            env=platform.env(
                FAULTS_USERS=" ".join(USERS),
                FAULTS_PASSWORD=PASSWORD,
                FAULTS_RELEASE=str(grading_release),
            ),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert setup.returncode == 0, setup.stdout + setup.stderr
        wait_for(platform.web_answers, "the web process", 180)
        yield platform
    finally:
        if platform is not None and platform.web is not None:
            process_stop(platform.web)
        if cluster is not None:
            with contextlib.suppress(subprocess.SubprocessError):
                cluster._ctl("-m", "immediate", "stop")
        redis_server.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


@pytest.fixture
def workers(platform) -> Iterator[Callable[..., Worker]]:
    """Start Celery workers on the platform; all are stopped after the test. Their
    logs are in the platform's folder (pytest's own may be pruned meanwhile by
    another pytest on this machine)."""
    started: list[Worker] = []
    logs = platform.var_dir / "logs"
    logs.mkdir(exist_ok=True)

    def start(**env: str) -> Worker:
        started.append(worker_start(logs, platform.env(**env)))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


def worker_start(log_dir: Path, env: dict[str, str]) -> Worker:
    """`celery worker` (prefork, one pool process); returns once it is ready, which
    is after its start-up sweep."""
    name = f"faults-{uuid.uuid4().hex[:8]}@test"
    log = log_dir / f"{name}.log"
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "lms", "worker", "--pool", "prefork"]
        + ["--concurrency", "1", "--without-gossip", "--without-mingle"]
        + ["-n", name, "--loglevel", "INFO"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = Worker(process, name, log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        if f"{name} ready." in worker.output():
            return worker
        time.sleep(0.2)
    worker.stop()
    pytest.fail(f"the worker did not start:\n{worker.output()}")


def process_stop(process: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)


# --- A signed-in trainee ------------------------------------------------------------

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_token(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text[:2000]
    return CSRF.search(page.text).group(1)


def sign_in(client: httpx.Client, username: str) -> httpx.Response:
    """The login form, as a browser posts it."""
    token = csrf_token(client, "/en/accounts/login/")
    return client.post(
        "/en/accounts/login/",
        data={"login": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{client.base_url}/en/accounts/login/"},
    )


def api_token(client: httpx.Client, username: str) -> str:
    answer = client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


# --- A tmpfs ------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` over ``mount`` meanwhile; unmounted whatever happens."""
    if os.geteuid() != 0:
        pytest.fail("mounting a tmpfs needs root (CI runs as root)")
    mount.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "faults"]
    subprocess.run(  # noqa: S603
        [*command, str(mount)],
        check=True,
        capture_output=True,
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)  # noqa: S603, S607


# --- The broker's queue --------------------------------------------------------------


def queue_purge(redis_url: str, queue: str = "celery") -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{queue}*"):
        client.delete(key)


def queue_length(redis_url: str, queue: str = "celery") -> int:
    """Messages waiting in ``queue`` on a Redis broker (kombu's list per priority)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    return sum(
        client.llen(key)
        for key in client.scan_iter(f"{queue}*")
        if client.type(key) == b"list"
    )
