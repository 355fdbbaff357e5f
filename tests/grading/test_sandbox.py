"""The grading sandbox's guarantees, each asserted from code run inside a graded
notebook.

tests/grading/data/sandbox-lab has one probe per guarantee: a solution cell where
the "trainee" tries the forbidden thing and sets ``blocked_<probe>``, and a locked
test (1 point) asserting the attempt failed. One notebook carrying every probe is
graded once for the module; each test below reads its probe's points.
"""

import contextlib
import os
import shutil
import time
from pathlib import Path

import psutil
import pytest
from django.conf import settings
from django.test import override_settings

from grading import executor, sandbox
from grading.nbgrader import submission_grade
from labs.models import Lab
from labs.services import _source_digest

pytestmark = pytest.mark.engine_free

DATA = Path(__file__).parent / "data"
SECRETS = {
    "SECRET_KEY": "sandbox-test-secret",
    "DATABASE_URL": "postgres://user:sandbox-test-secret@127.0.0.1/db",
    "JUPYTERHUB_API_TOKEN": "sandbox-test-secret",
}


def sandbox_lab() -> Lab:
    files = ["sandbox-lab.ipynb"]
    return Lab(
        slug="sandbox-lab",
        title="Sandbox lab",
        notebook="sandbox-lab.ipynb",
        data_files=[],
        points=11,
        version=1,
        source_sha256=_source_digest(DATA / "sandbox-lab", files),
    )


def probes(other_job: Path) -> dict[str, str]:
    """The trainee's side of each probe: try, and record whether it was blocked."""
    base = Path(settings.BASE_DIR)
    var = Path(settings.VAR_DIR)
    databases = [str(var / "db.sqlite3")] + [
        str(name)
        for db in settings.DATABASES.values()
        for name in (db.get("NAME"), db.get("TEST", {}).get("NAME"))
        if name and "sqlite" in db.get("ENGINE", "")
    ]
    sockets = [str(settings.REDIS_SOCKET), os.environ.get("LMS_TEST_REDIS_SOCKET", "")]

    def unreadable(name: str, paths: list[str]) -> str:
        return (
            f"blocked_{name} = True\n"
            f"for path in {paths!r}:\n"
            "    try:\n"
            "        with open(path, 'rb') as handle:\n"
            "            handle.read(16)\n"
            f"        blocked_{name} = False\n"
            "    except OSError:\n"
            "        pass\n"
        )

    return {
        "database": unreadable("database", databases),
        "secrets": unreadable("secrets", [str(var / "secret_key"), str(base / ".env")]),
        "lab_source": unreadable(
            "lab_source",
            [
                str(
                    Path(settings.LABS_SOURCE_DIR) / "sandbox-lab" / "sandbox-lab.ipynb"
                ),
                str(base / "labs" / "notebooks" / "landed-cost" / "landed-cost.ipynb"),
                str(base / ".git" / "HEAD"),
                str(var / "grading" / "templates"),
            ],
        ),
        "grading_files": unreadable(
            "grading_files",
            [
                "../../../gradebook.db",
                "../../../source/sandbox-lab/sandbox-lab.ipynb",
                "sandbox-lab.ipynb",  # the graded notebook, hidden tests restored
            ],
        )
        + (
            "try:\n"
            "    os.listdir('../../../source')\n"
            "    blocked_grading_files = False\n"
            "except OSError:\n"
            "    pass\n"
        ),
        "other_job": unreadable(
            "other_job", [str(other_job / "course" / "submitted" / "their.ipynb")]
        )
        + (
            "try:\n"
            f"    if {other_job.name!r} in os.listdir({str(other_job.parent)!r}):\n"
            "        blocked_other_job = False\n"
            "except OSError:\n"
            "    pass\n"
        ),
        "network": (
            "blocked_network = True\n"
            "for port in (6379, 5432, 8000, 8081):\n"
            "    try:\n"
            "        socket.create_connection(('127.0.0.1', port), timeout=1).close()\n"
            "        blocked_network = False\n"
            "    except OSError:\n"
            "        pass\n"
        ),
        "unix_socket": (
            "blocked_unix_socket = True\n"
            f"for path in {[s for s in sockets if s]!r}:\n"
            "    client = socket.socket(socket.AF_UNIX)\n"
            "    try:\n"
            "        client.connect(path)\n"
            "        blocked_unix_socket = False\n"
            "    except OSError:\n"
            "        pass\n"
            "    client.close()\n"
        ),
        "identity": (
            f"base, count = {settings.GRADING_UID_BASE}, {settings.GRADING_UID_COUNT}\n"
            "blocked_identity = (\n"
            "    os.geteuid() != 0 and os.getegid() != 0\n"
            "    and base <= os.geteuid() < base + count and os.getgroups() == []\n"
            ")\n"
        ),
        "environment": (
            f"blocked_environment = not any(k in os.environ for k in {list(SECRETS)!r})"
            "\nblocked_environment &= not any("
            "'sandbox-test-secret' in v for v in os.environ.values())\n"
        ),
        "processes": (
            "import subprocess\n"
            "children = []\n"
            "blocked_processes = False\n"
            "try:\n"
            f"    for _ in range({settings.GRADING_MAX_PROCESSES + 10}):\n"
            "        children.append(subprocess.Popen(['sleep', '30']))\n"
            "except OSError:\n"
            "    blocked_processes = True\n"
            "for child in children:\n"
            "    child.kill()\n"
            "    child.wait()\n"
        ),
        "memory": (
            "blocked_memory = False\n"
            "try:\n"
            f"    block = b'x' * ({settings.GRADING_MEMORY_MB * 2} * 2**20)\n"
            "except MemoryError:\n"
            "    blocked_memory = True\n"
        ),
    }


