"""Bad input, each with its own test: what a trainee's notebook may do to the grader.

Every test grades a real notebook of the grading lab end to end (store, claim,
sandboxed nbgrader run, our models) and checks the outcome and what the trainee is
told. Timeouts are small so the file stays quick.
"""

import json
import os

import psutil
import pytest

from grading import feedback, sandbox, services
from grading.models import Submission
from tests.grading.helpers import RIGHT, as_bytes, notebook_with

pytestmark = pytest.mark.engine_free

ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="the strict sandbox needs root")
DOUBLE = RIGHT["double"]


@pytest.fixture(autouse=True)
def quick(settings):
    settings.GRADING_CELL_TIMEOUT = 2
    settings.GRADING_JOB_TIMEOUT = 8


@pytest.fixture
def jobs(monkeypatch):
    """The uid and cgroups of every sandbox closed during the test."""
    closed: list[tuple[int | None, list]] = []
    close = sandbox.Sandbox.close

    def recording_close(box):
        closed.append((box.uid, list(box.cgroups)))
        close(box)

    monkeypatch.setattr(sandbox.Sandbox, "close", recording_close)
    return closed


def grade(lab, user, answers, *, drop=(), notebook=None) -> Submission:
    notebook = notebook or notebook_with(lab, answers, drop=drop)
    submission = services.submission_create(user=user, lab=lab, data=as_bytes(notebook))
    return services.submission_autograde(submission_id=submission.pk)


def cells(submission) -> dict:
    return {c.grade_id: c for c in submission.cells.all()}


def notes(submission) -> dict:
    return {n["code"]: feedback.note_text(n) for n in submission.notes}


def visible(submission) -> str:
    """Everything the trainee can read about a grading."""
    submission.refresh_from_db()
    return "\n".join(
        [
            submission.error,
            *notes(submission).values(),
            *(
                json.dumps(c.feedback, ensure_ascii=False)
                for c in submission.cells.all()
            ),
        ]
    )


def assert_no_hidden_test(submission, lab):
    from grading.nbgrader import template_cells, template_ensure

    text = visible(submission)
    for line in template_cells(template_ensure(lab)).hidden_lines:
        assert line not in text
        assert "".join(line.split()) not in "".join(text.split())


def assert_nothing_left(closed):
    assert closed, "no sandbox was used"
    for uid, groups in closed:
        if uid is not None:
            # A zombie has exited (it runs nothing, holds no memory); it only waits
            # for whichever process adopted it to reap it.
            alive = [
                p.pid
                for p in psutil.process_iter(["uids", "status"])
                if p.info["uids"]
                and uid in p.info["uids"]
                and p.info["status"] != psutil.STATUS_ZOMBIE
            ]
            assert alive == [], f"processes of grading uid {uid} survived"
        for group in groups:
            assert not group.exists(), f"cgroup {group} was left behind"


# --- Changed test cells ---------------------------------------------------------------


def test_an_edited_test_cell_is_restored_and_run(grading_lab, trainee, queued):
    """A wrong double() with its visible test edited to `assert True`: the original
    test runs and fails, and the note names the restored cell."""
    graded = grade(
        grading_lab,
        trainee,
        {**RIGHT, "double": "def double(x):\n    return 3 * x", "double_tests": "1"},
    )
    assert cells(graded)["double_tests"].points == 0
    assert cells(graded)["double_tests"].feedback["outcome"] == "failed"
    assert "restored to the originals: double_tests" in notes(graded)["cells_restored"]


def test_a_deleted_test_cell_is_restored_and_run(grading_lab, trainee, queued):
    """mean_tests deleted and mean() wrong: the hidden test is put back, runs, and
    fails; a right mean() with the same deletion still earns its points."""
    wrong = grade(
        grading_lab,
        trainee,
        {**RIGHT, "mean": "def mean(values):\n    return 0"},
        drop=("mean_tests",),
    )
    assert cells(wrong)["mean_tests"].points == 0
    assert cells(wrong)["mean_tests"].feedback == {
        "outcome": "failed_hidden",
        "error": "AssertionError",
    }
    assert "mean_tests" in notes(wrong)["cells_restored"]
    right = grade(grading_lab, trainee, RIGHT, drop=("mean_tests",))
    assert cells(right)["mean_tests"].points == 2


# --- Time -----------------------------------------------------------------------------


