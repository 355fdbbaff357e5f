"""End to end, in Chromium against the running platform: a newcomer's first hour.

Titles and quiz answers come from the curriculum files the platform was seeded with,
so the test follows the content instead of copying it.
"""

import email
import re
import time
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser

CONTENT = Path(__file__).resolve().parents[2] / "courses" / "content"
PROGRAMME_DIR = CONTENT / "cross-border-ecommerce"
PROGRAMME_EN = "Cross-border E-commerce and Silk Road Trade"
PROGRAMME_ZH = "跨境电子商务与“丝路电商”贸易"
SCREENSHOTS = Path("/tmp")  # noqa: S108 - outside the repository on purpose
MAIL_WAIT = 10  # seconds; the mail is written during the sign-up request itself


def _first_course() -> dict:
    programme = yaml.safe_load((PROGRAMME_DIR / "programme.yaml").read_text())
    path = PROGRAMME_DIR / f"{programme['courses'][0]}.yaml"
    return yaml.safe_load(path.read_text())


def _quiz_of(lesson: dict) -> dict | None:
    return next((b for b in lesson["body"] if b["type"] == "quiz"), None)


def _confirmation_url(mail_dir: Path, address: str) -> str:
    """The link of the verification mail the file backend wrote for `address`."""
    deadline = time.monotonic() + MAIL_WAIT
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.log")):
            for raw in path.read_text().split("\n" + "-" * 79 + "\n"):
                message = email.message_from_string(raw.lstrip())
                if message["To"] != address:
                    continue
                for part in message.walk():
                    if part.get_content_type() == "text/plain":
                        text = part.get_payload(decode=True).decode()
                        found = re.search(
                            r"https?://\S+/accounts/confirm-email/\S+", text
                        )
                        if found:
                            return found.group(0)
        time.sleep(0.2)
    pytest.fail(f"no confirmation mail for {address} in {mail_dir}")


def _answer_correctly(quiz: Locator, spec: dict) -> None:
    questions = quiz.locator("li.question")
    expect(questions).to_have_count(len(spec["questions"]))
    for question, item in zip(questions.all(), spec["questions"], strict=True):
        expect(question.locator("legend")).to_contain_text(item["prompt"]["en"])
        if item["kind"] == "numeric":
            question.get_by_label("Your answer").fill(str(item["answer"]))
            continue
        for choice in item["choices"]:
            if choice.get("correct"):
                question.get_by_label(choice["text"]["en"], exact=True).check()


