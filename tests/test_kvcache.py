"""KV cache per architecture against hand derivations and the DeepSeek-V2 paper's comparison."""
import pytest

import llmperf
from llmperf import kvcache as kc


def test_deepseek_v2_table_1_mla_is_four_and_a_half_head_dims_per_layer():
    # DeepSeek-V2 (2024), Table 1: MLA caches (d_c + d_h^R) l elements per token, with d_c = 4 d_h and
    # d_h^R = d_h / 2 that is 9/2 d_h l, "equivalent to GQA with only 2.25 groups".
    dh = 128
    mla = kc.kv_elements_per_token("MLA", kv_lora_rank=4 * dh, rope_dim=dh // 2)
    assert float(mla) == 4.5 * dh
    gqa_225 = 2 * 2.25 * dh
    assert float(mla) == gqa_225
    mha = kc.kv_elements_per_token("MHA", n_heads=128, head_dim=dh)      # DeepSeek-V2: 128 heads
    assert float(mha / mla) == pytest.approx(2 * 128 / 4.5)


def test_deepseek_v3_latent_cache_bytes_per_token():
    # 61 layers x (512 latent + 64 rotary key) elements x 2 bytes (bf16)
    assert float(kc.kv_bytes_per_token("MLA", 61, kv_lora_rank=512, rope_dim=64)) == 61 * 576 * 2


def test_gqa_matches_the_engine_for_llama_3_1_8b():
    m = llmperf.load_model("llama-3.1-8b")
    mine = kc.kv_bytes_per_token("GQA", m.n_layers, n_kv_heads=m.n_kv_heads, head_dim=m.head_dim)
    assert float(mine) == float(llmperf.kv_cache_bytes(m, 1)) == 32 * 2 * 8 * 128 * 2


def test_decode_intensity_is_the_sharing_factor_in_bf16():
    for n, k in ((32, 32), (32, 8), (64, 8), (32, 1)):
        kind = "MHA" if n == k else ("MQA" if k == 1 else "GQA")
        i = kc.decode_attention_intensity(kind, n_heads=n, n_kv_heads=k, head_dim=128)
        assert float(i) == pytest.approx(n / k)


def test_mla_absorbed_decode_is_far_more_intense_than_gqa():
    # DeepSeek-V3: 128 heads share one latent of 512 + 64
    i = float(kc.decode_attention_intensity("MLA", n_heads=128, kv_lora_rank=512, rope_dim=64))
    assert i == pytest.approx((2 * 128 * 576 + 2 * 128 * 512) / (576 * 2))
    assert i > 100


def test_quantized_cache_counts_its_scales():
    # int8 with one fp16 scale per 64 elements: 1 + 2/64 bytes per element
    assert kc.kv_bytes_per_element("int8", 64) == pytest.approx(1 + 2 / 64)
    assert kc.kv_bytes_per_element("int4", 32) == pytest.approx(0.5 + 2 / 32)
    assert kc.kv_bytes_per_element("bf16") == 2


def test_window_and_sharing():
    full = kc.kv_bytes_per_token("GQA", 32, n_kv_heads=8, head_dim=128)
    win = kc.kv_bytes_per_token("GQA", 32, n_kv_heads=8, head_dim=128, window=4096, context=32768)
    assert float(win / full) == pytest.approx(4096 / 32768)
    short = kc.kv_bytes_per_token("GQA", 32, n_kv_heads=8, head_dim=128, window=4096, context=1000)
    assert float(short) == pytest.approx(float(full))                   # a window longer than S changes nothing
    shared = kc.kv_bytes_per_token("GQA", 32, n_kv_heads=8, head_dim=128, share_layers=2)
    assert float(shared) == pytest.approx(float(full) / 2)


def test_architecture_table_orders_the_designs():
    t = kc.architecture_table(32, 32, 128).set_index("Design")
    rel = t["Relative to MHA"]
    assert rel.iloc[0] == 1 and (rel.iloc[1:] < 1).all()
    assert t.filter(like="MQA", axis=0)["Relative to MHA"].iloc[0] == pytest.approx(1 / 32)


@pytest.mark.parametrize("bad", [dict(kind="XYZ", n_heads=8, head_dim=64), dict(kind="GQA", n_kv_heads=0, head_dim=64),
                                 dict(kind="MLA", kv_lora_rank=-1, rope_dim=64)])
def test_bad_shapes_are_refused(bad):
    kind = bad.pop("kind")
    with pytest.raises(llmperf.WorkloadError):
        kc.kv_elements_per_token(kind, **bad)
