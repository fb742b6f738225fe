"""The engineer's one-page HTML report: self-contained, complete, and honest about fit."""
import re

import pytest

pytest.importorskip("altair")
pytest.importorskip("vl_convert")

from llmperf.htmlreport import report_html  # noqa: E402


@pytest.fixture(scope="module")
def page():
    return report_html("llama-3.1-8b", "h100-sxm", batch=8, prompt_len=1024, gen_len=128,
                       serving_rates=[1.0, 10.0, 1e5])


def test_nothing_is_loaded_from_the_network(page):
    # no script, stylesheet, image or frame with a remote address; the Vega libraries are inline
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)=["']?(https?:)?//""", page, re.I)
    assert "window.vegaEmbed" in page and page.count("vegaEmbed(\"#") == 3


def test_every_section_is_there(page):
    for heading in ("Summary", "Memory", "Where the work goes", "One decoder layer", "Prefill, per operator",
                    "First decode step, per operator", "Serving a stream of requests"):
        assert f"<h2>{heading}" in page
    # the layer graph names the operators of one Llama layer, in order
    for op in ("input norm", "q_proj", "attention (fused)", "o_proj", "gate_proj", "down_proj"):
        assert op in page


def test_parameters_are_exact_and_the_unstable_rate_is_flagged(page):
    assert "8,030,261,248" in page            # Llama-3.1-8B, published and transformers count
    assert "no (queue grows)" in page         # 100,000 requests/s cannot be served by one H100


def test_a_workload_that_does_not_fit_says_so():
    page = report_html("llama-2-70b", "rtx-4090", batch=1, prompt_len=512, gen_len=16)
    assert 'class="warn"' in page and "does not fit" in page.lower()


def test_the_command_writes_the_page_and_refuses_bad_rates(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "report.html"
    ok = subprocess.run([sys.executable, "-m", "llmperf", "report", "--model", "llama-3.2-1b", "--hardware", "l4",
                         "--out", str(out), "--rates", "1,5"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert out.is_file() and "<h2>Serving a stream of requests" in out.read_text()
    bad = subprocess.run([sys.executable, "-m", "llmperf", "report", "--model", "llama-3.2-1b", "--hardware", "l4",
                          "--out", str(tmp_path / "x.html"), "--rates", "fast"], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--rates" in bad.stderr


def test_the_page_works_in_a_browser_offline(tmp_path):
    """Charts draw, the dropdown changes its chart, no console error, no request off the machine."""
    import browser as B

    (tmp_path / "report.html").write_text(
        report_html("mixtral-8x7b", "h100-sxm", batch=4, prompt_len=512, gen_len=32, tp=2), encoding="utf-8")
    executable = B.ensure_chromium(say=lambda line: None)
    with B.StaticServer(tmp_path) as server, B.launch(executable) as browser:
        rep = B.check_page(browser, server.url("report.html"), ["memory", "breakdown", "layer"], server.port)
    assert rep.all_problems() == []
    assert rep.charts == 3 and rep.controls >= 1
