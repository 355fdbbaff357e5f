"""labs/spawner.py on real hubs: trainees' servers forked by the hub's fork server,
started as processes when it refuses or is turned off, and the fork server's life
with its hub. (The session hub of the other labs tests forks every server they
start; tests/labs/test_faults.py kills and restarts a hub with forked servers.)"""

import os
import secrets
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.labs.conftest import HubProcess, server_process

pytestmark = pytest.mark.engine_free


def spawn(running: HubProcess, name: str) -> httpx.Client:
    """Start ``name``'s server over the hub's REST API; wait until it is ready."""
    client = httpx.Client(
        base_url=f"{running.url}/hub/api",
        headers={"Authorization": f"token {running.token}"},
        timeout=30,
    )
    client.post(f"/users/{name}").raise_for_status()
    client.post(f"/users/{name}/server").raise_for_status()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        server = client.get(f"/users/{name}").json()["servers"].get("")
        if server and server.get("ready"):
            return client
        time.sleep(0.2)
    pytest.fail(f"{name}'s server not ready:\n{running.log_path.read_text()[-3000:]}")


def stop(client: httpx.Client, name: str, process: psutil.Process) -> None:
    client.delete(f"/users/{name}/server").raise_for_status()
    process.wait(timeout=60)  # gone, and reaped: not a zombie the hub polls forever
    deadline = time.monotonic() + 30
    while client.get(f"/users/{name}").json()["servers"]:
        assert time.monotonic() < deadline, f"the hub still lists {name}'s server"
        time.sleep(0.2)


def files_of(running: HubProcess, name: str, token_client: httpx.Client) -> list[str]:
    """What ``name``'s server lists in its home, through the proxy."""
    answer = httpx.get(
        f"{running.url}/user/{name}/api/contents",
        headers=token_client.headers,
        timeout=30,
    )
    answer.raise_for_status()
    return sorted(item["name"] for item in answer.json()["content"])


@pytest.fixture(scope="module")
def forking_hub():
    """The project's hub, with servers of users named plain-* given an environment
    the fork server's imports were not made with (so it must refuse them)."""
    running = HubProcess(
        config=(
            "def _plain(spawner):\n"
            "    if spawner.user.name.startswith('plain-'):\n"
            "        spawner.environment['JUPYTERHUB_SINGLEUSER_EXTENSION'] = '1'\n"
            "c.Spawner.pre_spawn_hook = _plain\n"
        )
    )
    running.start()
    yield running
    running.stop()


def test_a_server_is_forked_by_the_fork_server_and_serves_its_own_home(forking_hub):
    fork_server = forking_hub.fork_server()
    assert fork_server is not None, "the hub starts its fork server with its config"
    assert fork_server.cwd() == str(forking_hub.state.resolve())
    # Its environment is not the hub's: no secret of the hub's in it.
    assert "JUPYTERHUB_API_TOKEN" not in fork_server.environ()
    name = f"forked-{secrets.token_hex(3)}"
    home = forking_hub.state / "homes" / name
    home.mkdir(parents=True)
    (home / "mine.txt").write_text("kept\n")

    client = spawn(forking_hub, name)
    server = server_process(forking_hub, name)
    assert server.ppid() == fork_server.pid
    assert os.getsid(server.pid) == server.pid  # its own session
    # It serves under its own prefix, from its own home: its own environment.
    assert "mine.txt" in files_of(forking_hub, name, client)
    stop(client, name, server)
    assert fork_server.is_running(), "the fork server serves on"


def test_a_server_the_fork_server_refuses_is_started_as_a_process(forking_hub):
    name = f"plain-{secrets.token_hex(3)}"
    client = spawn(forking_hub, name)
    server = server_process(forking_hub, name)
    assert server.ppid() == forking_hub.process.pid  # Popen, as without it
    log = forking_hub.log_path.read_text()
    assert f"Fork server did not fork {name}'s server" in log
    assert "JUPYTERHUB_SINGLEUSER_EXTENSION differs" in log
    stop(client, name, server)
    # The refusal was about that request: the next trainee is forked again.
    name = f"forked-{secrets.token_hex(3)}"
    client = spawn(forking_hub, name)
    server = server_process(forking_hub, name)
    assert server.ppid() == forking_hub.fork_server().pid
    stop(client, name, server)


def test_without_the_fork_server_each_server_is_the_hub_s_own_process():
    running = HubProcess(HUB_FORK_SERVER="0")
    running.start()
    try:
        assert running.fork_server() is None
        name = f"own-{secrets.token_hex(3)}"
        client = spawn(running, name)
        server = server_process(running, name)
        assert server.ppid() == running.process.pid
        stop(client, name, server)
    finally:
        running.stop()


def test_the_fork_server_leaves_with_its_hub():
    """A hub stopped by SIGTERM: the fork server goes with it (nothing left for
    labs.processes to find), and so do the servers, stopped by the hub."""
    running = HubProcess()
    running.start()
    try:
        fork_server = running.fork_server()
        name = f"forked-{secrets.token_hex(3)}"
        spawn(running, name)
        server = server_process(running, name)
        running.process.send_signal(signal.SIGTERM)
        running.process.wait(timeout=60)
        psutil.wait_procs([fork_server, server], timeout=30)
        assert not fork_server.is_running()
        assert not server.is_running()  # cleanup_servers: the hub stopped it
    finally:
        running.stop()


