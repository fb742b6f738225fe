"""Real config files as published (issue 8, part 2): fields, quantization_config, parallelism.

Expectations are derived by hand from the published sizes (hidden size D, layers L,
heads N and K, head size H, MLP width F, vocabulary V), not taken from llmperf.
"""
import json

import pytest

import llmperf
from llmperf.cli import main
from llmperf.models import ModelConfigError, catalog_config, from_hf_config

# HuggingFaceTB/SmolLM2-1.7B config.json, as published
SMOLLM2 = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1,
    "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
    "intermediate_size": 8192, "is_llama_config": True, "max_position_embeddings": 8192, "mlp_bias": False,
    "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 24, "num_key_value_heads": 32,
    "pad_token_id": 2, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_interleaved": False, "rope_scaling": None,
    "rope_theta": 130000, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    "transformers.js_config": {"kv_cache_dtype": {"q4f16": "float16", "fp16": "float16"}},
    "transformers_version": "4.42.3", "use_cache": True, "vocab_size": 49152,
}


def by_hand_llama(D, L, N, K, H, F, V, tied):
    """(linear-layer parameters, embedding + lm_head, norms) of a Llama-style model."""
    linear = L * (D * N * H + 2 * D * K * H + N * H * D + 3 * D * F)
    emb = V * D * (1 if tied else 2)
    norms = L * 2 * D + D
    return linear, emb, norms


def test_smollm2_published_config_is_accepted():
    m = from_hf_config(SMOLLM2, "smollm2-1.7b")
    assert m.warnings == ()  # every field is known or harmless
    linear, emb, norms = by_hand_llama(2048, 24, 32, 32, 64, 8192, 49152, tied=True)
    assert m.params_total == linear + emb + norms == 1_711_376_384


def test_unknown_field_is_a_warning_echoed_in_the_result(capsys, tmp_path):
    m = from_hf_config(SMOLLM2 | {"brand_new_option": 3}, "smol")
    assert len(m.warnings) == 1 and "brand_new_option" in m.warnings[0]
    a = llmperf.analyze(m, "h100-sxm", gen_len=2)
    assert a.warnings == list(m.warnings)
    assert a.to_dict()["warnings"] == list(m.warnings)
    assert "warning: unrecognised config field 'brand_new_option'" in a.report()
    f = tmp_path / "config.json"
    f.write_text(json.dumps(SMOLLM2 | {"brand_new_option": 3}))
    assert main(["analyze", "--model", str(f), "--hardware", "h100-sxm", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"]
    assert main(["analyze", "--model", str(f), "--hardware", "h100-sxm", "--json", "--allow-unknown-fields"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []


def test_gemma_config_saved_by_transformers_5():
    cfg = catalog_config("gemma-7b") | {"use_bidirectional_attention": None, "dtype": "bfloat16"}
    assert from_hf_config(cfg, "g").params_total == llmperf.load_model("gemma-7b").params_total
    with pytest.raises(ModelConfigError, match="use_bidirectional_attention"):
        from_hf_config(cfg | {"use_bidirectional_attention": True}, "g")


@pytest.mark.parametrize("field,value", [("attention_chunk_size", 8192), ("kv_lora_rank", 512),
                                         ("num_nextn_predict_layers", 1), ("attn_logit_softcapping", 50.0)])
def test_cost_changing_field_not_modelled_is_an_error(field, value):
    cfg = catalog_config("llama-2-7b") | {field: value}
    with pytest.raises(ModelConfigError, match=field):
        from_hf_config(cfg, "x")
    # its neutral value changes nothing, and is accepted
    neutral = None
    assert from_hf_config(catalog_config("llama-2-7b") | {field: neutral}, "x").warnings == ()


# --- quantization_config ---------------------------------------------------------

QWEN3_8B = dict(D=4096, L=36, N=32, K=8, H=128, F=12288, V=151936, tied=False)


def qwen3_8b_weight_bytes(linear_bits):
    linear, emb, norms = by_hand_llama(**QWEN3_8B)
    norms += QWEN3_8B["L"] * 2 * QWEN3_8B["H"]        # q_norm and k_norm
    return linear * linear_bits / 8 + (emb + norms) * 2


@pytest.mark.parametrize("qc,bits", [
    ({"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": [128, 128]},
     8 + 32 / (128 * 128)),                                                   # fp32 scale per 128x128 block
    ({"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False, "sym": True}, 4 + (16 + 4) / 128),
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True, "version": "gemm"},
     4 + (16 + 4) / 128),
    ({"quant_method": "awq", "bits": 4, "group_size": 64, "zero_point": False}, 4 + 16 / 64),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}, 4 + 32 / 64),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
      "bnb_4bit_use_double_quant": True}, 4 + 8 / 64 + 32 / (64 * 256)),
    ({"quant_method": "bitsandbytes", "load_in_8bit": True}, 8 + 32 / 4096),  # fp32 scale per row of D
    ({"quant_method": "mxfp4"}, 4 + 8 / 32),                                  # dense model: the linear layers
])
def test_quantization_config_sets_the_weight_storage(qc, bits):
    m = from_hf_config(catalog_config("qwen3-8b") | {"quantization_config": qc}, "q")
    a = llmperf.analyze(m, "h100-sxm", gen_len=2)
    assert a.summary["weight_bits_per_weight"] == pytest.approx(bits)
    assert a.summary["weight_bytes"] == pytest.approx(qwen3_8b_weight_bytes(bits), rel=1e-12)
    assert any("quantization_config" in n for n in a.setup.notes)
    # weight_dtype overrides it: plain bf16, every weight 2 bytes
    b = llmperf.analyze(m, "h100-sxm", gen_len=2, weight_dtype="bf16")
    assert b.summary["weight_bytes"] == pytest.approx(qwen3_8b_weight_bytes(16), rel=1e-12)


