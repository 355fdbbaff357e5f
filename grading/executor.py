"""Running a submitted notebook's cells for nbgrader, inside the grading sandbox.

Part of the nbgrader adapter (``grading.nbgrader``): nbgrader's ``Execute`` runs
every cell of a notebook and records errors; for untrusted code it needs more, and
this module adds it:

- the kernel starts in ``grading.sandbox`` (own uid, namespaces, limits);
- a time budget for the whole notebook on top of nbgrader's per-cell timeout, and a
  watchdog that kills the kernel if the job overruns it anyway;
- a cell that ignores the interrupt sent at its time limit gets the kernel killed,
  instead of nbclient's exception (whose message quotes the cell's source, hidden
  tests included) failing the whole grading;
- a dead kernel becomes failed cells: the cell it died in and every later cell carry
  an error output, so nbgrader can never count them as passed (it passes any test
  cell without an error output);
- output is capped as it arrives (nbgrader's ``LimitOutput`` only trims afterwards,
  when it is all in the worker's memory); errors are always kept;
- IPython's hooks (events, input and AST transformers, ``sys.excepthook``, and the
  methods of the shell, kernel and session classes) are put back to their state at
  kernel start before every test cell, so trainee code cannot watch or rewrite the
  tests as they run; a test whose guard cannot be put back is not run (and fails).

Trainee code runs in the same interpreter as the tests, so this guard stops the
known ways in, not a determined attacker (threads, frame inspection); what the
trainee can see is filtered again in ``grading.feedback``. See docs/grading.md.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from grading import sandbox

log = logging.getLogger(__name__)

# Error names of the outputs this module writes into cells it stopped or skipped.
KERNEL_DIED = "KernelDied"
NOT_RUN = "NotRun"
CELL_TIMEOUT = "CellTimeoutError"  # nbgrader's own name for a timed-out cell
GUARD_FAILED = "GraderGuardError"


class KernelStartError(Exception):
    """The kernel did not start in the sandbox: an infrastructure problem."""


@dataclass
class Job:
    """What the executor learns while one notebook runs."""

    deadline: float
    cells_started: int = 0
    kernel_died: bool = False
    kernel_stuck: str = ""  # the cell that ignored its interrupt
    job_time_exceeded: bool = False
    guard_failed: list[str] = field(default_factory=list)
    output_bytes: int = 0
    output_truncated: bool = False
    timed_out: list[str] = field(default_factory=list)
    stop_reason: str = ""  # why later cells are not run

    @property
    def stopped(self) -> bool:
        return bool(self.stop_reason)


_job: Job | None = None


@contextmanager
def job_run(*, seconds: float, box: sandbox.Sandbox):
    """Track one notebook's execution; past ``seconds`` (+ a grace for the cell
    that was running) a watchdog kills whatever the job still runs."""
    global _job
    job = Job(deadline=time.monotonic() + seconds)
    grace = min(10.0, settings.GRADING_CELL_TIMEOUT + 5.0)

    def overrun() -> None:
        job.job_time_exceeded = True
        job.stop_reason = job.stop_reason or "job_time"
        log.warning("Grading job %s overran its time; killing it.", box.job_dir.name)
        box.kill_processes()

    watchdog = threading.Timer(seconds + grace, overrun)
    watchdog.daemon = True
    _job = job
    watchdog.start()
    try:
        yield job
    finally:
        watchdog.cancel()
        _job = None


# --- The guard --------------------------------------------------------------------

GUARD_SETUP = r"""
def _silkroute_guard_setup():
    import sys, types
    ip = get_ipython()
    kernel = getattr(ip, "kernel", None)
    session = getattr(kernel, "session", None)
    owners = [o for o in (ip, kernel, session, ip.events, ip.displayhook,
                          ip.display_pub, ip.display_formatter) if o is not None]
    classes = []
    for owner in owners:
        for cls in type(owner).__mro__:
            if cls is not object and cls not in classes:
                classes.append(cls)
    skip = {"__dict__", "__weakref__", "__doc__", "__module__", "__qualname__"}
    saved = {
        "classes": [(cls, dict(vars(cls))) for cls in classes],
        "owners": [(o, set(vars(o))) for o in owners],
        "events": {k: list(v) for k, v in ip.events.callbacks.items()},
        "cleanup": list(ip.input_transformers_cleanup),
        "post": list(ip.input_transformers_post),
        "ast": list(ip.ast_transformers),
        "hooks": (sys.excepthook, sys.displayhook, sys.settrace, sys.setprofile),
        "trace": (sys.gettrace(), sys.getprofile()),
    }
    def restore():
        for cls, attrs in saved["classes"]:
            for name in [n for n in vars(cls) if n not in attrs and n not in skip]:
                delattr(cls, name)
            for name, value in attrs.items():
                if name not in skip and vars(cls).get(name) is not value:
                    setattr(cls, name, value)
        for owner, names in saved["owners"]:
            for name in [n for n in vars(owner) if n not in names]:
                if callable(getattr(type(owner), name, None)) or callable(
                    vars(owner)[name]
                ):
                    del vars(owner)[name]
        ip.events.callbacks.clear()
        ip.events.callbacks.update({k: list(v) for k, v in saved["events"].items()})
        ip.input_transformers_cleanup[:] = saved["cleanup"]
        ip.input_transformers_post[:] = saved["post"]
        ip.ast_transformers[:] = saved["ast"]
        sys.excepthook, sys.displayhook, sys.settrace, sys.setprofile = saved["hooks"]
        sys.settrace(saved["trace"][0])
        sys.setprofile(saved["trace"][1])
        return "@TOKEN@"
    module = types.ModuleType("_silkroute_guard")
    module.restore = restore
    sys.modules["_silkroute_guard"] = module
