"""A real JupyterHub for the labs tests: the project's own config, free ports, a
temporary state directory, stopped at the end of the session."""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def hub():
    """Start jupyterhub -f labs/jupyterhub_config.py; yield its URL and the token."""
    yield from start_hub()


def start_hub(config: str = "", **extra_env: str):
    """Run the project's hub config on free ports; a generator yielding its facts.
    ``config``: lines of hub config to apply after the project's."""
    running = HubProcess(config=config, **extra_env)
    running.start()
    yield running.facts
    running.stop()


class HubProcess:
    """The project's hub on free ports and a temporary state folder, which a test
    may kill and start again on the same state (``kill``, ``start``)."""

    def __init__(self, *, config: str = "", **extra_env: str) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="hub-", dir="/tmp"))  # noqa: S108
        self.config = ROOT / "labs" / "jupyterhub_config.py"
        if config:  # the project's config, then these lines
            self.config = self.state / "jupyterhub_config.py"
            self.config.write_text(
                f"load_subconfig({str(ROOT / 'labs' / 'jupyterhub_config.py')!r})\n"
                + config
            )
        self.url = f"http://127.0.0.1:{free_port()}"
        self.token = secrets.token_hex(24)
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            "HUB_STATE_DIR": str(self.state),
            "JUPYTERHUB_URL": self.url,
            "HUB_API_PORT": str(free_port()),
            "HUB_PROXY_API_PORT": str(free_port()),
            "JUPYTERHUB_API_TOKEN": self.token,
            "HUB_OAUTH_CLIENT_ID": "jupyterhub-test",
            "HUB_OAUTH_CLIENT_SECRET": secrets.token_hex(16),
            "SITE_URL": f"http://127.0.0.1:{free_port()}",
            "HUB_SPAWN_TIMEOUT": "90",
            **extra_env,
        }
        self.process: subprocess.Popen | None = None
        self.log_path = self.state / "hub.log"
        self.facts = {
            "url": self.url,
            "token": self.token,
            "state": self.state,
            "log": self.log_path,
        }

    def start(self) -> None:
        """Start the hub (again, on the same state) and wait until its API answers."""
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [
                    str(Path(sys.executable).parent / "jupyterhub"),
                    "-f",
                    str(self.config),
                ],
                cwd=self.state,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = self.process
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                break
            time.sleep(0.5)
        else:
            process.kill()
            pytest.fail("JupyterHub did not start:\n" + self.log_path.read_text())
        if process.poll() is not None:
            pytest.fail("JupyterHub exited:\n" + self.log_path.read_text())

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def fork_server(self):
        """The hub's fork server (labs/forkserver.py) as a ``psutil.Process``: its
        child that holds the fork server's channel; None if it has none."""
        import psutil

        from labs.forkserver import FD_VARIABLE

        for child in psutil.Process(self.process.pid).children():
            try:
                if FD_VARIABLE in child.environ():
                    return child
            except psutil.Error:
                continue
        return None

    def kill(self) -> None:
        """SIGKILL the hub process alone: its proxy, services and servers live on."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the hub and anything it left, and remove its state."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        from labs.processes import hub_strays_stop

        hub_strays_stop(self.state)
        shutil.rmtree(self.state, ignore_errors=True)


def server_process(hub_process: "HubProcess", name: str):
    """The trainee's single-user server (it runs in its home, under the state)."""
    home = (hub_process.state / "homes" / name).resolve()
    for process in psutil.process_iter(["cwd", "cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if process.info.get("cwd") == str(home) and "singleuser" in cmdline:
            return process
    pytest.fail(f"no server process for {name}")


def use_hub(settings, facts: dict) -> None:
    """Point the site's settings at a hub started by ``start_hub``."""
    settings.JUPYTERHUB_URL = facts["url"]
    settings.JUPYTERHUB_API_URL = f"{facts['url']}/hub/api"
    settings.JUPYTERHUB_API_TOKEN = facts["token"]


@pytest.fixture
def hub_settings(settings, hub, tmp_path):
    """Point the site at the test hub, with its own var/ and the test lab sources."""
    use_hub(settings, hub)
    settings.VAR_DIR = tmp_path / "var"
    settings.LABS_SOURCE_DIR = DATA
    return settings


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory):
    """The nbgrader release of tests/labs/data/tiny-lab, generated once."""
    from labs.nbgrader import assignment_generate

    root = tmp_path_factory.mktemp("course")
    shutil.copytree(DATA / "tiny-lab", root / "source" / "tiny-lab")
    (root / "source" / "tiny-lab" / "lab.yaml").unlink()
    return assignment_generate(root=root, assignment="tiny-lab")


@pytest.fixture
def tiny_lab(db, hub_settings, tiny_release):
    """The tiny lab, published (its release copied where launches read it)."""
    return tiny_lab_create(tiny_release)


def tiny_lab_create(release: Path):
    """Publish the tiny lab with ``release`` (settings point at the hub already)."""
    from labs.models import Lab
    from labs.services import lab_release_dir

    lab = Lab.objects.create(
        slug="tiny-lab",
        title="Tiny lab",
        title_zh="小实验",
        notebook="tiny-lab.ipynb",
        data_files=["data/qty.csv"],
        points=2,
        pass_mark=50,
        status=Lab.Status.PUBLISHED,
    )
    shutil.copytree(release, lab_release_dir(lab))
    return lab
