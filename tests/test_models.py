"""Model configs: reading config.json, strictness, parameter counts."""
import json

import numpy as np
import pytest

import llmperf
from llmperf.models import ModelConfigError, catalog_config, from_hf_config, load_model, model_names
from llmperf.ops import attention_pairs

REQUIRED = [
    "qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "llama-3.2-1b", "llama-2-7b", "llama-2-70b", "llama-2-13b",
    "llama-3.1-8b", "llama-3.1-70b", "llama-3.2-3b", "qwen2.5-0.5b", "qwen2.5-14b", "qwen2.5-32b", "qwen2.5-72b",
    "qwen3-0.6b", "qwen3-8b", "qwen3-32b", "qwen3-30b-a3b", "mistral-7b", "mixtral-8x7b", "phi-3-mini", "gemma-7b",
]


def test_catalog_has_required_models():
    assert set(REQUIRED) <= set(model_names())


def test_every_catalog_model_loads():
    for name in model_names():
        m = load_model(name)
        assert m.params_total > 0 and 0 < m.params_active <= m.params_total


# Hand-derived parameter counts from the architecture (not from llmperf).
def test_llama2_7b_params_by_hand():
    D, F, L, V = 4096, 11008, 32, 32000
    per_layer = 4 * D * D + 3 * D * F + 2 * D
    assert load_model("llama-2-7b").params_total == 2 * V * D + L * per_layer + D


def test_tied_embeddings_counted_once_or_twice():
    m = load_model("qwen2.5-0.5b")
    assert m.tie_embeddings
    once, twice = m.param_counts("once"), m.param_counts("twice")
    assert twice["total"] - once["total"] == m.vocab_size * m.d_model
    assert once["lm_head"] == 0


def test_qwen3_moe_structure():
    m = load_model("qwen3-30b-a3b")
    assert m.n_experts == 128 and m.top_k == 8 and len(m.moe_layers) == m.n_layers
    pc = m.param_counts()
    # active = total - experts + the k of E experts each token uses
    assert pc["active"] == pc["total"] - pc["experts"] + pc["experts"] * m.top_k // m.n_experts


def test_gqa_and_head_dim_fields():
    assert load_model("llama-2-70b").attention_kind == "GQA-8"
    assert load_model("llama-2-7b").attention_kind == "MHA"
    q3 = load_model("qwen3-8b")
    assert q3.head_dim == 128 and q3.qk_norm
    g = load_model("gemma-7b")
    assert g.head_dim == 256 and g.head_dim * g.n_heads != g.d_model


def test_sliding_windows_follow_the_config():
    assert set(load_model("mistral-7b").windows) == {4096}
    assert set(load_model("phi-3-mini").windows) == {2047}
    assert set(load_model("qwen2.5-7b").windows) == {None}  # use_sliding_window is false
    cfg = catalog_config("qwen2.5-7b") | {"use_sliding_window": True, "max_window_layers": 20, "sliding_window": 512}
    m = from_hf_config(cfg, "q")
    assert m.windows[:20] == (None,) * 20 and set(m.windows[20:]) == {512}


def test_layer_types_field():
    cfg = catalog_config("qwen3-8b") | {"sliding_window": 256, "use_sliding_window": True,
                                        "layer_types": ["sliding_attention", "full_attention"] * 18}
    m = from_hf_config(cfg, "x")
    assert m.windows[0] == 256 and m.windows[1] is None
    # with use_sliding_window false, Qwen3Config drops the window and transformers refuses sliding layers
    with pytest.raises(ModelConfigError, match="sliding_window"):
        from_hf_config(cfg | {"use_sliding_window": False}, "x")