def test_newcomer_registers_learns_and_passes_a_quiz(page: Page, platform):
    """A visitor registers, verifies the email, enrols, completes a lesson, passes
    the first course's quiz and finds progress and the result on the dashboard."""
    course = _first_course()
    lessons = course["lessons"]
    quiz_spec = _quiz_of(lessons[-1])
    assert quiz_spec is not None, "the first course's quiz is in its last lesson"

    # The catalogue lists the programme.
    page.goto("/en/")
    expect(page.get_by_role("heading", name="Programmes")).to_be_visible()
    expect(page.get_by_role("link", name=PROGRAMME_EN)).to_be_visible()

    # Register.
    page.get_by_role("link", name="Register").click()
    expect(page).to_have_url(re.compile(r"/en/accounts/signup/$"))
    address = "newcomer@example.org"
    password = "silk-and-spice-route-2026"
    page.get_by_label("Email:", exact=True).fill(address)
    page.get_by_label("Username:", exact=True).fill("newcomer")
    page.get_by_label("Display name:", exact=True).fill("Nadia Newcomer")
    page.get_by_label("Preferred language:", exact=True).select_option("en")
    page.get_by_label("Password:", exact=True).fill(password)
    page.get_by_label("Password (again):", exact=True).fill(password)
    page.get_by_role("button", name="Sign Up").click()
    expect(
        page.get_by_role("heading", name="Verify Your Email Address")
    ).to_be_visible()

    # Confirm the address from the mail; confirming signs the newcomer in.
    page.goto(_confirmation_url(platform.mail_dir, address))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("link", name="Nadia Newcomer")).to_be_visible()

    # Enrol in the programme.
    page.goto("/en/")
    page.get_by_role("link", name=PROGRAMME_EN).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PROGRAMME_EN)
    page.get_by_role("button", name="Enrol in this programme").click()
    expect(page.locator(".hero").get_by_text("Enrolled", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Enrol in this programme")).to_have_count(0)

    # The first lesson of the first course.
    page.locator("ol.course-list > li").first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(course["title"]["en"])
    page.locator("ol.lesson-list > li").first.get_by_role("link").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_be_visible()
    expect(heading).to_have_text(lessons[0]["title"]["en"])

    page.get_by_role("button", name="Mark complete and continue").click()
    expect(heading).to_have_text(lessons[1]["title"]["en"])
    nav = page.get_by_role("complementary", name="Lessons in this course")
    expect(nav.get_by_role("listitem").first).to_have_class(re.compile(r"\bdone\b"))

    # The course quiz sits in the course's last lesson.
    nav.get_by_role("listitem").last.get_by_role("link").click()
    expect(heading).to_have_text(lessons[-1]["title"]["en"])
    quiz = page.locator("section.quiz")
    expect(quiz.get_by_role("heading", name=quiz_spec["title"]["en"])).to_be_visible()
    _answer_correctly(quiz, quiz_spec)
    quiz.get_by_role("button", name="Submit answers").click()
    expect(quiz.get_by_role("status")).to_contain_text("Passed")
    expect(quiz.get_by_text("Incorrect", exact=True)).to_have_count(0)

    # The dashboard shows progress and the result.
    page.goto("/en/dashboard/")
    card = page.locator("li.programme-progress").filter(has_text=PROGRAMME_EN)
    expect(card.get_by_role("link", name=PROGRAMME_EN)).to_be_visible()
    progress = card.locator("progress").first
    expect(progress).to_be_visible()
    assert float(progress.get_attribute("value")) > 0
    results = page.get_by_role("region", name="Recent results")
    row = results.get_by_role("row").filter(has_text=quiz_spec["title"]["en"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Passed")
    page.screenshot(path=SCREENSHOTS / "silkroute-dashboard.png", full_page=True)


def test_language_switcher_shows_the_catalogue_in_chinese(page: Page):
    """Choosing 简体中文 in the header serves the catalogue in Chinese. (For anonymous
    visitors the switcher is links, so that their pages carry no CSRF token.)"""
    page.goto("/en/")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_role("link", name="简体中文", exact=True).click()

    expect(page).to_have_url(re.compile(r"/zh-hans/$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("heading", level=1)).to_have_text("丝路学院")
    expect(page).to_have_title(re.compile(r"^丝路学院"))
    expect(page.get_by_role("link", name=PROGRAMME_ZH)).to_be_visible()
    expect(page.get_by_role("link", name=PROGRAMME_EN)).to_have_count(0)
    switcher = page.locator(".lang-switch")  # labelled 语言 here
    expect(switcher.get_by_role("link", name="简体中文")).to_have_count(0)
    expect(switcher.locator('[aria-current="true"]')).to_have_text("简体中文")
    expect(switcher.get_by_role("link", name="English")).to_have_attribute(
        "href", "/en/"
    )
    page.screenshot(path=SCREENSHOTS / "silkroute-catalogue-zh.png", full_page=True)


@pytest.mark.browser
def test_trainee_opens_a_lab_in_jupyterlab_without_a_second_login(page: Page, platform):
    """A signed-in trainee clicks "Open lab" in a lesson and lands in JupyterLab with
    the lab's notebook open: the hub signs them in through the site, no login page."""
    from tests.browser.conftest import DEMO_PASSWORD

    page.goto("/en/accounts/login/")
    page.get_by_label("Login").fill("graduate")  # a trainee enrolled by seed_demo
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.locator("main").get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    visited: list[str] = []
    page.on(
        "request",
        lambda request: (
            visited.append(request.url) if request.is_navigation_request() else None
        ),
    )
    page.goto(
        "/en/cross-border-ecommerce/customs-duties-and-tax/duties-vat-and-landed-cost/"
    )
    page.get_by_role("button", name="Open lab").click()
    page.wait_for_url(re.compile(r"/user/u\d+/lab/tree/landed-cost/"), timeout=120_000)
    expect(page.get_by_role("tab", name=re.compile("landed-cost.ipynb"))).to_be_visible(
        timeout=60_000
    )
    # The kernel answers through the hub's proxy (its websocket subprotocol and
    # binary frames survive the proxy): running the first code cell numbers it.
    # A new code cell at the top, run at once: the lab's own first code cell may be
    # below the fold, where JupyterLab does not render it (windowed notebooks).
    expect(page.get_by_role("button", name=re.compile(r"\| Idle"))).to_be_visible(
        timeout=60_000
    )
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    page.keyboard.type("print(6 * 7)")
    page.keyboard.press("Shift+Enter")
    first = page.locator(".jp-Notebook .jp-Cell").first
    expect(first.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[1\]:"))
    expect(first.locator(".jp-OutputArea-output")).to_have_text("42")
    hub_logins = [url for url in visited if "/accounts/login" in url]
    assert hub_logins == [], visited
    assert any("/hub/oauth_callback" in url or "/o/authorize" in url for url in visited)
    page.screenshot(path=platform.var_dir.parent / f"{platform.var_dir.name}-lab.png")

    # JupyterLab keeps the trainee's layout in their own home, never in the
    # repository's trainee configuration that every trainee's server reads.
    user = re.search(r"/user/([^/]+)/", page.url).group(1)
    home = platform.var_dir / "hub" / "homes" / user
    deadline = time.monotonic() + 30
    while (
        not list(home.glob(".jupyter/lab/workspaces/*")) and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    assert list(home.glob(".jupyter/lab/workspaces/*"))
    assert not (CONTENT.parents[1] / "labs" / "trainee-jupyter" / "lab").exists()

    # A visitor without a site session who opens the same lab is sent to the
    # site's login page (through the hub's OAuth), not into the lab.
    lab_url = page.url
    stranger = page.context.browser.new_context()
    try:
        visitor = stranger.new_page()
        visitor.goto(lab_url)
        visitor.wait_for_url(re.compile(r"/accounts/login/"), timeout=60_000)
        expect(visitor.locator("input[name=password]")).to_be_visible()
    finally:
        stranger.close()