def test_fp8_checkpoint_on_the_command_line(tmp_path, capsys):
    f = tmp_path / "config.json"
    f.write_text(json.dumps(catalog_config("qwen3-8b") | {"quantization_config": {
        "quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 128]}}))
    assert main(["analyze", "--model", str(f), "--hardware", "h100-sxm", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["setup"]["weight_dtype"] == "fp8-block128x128" and not d["warnings"]
    assert d["summary"]["weight_bytes"] == pytest.approx(qwen3_8b_weight_bytes(8 + 32 / 16384), rel=1e-12)
    assert main(["analyze", "--model", str(f), "--hardware", "h100-sxm", "--json", "--weight-dtype", "int4"]) == 0
    d = json.loads(capsys.readouterr().out)
    linear, emb, norms = by_hand_llama(**QWEN3_8B)
    assert d["summary"]["weight_bytes"] == pytest.approx((linear + emb + norms + 36 * 256) * 0.5, rel=1e-12)


@pytest.mark.parametrize("qc,word", [({"quant_method": "hqq"}, "hqq"), ({"bits": 4}, "quant_method"),
                                     ({"quant_method": "gptq", "bits": 5}, "bits"),
                                     ({"quant_method": "gptq", "group_size": 0}, "group_size"),
                                     ({"quant_method": "bitsandbytes", "load_in_4bit": "true"}, "load_in_4bit"),
                                     ({"quant_method": "fp8", "weight_block_size": [128]}, "weight_block_size"),
                                     ("fp8", "JSON object")])
def test_bad_quantization_config_is_named(qc, word):
    with pytest.raises(ModelConfigError, match=word):
        from_hf_config(catalog_config("llama-2-7b") | {"quantization_config": qc}, "x")


# --- parallelism -----------------------------------------------------------------------

# Qwen/Qwen3-235B-A22B: 64 query heads, 4 KV heads
QWEN3_235B = catalog_config("qwen3-30b-a3b") | {
    "hidden_size": 4096, "num_hidden_layers": 94, "num_attention_heads": 64, "num_key_value_heads": 4,
    "moe_intermediate_size": 1536, "intermediate_size": 12288, "num_experts": 128, "num_experts_per_tok": 8}


def test_tensor_parallel_wider_than_the_kv_heads_replicates_them():
    m = from_hf_config(QWEN3_235B, "qwen3-235b-a22b")
    a = llmperf.analyze(m, "h200", 1, 1024, 2, tp=8)
    # each of 8 devices keeps one of the 4 KV heads (every head on 2 devices): 94 layers x K and V x 128 x 2 bytes
    assert a.summary["kv_cache_bytes_per_token"] == 94 * 2 * 1 * 128 * 2
    ops = a.decode_table("first").set_index("Operator")
    assert ops.loc["k_proj", "Weights read (B)"] == 4096 * 128 * 2   # one head's projection, bf16
    assert ops.loc["q_proj", "Weights read (B)"] == 4096 * 8 * 128 * 2  # 64 / 8 query heads
    assert "replicated" in a.report()
    with pytest.raises(ValueError, match="tp=3"):
        llmperf.analyze(m, "h200", tp=3)


def llama2_70b_layer_params():
    D, NH, KH, F = 8192, 64 * 128, 8 * 128, 28672
    return 2 * D * NH + 2 * D * KH + 3 * D * F + 2 * D


def test_pipeline_parallel_stages_bubble_and_transfers():
    base = llmperf.analyze("llama-2-70b", "h100-sxm", 2, 512, 3)
    pp = llmperf.analyze("llama-2-70b", "h100-sxm", 2, 512, 3, pp=4)
    link = llmperf.get_hardware("h100-sxm").interconnect_bandwidth_bytes_per_s
    # a step still runs every layer, plus 3 sends of B x T x D bf16 activations between the 4 stages
    assert pp.summary["tpot_first_s"] == pytest.approx(base.summary["tpot_first_s"] + 3 * 2 * 8192 * 2 / link)
    assert pp.summary["ttft_s"] == pytest.approx(base.summary["ttft_s"] + 3 * 2 * 512 * 8192 * 2 / link)
    # a device holds one stage of 80 / 4 = 20 layers and the larger end (embedding, or lm_head + final norm)
    assert pp.summary["weight_bytes"] == (20 * llama2_70b_layer_params() + 32000 * 8192 + 8192) * 2
    assert pp.summary["pipeline_bubble_fraction"] == 0.75
    assert "(pp-1)/(m+pp-1)" in pp.report()
    with pytest.raises(ValueError, match="pp=81"):
        llmperf.analyze("llama-2-70b", "h100-sxm", pp=81)


def test_expert_parallel_all_to_all_and_expert_memory():
    a = llmperf.analyze("mixtral-8x7b", "h100-sxm", 4, 256, 2, ep=2)
    d = a.to_dict()
    a2a = [op for op in d["decode"]["ops"] if op["name"].startswith("expert all-to-all")]
    assert len(a2a) == 1 and a2a[0]["repeats"] == 32
    # dispatch + combine: 2 x (ep-1)/ep x (B/ep x T x k x D) bf16 values per device
    assert a2a[0]["comm_bytes"] == 2 * 0.5 * (4 / 2 * 1 * 2 * 4096) * 2
    D, L, E, F, V = 4096, 32, 8, 14336, 32000
    experts = L * E * 3 * D * F
    other = L * (2 * D * D + 2 * D * 1024 + D * E + 2 * D) + 2 * V * D + D
    assert a.summary["weight_bytes"] == (other + experts / 2) * 2
    with pytest.raises(ValueError, match="experts"):
        llmperf.analyze("llama-2-7b", "h100-sxm", ep=2)
    with pytest.raises(ValueError, match="batch"):
        llmperf.analyze("mixtral-8x7b", "h100-sxm", 3, ep=2)