def notebook_with_probes(lab: Lab, answers: dict[str, str]) -> bytes:
    import json

    notebook = json.loads((DATA / "sandbox-lab" / lab.notebook).read_text())
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return json.dumps(notebook).encode()


@pytest.fixture(scope="module")
def probed():
    """Grade the probe notebook once (strict sandbox), with secrets planted in the
    worker's environment; what the sandbox was and how grading went."""
    if os.geteuid() != 0:
        pytest.skip("the strict sandbox needs root")
    closed: list[sandbox.Sandbox] = []
    close = sandbox.Sandbox.close

    def recording_close(box):
        closed.append((box.uid, list(box.cgroups), box.job_dir))
        close(box)

    saved_env = {k: os.environ.get(k) for k in SECRETS}
    with override_settings(
        LABS_SOURCE_DIR=DATA,
        GRADING_SANDBOX="strict",
        GRADING_CELL_TIMEOUT=10,
        GRADING_JOB_TIMEOUT=40,
        GRADING_MEMORY_MB=512,
    ):
        other = sandbox.Sandbox.open(name="other-trainee")
        try:
            submitted = other.job_dir / "course" / "submitted"
            submitted.mkdir(parents=True)
            os.chmod(other.job_dir / "course", 0o711)  # noqa: S103 (as a real job)
            os.chmod(submitted, 0o700)
            (submitted / "their.ipynb").write_text("their work")
            os.environ.update(SECRETS)
            sandbox.Sandbox.close = recording_close
            lab = sandbox_lab()
            grading = submission_grade(
                lab=lab, notebook=notebook_with_probes(lab, probes(other.job_dir))
            )
        finally:
            sandbox.Sandbox.close = close
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            other.close()
    assert grading.ok, grading.error[-2000:]
    return grading, closed


def points(probed, probe: str) -> float:
    grading, _closed = probed
    outcome = next(c for c in grading.cells if c.grade_id == f"{probe}_tests")
    return outcome.points


def test_the_kernel_cannot_read_the_sites_database(probed):
    """The SQLite files (development and test database) are out of sight."""
    assert points(probed, "database") == 1


def test_the_kernel_cannot_read_secrets(probed):
    """var/secret_key and the project's .env are out of sight."""
    assert points(probed, "secrets") == 1


def test_the_kernel_cannot_read_lab_sources_or_their_history(probed):
    """LABS_SOURCE_DIR (solutions, hidden tests), the shipped labs, .git and the
    cached grading templates are out of sight."""
    assert points(probed, "lab_source") == 1


def test_the_kernel_cannot_read_its_own_jobs_grading_files(probed):
    """This job's gradebook, source copy and graded notebook (which holds the
    restored hidden tests) are root's alone."""
    assert points(probed, "grading_files") == 1


def test_the_kernel_cannot_read_another_jobs_folder(probed):
    """Another grading's submitted notebook can be neither listed nor read."""
    assert points(probed, "other_job") == 1


def test_the_kernel_cannot_connect_to_local_services(probed):
    """No network: 127.0.0.1 (site, Redis, PostgreSQL, hub) is unreachable."""
    assert points(probed, "network") == 1


def test_the_kernel_cannot_reach_the_redis_unix_socket(probed):
    """Path-based sockets would cross a network namespace; /run and var/ are
    hidden, so the Redis socket is not there."""
    assert points(probed, "unix_socket") == 1


def test_the_kernel_runs_as_an_unprivileged_pool_uid(probed):
    """Not root, no supplementary groups, a uid of the grading pool."""
    assert points(probed, "identity") == 1


def test_the_kernel_gets_none_of_the_workers_environment(probed):
    """SECRET_KEY, DATABASE_URL and the hub token, set in the worker, are absent."""
    assert points(probed, "environment") == 1


def test_the_process_limit_applies(probed):
    """Starting more than GRADING_MAX_PROCESSES processes fails."""
    assert points(probed, "processes") == 1


def test_the_memory_limit_applies(probed):
    """Filling twice GRADING_MEMORY_MB fails: a MemoryError, or the kernel is
    killed (then the probe's test is not run and the job says the kernel died)."""
    grading, _closed = probed
    outcome = next(c for c in grading.cells if c.grade_id == "memory_tests")
    assert outcome.points == 1 or (
        grading.kernel_died and outcome.error_name == executor.NOT_RUN
    )


