"""Labs: import and publish (with nbgrader's self-check), and launch in JupyterHub."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath

import yaml
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from labs import hub
from labs.models import Lab, LabSession
from labs.nbgrader import NbgraderError, assignment_generate, submission_autograde
from lms.accounts.models import User
from lms.accounts.readerstate import reader_state_bump

log = logging.getLogger(__name__)


class LabError(Exception):
    """A lab action that cannot go ahead; ``str()`` is fit for the user."""


class LabUnavailable(LabError):
    """The hub or the trainee's lab server is down: worth retrying later."""


def _lab_error(error: hub.HubError) -> LabError:
    kind = LabUnavailable if isinstance(error, hub.HubUnavailable) else LabError
    return kind(str(error))


# --- Where things live ---------------------------------------------------------------


MAX_ARCHIVE_BYTES = 50 * 1024 * 1024
MAX_ARCHIVE_FILES = 500


def lab_source_dir(lab: Lab) -> Path:
    """An uploaded archive's extracted folder, else ``LABS_SOURCE_DIR/<slug>``."""
    if lab.source_archive:
        return Path(settings.VAR_DIR) / "lab-sources" / lab.slug
    return Path(settings.LABS_SOURCE_DIR) / lab.slug


def _archive_extract(lab: Lab) -> str | None:
    """Unpack the uploaded .zip into the lab's source folder; the reason if refused.

    Refuses absolute paths, ``..``, links, more than 500 files or 50 MB unpacked.
    A single top-level folder in the archive is stripped.
    """
    target = lab_source_dir(lab)
    try:
        with lab.source_archive.open("rb") as raw, zipfile.ZipFile(raw) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > MAX_ARCHIVE_FILES:
                return f"The archive has more than {MAX_ARCHIVE_FILES} files."
            if sum(m.file_size for m in members) > MAX_ARCHIVE_BYTES:
                return "The archive unpacks to more than 50 MB."
            names = [PurePosixPath(m.filename) for m in members]
            for name in names:
                if name.is_absolute() or ".." in name.parts:
                    return f"Unsafe path in the archive: {name}"
            tops = {name.parts[0] for name in names if len(name.parts) > 1}
            strip = len(tops) == 1 and all(len(n.parts) > 1 for n in names)
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            for member, name in zip(members, names, strict=True):
                relative = PurePosixPath(*name.parts[1:]) if strip else name
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, destination.open("wb") as out:
                    shutil.copyfileobj(source, out)
    except zipfile.BadZipFile:
        return "The uploaded file is not a valid .zip archive."
    return None


def lab_release_dir(lab: Lab) -> Path:
    """The published student release (notebook + data) of the lab's version."""
    return Path(settings.VAR_DIR) / "labs" / lab.slug / f"v{lab.version}"


# --- Import and publish -------------------------------------------------------------


def _text(value, language: str) -> str:
    if isinstance(value, dict):
        return str(value.get(language) or "")
    return str(value or "") if language == "en" else ""


def labs_import(*, publish: bool = True) -> list[Lab]:
    """Create or update a Lab for each ``LABS_SOURCE_DIR/<slug>/lab.yaml``.

    Labs that are new or changed are published (with the self-check) unless
    ``publish`` is false.
    """
    source_dir = Path(settings.LABS_SOURCE_DIR)
    labs = []
    for spec_file in sorted(source_dir.glob("*/lab.yaml")):
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        values = {
            "title": _text(spec["title"], "en"),
            "title_zh": _text(spec["title"], "zh-hans"),
            "description": _text(spec.get("description"), "en"),
            "description_zh": _text(spec.get("description"), "zh-hans"),
            "notebook": spec["notebook"],
            "data_files": list(spec.get("data") or []),
            "points": Decimal(str(spec["points"])),
            "pass_mark": int(spec.get("pass_mark", 70)),
            "time_limit_minutes": int(spec.get("time_limit_minutes", 60)),
            "max_attempts": int(spec.get("max_attempts", 3)),
            "version": int(spec.get("version", 1)),
        }
        values["source_sha256"] = _source_digest(
            spec_file.parent, [spec["notebook"], *values["data_files"]]
        )
        lab, created = Lab.objects.get_or_create(slug=spec["slug"], defaults=values)
        changed = created or any(getattr(lab, k) != v for k, v in values.items())
        if not created and changed:
            for name, value in values.items():
                setattr(lab, name, value)
            lab.status = Lab.Status.DRAFT
            lab.save()
        if publish and (
            lab.status != Lab.Status.PUBLISHED or not lab_release_dir(lab).exists()
        ):
            cached = _release_check_log(lab)
            if cached is None:
                lab_publish(lab=lab)
            else:  # this exact source already passed: reuse its release and report
                lab.status, lab.check_log = Lab.Status.PUBLISHED, cached
                lab.checked_at = timezone.now()
                lab.save(update_fields=["status", "check_log", "checked_at"])
        labs.append(lab)
    return labs


