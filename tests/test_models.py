"""Model configs: reading config.json, strictness, parameter counts."""
import json

import pytest

import llmperf
from llmperf.models import ModelConfigError, catalog_config, from_hf_config, load_model, model_names

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
    cfg = catalog_config("qwen3-8b") | {"sliding_window": 256,
                                        "layer_types": ["sliding_attention", "full_attention"] * 18}
    m = from_hf_config(cfg, "x")
    assert m.windows[0] == 256 and m.windows[1] is None


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