def test_nothing_of_the_job_survives_it(probed):
    """After the job: no process of its uid, no cgroup, no folder."""
    _grading, closed = probed
    assert closed
    for uid, groups, job_dir in closed:
        assert uid is not None
        assert (
            not [  # zombies have exited: they wait to be reaped, nothing more
                p
                for p in psutil.process_iter(["uids", "status"])
                if uid in (p.info["uids"] or ())
                and p.info["status"] != psutil.STATUS_ZOMBIE
            ]
        )
        assert groups and not any(group.exists() for group in groups)
        assert not job_dir.exists()


def test_without_root_the_sandbox_falls_back_to_rlimits(
    grading_lab, settings, monkeypatch
):
    """GRADING_SANDBOX=rlimits (what a non-root worker gets): grading works, the
    kernel runs under rlimits, and its process group is killed after the job. Not
    a security boundary (see docs/grading.md)."""
    from tests.grading.helpers import RIGHT, as_bytes, notebook_with

    settings.GRADING_SANDBOX = "rlimits"
    settings.GRADING_CELL_TIMEOUT = 5
    settings.GRADING_JOB_TIMEOUT = 20
    marker = "307.25"
    answers = {
        **RIGHT,
        "double": RIGHT["double"]
        + "\nimport resource, subprocess\n"
        + f"subprocess.Popen(['sleep', '{marker}'])\n"
        + "assert resource.getrlimit(resource.RLIMIT_AS)[0] > 0\n",
    }
    grading = submission_grade(
        lab=grading_lab, notebook=as_bytes(notebook_with(grading_lab, answers))
    )
    assert grading.ok
    assert {c.grade_id: c.points for c in grading.cells}["double_tests"] == 2
    time.sleep(0.2)
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"] and marker in p.info["cmdline"]
    ]


def test_the_sandbox_refuses_strict_mode_it_cannot_provide(settings, monkeypatch):
    """GRADING_SANDBOX=strict without the tools is a SandboxError (an
    infrastructure error, retried), never a silent downgrade."""
    settings.GRADING_SANDBOX = "strict"
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    with pytest.raises(sandbox.SandboxError, match="needs root"):
        sandbox.mode()


def _sleeper_in(box: sandbox.Sandbox) -> psutil.Process:
    """A process of the job, as its kernel would be: working in the job's folder,
    in its cgroups."""
    import subprocess

    process = subprocess.Popen(  # noqa: S603
        ["sleep", "600"],  # noqa: S607
        cwd=box.job_dir / "home",
        start_new_session=True,
    )
    for group in box.cgroups:
        (group / "cgroup.procs").write_text(str(process.pid))
    return psutil.Process(process.pid)


def _die(box: sandbox.Sandbox) -> None:
    """What the kernel does for a worker process killed mid-grading: its
    descriptors close, so its locks go; Sandbox.close never runs."""
    for name in ("_dir_fd", "_lock_fd"):
        fd = getattr(box, name)
        if fd is not None:
            os.close(fd)
            setattr(box, name, None)


def test_the_next_job_sweeps_what_a_dead_jobs_worker_left(settings):
    """A job whose worker died leaves its folder (the notebook, the lab's source),
    cgroups and kernel; the next job to open removes all three, and leaves a live
    job's folder alone."""
    settings.GRADING_SANDBOX = "auto"
    dead = sandbox.Sandbox.open(name="dead")
    alive = sandbox.Sandbox.open(name="alive")
    kernel = _sleeper_in(dead)
    (dead.job_dir / "home" / "solution.ipynb").write_text("hidden tests")
    _die(dead)

    nxt = sandbox.Sandbox.open(name="next")
    try:
        assert not dead.job_dir.exists()
        assert not any(group.exists() for group in dead.cgroups)
        kernel.wait(timeout=5)  # killed (raises TimeoutExpired if still running)
        assert alive.job_dir.is_dir() and nxt.job_dir.is_dir()
        assert sandbox.orphans_sweep() == []
    finally:
        for box in (alive, nxt):
            box.close()
        with contextlib.suppress(psutil.Error):
            kernel.kill()


def test_a_sweep_removes_cgroups_whose_job_folder_is_gone():
    """A grading cgroup without its job folder (a sweep cut short) goes too."""
    groups = [
        sandbox.CGROUP_ROOT / controller / "silkroute-grading" / "ghost-0123"
        for controller in ("memory", "pids")
    ]
    try:
        for group in groups:
            group.mkdir(parents=True)
    except OSError:
        pytest.skip("no writable cgroup controllers here")
    sandbox.orphans_sweep()
    assert not any(group.exists() for group in groups)


def test_graders_with_different_work_folders_share_the_uid_locks(tmp_path):
    """The uid pool is the machine's: a worker with another GRADING_WORK_DIR takes
    its uids from the same locks (as root), so it cannot take, and kill the
    processes of, a uid another worker's job holds."""
    if os.geteuid() != 0:
        pytest.skip("the strict sandbox's uid pool needs root")
    with override_settings(GRADING_WORK_DIR=tmp_path / "one"):
        first = sandbox.uid_lock_dir()
    with override_settings(GRADING_WORK_DIR=tmp_path / "two"):
        second = sandbox.uid_lock_dir()
    assert first == second == sandbox.UID_LOCK_DIR
    assert not first.is_relative_to(tmp_path)