_silkroute_guard_setup()
del _silkroute_guard_setup
"""
# Evaluated as a user expression of an empty execute request: IPython evaluates
# those directly, past the input and AST transformers that trainee code may have
# installed to rewrite it. The token it returns proves the real guard ran.
GUARD_RESTORE = "__import__('sys').modules['_silkroute_guard'].restore()"


def _error(ename: str, evalue: str):
    from nbformat.v4 import new_output

    return new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
    )


def _output_size(content: dict) -> int:
    """Roughly the bytes an output adds: cheap (no JSON), counts every string."""
    size = 64
    for key in ("text", "ename", "evalue"):
        value = content.get(key)
        if isinstance(value, str):
            size += len(value)
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(repr(value))
    for line in content.get("traceback") or ():
        size += len(line) if isinstance(line, str) else 64
    return size


_executor_class = None


def executor_class() -> type:
    """nbgrader's Execute, made to run in the sandbox and hold the job's limits.

    Built on first use: importing nbgrader is slow.
    """
    global _executor_class
    if _executor_class is not None:
        return _executor_class
    from jupyter_core.utils import ensure_async, run_sync
    from nbclient.client import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbgrader.preprocessors import Execute

    class SandboxExecute(Execute):
        """nbgrader's Execute with the sandbox, limits and guard of this module."""

        startup_timeout = 30  # a kernel that does not answer by then is broken
        shutdown_kernel = "immediate"  # a used kernel is killed, never waited for

        def __init__(self, **kwargs: Any):
            kwargs["kernel_manager_class"] = sandbox.SandboxKernelManager
            super().__init__(**kwargs)

        def preprocess(self, nb, resources=None, km=None):
            """nbconvert's ``ExecutePreprocessor.preprocess``, plus the guard set
            up before any cell runs. A kernel that fails to start or to take the
            guard raises: that is ours to fix, not the trainee's."""
            path = (resources or {}).get("metadata", {}).get("path")
            if path and sandbox.current is not None:
                sandbox.current.workdir_share(Path(path))
            NotebookClient.__init__(self, nb, km)
            self.reset_execution_trackers()
            self._check_assign_resources(resources)
            try:
                with self.setup_kernel():
                    info = self.wait_for_reply(self.kc.kernel_info())
                    if not info:
                        raise KernelStartError("the kernel did not answer")
                    self.nb.metadata["language_info"] = info["content"]["language_info"]
                    self._guard_token = secrets.token_hex(16)
                    reply = run_sync(self._silent)(
                        GUARD_SETUP.replace("@TOKEN@", self._guard_token)
                    )
                    if not reply or reply["content"].get("status") != "ok":
                        raise KernelStartError("the kernel did not take the guard")
                    for index, cell in enumerate(self.nb.cells):
                        self.preprocess_cell(cell, resources, index)
            except (RuntimeError, TimeoutError) as error:
                if _job is None or _job.cells_started == 0:
                    raise KernelStartError(
                        f"the kernel did not start: {type(error).__name__}"
                    ) from error
                raise
            self.set_widgets_metadata()
            return self.nb, self.resources

        # nbclient binds ``execute_cell`` to its own coroutine at class creation,
        # so overriding ``async_execute_cell`` alone would never be called.
        def execute_cell(
            self, cell, cell_index, execution_count=None, store_history=True
        ):
            return run_sync(self.async_execute_cell)(
                cell, cell_index, execution_count, store_history
            )

        def _get_timeout(self, cell):
            timeout = super()._get_timeout(cell)
            if _job is None or timeout is None:
                return timeout
            return max(1, min(timeout, int(_job.deadline - time.monotonic()) + 1))

        async def async_execute_cell(
            self, cell, cell_index, execution_count=None, store_history=True
        ):
            job = _job
            if cell.cell_type != "code" or not cell.source.strip() or job is None:
                return await super().async_execute_cell(
                    cell, cell_index, execution_count, store_history
                )
            meta = cell.metadata.get("nbgrader", {})
            name = meta.get("grade_id") or f"cell {cell_index + 1}"
            if not job.stopped and time.monotonic() >= job.deadline:
                job.job_time_exceeded = True
                job.stop_reason = "job_time"
            if job.stopped:
                cell.outputs = [_error(NOT_RUN, f"not run ({job.stop_reason})")]
                return cell
            is_test = bool(meta.get("grade") and not meta.get("solution"))
            if is_test and not await self._guard_restore():
                job.guard_failed.append(name)
                cell.outputs = [_error(GUARD_FAILED, "the notebook changed the grader")]
                return cell
            job.cells_started += 1
            try:
                result = await super().async_execute_cell(
                    cell, cell_index, execution_count, store_history
                )
            except DeadKernelError:
                if not job.stopped:
                    job.kernel_died = True
                    job.stop_reason = "kernel_died"
                cell.outputs = [_error(KERNEL_DIED, "the kernel stopped")]
                return cell
            except CellTimeoutError:
                # The kernel ignored the interrupt sent at the time limit.
                job.timed_out.append(name)
                job.kernel_stuck = name
                job.stop_reason = job.stop_reason or "kernel_stuck"
                if sandbox.current is not None:
                    sandbox.current.kill_processes()
                cell.outputs = [_error(CELL_TIMEOUT, "")]
                return cell
            if any(
                o.get("output_type") == "error" and o.get("ename") == CELL_TIMEOUT
                for o in cell.outputs
            ):
                job.timed_out.append(name)
                # the KeyboardInterrupt is ours, and its traceback shows the source
                cell.outputs = [
                    o
                    for o in cell.outputs
                    if not (
                        o.get("output_type") == "error"
                        and o.get("ename") == "KeyboardInterrupt"
                    )
                ]
            if is_test:
                # nbgrader scores a test cell by its first error or value output;
                # trainee code can publish a value (partial credit) before the
                # error, so errors go first.
                outputs = cell.outputs
                cell.outputs = [o for o in outputs if o.get("output_type") == "error"]
                cell.outputs += [o for o in outputs if o.get("output_type") != "error"]
            return result

        async def _guard_restore(self) -> bool:
            msg_id = await ensure_async(
                self.kc.execute(
                    "",
                    silent=True,
                    store_history=False,
                    user_expressions={"guard": GUARD_RESTORE},
                )
            )
            reply = await self.async_wait_for_reply(msg_id)
            try:
                value = reply["content"]["user_expressions"]["guard"]
                text = value["data"]["text/plain"]
            except (KeyError, TypeError):
                return False
            return value.get("status") == "ok" and text == repr(self._guard_token)

        async def _silent(self, code: str):
            msg_id = await ensure_async(
                self.kc.execute(code, silent=True, store_history=False)
            )
            return await self.async_wait_for_reply(msg_id)

        def output(self, outs, msg, display_id, cell_index):
            job = _job
            if job is None:
                return super().output(outs, msg, display_id, cell_index)
            content = msg.get("content", {})
            limit = settings.GRADING_MAX_OUTPUT_KB * 1024
            size = _output_size(content)
            job.output_bytes += size
            if msg.get("msg_type") == "error":  # never dropped: it fails the test
                return super().output(outs, msg, display_id, cell_index)
            if job.output_bytes <= limit:
                return super().output(outs, msg, display_id, cell_index)
            room = limit - (job.output_bytes - size)
            if (
                not job.output_truncated
                and room > 0
                and msg.get("msg_type") == "stream"
                and isinstance(content.get("text"), str)
            ):
                msg = {**msg, "content": {**content, "text": content["text"][:room]}}
                super().output(outs, msg, display_id, cell_index)
            if not job.output_truncated:
                job.output_truncated = True
                from nbformat.v4 import new_output

                # on stdout: nbgrader fails a test cell with any stderr output
                outs.append(
                    new_output("stream", name="stdout", text="\n[output truncated]\n")
                )
            return None

    _executor_class = SandboxExecute
    return SandboxExecute
