"""The whole journey, in Chromium, against the production-shaped run.

A newcomer registers (verifying the email from the outbox), enrols, reads a lesson,
passes the quiz, opens the lab (a real spawn, signed in through the site), writes
the solution into the notebook, submits it from the lab, watches the grade arrive
live, meets the programme's rule and receives the certificate, and downloads its
PDF. Signed out, an employer opens the link in the PDF's QR code and sees "valid";
an admin revokes the certificate; the employer sees "revoked".

Each step leaves a numbered screenshot in $JOURNEY_SCREENSHOTS (var/journey/ by
default; .ci/run keeps them in var/ci/journey/). Titles, quiz answers and the
solution come from the curriculum and lab files, never copied here.
"""

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect

from tests.browser.test_journey import _answer_correctly, _confirmation_url, _quiz_of

pytestmark = [pytest.mark.browser, pytest.mark.production]

ROOT = Path(__file__).resolve().parents[2]
PROGRAMME_DIR = ROOT / "courses" / "content" / "digital-commerce-smes"
LAB = ROOT / "labs" / "notebooks" / "fulfilment"
PROGRAMME_SLUG = "digital-commerce-smes"
SPAWN_TIMEOUT = 180_000  # ms: a real spawn on a busy 2-core machine
GRADE_TIMEOUT = 240_000  # ms: queued behind nothing, graded in a sandbox


def _programme() -> tuple[dict, dict]:
    programme = yaml.safe_load((PROGRAMME_DIR / "programme.yaml").read_text())
    course = yaml.safe_load(
        (PROGRAMME_DIR / f"{programme['courses'][0]}.yaml").read_text()
    )
    return programme, course


def _solutions() -> list[str]:
    """Each solution cell of the lab's source, as a trainee would write it."""
    notebook = json.loads((LAB / "fulfilment.ipynb").read_text())
    solutions = []
    for cell in notebook["cells"]:
        if not cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        lines = "".join(cell["source"]).splitlines()
        solutions.append(
            "\n".join(
                line
                for line in lines
                if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
            )
        )
    assert solutions
    return solutions


