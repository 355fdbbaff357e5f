"""Labs under faults, on a real hub of their own (issue 9): one trainee's hub token
reaches no other trainee's server; a trainee's server killed mid-lab; the hub
killed while trainees work, then started again on the same state.

One private hub serves the module (the last test kills and restarts it); servers
are started for a few random hub users and stopped with the hub at the end.
"""

import json
import random
import signal
import time

import httpx
import psutil
import pytest
from django.test import Client

from grading.models import Submission
from labs import hub, services
from labs.models import LabSession
from tests.factories import UserFactory
from tests.labs.conftest import HubProcess, server_process, tiny_lab_create, use_hub

pytestmark = pytest.mark.engine_free

NOTEBOOK = "tiny-lab/tiny-lab.ipynb"
EDIT = "def double(x):\n    return x + x  # my work\n"


@pytest.fixture(scope="module")
def module_hub():
    running = HubProcess()
    running.start()
    yield running
    running.stop()


@pytest.fixture
def fault_hub(module_hub):
    """The module's hub, started again if a test failed while it was killed."""
    if not module_hub.running:
        module_hub.start()
    return module_hub


@pytest.fixture
def fault_lab(db, settings, fault_hub, tmp_path, tiny_release):
    use_hub(settings, fault_hub.facts)
    settings.VAR_DIR = tmp_path / "var"
    return tiny_lab_create(tiny_release)


def trainee():
    # Random ids: hub users outlive each test's rolled-back database.
    return UserFactory(pk=random.randint(10_000, 10_000_000), role="trainee")


def wait_for(check, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"{what}: not after {timeout} s")


def launch_ready(user, lab) -> str:
    """Launch through the site until the server runs with the lab placed."""
    name = hub.hub_username(user.pk)
    if services.lab_launch(user=user, lab=lab).status != "ready":
        wait_for(lambda: hub.server_status(name).ready, f"{name}'s server ready")
        services.lab_files_place(user=user, lab=lab)
    return name


def kernel_environ(hub_process: HubProcess, name: str) -> dict[str, str]:
    """The environment of a kernel started on ``name``'s server: what the trainee's
    code sees (a forked server's own initial environment is its fork server's)."""
    server = server_process(hub_process, name)
    client = httpx.Client(
        base_url=f"{hub_process.url}/user/{name}/api",
        headers={"Authorization": f"token {hub_process.token}"},
        timeout=60,
    )
    kernel = client.post("/kernels", json={"name": "python3"})
    kernel.raise_for_status()
    try:
        process = wait_for(
            lambda: next(
                (
                    child
                    for child in server.children()
                    if "ipykernel" in " ".join(child.cmdline())
                ),
                None,
            ),
            f"{name}'s kernel process",
        )
        return process.environ()
    finally:
        client.delete(f"/kernels/{kernel.json()['id']}")


def edit_notebook(name: str) -> None:
    notebook = hub.contents_get_notebook(name, NOTEBOOK)
    notebook["cells"][2]["source"] = EDIT
    hub.contents_put_notebook(name, NOTEBOOK, notebook)


def edited_on_disk(hub_process: HubProcess, name: str) -> bool:
    path = hub_process.state / "homes" / name / NOTEBOOK
    cells = json.loads(path.read_text())["cells"]
    return "".join(cells[2]["source"]) == EDIT


# The site's service token, expanded by the hub from its role in
# labs/jupyterhub_config.py (admin:users, servers, access:servers): nothing more.
SITE_SCOPES = {
    "access:servers",
    "admin:auth_state",
    "admin:users",
    "delete:servers",
    "delete:users",
    "list:users",
    "read:roles:users",
    "read:servers",
    "read:users",
    "read:users:activity",
    "read:users:groups",
    "read:users:name",
    "servers",
    "start:servers",
    "users",
    "users:activity",
}


