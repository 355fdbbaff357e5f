"""nbgrader's "Validate" for trainees' lab servers, imported when first used.

nbgrader's own ``validate_assignment`` server extension imports the whole of
nbgrader (its package imports every server extension, the formgrader included)
while the server starts: about 1.7 of the 3.5-5 CPU seconds a trainee's server
takes to start here, paid by every server whether Validate is pressed or not, and
by the whole class when it opens its labs at once.

This extension answers the same two URLs as nbgrader's: the version check the
Validate button makes when a notebook opens, from the package metadata (no
import), and ``/assignments/validate``, which imports nbgrader's handler on its
first use and lets it validate exactly as it would have.
"""

import importlib.metadata
import json
import types

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

NBGRADER_VERSION = importlib.metadata.version("nbgrader")


def _nbgrader_handler() -> type:
    from nbgrader.server_extensions.validate_assignment.handlers import (
        ValidateAssignmentHandler,
    )

    return ValidateAssignmentHandler


class ValidateHandler(JupyterHandler):
    """POST ``path``: nbgrader's validation of that notebook, as nbgrader answers."""

    @property
    def root_dir(self) -> str:
        return self.settings["root_dir"]

    @web.authenticated
    def post(self) -> None:
        nbgrader = _nbgrader_handler()
        try:
            path = self.get_argument("path")
        except web.MissingArgumentError:
            path = self.get_json_body()["path"]
        # nbgrader's methods read only root_dir, log and load_config from self.
        self.load_config = types.MethodType(nbgrader.load_config, self)
        self.finish(json.dumps(nbgrader.validate_notebook(self, path)))


class VersionHandler(JupyterHandler):
    """The Validate button's check that its server side is the same nbgrader."""

    @web.authenticated
    def get(self) -> None:
        ui_version = self.get_argument("version")
        if ui_version == NBGRADER_VERSION:
            result = {"success": True}
        else:
            message = (
                f"The version of the Validate labextension ({ui_version}) does not "
                f"match the server extension ({NBGRADER_VERSION})."
            )
            self.log.error(message)
            result = {"success": False, "message": message}
        self.finish(json.dumps(result))


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "silkroute_validate"}]


def _load_jupyter_server_extension(server_app) -> None:
    web_app = server_app.web_app
    base_url = web_app.settings["base_url"]
    web_app.settings["root_dir"] = server_app.root_dir
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, "/assignments/validate"), ValidateHandler),
            (url_path_join(base_url, "/nbgrader_version"), VersionHandler),
        ],
    )
