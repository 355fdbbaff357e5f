"""JupyterHub configuration for Silkroute Academy labs.

Read by ``jupyterhub -f labs/jupyterhub_config.py``. Everything comes from the
environment that ``manage.py runplatform`` (or the deployment) sets from the site's
settings, so the hub and the site agree on URLs, tokens and the OAuth client:

- ``JUPYTERHUB_URL``: the public URL of the proxy (the hub lives at ``/hub/``).
- ``HUB_STATE_DIR``: the hub's database, cookie secret and trainees' homes.
- ``SITE_URL``: the site, which is the OAuth2 provider trainees sign in with.
- ``HUB_OAUTH_CLIENT_ID`` / ``HUB_OAUTH_CLIENT_SECRET``: the hub's OAuth client.
- ``JUPYTERHUB_API_TOKEN``: the token of the ``silkroute-site`` service.

One server per trainee (not named servers): every lab is a folder in the trainee's
home, so a trainee costs one single-user server (~155 MB) however many labs they
open, and work from one lab can use files from another.
"""

import os
import sys
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - injected by JupyterHub

BIN = Path(sys.executable).parent
STATE = Path(os.environ["HUB_STATE_DIR"])
STATE.mkdir(parents=True, exist_ok=True)
(STATE / "homes").mkdir(exist_ok=True)
SITE_URL = os.environ["SITE_URL"].rstrip("/")
HUB_URL = os.environ["JUPYTERHUB_URL"].rstrip("/")
HUB_API_PORT = int(os.environ.get("HUB_API_PORT", "8081"))

