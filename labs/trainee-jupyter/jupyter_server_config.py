"""Trainees' lab servers: make the extensions next to this file importable, and
take each trainee's own values from the environment.

(The server reads this file and ``jupyter_server_config.json``, which enables them.)

Some classes take a default from the environment when they are imported: a server
forked from the hub's fork server (``labs/forkserver.py``) imported them with the
fork server's environment, so each is set here, when the server starts, from the
trainee's own (``SET_AGAIN_IN_THE_CHILD`` in ``jupyterhub-singleuser``). For a
server started from scratch these are the values it had anyway.
"""

import os
import sys
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - injected by Jupyter

sys.path.insert(0, str(Path(__file__).resolve().parent / "extensions"))

_config_dir = os.environ.get("JUPYTER_CONFIG_DIR") or str(Path.home() / ".jupyter")
# The trainee's server under its own prefix: the hub login's cookies are scoped to it.
c.HubAuth.base_url = os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/"
# JupyterLab's layout and settings, kept in the trainee's home (the spawner's
# environment), not in this shared folder.
c.LabApp.workspaces_dir = os.environ.get("JUPYTERLAB_WORKSPACES_DIR") or str(
    Path(_config_dir) / "lab" / "workspaces"
)
c.LabApp.user_settings_dir = os.environ.get("JUPYTERLAB_SETTINGS_DIR") or str(
    Path(_config_dir) / "lab" / "user-settings"
)
c.Session.username = os.environ.get("USER", "username")