def test_one_trainees_token_reaches_no_other_trainees_server(fault_hub, settings):
    """Trainee A's token (the one the hub gave A's server, which A's code reads in a
    kernel) works on A's server and
    is refused on B's server and B's hub entries; the site's own token holds
    exactly the scopes its role lists, and is refused groups, tokens, services
    and the proxy."""
    use_hub(settings, fault_hub.facts)
    a, b = (f"u{random.randint(10_000, 10_000_000)}" for _ in range(2))
    for name in (a, b):
        hub.user_ensure(name)
        hub.server_start(name)
    for name in (a, b):
        wait_for(lambda name=name: hub.server_status(name).ready, f"{name} ready")
    token_a = kernel_environ(fault_hub, a)["JUPYTERHUB_API_TOKEN"]
    as_a = httpx.Client(
        base_url=fault_hub.url, headers={"Authorization": f"token {token_a}"}
    )
    me = as_a.get("/hub/api/user").json()
    assert me["kind"] == "user" and me["name"] == a
    assert as_a.get(f"/user/{a}/api/contents").status_code == 200  # a real token

    for method, path in [
        ("GET", f"/user/{b}/api/contents"),
        ("GET", f"/user/{b}/api/kernels"),
        ("POST", f"/user/{b}/api/kernels"),
        ("GET", f"/user/{b}/api/sessions"),
        ("GET", f"/user/{b}/api/terminals"),
        ("GET", f"/hub/api/users/{b}"),
        ("POST", f"/hub/api/users/{b}/server"),
        ("DELETE", f"/hub/api/users/{b}/server"),
        ("GET", f"/hub/api/users/{b}/tokens"),
        ("POST", f"/hub/api/users/{b}/tokens"),
        ("GET", "/hub/api/users"),
    ]:
        status = as_a.request(method, path, json={} if method == "POST" else None)
        assert status.status_code in (403, 404), (method, path, status.status_code)
    assert hub.server_status(b).ready  # B's server untouched

    as_site = httpx.Client(
        base_url=f"{fault_hub.url}/hub/api",
        headers={"Authorization": f"token {fault_hub.token}"},
    )
    site = as_site.get("/user").json()
    assert site["kind"] == "service" and site["name"] == "silkroute-site"
    assert set(site["scopes"]) == SITE_SCOPES
    for method, path in [
        ("GET", "/groups"),
        ("POST", "/groups/trainees"),
        ("GET", f"/users/{a}/tokens"),
        ("POST", f"/users/{a}/tokens"),
        ("GET", "/services"),
        ("GET", "/proxy"),
        ("GET", "/info"),
    ]:
        assert as_site.request(method, path).status_code == 403, (method, path)
    for name in (a, b):
        hub.server_stop(name)


def test_a_server_killed_mid_lab_keeps_the_work_and_relaunches(fault_hub, fault_lab):
    """SIGKILL of a trainee's server: the site says so clearly, the hub's status
    turns to not running, a launch starts it again, and the saved work is there,
    not overwritten by the released notebook."""
    user = trainee()
    name = launch_ready(user, fault_lab)
    edit_notebook(name)
    server_process(fault_hub, name).send_signal(signal.SIGKILL)

    with pytest.raises(services.LabUnavailable, match="saved work is safe"):
        services.lab_files_place(user=user, lab=fault_lab)
    assert LabSession.objects.get(user=user).state == LabSession.State.FAILED
    wait_for(lambda: not hub.server_status(name).ready, "the hub sees it stopped")
    assert edited_on_disk(fault_hub, name)

    launch_ready(user, fault_lab)
    assert LabSession.objects.get(user=user).state == LabSession.State.RUNNING
    kept = hub.contents_get_notebook(name, NOTEBOOK)
    assert "".join(kept["cells"][2]["source"]) == EDIT
    assert edited_on_disk(fault_hub, name)
    hub.server_stop(name)