def test_a_killed_hub_leaves_its_servers_running_and_takes_its_culler_along():
    """SIGKILL of the hub: the server it had forked keeps running, its fork server
    serves no more but stays until that server exits (so it is reaped, not left a
    zombie), and its idle culler (labs.processes.exec_tied_to_parent) leaves with
    it, so a restarted hub does not run two."""
    running = HubProcess()
    running.start()
    try:
        name = f"forked-{secrets.token_hex(3)}"
        spawn(running, name)
        server = server_process(running, name)
        fork_server = running.fork_server()
        culler = next(
            child
            for child in psutil.Process(running.process.pid).children()
            if any("jupyterhub-idle-culler" in part for part in child.cmdline())
        )
        running.kill()
        psutil.wait_procs([culler], timeout=30)
        assert not culler.is_running()
        assert server.is_running() and server.status() != psutil.STATUS_ZOMBIE
        assert fork_server.is_running()
        server.terminate()
        gone, alive = psutil.wait_procs([server, fork_server], timeout=15)
        assert not alive, "the server reaped and the fork server gone at once"
    finally:
        running.stop()  # and anything left in its state folder


def test_a_forked_server_uses_the_trainee_s_own_values_read_at_import(forking_hub):
    """What JupyterLab and JupyterHub's auth take from the environment when imported
    (the fork server's) is the trainee's in a forked server: the login cookie is
    scoped to the trainee's prefix, layout and settings are saved in their home."""
    name = f"forked-{secrets.token_hex(3)}"
    client = spawn(forking_hub, name)
    server = server_process(forking_hub, name)
    assert server.ppid() == forking_hub.fork_server().pid
    base = f"{forking_hub.url}/user/{name}"
    login = httpx.get(f"{base}/lab", follow_redirects=False, timeout=30)
    assert login.status_code == 302
    assert f"Path=/user/{name}/" in login.headers["set-cookie"]  # not Path=/

    token = {"Authorization": f"token {forking_hub.token}"}
    saved = httpx.put(
        f"{base}/lab/api/workspaces/mine",
        headers=token,
        json={"data": {}, "metadata": {"id": "mine"}},
        timeout=30,
    )
    assert saved.status_code == 204
    theme = httpx.put(
        f"{base}/lab/api/settings/@jupyterlab/apputils-extension:themes",
        headers=token,
        json={"raw": '{"theme": "JupyterLab Dark"}'},
        timeout=30,
    )
    assert theme.status_code == 204
    lab = forking_hub.state / "homes" / name / ".jupyter" / "lab"
    assert list((lab / "workspaces").glob("mine*"))
    assert list((lab / "user-settings").rglob("themes.jupyterlab-settings"))
    shared = Path(__file__).resolve().parents[2] / "labs" / "trainee-jupyter" / "lab"
    assert not shared.exists()
    stop(client, name, server)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _alive() -> bool:
    return True


def test_until_listening_waits_for_the_server_to_listen():
    """start() returns once the server accepts connections: here one that starts
    listening 0.3 s after the wait began."""
    import asyncio
    import socket
    import threading

    from labs.spawner import until_listening

    port = _free_port()
    listening = threading.Event()
    done = threading.Event()

    def serve() -> None:
        time.sleep(0.3)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            listening.set()
            done.wait(10)

    server = threading.Thread(target=serve)
    server.start()
    try:
        assert not listening.is_set()
        assert asyncio.run(until_listening("127.0.0.1", port, alive=_alive, within=10))
        assert listening.is_set()
    finally:
        done.set()
        server.join()


def test_until_listening_gives_up_on_a_server_that_exited_or_never_listens():
    import asyncio

    from labs.spawner import until_listening

    checks = []

    async def exited() -> bool:
        checks.append(True)
        return False

    port = _free_port()
    assert not asyncio.run(until_listening("127.0.0.1", port, alive=exited, within=10))
    assert checks == [True]  # after the first refused connection, not 10 s later
    assert not asyncio.run(until_listening("127.0.0.1", port, alive=_alive, within=0.3))


def test_a_servers_port_is_tried_often_at_first_then_less_and_less():
    """The first 50 tries 5 ms apart (a forked server listens after 50-100 ms, and
    a growing pause from the start found it up to 34 ms late), then pauses growing
    by half up to 0.1 s, for a busy machine or a server started from scratch."""
    import itertools

    from labs.spawner import listen_pauses

    pauses = list(itertools.islice(listen_pauses(), 70))
    assert pauses[:50] == [0.005] * 50
    growing = pauses[50:]
    assert growing[0] == 0.0075
    assert all(b == min(a * 1.5, 0.1) for a, b in itertools.pairwise(growing))
    assert growing[-1] == 0.1
