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
