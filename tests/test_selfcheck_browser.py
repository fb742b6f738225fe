"""The self-check boxes work in a browser with no kernel and no network (Playwright + Debian Chromium).

1. A small page built from ``selfcheck()`` outputs: for every kind of box
   (a number with a tolerance, an exact count, a word, true/false) the browser
   says "correct" to the right answer and the same hint as the Python mirror
   (``llmperf.exercises._selfcheck.verdict``) to wrong ones and to the usual
   slips; no request leaves the page and no script error occurs.
2. The built book page (the roofline chapter of the book the suite builds):
   a right and a wrong answer typed into its first box.

Chromium comes from tests/browser.py's ``ensure_chromium`` (installed with apt
when it is missing and the tests run as root), like the other browser tests.
"""
from pathlib import Path

import browser as B
import pytest

from llmperf import exercises
from llmperf.exercises._selfcheck import _html, selfcheck_data, verdict

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def browser():
    with B.launch(B.ensure_chromium(say=lambda line: None)) as b:
        yield b


def _open(browser, url):
    page = browser.new_page()
    errors, requests = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    return page, errors, requests


def _answer(page, box, part_index, text):
    row = box.locator(".llmperf-sc-part").nth(part_index)
    row.locator("input").fill(text)
    row.locator("button").click()
    return row.locator(".llmperf-sc-verdict").text_content()


def _labels_covering_every_kind():
    """A few labels whose boxes together have every kind (log, int, str, bool)."""
    chosen, kinds = [], set()
    for label in exercises.labels():
        new = {d["kind"] for d in selfcheck_data(label)["parts"]} - kinds
        if new:
            chosen.append(label)
            kinds |= new
    return chosen, kinds


def _inputs(d, value):
    """Texts to type into the box of part ``d`` whose answer is ``value``: right, wrong, slips, junk."""
    if d["kind"] == "bool":
        return [str(value), str(not value), "yes" if value else "no", "maybe"]
    if d["kind"] == "str":
        return [value, value.upper(), value + "x", "42"]
    right = str(int(value)) if d["kind"] == "int" else repr(float(value))
    out = [right, f"{value:,}" if d["kind"] == "int" else f"{value:.4g}", "abc", "1.2.3"]
    for f in (1.37, 0.6, 1000, 1e-3, 2, 0.5, 8, 2 ** 30 / 1e9, 1e9 / 2 ** 30, 100, 20, -1):
        out.append(repr(value * f))
    if d["kind"] == "int":
        out += [str(int(value) + 1), str(int(value) - 1)]
    return out


def test_the_browser_gives_the_same_verdicts_as_python_with_no_network(browser, tmp_path):
    labels, kinds = _labels_covering_every_kind()
    assert {"log", "int", "str", "bool"} <= kinds
    page_html = "<!doctype html><meta charset='utf-8'><body>" + "".join(
        f"<h2>{lab}</h2>" + _html(selfcheck_data(lab)) for lab in labels) + "</body>"
    path = tmp_path / "selfcheck.html"
    path.write_text(page_html, encoding="utf-8")
    page, errors, requests = _open(browser, path.as_uri())
    boxes = page.locator("div.llmperf-selfcheck")
    assert boxes.count() == len(labels)
    compared = 0
    for i, label in enumerate(labels):
        data, w = selfcheck_data(label), exercises.worked(label)
        for j, d in enumerate(data["parts"]):
            value = w.parts[d["name"]].value
            texts = _inputs(d, value)
            # typed and clicked: the right answer and two wrong ones
            wrong = [t for t in texts if verdict(d, t) != "correct"][:2]
            assert _answer(page, boxes.nth(i), j, texts[0]) == "correct"
            for text in wrong:
                got = _answer(page, boxes.nth(i), j, text)
                assert got == verdict(d, text) and got != "correct", (label, d["name"], text)
            # the rest through the same function the button calls
            got = page.evaluate("([d, slips, texts]) => texts.map(t => window.llmperfSelfcheck.verdict(d, slips, t))",
                                [d, data["slips"], texts])
            assert got == [verdict(d, t) for t in texts], (label, d["name"])
            compared += len(texts)
    assert compared > 50
    assert errors == []
    assert requests == [path.as_uri()]   # nothing but the page itself: no CDN, no network


def test_a_right_and_a_wrong_answer_in_the_built_book_page(browser, book_build):
    """On the book as the suite builds it (conftest.py's ``book_build``), not a stale _build/."""
    assert book_build.returncode == 0, book_build.log[-2000:]
    page, errors, _ = _open(browser, (book_build.html / "book" / "roofline.html").as_uri())
    boxes = page.locator("div.llmperf-selfcheck")
    assert boxes.count() > 0, "the built roofline page has no self-check boxes"
    label = boxes.first.get_attribute("data-label")
    d = selfcheck_data(label)["parts"][0]
    value = exercises.worked(label).parts[d["name"]].value
    right = str(value) if isinstance(value, (bool, str)) else repr(value)
    wrong = (str(not value) if isinstance(value, bool) else value + "x" if isinstance(value, str)
             else repr(value * 2))
    assert _answer(page, boxes.first, 0, right) == "correct"
    hint = _answer(page, boxes.first, 0, wrong)
    assert hint != "correct" and d["what"] in hint
    if not isinstance(value, (bool, str)):
        assert "factor of 2" in hint
    js_errors = [e for e in errors if "THEBE_JS_URL" not in e and "theme mode" not in e]
    assert js_errors == []
