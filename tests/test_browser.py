"""The app in a real headless browser: Debian's chromium driven by Playwright (never a downloaded browser)."""

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"  # screenshots, for people to look at
# Flags for a root, offline machine: no sandbox, no GPU, no background calls to Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

missing = [
    what
    for what, present in (
        ("chromium (apt-get install chromium)", CHROMIUM.exists()),
        ("playwright (pip install playwright)", importlib.util.find_spec("playwright") is not None),
    )
    if not present
]
if missing and os.environ.get("CI"):
    raise RuntimeError(f"CI must run the browser tests, but {', '.join(missing)} is missing: see .ci/run")
pytestmark = pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}")


@pytest.fixture(scope="module")
def page(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(served[2])
        yield page
        browser.close()


def test_type_a_sentence_click_and_read_the_label(page):
    page.get_by_label("Text").fill("the acting was superb and delightful")
    page.get_by_role("button", name="Classify", exact=True).click()
    label = page.get_by_test_id("label-output-value")
    label.wait_for(timeout=30_000)
    assert label.inner_text().strip() == "positive"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-prediction.png"), full_page=True)

    page.get_by_label("Text").fill("the plot was horrible and dull")
    page.get_by_role("button", name="Classify", exact=True).click()
    page.wait_for_function("document.querySelector('[data-testid=label-output-value]').innerText.trim() === 'negative'")


def test_empty_input_shows_the_friendly_message(page):
    page.get_by_label("Text").fill("")
    page.get_by_role("button", name="Classify", exact=True).click()
    page.get_by_text("Type or paste a text to classify.").wait_for(timeout=30_000)


def test_why_this_answer_colours_the_words(page):
    """The explanation as a visitor sees it: the words highlighted, the note naming the label and the words."""
    text = "the movie was wonderful and superb story 7"
    page.get_by_label("Text").fill(text)
    page.get_by_role("button", name="Why this answer?").click()
    note = page.get_by_text("Words that pushed toward it (red)")
    note.wait_for(timeout=30_000)
    assert note.inner_text().split(" (")[0] in ("positive", "negative")
    highlighted = page.get_by_test_id("highlighted-text")
    assert text in " ".join(highlighted.inner_text().split()), "the whole text, in order, under the component's label"
    coloured = highlighted.locator("span[style*='background']")
    assert coloured.count() >= 1, "at least the strongest word carries a colour"
    label = page.get_by_test_id("label-output-value")
    label.wait_for(timeout=30_000)
    assert label.inner_text().strip() == note.inner_text().split(" (")[0], (
        "the prediction box shows the label explained"
    )
    assert not page.get_by_text("Type or paste a text to classify.").is_visible(), "no stale prompt beside a text"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-explanation.png"), full_page=True)
