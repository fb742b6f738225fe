"""The chapter "The KV Cache and Its Variants": its exercises, variants and catalog figures."""
import json
from pathlib import Path

import pytest

import llmperf
from llmperf import kvcache as kc
from llmperf.exercises import check, labels, worked

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "book" / "kvcache.ipynb"
LABELS = [x for x in labels() if x.startswith("kvcache-")]


def _markdown():
    cells = json.loads(NB.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def test_the_chapter_has_its_exercises():
    assert len(LABELS) >= 6
    assert all(f":label: {x}" in _markdown() for x in LABELS)


def test_bytes_per_token_by_hand():
    # L=40, K=8, H=128, bf16: 2*40*8*128*2 bytes = 160 KiB; 32,768 tokens: 5 GiB
    assert worked("kvcache-ex1").answer == {"kib_per_token": 160.0, "gib_per_sequence": 5.0}
    r = check("kvcache-ex1", {"kib_per_token": 160.0, "gib_per_sequence": 5.0 * 2**30 / 1e9}, quiet=True)
    assert not r.correct and "GB" in r.hint                               # GB given for GiB


def test_windowed_cache_by_hand():
    # 48 layers, 1 global in 4, window 2048, S = 65,536, 4,096 bytes per layer-token
    expected = 4096 * (12 * 65536 + 36 * 2048) / 2**30
    assert worked("kvcache-ex4").answer["gib"] == pytest.approx(expected)


def test_open_kv_precision_question_rejects_a_cache_that_does_not_fit_and_a_needlessly_narrow_one():
    assert not check("kvcache-ex6", "bf16", quiet=True).correct
    assert not check("kvcache-ex6", "int4", quiet=True).correct
    assert check("kvcache-ex6", "fp8", quiet=True).correct


def test_catalog_mla_models_have_the_smallest_caches_among_large_models():
    t = kc.catalog_table(["deepseek-v3", "llama-3.1-70b", "qwen2.5-72b"], context=4096).set_index("Model")
    col = "KV per token, averaged over 4,096 (KiB)"
    assert t.loc["deepseek-v3", col] == pytest.approx(61 * 576 * 2 / 2**10)     # 61 layers x (512 + 64), bf16
    assert t.loc["deepseek-v3", col] < t.loc["llama-3.1-70b", col] / 4


def test_windows_cap_gemma_3_at_its_global_layers():
    m = llmperf.load_model("gemma-3-12b")
    n_global = sum(w is None for w in m.windows)
    per_layer = 2 * m.n_kv_heads * m.head_dim * 2
    S = 131072
    expected = per_layer * (n_global * S + (m.n_layers - n_global) * 1024)
    assert float(llmperf.kv_cache_bytes(m, S)) == expected