# --- Network: the proxy faces users; the hub's API listens on loopback ---------------
c.JupyterHub.bind_url = HUB_URL
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{HUB_API_PORT}"
# The Python port of configurable-http-proxy (no Node needed), with the websocket
# subprotocol fix in labs/proxy.py; run from the project root so `labs` imports.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# HUB_PROXY_MAX_CLIENTS: upstream requests the proxy makes at once (see labs/proxy.py).
PROXY_MAX_CLIENTS = int(os.environ.get("HUB_PROXY_MAX_CLIENTS", "512"))
c.ConfigurableHTTPProxy.command = [
    sys.executable,
    "-c",
    f"import sys; sys.path.insert(0, {str(PROJECT_ROOT)!r}); "
    f"from labs.proxy import main; main(max_clients={PROXY_MAX_CLIENTS})",
]
PROXY_API_PORT = int(os.environ.get("HUB_PROXY_API_PORT", "8002"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
# Commits without a journal file synced each time (labs/hubdb.py); the hub's event
# loop waited on them, one after another, when a class opened its labs together.
sys.path.insert(0, str(PROJECT_ROOT))
from labs.hubdb import WALConnection  # noqa: E402

c.JupyterHub.db_kwargs = {
    "connect_args": {"check_same_thread": False, "factory": WALConnection}
}
c.JupyterHub.cookie_secret_file = str(STATE / "cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True
c.JupyterHub.concurrent_spawn_limit = int(
    os.environ.get("HUB_CONCURRENT_SPAWN_LIMIT", "20")
)

# --- Spawner: local processes, homes under var/ --------------------------------------
# Production isolation comes from KubeSpawner (deploy/), not from this.
# labs/spawner.py: SimpleLocalProcessSpawner, with servers forked from a process
# that has imported what each of them imports (labs/forkserver.py).
from labs.spawner import LabSpawner, fork_server  # noqa: E402

c.JupyterHub.spawner_class = LabSpawner
c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "homes" / "{username}")
# jupyterhub-singleuser, less the import that cost most of a server's start (see
# that file); its name keeps it recognisable among processes.
TRAINEE_JUPYTER = Path(__file__).resolve().parent / "trainee-jupyter"
c.Spawner.cmd = [sys.executable, str(TRAINEE_JUPYTER / "jupyterhub-singleuser")]
# HUB_FORK_SERVER=0: every server is a process of its own, started from scratch.
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = int(os.environ.get("HUB_SPAWN_TIMEOUT", "90"))
c.Spawner.http_timeout = int(os.environ.get("HUB_SPAWN_TIMEOUT", "90"))
# How soon the hub sees that a server died (a killed process): the site's status
# then says "not running" and a launch starts it again. Cheap for local processes.
c.Spawner.poll_interval = 10
c.Spawner.env_keep = ["PATH", "LANG", "LC_ALL", "TZ"]
c.Spawner.environment = {
    "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    # Trainees get JupyterLab without nbgrader's instructor tools (see the folder).
    "JUPYTER_CONFIG_DIR": str(TRAINEE_JUPYTER),
    # JupyterLab keeps a trainee's layout (open files, panels) in its workspaces
    # folder, by default inside the config folder above: the repository, shared by
    # every trainee. Each trainee keeps theirs in their own home instead.
    "JUPYTERLAB_WORKSPACES_DIR": lambda spawner: str(
        STATE / "homes" / spawner.user.name / ".jupyter" / "lab" / "workspaces"
    ),
    # And their settings (theme, editor): by default in the config folder too.
    "JUPYTERLAB_SETTINGS_DIR": lambda spawner: str(
        STATE / "homes" / spawner.user.name / ".jupyter" / "lab" / "user-settings"
    ),
}
if os.geteuid() == 0:
    c.Spawner.args = ["--allow-root"]
# HUB_FORK_SERVER=0: every server is a process of its own, started from scratch.
if os.environ.get("HUB_FORK_SERVER", "1") == "1":
    c.LabSpawner.fork_server_cmd = c.Spawner.cmd
    c.LabSpawner.fork_server_cwd = str(STATE)  # so a stray is found by labs.processes
    c.LabSpawner.fork_server_env = {
        # What every server's environment has alike and its imports read: a request
        # that differs in a variable read at import is started from scratch.
        "PATH": c.Spawner.environment["PATH"],
        "JUPYTER_CONFIG_DIR": c.Spawner.environment["JUPYTER_CONFIG_DIR"],
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{HUB_API_PORT}/hub/api",
        **{
            name: os.environ[name]
            for name in ("LANG", "LC_ALL", "TZ")
            if name in os.environ
        },
    }
    # Started now, so it has imported what servers import by the time one is asked.
    fork_server(c.Spawner.cmd, str(STATE), c.LabSpawner.fork_server_env)

# --- Sign-on: the site is the OAuth2 provider ----------------------------------------
c.JupyterHub.authenticator_class = "generic-oauth"
c.GenericOAuthenticator.client_id = os.environ["HUB_OAUTH_CLIENT_ID"]
c.GenericOAuthenticator.client_secret = os.environ["HUB_OAUTH_CLIENT_SECRET"]
c.GenericOAuthenticator.oauth_callback_url = f"{HUB_URL}/hub/oauth_callback"
c.GenericOAuthenticator.authorize_url = f"{SITE_URL}/o/authorize/"
SITE_INTERNAL_URL = os.environ.get("SITE_INTERNAL_URL", SITE_URL).rstrip("/")
c.GenericOAuthenticator.token_url = f"{SITE_INTERNAL_URL}/o/token/"
c.GenericOAuthenticator.userdata_url = f"{SITE_INTERNAL_URL}/labs/hub-identity/"
c.GenericOAuthenticator.scope = ["identity"]
c.GenericOAuthenticator.username_claim = "name"
c.GenericOAuthenticator.login_service = "Silkroute Academy"
c.GenericOAuthenticator.allow_all = True  # every site user may have a lab server
c.GenericOAuthenticator.enable_pkce = True
c.Authenticator.auto_login = True  # no hub login page: straight to the site
c.GenericOAuthenticator.logout_redirect_url = f"{SITE_URL}/"

# --- Services: the site, and the idle culler -----------------------------------------
IDLE_TIMEOUT = int(os.environ.get("HUB_IDLE_TIMEOUT", "3600"))  # seconds
SITE_TOKEN = os.environ["JUPYTERHUB_API_TOKEN"]
# The site's token comes from `secrets` (settings) or `openssl rand -hex 32` (deploy):
# random, so checked with one round of hashing, as the hub's own tokens are, not
# 16,384 rounds as a password would be (most of the hub's CPU per site request). A
# short one is treated as a password.
c.JupyterHub.trust_user_provided_tokens = len(SITE_TOKEN) >= 32
c.JupyterHub.services = [
    {"name": "silkroute-site", "api_token": SITE_TOKEN},
    {
        "name": "idle-culler",
        # Tied to this hub (labs.processes.exec_tied_to_parent): a killed hub takes
        # its culler with it, so a restarted hub does not run a second one.
        "command": [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(PROJECT_ROOT)!r}); "
            "from labs.processes import exec_tied_to_parent; "
            "exec_tied_to_parent(int(sys.argv[1]), sys.argv[2:])",
            str(os.getpid()),
            str(BIN / "jupyterhub-idle-culler"),
            f"--timeout={IDLE_TIMEOUT}",
            f"--cull-every={max(1, min(300, IDLE_TIMEOUT // 2))}",
        ],
        "cwd": str(STATE),  # so a stray culler is found by labs.processes
    },
]
c.JupyterHub.load_roles = [
    {
        # Only what the site uses: create hub users, start/stop/inspect their
        # servers, and use each server's contents API to place and fetch notebooks.
        "name": "silkroute-site",
        "scopes": ["admin:users", "servers", "access:servers"],
        "services": ["silkroute-site"],
    },
    {
        "name": "idle-culler",
        "scopes": [
            "list:users",
            "read:users:activity",
            "read:servers",
            "delete:servers",
        ],
        "services": ["idle-culler"],
    },
]