@pytest.mark.parametrize("field", ["hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                                   "intermediate_size"])
def test_missing_required_field_is_named(field):
    cfg = catalog_config("llama-2-7b")
    del cfg[field]
    with pytest.raises(ModelConfigError, match=field):
        from_hf_config(cfg, "x")


def test_unknown_model_type_is_named():
    cfg = catalog_config("llama-2-7b") | {"model_type": "gpt_bigcode"}
    with pytest.raises(ModelConfigError, match="gpt_bigcode"):
        from_hf_config(cfg)


def test_unknown_field_is_an_error_unless_allowed():
    cfg = catalog_config("llama-2-7b") | {"kv_lora_rank": 512}
    with pytest.raises(ModelConfigError, match="kv_lora_rank"):
        from_hf_config(cfg)
    assert from_hf_config(cfg, allow_unknown=True).params_total == load_model("llama-2-7b").params_total


def test_heads_not_dividing_is_an_error():
    cfg = catalog_config("llama-2-7b") | {"num_key_value_heads": 5}
    with pytest.raises(ModelConfigError, match="divide"):
        from_hf_config(cfg)


def test_moe_fields_on_dense_model_rejected():
    cfg = catalog_config("llama-2-7b") | {"num_local_experts": 8}
    with pytest.raises(ModelConfigError, match="dense"):
        from_hf_config(cfg)


def test_load_from_path_and_dir(tmp_path):
    cfg = catalog_config("qwen2.5-1.5b")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    assert load_model(tmp_path / "m").params_total == load_model("qwen2.5-1.5b").params_total
    assert load_model(str(tmp_path / "m" / "config.json")).name == "m"
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelConfigError, match="not valid JSON"):
        load_model(tmp_path / "bad.json")
    with pytest.raises(ModelConfigError, match="unknown model"):
        load_model("no-such-model")


def test_list_models_table():
    df = llmperf.list_models()
    assert len(df) == len(model_names())
    assert df.loc["llama-2-70b", "K"] == 8


def test_textbook_model_is_mha_plain_mlp():
    m = llmperf.textbook_model(4096, 32, 32)
    assert m.mlp == "plain" and m.d_ff == 4 * 4096 and m.attention_kind == "MHA"
    assert m.params_total == 2 * 32000 * 4096 + 32 * (4 * 4096**2 + 8 * 4096**2 + 2 * 4096) + 4096


# --- the families of issue 8 -------------------------------------------------------------------------
# Expectations below are hand arithmetic from the public configs, not llmperf output.

NEW_FAMILIES = {"gemma-2-9b": "gemma2", "gemma-3-12b": "gemma3_text", "deepseek-v2-lite": "deepseek_v2",
                "deepseek-v3": "deepseek_v3", "gpt-oss-20b": "gpt_oss", "llama-4-scout-17b-16e": "llama4_text",
                "phi-3.5-moe": "phimoe", "olmo-2-7b": "olmo2", "granite-3.1-8b": "granite"}


@pytest.mark.parametrize("name", sorted(NEW_FAMILIES))
def test_new_family_in_catalog(name):
    assert load_model(name).model_type == NEW_FAMILIES[name]


def test_mla_kv_cache_is_the_latent_by_hand():
    # DeepSeek-V3: kv_lora_rank 512 + qk_rope_head_dim 64 elements per layer per token, 61 layers, 2 bytes (bf16)
    per_token = (512 + 64) * 61 * 2
    m = load_model("deepseek-v3")
    assert m.attention_kind == "MLA"
    assert llmperf.kv_bytes_per_token_layer(m, "bf16") * m.n_layers == per_token
    assert float(llmperf.kv_cache_bytes(m, 4096, batch=3)) == 3 * 4096 * per_token
    # the latent is shared by all heads: tensor parallelism does not split it
    assert float(llmperf.kv_cache_bytes(m, 4096, batch=3, tp=8)) == 3 * 4096 * per_token
    # DeepSeek-V2-Lite: the same latent sizes, 27 layers
    assert llmperf.kv_bytes_per_token_layer("deepseek-v2-lite", "fp8") * 27 == (512 + 64) * 27


def test_deepseek_v3_structure():
    m = load_model("deepseek-v3")
    assert m.moe_layers == tuple(range(3, 61)) and m.d_ff == 18432       # first_k_dense_replace = 3
    assert (m.n_experts, m.top_k, m.d_expert, m.d_shared_expert) == (256, 8, 2048, 2048)
    assert (m.q_lora_rank, m.kv_lora_rank, m.qk_rope_head_dim, m.head_dim, m.v_dim) == (1536, 512, 64, 192, 128)
    assert not m.shared_expert_gate and not m.router_bias
    lite = load_model("deepseek-v2-lite")
    assert lite.q_lora_rank == 0 and lite.moe_layers == tuple(range(1, 27)) and lite.d_shared_expert == 2 * 1408


def _attention_matmul_flops(model, context, mla):
    ops = llmperf.build_ops(load_model(model), 1, 1, context, phase="decode",
                            conventions=llmperf.Conventions(mla=mla, flash_attention=False))
    skip = ("q_a_proj", "q_b_proj", "q_proj", "kv_a_proj_with_mqa", "o_proj")
    return sum(ops.repeats[i] * ops.data["flops"][i] for i, n in enumerate(ops.names)
               if ops.groups[i] == "attention" and ops.kinds[i] in ("matmul", "attention") and n not in skip)


def test_mla_decode_absorbed_and_expanded_by_hand():
    # DeepSeek-V2-Lite, one decode step after S cached tokens: S + 1 keys, 16 heads, 27 layers
    S, N, L, kr, R, Hn, Hv = 4000, 16, 27, 512, 64, 128, 128
    k = S + 1
    expanded = (2 * k * kr * N * (Hn + Hv)          # kv_b_proj re-expands every cached latent
                + 2 * N * k * (Hn + R) + 2 * N * k * Hv)  # QK^T over 192 dims, scores x V over 128
    absorbed = (2 * N * Hn * kr                      # q_nope x W_UK
                + 2 * N * k * (kr + R) + 2 * N * k * kr  # scores and output in the latent space
                + 2 * N * kr * Hv)                   # output x W_UV
    assert _attention_matmul_flops("deepseek-v2-lite", S, "expanded") == L * expanded
    assert _attention_matmul_flops("deepseek-v2-lite", S, "absorbed") == L * absorbed
    # prefill is expanded under both conventions
    a, b = (llmperf.build_ops(load_model("deepseek-v2-lite"), 1, 512, 0, conventions=llmperf.Conventions(mla=x))
            for x in ("absorbed", "expanded"))
    assert a.total("flops") == b.total("flops")


def test_mla_absorbed_decode_reads_the_latent_once():
    m = load_model("deepseek-v3")
    ops = llmperf.build_ops(m, 2, 1, 1000, phase="decode", conventions=llmperf.Conventions(mla="absorbed"))
    i = ops.names.index("attention (fused) (latent)")
    assert ops.data["kv_bytes_read"][i] * ops.repeats[i] == 2 * 1001 * (512 + 64) * 2 * 61


def test_mla_convention_is_echoed_and_checked():
    c = llmperf.Conventions()
    assert c.mla == "absorbed" and c.to_dict()["mla"] == "absorbed" and "MLA decode absorbed" in c.describe()
    with pytest.raises(ValueError, match="mla"):
        llmperf.Conventions(mla="latent")
    r = llmperf.analyze("deepseek-v2-lite", "h100-sxm", batch=1, prompt_len=256, gen_len=4, mla="expanded")
    assert r.to_dict()["conventions"]["mla"] == "expanded" and "MLA decode expanded" in r.report()
    slow = r.summary["tpot_s"]
    fast = llmperf.analyze("deepseek-v2-lite", "h100-sxm", batch=1, prompt_len=256, gen_len=4).summary["tpot_s"]
    assert fast < slow


def test_gemma_local_global_patterns():
    g2 = load_model("gemma-2-9b")  # alternating, local first; window 4096
    assert g2.windows == (4096, None) * 21 and g2.norms_per_layer == 4 and g2.attn_softcap
    assert g2.logit_flop_per_element > 0        # final logit soft-capping
    g3 = load_model("gemma-3-12b")  # five local (1024) then one global, 48 layers
    assert g3.windows == ((1024,) * 5 + (None,)) * 8 and g3.qk_norm and not g3.attn_softcap
    assert g3.warnings and "vision" in g3.warnings[0]


def test_gemma3_published_total_is_text_plus_vision_by_hand():
    """12,187,325,040 (safetensors, google/gemma-3-12b-it) = the text model + SigLIP encoder + projector."""
    v = catalog_config("gemma-3-12b")["vision_config"]
    d, f, n_layers = v["hidden_size"], v["intermediate_size"], v["num_hidden_layers"]
    per_layer = 4 * (d * d + d) + (d * f + f) + (f * d + d) + 2 * 2 * d    # attention, MLP, two LayerNorms
    patches = (v["image_size"] // v["patch_size"]) ** 2
    embed = 3 * v["patch_size"] ** 2 * d + d + patches * d                  # patch conv + positions
    vision = n_layers * per_layer + embed + 2 * d                           # + post LayerNorm
    projector = d * load_model("gemma-3-12b").d_model + d                    # projection + soft-embedding norm
    rec = json.loads((llmperf.models._catalog_dir() / "index.json").read_text())["gemma-3-12b"]
    assert load_model("gemma-3-12b").params_total + vision + projector == rec["published_params_with_vision"]


def test_gpt_oss_structure_and_kv_by_hand():
    m = load_model("gpt-oss-20b")
    assert m.windows == (128, None) * 12 and m.attn_sinks and m.router_bias and m.expert_bias
    # 12 sliding layers keep 128 tokens, 12 full layers all of them; K=8 heads of 64, bf16
    assert float(llmperf.kv_cache_bytes(m, 10_000)) == (12 * 10_000 + 12 * 128) * 2 * 8 * 64 * 2
    # one expert: gate_up [2880, 2x2880] + bias 5760, down [2880, 2880] + bias 2880
    assert m.expert_params == 2880 * 5760 + 5760 + 2880 * 2880 + 2880


def test_llama4_chunks_nope_and_shared_expert():
    m = load_model("llama-4-scout-17b-16e")
    nope = tuple(range(3, 48, 4))
    assert m.nope_layers == nope
    assert m.chunks == tuple(None if i in nope else 8192 for i in range(48))
    assert m.moe_layers == tuple(range(48)) and m.top_k == 1 and m.d_shared_expert == m.d_expert == 8192
    # 12 global layers keep everything, 36 chunked ones at most one chunk; K=8 heads of 128, bf16
    assert float(llmperf.kv_cache_bytes(m, 100_000)) == (12 * 100_000 + 36 * 8192) * 2 * 8 * 128 * 2


def test_chunked_attention_pairs_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(50):
        c, past, t = int(rng.integers(1, 40)), int(rng.integers(0, 200)), int(rng.integers(1, 90))
        pos = np.arange(past, past + t)
        pairs, keys = attention_pairs(t, past, None, "causal", chunk=c)
        assert pairs == np.sum(pos % c + 1)
        assert keys == past + t - (past // c) * c            # from the first query's chunk start
    # vectorized over a grid of cached lengths
    p = np.arange(0, 100)
    pairs, _ = attention_pairs(1, p, None, "causal", chunk=16)
    assert np.array_equal(pairs, p % 16 + 1)


def test_phimoe_olmo2_granite_structure():
    phi = load_model("phi-3.5-moe")
    assert phi.norm_bias and phi.lm_head_bias and phi.qkv_bias and phi.o_bias and set(phi.windows) == {131072}
    assert phi.param_counts()["lm_head_bias"] == 32064
    olmo = load_model("olmo-2-7b")
    assert olmo.qk_norm_kind == "full" and olmo.layer_params(0)["qk_norm"] == 2 * 4096  # over all heads
    g = load_model("granite-3.1-8b")
    assert g.embedding_scale and g.residual_scale and g.logit_flop_per_element == 1.0 and g.tie_embeddings


def test_qwen2_moe_qkv_bias_and_window_zero():
    cfg = catalog_config("qwen1.5-moe-a2.7b")
    base = from_hf_config(cfg, "a")
    m = from_hf_config(cfg | {"qkv_bias": False}, "b")
    L, N, K, H = base.n_layers, base.n_heads, base.n_kv_heads, base.head_dim
    assert base.params_total - m.params_total == L * (N * H + 2 * K * H)
    off = from_hf_config(cfg | {"sliding_window": 0, "use_sliding_window": False}, "c")  # transformers 5 saves 0
    assert set(off.windows) == {None}
    with pytest.raises(ModelConfigError, match="qkv_bias"):
        from_hf_config(cfg | {"qkv_bias": "no"}, "d")


def test_qwen_moe_sliding_layers_follow_transformers():
    q2 = from_hf_config(catalog_config("qwen1.5-moe-a2.7b") | {"use_sliding_window": True, "sliding_window": 512,
                                                                "max_window_layers": 6}, "q2")
    assert q2.windows == (512, None, 512, None, 512, None) + (None,) * (q2.n_layers - 6)
    q3 = from_hf_config(catalog_config("qwen3-30b-a3b") | {"use_sliding_window": True, "sliding_window": 512,
                                                            "max_window_layers": 6}, "q3")
    assert set(q3.windows) == {512}


@pytest.mark.parametrize("change, match", [
    ({"moe_layer_freq": 2}, "moe_layer_freq"),
    ({"n_group": 7}, "n_group"),
    ({"num_key_value_heads": 8}, "num_key_value_heads"),
    ({"kv_lora_rank": None}, "kv_lora_rank"),
    ({"mlp_bias": True}, "mlp_bias"),
])
def test_deepseek_bad_fields_are_named(change, match):
    with pytest.raises(ModelConfigError, match=match):
        from_hf_config(catalog_config("deepseek-v2-lite") | change, "x")


def test_wrapper_and_family_errors_are_named():
    cfg = catalog_config("gemma-3-12b")
    with pytest.raises(ModelConfigError, match="text_config"):
        from_hf_config({k: v for k, v in cfg.items() if k != "text_config"}, "x")
    with pytest.raises(ModelConfigError, match="gemma3_text"):
        from_hf_config(cfg | {"text_config": cfg["text_config"] | {"model_type": "llama"}}, "x")
    with pytest.raises(ModelConfigError, match="use_bidirectional_attention"):
        from_hf_config(cfg | {"text_config": cfg["text_config"] | {"use_bidirectional_attention": True}}, "x")
    l4 = catalog_config("llama-4-scout-17b-16e")
    with pytest.raises(ModelConfigError, match="attention_chunk_size"):
        from_hf_config(l4 | {"text_config": l4["text_config"] | {"attention_chunk_size": None}}, "x")
    with pytest.raises(ModelConfigError, match="no_rope_layers"):
        from_hf_config(l4 | {"text_config": l4["text_config"] | {"no_rope_layers": [1, 0]}}, "x")
    # a cost field of one family is refused on another
    with pytest.raises(ModelConfigError, match="attention_chunk_size"):
        from_hf_config(catalog_config("llama-3.1-8b") | {"attention_chunk_size": 8192}, "x")


def test_mla_latent_projections_are_whole_on_every_tp_device():
    # DeepSeek-V3 under tp=8, bf16: q_a_proj [7168, 1536] and kv_a_proj_with_mqa [7168, 512 + 64] of all 61
    # layers, and the norms (2 x 7168 + q_a 1536 + kv_a 512 per layer, final 7168), sit whole on each device
    m = load_model("deepseek-v3")
    replicated = 61 * 7168 * (1536 + 512 + 64)
    norms = 61 * (2 * 7168 + 1536 + 512) + 7168
    want = 2 * ((m.params_total - replicated - norms) / 8 + replicated + norms)
    got = llmperf.analyze(m, "h100-sxm", batch=1, prompt_len=16, gen_len=2, tp=8).summary["weight_bytes"]
    assert got == pytest.approx(want, rel=1e-12)