def _source_digest(directory: Path, files: list[str]) -> str:
    """One hash over the notebook and data: any edit means publishing again."""
    digest = hashlib.sha256()
    for relative in files:
        path = directory / relative
        digest.update(relative.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()


DIGEST_FILE = ".source-sha256"
CHECK_FILE = ".self-check.txt"


def _release_check_log(lab: Lab) -> str | None:
    """The stored self-check report if the release was built from this source."""
    release = lab_release_dir(lab)
    digest = release / DIGEST_FILE
    if not lab.source_sha256 or not digest.is_file():
        return None
    if digest.read_text().strip() != lab.source_sha256:
        return None
    return (release / CHECK_FILE).read_text(encoding="utf-8")


@dataclass
class SelfCheck:
    ok: bool
    report: str


def _manual_points(notebook: Path) -> float:
    """Points of the cells an instructor grades (nbgrader: grade and solution, or a
    graded markdown cell): autograde leaves them at zero."""
    total = 0.0
    for cell in json.loads(notebook.read_text(encoding="utf-8")).get("cells", []):
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if meta.get("grade") and (
            meta.get("solution") or cell.get("cell_type") == "markdown"
        ):
            total += float(meta.get("points", 0))
    return total


def _self_check(lab: Lab, workdir: Path) -> tuple[SelfCheck, Path | None]:
    """Generate the release, then autograde the solution and the blank release.

    The source with its solutions must earn full marks; the release as handed out
    must run without errors and score below the pass mark.
    """
    source = lab_source_dir(lab)
    lines: list[str] = []
    if not (source / lab.notebook).is_file():
        return SelfCheck(False, f"Source notebook {lab.notebook} not found."), None
    course_source = workdir / "source" / lab.slug
    course_source.mkdir(parents=True)
    for relative in [lab.notebook, *lab.data_files]:
        target = course_source / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (source / relative).is_file():
            return SelfCheck(False, f"Data file {relative} not found."), None
        shutil.copy2(source / relative, target)
    try:
        release = assignment_generate(root=workdir, assignment=lab.slug)
    except NbgraderError as error:
        return SelfCheck(False, str(error)), None
    lines.append("Release generated.")

    # Manually graded answers score nothing until an instructor grades them; the
    # source's own answers are the model answers, so they count at full marks.
    manual = _manual_points(course_source / lab.notebook)
    for student, folder in (("solution", course_source), ("release", release)):
        submitted = workdir / "submitted" / student / lab.slug
        shutil.copytree(folder, submitted)
        result = submission_autograde(
            root=workdir, assignment=lab.slug, student=student
        )
        score = result.score + (manual if student == "solution" else 0.0)
        lines.append(
            f"{student}: autograde {'ran' if result.success else 'FAILED'}, "
            f"score {score:g} of {result.max_score:g}"
        )
        if not result.success:
            lines.append(result.error or result.log)
            return SelfCheck(False, "\n".join(lines)), None
        if student == "solution":
            if manual:
                lines.append(
                    f"({result.score:g} autograded; {manual:g} in manually graded "
                    "answers, counted at full marks for the model answers)"
                )
            if result.max_score != float(lab.points):
                lines.append(
                    f"The notebook's graded cells total {result.max_score:g} points, "
                    f"but the lab says {lab.points:g}."
                )
                return SelfCheck(False, "\n".join(lines)), None
            if result.score != result.max_score - manual:
                lines.append("The solutions do not earn full marks.")
                return SelfCheck(False, "\n".join(lines)), None
        elif result.score >= result.max_score * lab.pass_mark / 100:
            lines.append("The blank release already reaches the pass mark.")
            return SelfCheck(False, "\n".join(lines)), None
    return SelfCheck(True, "\n".join(lines)), release


def lab_publish(*, lab: Lab) -> Lab:
    """Publish ``lab`` if its self-check passes; otherwise mark it failed, with why."""
    refused = _archive_extract(lab) if lab.source_archive else None
    with tempfile.TemporaryDirectory(prefix=f"lab-{lab.slug}-") as tmp:
        if refused:
            check, release = SelfCheck(False, refused), None
        else:
            check, release = _self_check(lab, Path(tmp))
        if check.ok and release is not None:
            target = lab_release_dir(lab)
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(release, target)
            if lab.source_sha256:
                (target / DIGEST_FILE).write_text(lab.source_sha256)
            (target / CHECK_FILE).write_text(check.report, encoding="utf-8")
    lab.status = Lab.Status.PUBLISHED if check.ok else Lab.Status.FAILED
    lab.check_log = check.report
    lab.checked_at = timezone.now()
    lab.save(update_fields=["status", "check_log", "checked_at"])
    log.info("Lab %s self-check: %s", lab.slug, "passed" if check.ok else "FAILED")
    return lab


# --- Single sign-on ---------------------------------------------------------------


def hub_oauth_client_ensure() -> None:
    """Register (or update) the hub as a confidential OAuth2 client of the site.

    ``skip_authorization``: the hub is part of the platform, so trainees are not
    asked to approve it; signed in to the site means signed in to their lab.
    """
    from oauth2_provider.models import Application

    redirect = f"{settings.JUPYTERHUB_URL}/hub/oauth_callback"
    app = Application.objects.filter(client_id=settings.HUB_OAUTH_CLIENT_ID).first()
    if app is None:
        app = Application(client_id=settings.HUB_OAUTH_CLIENT_ID)
    app.name = "JupyterHub labs"
    app.client_type = Application.CLIENT_CONFIDENTIAL
    app.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
    app.redirect_uris = redirect
    app.skip_authorization = True
    app.client_secret = settings.HUB_OAUTH_CLIENT_SECRET
    app.save()


# --- Launch ------------------------------------------------------------------------


@dataclass(frozen=True)
class Launch:
    status: str  # "ready" or "starting"
    lab_url: str
    progress_url: str


def lab_url(*, user: User, lab: Lab) -> str:
    name = hub.hub_username(user.pk)
    return f"{settings.JUPYTERHUB_URL}/user/{name}/lab/tree/{lab.slug}/{lab.notebook}"


def _session_record(user: User, lab: Lab, **fields) -> None:
    """Write what became of the trainee's session of ``lab`` (one write, made
    when the outcome is known)."""
    LabSession.objects.update_or_create(
        user=user, lab=lab, defaults={**fields, "updated_at": timezone.now()}
    )


def lab_launch(*, user: User, lab: Lab) -> Launch:
    """Make sure the trainee's hub user and server exist, and place the lab.

    Returns at once: "ready" when the server already runs (the files are placed),
    otherwise "starting" — the browser follows progress at ``progress_url`` and
    the files are placed when the server is ready (``lab_files_place``).
    """
    if lab.status != Lab.Status.PUBLISHED:
        raise LabError(_("This lab is not available yet."))
    name = hub.hub_username(user.pk)
    # A trainee's first lab: their hub user is created before the start is asked
    # for (one request fewer than a refused start); otherwise the hub has it,
    # unless its database was reset, which the refused start then shows.
    first_lab = not LabSession.objects.filter(user=user).exists()
    try:
        if first_lab:
            hub.user_ensure(name)
        try:
            status = hub.server_start(name)
        except hub.NoHubUser:  # a hub that lost its users
            hub.user_ensure(name)
            status = hub.server_start(name)
    except hub.HubError as error:
        _session_record(user, lab, state=LabSession.State.FAILED, last_error=str(error))
        raise _lab_error(error) from error
    progress_url = reverse("labs:progress", kwargs={"slug": lab.slug})
    if status.ready:
        lab_files_place(user=user, lab=lab)
        return Launch("ready", lab_url(user=user, lab=lab), progress_url)
    _session_record(
        user,
        lab,
        state=LabSession.State.STARTING,
        started_at=timezone.now(),
        last_error="",
    )
    return Launch("starting", lab_url(user=user, lab=lab), progress_url)


class _ServerFolders:
    """What is in the lab's folders of a trainee's server, one listing per folder.

    ``holds(path)`` answers whether ``path`` is there, creating the folders on its
    way that are missing; a folder created here is known empty, so a fresh server
    costs no listing beyond the lab's own folder.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: dict[str, dict[str, str]] = {}

    def holds(self, path: str) -> bool:
        folder, _, entry = path.rpartition("/")
        return entry in self.folder(folder)

    def folder(self, path: str) -> dict[str, str]:
        """The entries of folder ``path``, which exists once this returns."""
        if path in self.entries:
            return self.entries[path]
        parent, _, entry = path.rpartition("/")
        listed = None
        if not parent or entry in self.folder(parent):
            listed = hub.contents_listing(self.name, path)
        if listed is None:
            hub.contents_put_directory(self.name, path)
            listed = {}
            if parent:
                self.entries[parent][entry] = "directory"
        self.entries[path] = listed
        return listed


def lab_files_place(*, user: User, lab: Lab, reset: bool = False) -> None:
    """Put the release notebook and data in the trainee's server.

    Never overwrites: a notebook or data file already there is the trainee's work
    and stays. ``reset=True`` (the explicit "reset to original") first keeps the
    trainee's notebook under a dated name, then places a fresh copy.
    """
    name = hub.hub_username(user.pk)
    release = lab_release_dir(lab)
    if not release.exists():
        raise LabError(
            _("This lab's files are missing; ask an instructor to publish it.")
        )
    # The release as published (validated then), sent as its bytes: the server
    # writes them without reading the notebook again (13 ms as a notebook model,
    # 5 ms as a file here).
    files = {
        relative: (release / relative).read_bytes()
        for relative in [lab.notebook, *lab.data_files]
    }
    try:
        if reset:
            _notebook_reset(name, lab, files[lab.notebook])
        if hub.files_place(name, lab.slug, files) is None:
            _files_place_one_by_one(name, lab.slug, files)
    except hub.HubError as error:
        _session_record(user, lab, state=LabSession.State.FAILED, last_error=str(error))
        raise _lab_error(error) from error
    _session_record(
        user,
        lab,
        state=LabSession.State.RUNNING,
        placed_version=lab.version,
        last_error="",
    )


def _notebook_reset(name: str, lab: Lab, release: bytes) -> None:
    """Keep the trainee's notebook under a dated name and put the release in its
    place (nothing to keep when it is not there: placing puts it)."""
    notebook_path = f"{lab.slug}/{lab.notebook}"
    if not hub.contents_exists(name, notebook_path):
        return
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    kept = hub.contents_get_notebook(name, notebook_path)
    hub.contents_put_notebook(
        name, f"{lab.slug}/{Path(lab.notebook).stem}-{stamp}.ipynb", kept
    )
    hub.contents_put_file(name, notebook_path, release)


def _files_place_one_by_one(name: str, folder: str, files: dict[str, bytes]) -> None:
    """``hub.files_place`` through the contents API, for a server without the
    place endpoint: one listing per folder that exists, one PUT per folder and
    file that does not."""
    folders = _ServerFolders(name)
    for relative, data in files.items():
        path = f"{folder}/{relative}"
        if not folders.holds(path):
            hub.contents_put_file(name, path, data)


def lab_stop(*, user: User) -> None:
    """Stop the trainee's lab server (their files stay in their home)."""
    try:
        hub.server_stop(hub.hub_username(user.pk))
    except hub.HubError as error:
        raise _lab_error(error) from error
    with transaction.atomic():
        LabSession.objects.filter(user=user).exclude(
            state=LabSession.State.NOT_STARTED
        ).update(state=LabSession.State.STOPPED, updated_at=timezone.now())
        reader_state_bump(user_ids=[user.pk])