def test_an_infinite_loop_is_stopped_at_the_cell_time_limit(
    grading_lab, trainee, queued
):
    """`while True: pass` instead of double(): that cell is stopped after
    GRADING_CELL_TIMEOUT, the rest runs, the note names the cell."""
    graded = grade(grading_lab, trainee, {**RIGHT, "double": "while True:\n    pass"})
    assert graded.status == "graded"
    assert cells(graded)["double_tests"].points == 0  # double() never defined
    assert cells(graded)["mean_tests"].points == 2  # later cells still ran
    assert (
        "longer than 2 seconds and was stopped: double" in notes(graded)["cell_timeout"]
    )


def test_a_loop_after_a_correct_function_still_lets_its_tests_pass(
    grading_lab, trainee, queued, settings
):
    """The function is defined before the loop starts, so its tests pass; the note
    says the cell was stopped. (A cell's time counts from its request, so on a
    machine too busy for the kernel to reach the ``def`` within 2 s the interrupt
    came first and the test failed; 6 s leaves room.)"""
    settings.GRADING_CELL_TIMEOUT = 6
    settings.GRADING_JOB_TIMEOUT = 30
    graded = grade(
        grading_lab, trainee, {**RIGHT, "double": DOUBLE + "\nwhile True:\n    pass"}
    )
    assert cells(graded)["double_tests"].points == 2
    assert "was stopped: double" in notes(graded)["cell_timeout"]


def test_a_loop_that_ignores_the_interrupt_ends_the_job_without_hanging(
    grading_lab, trainee, queued, jobs
):
    """KeyboardInterrupt caught and ignored: the kernel is killed within the job
    limit, later cells are 'not run' and earn nothing, the notes explain."""
    loop = (
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except BaseException:\n        pass"
    )
    graded = grade(grading_lab, trainee, {**RIGHT, "double": DOUBLE + "\n" + loop})
    by_id = cells(graded)
    assert by_id["double_tests"].feedback["outcome"] == "not_run"
    assert by_id["mean_tests"].feedback["outcome"] == "not_run"
    assert graded.score == 0 and graded.status == "graded"
    assert (
        "Cell double kept running after it was interrupted"
        in notes(graded)["kernel_stuck"]
    )
    assert_nothing_left(jobs)


# --- Memory and a dying kernel --------------------------------------------------------


@ROOT
def test_a_memory_bomb_fails_and_leaves_the_worker_unharmed(
    grading_lab, trainee, queued, settings, jobs
):
    """Allocating without end: the kernel hits the memory limit (killed, or a
    MemoryError); nothing passes after it; the worker's memory barely moves. The
    memory limit must end the cell, not its clock: stopped by the time limit it is a
    loop after a correct function, whose tests pass (as the test above); on a busy
    machine 512 MB took longer than 2 s and the bomb scored full marks."""
    settings.GRADING_MEMORY_MB = 512
    settings.GRADING_CELL_TIMEOUT = 30
    settings.GRADING_JOB_TIMEOUT = 60
    before = psutil.Process().memory_info().rss
    bomb = "blocks = []\nwhile True:\n    blocks.append(bytearray(2**24))"
    graded = grade(grading_lab, trainee, {**RIGHT, "double": DOUBLE + "\n" + bomb})
    assert psutil.Process().memory_info().rss - before < 100 * 2**20
    assert graded.status == "graded" and graded.score == 0
    assert "kernel_died" in notes(graded) or "MemoryError" in visible(graded)
    assert_nothing_left(jobs)


@pytest.mark.parametrize(
    "ending",
    [
        "import os\nos._exit(0)",
        "import ctypes\nctypes.string_at(0)",  # SIGSEGV
    ],
    ids=["os_exit", "segfault"],
)
def test_a_dead_kernel_is_never_a_pass(grading_lab, trainee, queued, ending):
    """os._exit or a crash right after a correct function: nbgrader would pass the
    test cells that never ran (no error output); here they are 'not run', the
    submission fails, and the kernel_died note says why."""
    graded = grade(grading_lab, trainee, {**RIGHT, "double": DOUBLE + "\n" + ending})
    by_id = cells(graded)
    assert by_id["double_tests"].points == 0 and by_id["mean_tests"].points == 0
    assert by_id["double_tests"].feedback["outcome"] == "not_run"
    assert graded.status == "graded" and graded.score == 0
    assert "Your code stopped the Python kernel" in notes(graded)["kernel_died"]


# --- Processes ------------------------------------------------------------------------


