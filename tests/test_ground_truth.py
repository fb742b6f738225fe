"""llmperf against the real Hugging Face modeling code.

``tests/fixtures/hf_ground_truth.json`` is written by ``scripts/hf_ground_truth.py``:
it builds every catalog model with ``transformers`` on the meta device, sums
the parameters, and counts the FLOPs of real forward passes with PyTorch's
``FlopCounterMode``. Those numbers come from code llmperf does not share.

Conventions matched here: the counter sees eager attention's full T x S score
rectangle (``attention_flops='full'``), a plain forward computes logits for
every position (``logits='all'``), a decode step over a cache of P tokens
attends P + 1 keys (``decode_kv='inclusive'``), and it counts matmuls only.
"""
import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import llmperf
from llmperf.models import model_names

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "hf_ground_truth.json").read_text())
GT = FIXTURE["models"]
INDEX = json.loads((resources.files("llmperf") / "data" / "models" / "index.json").read_text())


def test_fixture_covers_the_catalog():
    assert set(GT) == set(model_names())


@pytest.mark.parametrize("name", sorted(GT))
def test_fixture_is_for_the_committed_config(name):
    raw = (resources.files("llmperf") / "data" / "models" / f"{name}.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == GT[name]["config_sha256"], "config changed: rerun the script"


@pytest.mark.parametrize("name", sorted(GT))
def test_params_exact(name):
    pc = llmperf.load_model(name).param_counts()
    assert pc["total"] == GT[name]["params_total"]
    assert pc["active"] == GT[name]["params_active"]
    assert pc["embedding"] == GT[name]["params_embedding"]
    assert pc["lm_head"] == GT[name]["params_lm_head"]


@pytest.mark.parametrize("name", sorted(n for n in INDEX if INDEX[n].get("published_params")))
def test_params_match_published(name):
    """Published counts (model cards, safetensors metadata) agree with llmperf to the parameter.

    Some checkpoints store a tied lm_head as its own tensor, so their published
    total counts the embedding twice: that is llmperf's ``tied_embeddings='twice'``.
    """
    rec = INDEX[name]
    tied = "twice" if rec.get("published_counts_tied_embedding_twice") else "once"
    assert llmperf.load_model(name).param_counts(tied)["total"] == rec["published_params"], rec["published_source"]


def _matmul_flops(ops):
    """FLOPs of the operators the counter sees: matmuls and the two attention products."""
    keep = np.array([k in ("matmul", "attention") for k in ops.kinds])
    return float(np.sum(ops.repeats[keep] * ops.data["flops"][keep]))


def _ops(name, tokens, past, phase):
    return llmperf.build_ops(llmperf.load_model(name), 1, tokens, past, phase=phase,
                             conventions=llmperf.Conventions(attention_flops="full", logits="all",
                                                             flash_attention=False))


@pytest.mark.parametrize("name", sorted(GT))
def test_prefill_flops_match_flop_counter(name):
    for rec in GT[name]["prefill"]:
        ops = _ops(name, rec["tokens"], 0, "prefill")
        assert _matmul_flops(ops) == pytest.approx(rec["flops_total"], rel=5e-3)
        attn = sum(ops.repeats[i] * ops.data["flops"][i] for i, n in enumerate(ops.names)
                   if n.startswith(("qk_matmul", "sv_matmul")))
        assert attn == pytest.approx(rec["flops_attention_core"], rel=5e-3)
        head = ops.data["flops"][ops.names.index("lm_head")]
        assert head == pytest.approx(rec["flops_lm_head"], rel=1e-9)


@pytest.mark.parametrize("name", sorted(GT))
def test_decode_step_flops_match_flop_counter(name):
    rec = GT[name]["decode"]
    ops = _ops(name, 1, rec["past_tokens"], "decode")
    assert _matmul_flops(ops) == pytest.approx(rec["flops_total"], rel=5e-3)


def test_causal_prefill_is_about_half_the_attention_of_full():
    m = llmperf.load_model("llama-2-7b")
    causal = llmperf.build_ops(m, 1, 1024, 0, conventions=llmperf.Conventions(flash_attention=False))
    i = causal.names.index("qk_matmul")
    rec = GT["llama-2-7b"]["prefill"][1]
    assert rec["tokens"] == 1024
    # the counter's full square has 1024^2 pairs per head; causal keeps 1024*1025/2 of them
    per_layer_full = rec["flops_attention_core"] / m.n_layers / 2
    assert causal.data["flops"][i] == pytest.approx(per_layer_full * 1025 / 2048, rel=1e-12)


@pytest.mark.parametrize("name", sorted(n for n in INDEX if INDEX[n].get("published_active_params_rounded")))
def test_moe_active_params_match_the_rounded_published_figure(name):
    """Model cards round active parameters (3.3B, 12.9B, 2.7B): llmperf's exact count rounds to them."""
    rec = INDEX[name]
    assert llmperf.load_model(name).params_active == pytest.approx(rec["published_active_params_rounded"], rel=0.02)
    if rec.get("published_params_rounded"):
        assert llmperf.load_model(name).params_total == pytest.approx(rec["published_params_rounded"], rel=0.005)
