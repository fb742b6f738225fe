"""llmperf against the real Hugging Face modeling code.

``tests/fixtures/hf_ground_truth.json`` is written by ``scripts/hf_ground_truth.py``:
it builds every catalog model with ``transformers`` on the meta device, sums
the parameters, and counts the FLOPs of real forward passes with PyTorch's
``FlopCounterMode``. Those numbers come from code llmperf does not share.

Conventions matched here: the counter sees eager attention's full T x S score
rectangle (``attention_flops='full'``), a plain forward computes logits for
every position (``logits='all'``), a decode step over a cache of P tokens
attends P + 1 keys (``decode_kv='inclusive'``), DeepSeek's latent attention
re-expands every cached latent each step (``mla='expanded'``), and it counts
matmuls only (no bias adds).

Llama-4's transformers code multiplies every token by all E experts (the
scores of unpicked experts are zero); the fixture records that, and the
expert FLOPs the counter saw are scaled by k / E to the routed cost.
"""
import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import llmperf
from llmperf.models import from_hf_config, model_names
from llmperf.ops import attention_pairs

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
                                                             flash_attention=False, mla="expanded"))


def _routed_total(name, rec):
    """The counter's matmul FLOPs, with experts a dense-expert forward ran on every token cut to the k routed."""
    g = GT[name]
    if "experts_per_token_in_hf_forward" not in g:
        return rec["flops_total"]
    k, all_e = g["experts_per_token_routed"], g["experts_per_token_in_hf_forward"]
    return rec["flops_total"] - rec["flops_experts"] + rec["flops_experts"] * k / all_e


@pytest.mark.parametrize("name", sorted(GT))
def test_prefill_flops_match_flop_counter(name):
    for rec in GT[name]["prefill"]:
        ops = _ops(name, rec["tokens"], 0, "prefill")
        assert _matmul_flops(ops) == pytest.approx(_routed_total(name, rec), rel=5e-3)
        attn = sum(ops.repeats[i] * ops.data["flops"][i] for i, n in enumerate(ops.names)
                   if n.startswith(("qk_matmul", "sv_matmul")))
        assert attn == pytest.approx(rec["flops_attention_core"], rel=5e-3)
        head = ops.data["flops"][ops.names.index("lm_head")]
        if llmperf.load_model(name).lm_head_bias:  # the counter does not count the bias add (T x V)
            head -= rec["tokens"] * llmperf.load_model(name).vocab_size
        assert head == pytest.approx(rec["flops_lm_head"], rel=1e-9)


@pytest.mark.parametrize("name", sorted(GT))
def test_decode_step_flops_match_flop_counter(name):
    rec = GT[name]["decode"]
    ops = _ops(name, 1, rec["past_tokens"], "decode")
    assert _matmul_flops(ops) == pytest.approx(_routed_total(name, rec), rel=5e-3)
    attn = sum(ops.repeats[i] * ops.data["flops"][i] for i, n in enumerate(ops.names)
               if n.startswith(("qk_matmul", "sv_matmul")))
    assert attn == pytest.approx(rec["flops_attention_core"], rel=1e-12)


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
    """Model cards round active parameters (3.3B, 12.9B, 2.7B): llmperf's exact count rounds to them.

    Where index.json gives the figure's unit, the count must round to it (within half a unit; one
    unit where the card truncates). Some vendors leave the input embedding table out of the active
    count (a lookup, not a matmul: OpenAI, DeepSeek); index.json says which.
    """
    rec = INDEX[name]
    m = llmperf.load_model(name)
    active = m.params_active - (m.param_counts()["embedding"] if rec.get("published_active_excludes_embedding") else 0)
    if rec.get("published_active_unit"):
        slack = rec["published_active_unit"] * (1.0 if rec.get("published_active_truncated") else 0.5)
        assert abs(active - rec["published_active_params_rounded"]) <= slack, rec["published_active_source"]
    else:
        assert active == pytest.approx(rec["published_active_params_rounded"], rel=0.02)
    if rec.get("published_params_rounded") and not rec.get("published_params_unit"):
        assert m.params_total == pytest.approx(rec["published_params_rounded"], rel=0.005)


@pytest.mark.parametrize("name", sorted(n for n in INDEX if INDEX[n].get("published_params_unit")))
def test_params_round_to_the_published_figure(name):
    """Totals published rounded (9.24B, 671B ...) are llmperf's exact total, rounded to the figure's unit.

    Where the published total includes a vision encoder llmperf does not model, the text
    model's count must lie below it.
    """
    rec = INDEX[name]
    total = llmperf.load_model(name).params_total
    if rec.get("published_params_includes_vision"):
        assert total < rec["published_params_rounded"] + rec["published_params_unit"] / 2, rec["published_source"]
    else:
        assert abs(total - rec["published_params_rounded"]) <= rec["published_params_unit"] / 2, rec["published_source"]


# --- per-layer attention patterns, read from a real forward of tiny models --------------------------

CASES = FIXTURE["layer_cases"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_pattern_matches_transformers(case):
    """Windows, chunks, NoPE layers, MoE layers and q/k/v biases as transformers resolves them.

    The fixture holds, for each layer, how many keys each query position attended in a real
    eager forward (nonzero attention probabilities): llmperf's windows and chunks must
    reproduce every count, and its causal pair count (prefill, prefill chunks after a cached
    prefix, and decode steps) must equal their sums.
    """
    rec = CASES[case]
    m = from_hf_config(rec["config"], case)
    T = rec["tokens"]
    assert m.nope_layers == tuple(rec["nope_layers"])
    assert m.moe_layers == tuple(rec["moe_layers"])
    assert m.qkv_bias == rec["qkv_bias"]
    for layer, hf_keys in enumerate(rec["keys_per_query"]):
        win, chunk = m.windows[layer], m.chunks[layer]
        pos = np.arange(T)
        mine = pos + 1 if win is None and chunk is None else (
            np.minimum(pos + 1, win) if win is not None else pos % chunk + 1)
        assert list(mine) == hf_keys, f"layer {layer}"
        hf = np.asarray(hf_keys, dtype=float)
        for past, tokens in ((0, T), (7, 5), (12, 8), (T - 1, 1), (9, 1)):
            pairs, _ = attention_pairs(tokens, past, win, "causal", chunk=chunk)
            assert pairs == hf[past:past + tokens].sum(), (layer, past, tokens)


@pytest.mark.parametrize("name", sorted(FIXTURE["saved_configs"]))
def test_configs_saved_by_transformers5_read_the_same(name):
    """A catalog config as transformers 5 writes it back (every default spelled out, layer_types, qk_head_dim,
    sliding_window 0 for Qwen2-MoE without sliding ...) is the same model to llmperf."""
    saved = from_hf_config(FIXTURE["saved_configs"][name], name)
    ref = llmperf.load_model(name)
    assert saved.param_counts() == ref.param_counts()
    for f in ("windows", "chunks", "nope_layers", "moe_layers", "n_kv_heads", "head_dim", "v_head_dim",
              "kv_lora_rank", "qkv_bias", "o_bias", "activation", "tie_embeddings"):
        assert getattr(saved, f) == getattr(ref, f), f