@ROOT
def test_a_fork_bomb_is_contained_and_nothing_survives(
    grading_lab, trainee, queued, jobs
):
    """Every child forks again: the process limit holds them, the job ends on time,
    and afterwards no process of the job's uid and none of its cgroups remain."""
    bomb = (
        "import os, time\n"
        "def bomb():\n"
        "    while True:\n"
        "        try:\n"
        "            os.fork()\n"
        "        except OSError:\n"
        "            time.sleep(0.05)\n"
        "bomb()"
    )
    graded = grade(grading_lab, trainee, {**RIGHT, "double": DOUBLE + "\n" + bomb})
    assert graded.status == "graded"
    assert_nothing_left(jobs)


@ROOT
def test_background_processes_do_not_survive_the_job(
    grading_lab, trainee, queued, jobs
):
    """A new-session `sleep` and a double-forked daemon: the tests still pass, and
    after the job no process of its uid is left."""
    spawn = (
        "import os, subprocess\n"
        "subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.execvp('sleep', ['sleep', '301'])\n"
        "    os._exit(0)\n"
        "os.wait()"
    )
    graded = grade(grading_lab, trainee, {**RIGHT, "double": DOUBLE + "\n" + spawn})
    assert cells(graded)["double_tests"].points == 2
    assert_nothing_left(jobs)


# --- Output ---------------------------------------------------------------------------


def test_a_hundred_thousand_lines_are_cut_and_graded(
    grading_lab, trainee, queued, settings
):
    """100k printed lines: kept up to GRADING_MAX_OUTPUT_KB, the rest dropped with a
    note; the grade is unaffected and what is stored stays small."""
    settings.GRADING_MAX_OUTPUT_KB = 256
    flood = "for i in range(100_000):\n    print(i)"
    graded = grade(grading_lab, trainee, {**RIGHT, "double": DOUBLE + "\n" + flood})
    assert graded.score == 4
    assert "more than 256 KB of output" in notes(graded)["output_truncated"]
    assert len(visible(graded)) < 2000


def test_fifty_megabytes_of_output_keep_the_worker_small(grading_lab, trainee, queued):
    """50 MB written to stdout: graded, truncated with a note, and the worker's
    memory does not grow by anything like 50 MB."""
    flood = "import sys\nfor _ in range(50):\n    sys.stdout.write('x' * 2**20)"
    before = psutil.Process().memory_info().rss
    graded = grade(grading_lab, trainee, {**RIGHT, "double": DOUBLE + "\n" + flood})
    assert psutil.Process().memory_info().rss - before < 40 * 2**20
    assert graded.score == 4
    assert "output_truncated" in notes(graded)
    assert len(visible(graded)) < 2000


# --- Tricks ---------------------------------------------------------------------------


def test_an_always_equal_object_does_not_pass(grading_lab, trainee, queued):
    """double() returns an object whose __eq__ is always True (and every other
    comparison too): the test checks the type, so it fails."""
    cheat = (
        "class Anything:\n"
        "    def __eq__(self, other):\n        return True\n"
        "    __ne__ = lambda self, other: False\n"
        "    __hash__ = object.__hash__\n"
        "def double(x):\n    return Anything()"
    )
    graded = grade(grading_lab, trainee, {**RIGHT, "double": cheat})
    assert cells(graded)["double_tests"].points == 0
    assert cells(graded)["double_tests"].feedback["outcome"] == "failed"


@pytest.mark.parametrize(
    "disable",
    [
        "get_ipython().showtraceback = lambda *a, **k: None",
        "shell = type(get_ipython())\n"
        "shell.showtraceback = lambda *a, **k: None\n"
        "shell._showtraceback = lambda *a, **k: None\n"
        "shell.showsyntaxerror = lambda *a, **k: None",
    ],
    ids=["instance", "class"],
)
def test_a_disabled_traceback_does_not_hide_a_failure(
    grading_lab, trainee, queued, disable
):
    """showtraceback silenced on the shell or its class: the failing test still
    fails (the reply's status counts, and the guard puts IPython back)."""
    wrong = "def double(x):\n    return 3 * x\n" + disable
    graded = grade(grading_lab, trainee, {**RIGHT, "double": wrong})
    assert cells(graded)["double_tests"].points == 0
    assert cells(graded)["double_tests"].feedback["outcome"] == "failed"


def test_a_forged_partial_credit_value_does_not_count(grading_lab, trainee, queued):
    """nbgrader gives partial credit for a number a test cell outputs; a wrong
    double() that publishes one before failing still gets nothing."""
    forge = "def double(x):\n    get_ipython().displayhook(2.0)\n    return 3 * x"
    graded = grade(grading_lab, trainee, {**RIGHT, "double": forge})
    assert cells(graded)["double_tests"].points == 0