def test_the_hub_killed_then_restarted_loses_no_work(fault_hub, fault_lab):
    """SIGKILL of the hub while a trainee works. Launching (page and API) answers
    with a clear message, the API a 503 with Retry-After, never a 500; the server
    lives on and still hands the notebook over for a submission (it trusts the
    site's token it checked minutes ago). Started again, the hub finds the server
    running with the edits, and launching works. A server that died while the hub
    was down is seen as stopped after the restart (no zombie): submitting from it
    says so clearly and stores nothing, and a launch brings the work back."""
    from lms.accounts.services import api_token_create

    user = trainee()
    name = launch_ready(user, fault_lab)
    edit_notebook(name)
    first = services_submit(user, fault_lab)
    browser = Client()
    browser.force_login(user)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user)}")
    fork_server = fault_hub.fork_server()
    assert server_process(fault_hub, name).ppid() == fork_server.pid

    fault_hub.kill()
    # The server lives on, and so does the fork server, to reap it when it exits.
    assert server_process(fault_hub, name).is_running()
    assert fork_server.is_running()
    page = browser.post(
        f"/en/labs/{fault_lab.slug}/launch/", {"next": "/en/dashboard/"}, follow=True
    )
    assert page.status_code == 200
    assert "your work is safe" in page.content.decode()
    launched = api.post(f"/api/v1/labs/{fault_lab.slug}/launch")
    assert launched.status_code == 503
    assert launched["Retry-After"] == "30"
    assert "your work is safe" in launched.json()["detail"]
    with pytest.raises(services.LabUnavailable, match="not reachable"):
        services.lab_launch(user=user, lab=fault_lab)
    submit = api.generic("POST", f"/api/v1/labs/{fault_lab.slug}/submissions")
    assert submit.status_code == 201, submit.content
    second = Submission.objects.get(pk=submit.json()["id"])
    cells = json.loads(second.notebook.read())["cells"]
    assert "".join(cells[2]["source"]) == EDIT
    assert edited_on_disk(fault_hub, name)

    fault_hub.start()
    status = wait_for(lambda: hub.server_status(name), "the hub answers")
    assert status.ready  # the server lived on, and the new hub knows it
    assert fault_hub.fork_server() is not None  # the new hub has its own
    assert fault_hub.fork_server().pid != fork_server.pid
    assert services.lab_launch(user=user, lab=fault_lab).status == "ready"
    kept = hub.contents_get_notebook(name, NOTEBOOK)
    assert "".join(kept["cells"][2]["source"]) == EDIT
    assert api.post(f"/api/v1/labs/{fault_lab.slug}/launch").status_code == 200

    # Again, and this time the server dies too while the hub is down.
    fault_hub.kill()
    server_process(fault_hub, name).send_signal(signal.SIGKILL)
    submit = api.generic("POST", f"/api/v1/labs/{fault_lab.slug}/submissions")
    assert submit.status_code == 503, submit.content
    assert submit["Retry-After"] == "30"
    assert "work is safe" in submit.json()["detail"]
    page = browser.post(
        f"/en/grading/labs/{fault_lab.slug}/submissions/", {"source": "lab"}
    )
    assert page.status_code == 200
    assert "work is safe" in page.content.decode()
    assert set(Submission.objects.filter(user=user)) == {first, second}

    psutil.wait_procs([fork_server], timeout=15)  # its last server has exited
    assert not fork_server.is_running()

    fault_hub.start()
    assert not wait_for(lambda: hub.server_status(name), "the hub answers").ready
    launch_ready(user, fault_lab)
    kept = hub.contents_get_notebook(name, NOTEBOOK)
    assert "".join(kept["cells"][2]["source"]) == EDIT
    assert set(Submission.objects.filter(user=user)) == {first, second}
    hub.server_stop(name)


def services_submit(user, lab) -> Submission:
    """Submit from the running lab, as the trainee's "Submit" button does."""
    from grading.services import submission_create

    return submission_create(user=user, lab=lab, data=None)
