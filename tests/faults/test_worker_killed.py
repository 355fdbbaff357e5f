"""The Celery worker killed in the middle of grading (issue 9): nothing lost,
nothing graded twice, no submission left "grading".

The whole worker (main process and pool) is SIGKILLed while a submission's kernel
runs. Its message stays unacknowledged on Redis for the visibility timeout (900 s,
unchanged here), so what brings the submission back is the start-up sweep of the
next workers: its grader (host, pid, start time) is dead, and the sweep puts it back
in the queue by compare-and-set. Two workers start at once, so two sweeps race for
it: one wins.
"""

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from tests.faults.conftest import USERS, api_token, wait_for
from tests.grading.test_worker import SLOW, _dead_job, dead_jobs  # noqa: F401

pytestmark = pytest.mark.production

USER = USERS[0]


def _grading_pool_process(platform, pk: int, worker) -> psutil.Process:
    """The pool process of ``worker`` grading ``pk``, once its kernel runs."""

    def kernel_running():
        row = platform.submission(pk)
        if row["status"] != "grading":
            return None
        pid = int(row["grader"].split(":")[1])
        pool = {p.pid: p for p in worker.pool()}
        if pid not in pool:
            return None
        kernels = [
            p
            for p in pool[pid].children(recursive=True)
            if "ipykernel" in " ".join(p.cmdline())
        ]
        return kernels and pool[pid]

    return wait_for(kernel_running, "the grading's kernel to start")


def test_a_killed_worker_s_grading_is_requeued_once_and_graded_once(
    platform,
    workers,
    dead_jobs,  # noqa: F811
):
    """SIGKILL to the worker and its pool mid-grading: the row stays "grading" by a
    dead grader; of the two workers started next, one sweep requeues it (the other
    finds it taken), and it is graded once: one row, one set of cell grades, no
    grader left."""
    first = workers()
    with platform.client() as client:
        pk = platform.submit(client, api_token(client, USER), platform.notebook(SLOW))
    grader = _grading_pool_process(platform, pk, first)
    dead = platform.submission(pk)["grader"]
    dead_jobs.append(_dead_job(grader))

    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    psutil.wait_procs([grader], timeout=10)
    row = platform.submission(pk)
    assert (row["status"], row["grader"]) == ("grading", dead)

    with ThreadPoolExecutor(2) as pool:
        second, third = pool.map(lambda _: workers(), range(2))
    graded = platform.graded(pk, second, third)

    sweeps = [
        w.output().count("Re-queued 1 stuck submissions") for w in (second, third)
    ]
    assert sorted(sweeps) == [0, 1], [w.output() for w in (second, third)]
    # the killed claim, then the requeued one (more only if that grading met an
    # infrastructure error and its task retried, as a kernel slow to start can)
    assert graded["deliveries"] >= 2
    assert graded["cells"] == 3 and graded["score"] == 4
    assert graded["grader"] == "" and graded["unsent"] is False
    assert [(s["id"], s["status"]) for s in platform.submissions(USER)] == [
        (pk, "graded")
    ]