class Steps:
    """Numbered screenshots, one per step of the journey."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0

    def shot(self, page: Page, name: str) -> None:
        self.count += 1
        page.screenshot(
            path=self.folder / f"{self.count:02d}-{name}.png", full_page=True
        )

    def file(self, name: str) -> Path:
        self.count += 1
        return self.folder / f"{self.count:02d}-{name}"


def _sign_in(page: Page, username: str, password: str) -> None:
    page.goto("/en/accounts/login/")
    page.get_by_label("Login").fill(username)
    page.get_by_label("Password").fill(password)
    page.locator("main").get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _write_solutions(page: Page, solutions: list[str]) -> None:
    """Walk the notebook cell by cell in command mode; replace each exercise cell
    (the released stub raises NotImplementedError) with the solution. Walking makes
    JupyterLab render each cell, which it does not do below the fold."""
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.keyboard.press("Escape")
    active = page.locator(".jp-Notebook .jp-Cell.jp-mod-active")
    filled = 0
    for _ in range(100):
        expect(active).to_have_count(1)
        editor = active.locator(".cm-content")
        if editor.count() and "raise NotImplementedError" in editor.inner_text():
            page.keyboard.press("Enter")
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(solutions[filled])
            page.keyboard.press("Escape")
            expect(editor).not_to_contain_text("raise NotImplementedError")
            filled += 1
            if filled == len(solutions):
                return
        page.keyboard.press("j")
    pytest.fail(f"found {filled} of {len(solutions)} exercise cells in the notebook")


def _qr_link(pdf: Path, png: Path) -> str:
    """Render the PDF's first page and read its QR code, as a phone would."""
    tools = {tool: shutil.which(tool) for tool in ("pdftoppm", "zbarimg")}
    for tool, found in tools.items():
        if found is None:
            pytest.fail(f"{tool} is missing: run `make pdf-tools`")
    subprocess.run(  # noqa: S603
        [
            tools["pdftoppm"],
            "-png",
            "-r",
            "150",
            "-singlefile",
            "-f",
            "1",
            str(pdf),
            str(png.with_suffix("")),
        ],
        check=True,
        timeout=60,
    )
    read = subprocess.run(  # noqa: S603
        [
            tools["zbarimg"],
            "--quiet",
            "--raw",
            "-Sdisable",
            "-Sqrcode.enable",
            str(png),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    links = read.stdout.split()
    assert len(links) == 1, (read.returncode, read.stdout, read.stderr)
    return links[0]


def test_trainee_to_certificate_to_employer_to_revocation(page: Page, production):
    programme, course = _programme()
    title = programme["title"]["en"]
    lessons = course["lessons"]
    lab_lesson = next(
        lesson
        for lesson in lessons
        if any(block["type"] == "lab" for block in lesson["body"])
    )
    quiz = _quiz_of(lab_lesson)
    assert quiz is not None, "the lab's lesson holds the course quiz"
    steps = Steps(production.screenshots)
    address, password = "journey@example.org", "silk-road-journey-2026"

    # 1. Register; the verification mail lands in the outbox.
    page.goto("/en/")
    expect(page.get_by_role("link", name=title)).to_be_visible()
    page.get_by_role("link", name="Register").click()
    page.get_by_label("Email:", exact=True).fill(address)
    page.get_by_label("Username:", exact=True).fill("journey")
    page.get_by_label("Display name:", exact=True).fill("Jia Journey")
    page.get_by_label("Preferred language:", exact=True).select_option("en")
    page.get_by_label("Password:", exact=True).fill(password)
    page.get_by_label("Password (again):", exact=True).fill(password)
    steps.shot(page, "register")
    page.get_by_role("button", name="Sign Up").click()
    expect(
        page.get_by_role("heading", name="Verify Your Email Address")
    ).to_be_visible()
    steps.shot(page, "verify-your-email")

    # 2. Confirm the address from the mail: confirming signs the trainee in.
    page.goto(_confirmation_url(production.mail_dir, address))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("link", name="Jia Journey")).to_be_visible()
    steps.shot(page, "email-confirmed")

    # 3. Enrol.
    page.goto("/en/")
    page.get_by_role("link", name=title).click()
    page.get_by_role("button", name="Enrol in this programme").click()
    expect(page.locator(".hero").get_by_text("Enrolled", exact=True)).to_be_visible()
    steps.shot(page, "enrolled")

    # 4. Read the first lesson and mark it complete.
    page.locator("ol.course-list > li").first.get_by_role("link").click()
    page.locator("ol.lesson-list > li").first.get_by_role("link").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(lessons[0]["title"]["en"])
    steps.shot(page, "lesson")
    page.get_by_role("button", name="Mark complete and continue").click()
    expect(heading).to_have_text(lessons[1]["title"]["en"])

    # 5. Pass the quiz in the lab's lesson.
    lesson_url = f"/en/{PROGRAMME_SLUG}/{course['slug']}/{lab_lesson['slug']}/"
    page.goto(lesson_url)
    expect(heading).to_have_text(lab_lesson["title"]["en"])
    section = page.locator("section.quiz")
    _answer_correctly(section, quiz)
    section.get_by_role("button", name="Submit answers").click()
    expect(section.get_by_role("status")).to_contain_text("Passed")
    steps.shot(page, "quiz-passed")

    # 6. Open the lab: a real spawn, signed in through the site (no hub login).
    navigations: list[str] = []
    page.on(
        "request",
        lambda r: navigations.append(r.url) if r.is_navigation_request() else None,
    )
    page.get_by_role("button", name="Open lab").click()
    page.wait_for_url(
        re.compile(r"/user/u\d+/lab/tree/fulfilment/"), timeout=SPAWN_TIMEOUT
    )
    expect(page.get_by_role("tab", name=re.compile("fulfilment.ipynb"))).to_be_visible(
        timeout=60_000
    )
    expect(page.get_by_role("button", name=re.compile(r"\| Idle"))).to_be_visible(
        timeout=60_000
    )
    assert not [url for url in navigations if "/accounts/login" in url], navigations
    steps.shot(page, "lab-open")

    # 7. Write the solution into the notebook and save it.
    _write_solutions(page, _solutions())
    page.keyboard.press("Control+s")
    expect(page.locator(".lm-TabBar-tab.jp-mod-dirty")).to_have_count(0, timeout=30_000)
    steps.shot(page, "solution-written")

    # 8. Submit from the lab; the grade arrives live on the same page.
    frames: list[str] = []
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))),
    )
    page.goto(lesson_url)
    page.get_by_role("link", name="Submit / see my submissions").click()
    page.get_by_role("button", name="Submit my notebook from the lab").click()
    expect(page.get_by_text("is queued for grading")).to_be_visible()
    page.evaluate("window.journeyPage = 'not reloaded'")
    steps.shot(page, "submitted")
    expect(page.locator(".badge.status-graded").first).to_be_visible(
        timeout=GRADE_TIMEOUT
    )
    assert page.evaluate("window.journeyPage") == "not reloaded"
    assert any("graded" in frame for frame in frames), frames
    expect(page.locator("main")).to_contain_text("10/10")
    expect(page.locator(".badge.pass").first).to_be_visible()
    steps.shot(page, "graded-live")

    # 9. The rule is met: the certificate is on the dashboard.
    page.goto("/en/dashboard/")
    certificates = page.locator("section[aria-labelledby=your-certificates]")
    held = certificates.get_by_role("link", name=title)
    deadline = time.monotonic() + 90
    while not held.count() and time.monotonic() < deadline:
        page.wait_for_timeout(2000)
        if not held.count():
            page.reload()
    expect(held).to_be_visible()
    steps.shot(page, "certificate-on-dashboard")
    held.click()
    expect(page.locator("main")).to_contain_text("Jia Journey")
    verification_url = page.locator(
        "dt:has-text('Verification page') + dd a"
    ).inner_text()
    steps.shot(page, "certificate")

    # 10. Download the PDF; its QR code holds the verification link.
    pdf_link = page.get_by_role("link", name="English", exact=True).first
    response = page.request.get(pdf_link.get_attribute("href"))
    assert response.ok and response.headers["content-type"] == "application/pdf"
    pdf = steps.file("certificate.pdf")
    pdf.write_bytes(response.body())
    assert pdf.read_bytes().startswith(b"%PDF")
    qr_link = _qr_link(pdf, steps.file("certificate-pdf.png"))
    assert qr_link == verification_url

    # 11. Signed out, an employer opens the QR link: valid.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    employer = page.context.browser.new_context()
    try:
        verifier = employer.new_page()
        verifier.goto(qr_link)
        expect(verifier.locator("#verdict .badge")).to_have_text("Valid")
        steps.shot(verifier, "employer-sees-valid")

        # 12. An admin revokes it.
        admin_context = page.context.browser.new_context(base_url=production.url)
        try:
            admin = admin_context.new_page()
            _sign_in(admin, "admin", production.password)
            admin.goto("/en/grading/gradebook/certificates/?q=journey")
            row = admin.get_by_role("row").filter(has_text="Jia Journey")
            row.get_by_role("link", name="Revoke").click()
            admin.locator("[name=reason]").fill("Issued in error (journey test)")
            admin.get_by_role("button", name="Yes, revoke").click()
            expect(
                admin.get_by_role("row").filter(has_text="Jia Journey")
            ).to_contain_text("Revoked")
            steps.shot(admin, "admin-revoked")
        finally:
            admin_context.close()

        # 13. The employer looks again: revoked.
        verifier.reload()
        expect(verifier.locator("#verdict .badge")).to_have_text("Revoked")
        steps.shot(verifier, "employer-sees-revoked")
    finally:
        employer.close()