LEAK = (
    "def double(x):\n"
    "    seen = [s for s in SEEN if s.strip()]\n"
    "    if seen:\n"
    "        raise ValueError(' | '.join(seen))\n"
    "    return 2 * x\n"
)
HOOKS = {
    "pre_run_cell": (
        "SEEN = []\n"
        "get_ipython().events.register("
        "'pre_run_cell', lambda info: SEEN.append(info.raw_cell))\n"
    ),
    "input_transformer": (
        "SEEN = []\n"
        "def spy(lines):\n"
        "    SEEN.append(''.join(lines))\n"
        "    # and try to switch the grader's guard off\n"
        "    return ['None\\n'] if '_silkroute_guard' in ''.join(lines) else lines\n"
        "get_ipython().input_transformers_post.append(spy)\n"
    ),
    "ast_transformer": (
        "import ast\n"
        "SEEN = []\n"
        "class Spy(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        SEEN.append(ast.unparse(node))\n"
        "        return node\n"
        "get_ipython().ast_transformers.append(Spy())\n"
    ),
    "excepthook_and_traceback": (
        "import sys, traceback\n"
        "SEEN = []\n"
        "sys.excepthook = lambda *info: SEEN.append(str(info))\n"
        "shell = type(get_ipython())\n"
        "original = shell.showtraceback\n"
        "def spy(self, *a, **k):\n"
        "    SEEN.append(''.join(traceback.format_exc()))\n"
        "    return original(self, *a, **k)\n"
        "shell.showtraceback = spy\n"
    ),
}


@pytest.mark.parametrize("hook", list(HOOKS))
def test_an_ipython_hook_cannot_leak_hidden_tests(grading_lab, trainee, queued, hook):
    """Trainee code installs a hook that would see the test cells' source and makes
    double()/mean() raise it into the tests' error messages: the hook is removed
    before each test (so the tests pass), and nothing the trainee can read holds a
    hidden test line."""
    graded = grade(grading_lab, trainee, {**RIGHT, "double": HOOKS[hook] + LEAK})
    assert cells(graded)["double_tests"].points == 2
    assert cells(graded)["mean_tests"].points == 2
    assert_no_hidden_test(graded, grading_lab)


def test_hidden_test_source_read_at_run_time_is_withheld(grading_lab, trainee, queued):
    """A function called by a test can read the test's source (linecache) and raise
    it: the error text is withheld whenever it holds a hidden line."""
    leak = (
        "import linecache, sys\n"
        "def double(x):\n"
        "    caller = sys._getframe(1).f_code.co_filename\n"
        "    raise ValueError(''.join(linecache.getlines(caller)))\n"
    )
    graded = grade(grading_lab, trainee, {**RIGHT, "double": leak})
    assert cells(graded)["double_tests"].feedback == {
        "outcome": "failed",
        "error": "ValueError (details withheld)",
    }
    assert_no_hidden_test(graded, grading_lab)


def test_a_failing_hidden_test_is_named_without_its_details(
    grading_lab, trainee, queued
):
    """double() right for the visible test, wrong for the hidden one: the cell says
    a hidden test failed and shows no message (it could hold expected values)."""
    wrong = "def double(x):\n    return 2 * x if x > 0 else 0"
    graded = grade(grading_lab, trainee, {**RIGHT, "double": wrong})
    assert cells(graded)["double_tests"].feedback == {
        "outcome": "failed_hidden",
        "error": "AssertionError",
    }
    assert feedback.cell_outcome_text("failed_hidden").startswith("A hidden test")


# --- Infrastructure -------------------------------------------------------------------


@ROOT
def test_a_kernel_that_cannot_start_is_an_infrastructure_error(
    grading_lab, trainee, queued, settings
):
    """No room for Python under the memory limit: that is ours to fix, so the
    submission goes back to the queue for a retry instead of getting a grade."""
    settings.GRADING_MEMORY_MB = 8
    submission = services.submission_create(
        user=trainee,
        lab=grading_lab,
        data=as_bytes(notebook_with(grading_lab, RIGHT)),
    )
    with pytest.raises(services.GradingInfraError, match="kernel did not start"):
        services.submission_autograde(submission_id=submission.pk)
    submission.refresh_from_db()
    assert submission.status == "queued" and not submission.cells.exists()
