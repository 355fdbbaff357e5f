"""Place a lab's files in a trainee's server in one request, never overwriting.

The site put a lab's folder, notebook and data through the contents API, one
request for each folder and file after listing the lab's folder: five requests
through the proxy for a lab with one data file, as long as a quarter of the time
a forked server takes to start. This endpoint does the same in one:

``POST {base_url}silkroute/place`` with ``{"folder": "<lab>", "files": {"<path in
the folder>": "<base64>", ...}}`` creates the missing folders and writes each file
that is not there yet, through the server's contents manager (its rules on hidden
files and permissions apply as to the contents API). A file already there is the
trainee's work and is left as it is. The answer is ``{"placed": [...], "kept":
[...]}`` (paths from the server's root), 400 with a ``message`` for a path that is
not a plain relative one or content that is not base64, 409 where a file stands in
place of a folder. Repeating a request leaves the same files.

A server without this extension answers 404, and the site places the files one by
one as before (``labs.services``).
"""

import asyncio
import base64
import binascii
import json
from pathlib import PurePosixPath

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import ensure_async, url_path_join
from tornado import web

MAX_FILES = 500


def _relative(path: object, what: str) -> PurePosixPath:
    """``path`` as a plain relative path (no ``..``, no empty part), or a 400."""
    if not isinstance(path, str) or not path or path.startswith("/"):
        raise web.HTTPError(400, f"The {what} must be a relative path: {path!r}")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise web.HTTPError(400, f"The {what} must be a plain relative path: {path!r}")
    return PurePosixPath(path)


class PlaceHandler(APIHandler):
    # The permission of writing through the contents API.
    auth_resource = "contents"

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Expected a JSON object.")
        folder = _relative(body.get("folder"), "folder")
        files = body.get("files")
        if not isinstance(files, dict) or not files or len(files) > MAX_FILES:
            raise web.HTTPError(
                400, f"'files' must map 1 to {MAX_FILES} paths to base64 content."
            )
        wanted = {}
        for name, content in files.items():
            path = folder / _relative(name, "file path")
            try:
                base64.b64decode(content, validate=True)
            except (TypeError, ValueError, binascii.Error):
                raise web.HTTPError(400, f"{path} is not base64 content.") from None
            wanted[path] = content

        cm = self.contents_manager
        for path in wanted:
            # By name, as the contents manager's rule for a path not there yet
            # (its is_hidden() stats the path, which fails under a file).
            if not cm.allow_hidden and any(p.startswith(".") for p in path.parts):
                raise web.HTTPError(400, f"Cannot place the hidden file {path}.")
        parents = {parent for path in wanted for parent in path.parents}
        parents.discard(PurePosixPath("."))
        folders = sorted(parents, key=lambda parent: len(parent.parts))
        for path in folders:
            if await ensure_async(cm.dir_exists(str(path))):
                continue
            if await ensure_async(cm.file_exists(str(path))):
                self.set_status(409)
                message = f"{path} is a file where a folder belongs."
                self.finish(json.dumps({"message": message, "path": str(path)}))
                return
            await ensure_async(cm.save({"type": "directory"}, str(path)))

        # The files side by side: the contents manager writes each in a thread
        # (and waits for the disk), so the writes overlap.
        written = await asyncio.gather(
            *(self._file_place(str(path), content) for path, content in wanted.items())
        )
        outcome = list(zip(map(str, wanted), written, strict=True))
        placed = [path for path, new in outcome if new]
        kept = [path for path, new in outcome if not new]
        self.finish(json.dumps({"placed": placed, "kept": kept}))

    async def _file_place(self, path: str, content: str) -> bool:
        """Write ``path`` unless something is there; whether it was written."""
        cm = self.contents_manager
        if await ensure_async(cm.exists(path)):
            return False
        model = {"type": "file", "format": "base64", "content": content}
        await ensure_async(cm.save(model, path))
        return True


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "silkroute_place"}]


def _load_jupyter_server_extension(server_app) -> None:
    web_app = server_app.web_app
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$", [(url_path_join(base_url, "/silkroute/place"), PlaceHandler)]
    )
