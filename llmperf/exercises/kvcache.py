"""Exercises of the chapter "The KV Cache and Its Variants" (labels ``kvcache-ex1`` ...)."""
from __future__ import annotations

import llmperf
from llmperf import kvcache as kc
from llmperf.analysis import analyze
from llmperf.book import fmt

from . import Part, Worked, exercise

@exercise("kvcache-ex1", variants={"n_layers": [28, 40, 60], "n_kv_heads": [4, 8], "head_dim": [64, 128],
                                   "context": [8192, 32768, 65536]})
def bytes_per_token(n_layers: int = 40, n_kv_heads: int = 8, head_dim: int = 128, n_heads: int = 40,
                    context: int = 32768) -> Worked:
    """KV bytes per token and for a whole context, from a config's numbers."""
    m = llmperf.textbook_model(d_model=n_heads * head_dim, n_layers=n_layers, n_heads=n_heads) \
        .replace(n_kv_heads=n_kv_heads, head_dim=head_dim)
    per_token = 2 * n_layers * n_kv_heads * head_dim * 2
    whole = per_token * context
    assert per_token == float(llmperf.kv_cache_bytes(m, 1))  # the engine agrees with the hand formula
    prompt = (f"A decoder has $L = {n_layers}$ layers, $N = {n_heads}$ query heads, $K = {n_kv_heads}$ key-value "
              f"heads of $H = {head_dim}$ dimensions and full attention in every layer. With a bf16 KV cache, how "
              f"many KiB does one token add to the cache, and how many GiB does one sequence of {fmt(context)} "
              "tokens need?")
    solution = (
        "Each layer caches a key and a value of $K H$ elements per token, at $b_{kv} = 2$ bytes:\n\n"
        f"$$2\\,L\\,K\\,H\\,b_{{kv}} = 2 \\times {n_layers} \\times {n_kv_heads} \\times {head_dim} \\times 2 "
        f"= {per_token:,}\\ \\text{{bytes}} = {fmt(per_token / 2**10)}\\ \\text{{KiB}}.$$\n\n"
        f"For {fmt(context)} tokens: {per_token:,} × {context:,} bytes = {fmt(whole / 2**30)} GiB "
        f"(1 GiB = $2^{{30}}$ bytes). The query heads do not appear: grouped-query attention shares each cached "
        f"head among $N/K = {fmt(n_heads / n_kv_heads)}$ of them, which is exactly what makes the cache small.")
    return Worked(prompt, {"kib_per_token": Part(per_token / 2**10, "KiB", rel=0.01, what="KiB per token"),
                           "gib_per_sequence": Part(whole / 2**30, "GiB", rel=0.01, what="GiB per sequence")},
                  solution)


@exercise("kvcache-ex2", variants={"d_c": [256, 384], "d_r": [32, 64], "k_heads": [4, 8, 16]})
def mla_against_gqa(d_c: int = 384, d_r: int = 64, k_heads: int = 8, head_dim: int = 128) -> Worked:
    """How many times smaller an MLA cache is than a GQA cache with the same head dimension."""
    mla = float(kc.kv_elements_per_token("MLA", kv_lora_rank=d_c, rope_dim=d_r))
    gqa = float(kc.kv_elements_per_token("GQA", n_kv_heads=k_heads, head_dim=head_dim))
    prompt = (f"Multi-head latent attention caches, per layer and token, one latent of $d_c = {d_c}$ elements and "
              f"a rotary key of $d_r = {d_r}$ elements. A grouped-query model with the same number of layers "
              f"caches $K = {k_heads}$ key-value heads of $H = {head_dim}$. How many elements per layer and token "
              "does each cache, and how many times larger is the GQA cache? To how many GQA key-value heads is the "
              "MLA cache equivalent?")
    solution = (
        f"MLA: $d_c + d_r = {d_c} + {d_r} = {int(mla):,}$ elements: keys and values of all heads are recomputed "
        "from (or attended in) the one latent, so nothing per head is cached.\n\n"
        f"GQA: $2 K H = 2 \\times {k_heads} \\times {head_dim} = {int(gqa):,}$ elements.\n\n"
        f"The GQA cache is {fmt(gqa / mla)} times larger. MLA's cache equals that of GQA with "
        f"$(d_c + d_r) / (2H) = {fmt(mla / (2 * head_dim))}$ key-value heads; DeepSeek-V2's own comparison "
        "(its Table 1, with $d_c = 4H$ and $d_r = H/2$) says 2.25 groups.")
    return Worked(prompt, {"mla_elements": Part(int(mla), "elements", rel=0, what="MLA elements"),
                           "gqa_elements": Part(int(gqa), "elements", rel=0, what="GQA elements"),
                           "ratio": Part(gqa / mla, "×", rel=0.01, what="GQA / MLA"),
                           "equivalent_heads": Part(mla / (2 * head_dim), "heads", rel=0.01,
                                                    what="equivalent KV heads")}, solution)


@exercise("kvcache-ex3", variants={"n": [40, 48, 64], "k": [8, 16], "group": [32, 64, 128]})
def quantized_intensity(n: int = 40, k: int = 8, group: int = 64, head_dim: int = 128) -> Worked:
    """Decode attention intensity in bf16 and with an int8 cache carrying fp16 scales."""
    i16 = float(kc.decode_attention_intensity("GQA", n_heads=n, n_kv_heads=k, head_dim=head_dim))
    b8 = kc.kv_bytes_per_element("int8", group)
    i8 = float(kc.decode_attention_intensity("GQA", n_heads=n, n_kv_heads=k, head_dim=head_dim, kv_dtype="int8",
                                             group_size=group))
    prompt = (f"A grouped-query layer has $N = {n}$ query heads and $K = {k}$ key-value heads of $H = {head_dim}$. "
              "One decode token attends a long cache. What is the attention's intensity (FLOP per byte of cache "
              f"read) with a bf16 cache, and with an int8 cache that stores one fp16 scale per {group} elements? "
              "Why does batching not change it?")
    solution = (
        f"Per cached token the new token does $4 N H$ FLOP (scores and values, 2 FLOP per multiply-add) "
        f"= {4 * n * head_dim:,} FLOP and reads $2 K H$ elements = {2 * k * head_dim:,} elements.\n\n"
        f"- bf16, 2 bytes per element: ${4 * n * head_dim:,} / ({2 * k * head_dim:,} \\times 2) = {fmt(i16)}$ "
        "FLOP/B, which is $N/K$.\n"
        f"- int8 with an fp16 scale per {group}: $1 + 2/{group} = {fmt(b8, 'sig4')}$ bytes per element, so "
        f"${4 * n * head_dim:,} / ({2 * k * head_dim:,} \\times {fmt(b8, 'sig4')}) = {fmt(i8)}$ FLOP/B.\n\n"
        "Batching does not help because every sequence reads its own cache: $B$ sequences do $B$ times the FLOP "
        "and read $B$ times the bytes. Only sharing a cached head among more query heads (larger $N/K$), "
        "fewer bytes per element, or MLA's shared latent raise it.")
    return Worked(prompt, {"bf16": Part(i16, "FLOP/B", rel=0.01, what="bf16 intensity"),
                           "int8": Part(i8, "FLOP/B", rel=0.01, what="int8 intensity")}, solution)


@exercise("kvcache-ex4", variants={"window": [512, 2048, 4096], "context": [16384, 65536, 131072],
                                   "local_every": [2, 4, 6]})
def windowed_cache(window: int = 2048, context: int = 65536, local_every: int = 4, n_layers: int = 48,
                   per_layer_token_bytes: int = 4096) -> Worked:
    """Cache of a model whose layers alternate sliding-window and global attention."""
    n_global = n_layers // local_every
    n_local = n_layers - n_global
    total = per_layer_token_bytes * (n_global * context + n_local * min(window, context))
    full = per_layer_token_bytes * n_layers * context
    prompt = (f"A model has {n_layers} layers; in every group of {local_every} consecutive layers, "
              f"{local_every - 1} use a sliding window of $\\omega = {fmt(window)}$ tokens and one attends the whole "
              f"context (Gemma-3 uses 5 to 1). Each layer caches {per_layer_token_bytes:,} bytes per token. "
              f"How many GiB does one sequence of $S = {fmt(context)}$ tokens cache, and what fraction of the "
              "cache of the same model with global attention everywhere is that?")
    solution = (
        f"Global layers: $L / {local_every} = {n_global}$, each caching all $S$ tokens; local layers: {n_local}, "
        f"each caching $\\min(S, \\omega) = {fmt(min(window, context))}$ tokens:\n\n"
        f"$${per_layer_token_bytes:,} \\times ({n_global} \\times {context:,} + {n_local} \\times "
        f"{min(window, context):,}) = {total:,}\\ \\text{{bytes}} = {fmt(total / 2**30)}\\ \\text{{GiB}}.$$\n\n"
        f"With global attention everywhere it would be {fmt(full / 2**30)} GiB, so the windows keep "
        f"{fmt(total / full)} of it. At long context the global layers dominate: the fraction tends to "
        f"$1/{local_every}$, whatever the window.")
    return Worked(prompt, {"gib": Part(total / 2**30, "GiB", rel=0.01, what="cache of one sequence"),
                           "fraction": Part(total / full, "share", rel=0.01, what="fraction of the global cache")},
                  solution)


@exercise("kvcache-ex5", variants={"model": ["llama-3.1-8b", "qwen2.5-7b", "mistral-7b", "gemma-3-12b"],
                                   "device": ["a100-sxm-80gb", "a100-sxm-40gb", "l40s"], "context": [8192, 32768]})
def sequences_that_fit(model: str = "qwen2.5-7b", device: str = "a100-sxm-40gb", context: int = 32768) -> Worked:
    """How many sequences of a context fit beside the weights (llmperf's memory model)."""
    a = analyze(model, device, batch=1, prompt_len=context, gen_len=1)
    s = a.summary
    per_seq = float(llmperf.kv_cache_bytes(model, context))
    n = int(s["max_batch"]) if a.fits else 0
    h = llmperf.get_hardware(device)
    prompt = (f"How many sequences of {fmt(context)} tokens of {model} (bf16 weights and KV cache) fit at once on "
              f"one {h.display_name}, counting the weights, the KV caches and the activation peak of a prefill as "
              "llmperf does? What limits it?")
    solution = (
        f"Device memory: {fmt(s['memory_capacity_bytes'] / 2**30)} GiB. Weights: "
        f"{fmt(s['weight_bytes'] / 2**30)} GiB. One sequence of {fmt(context)} tokens caches "
        f"{fmt(per_seq / 2**30)} GiB (sliding-window layers, if any, keep only their window). "
        f"What is left after the weights and the activation peak holds {n} such caches: **{n} sequences**.\n\n"
        "The cache, not the arithmetic, limits the batch of a long-context server: every extra sequence costs "
        "its whole context in memory, so the batch, and with it the throughput of decode, is set by bytes per "
        "token times context.")
    return Worked(prompt, {"answer": Part(n, "sequences", rel=0, what="sequences that fit")}, solution)


_KV_DTYPES = ["bf16", "fp8", "int8", "int4"]


def _kv_verdict(model, device, context, n_seq, group, choice):
    if not isinstance(choice, str) or choice.strip().lower() not in _KV_DTYPES:
        return f"submit one of {', '.join(_KV_DTYPES)}"
    choice = choice.strip().lower()
    fits = _fits_by_dtype(model, device, context, n_seq, group)
    if not fits[choice]:
        return f"{n_seq} sequences of {context:,} tokens do not fit with a {choice} cache"
    width = {d: kc.kv_bytes_per_element(d, None if d == "bf16" else group) for d in _KV_DTYPES}
    wider = [d for d in _KV_DTYPES if width[d] > width[choice] and fits[d]]
    if wider:
        return f"a wider cache ({wider[0]}) fits too, with less quantization error"
    return None


def _fits_by_dtype(model, device, context, n_seq, group):
    a = analyze(model, device, batch=1, prompt_len=context, gen_len=1)
    s = a.summary
    room = s["memory_capacity_bytes"] - s["weight_bytes"] - s["activation_peak_bytes"]
    m = llmperf.load_model(model)
    elements = float(llmperf.kv_cache_bytes(m, context, 1, "bf16")) / 2   # bf16: 2 bytes per element
    out = {}
    for d in _KV_DTYPES:
        per_el = kc.kv_bytes_per_element(d, None if d == "bf16" else group)
        out[d] = n_seq * elements * per_el <= room
    return out


@exercise("kvcache-ex6", variants={"n_seq": [8, 16, 24], "context": [32768, 65536],
                                   "model": ["llama-3.1-8b", "qwen3-8b"]})
def choose_kv_dtype(model: str = "llama-3.1-8b", device: str = "h100-sxm", context: int = 32768,
                    n_seq: int = 16, group: int = 64) -> Worked:
    """Open design: the widest KV precision that fits a number of long sequences."""
    fits = _fits_by_dtype(model, device, context, n_seq, group)
    best = next((d for d in _KV_DTYPES if fits[d]), None)
    h = llmperf.get_hardware(device)
    prompt = (f"You must hold {n_seq} concurrent sequences of {fmt(context)} tokens of {model} (bf16 weights) on "
              f"one {h.display_name}. Choose the KV-cache precision among bf16, fp8, int8 and int4 (the last three "
              f"with one fp16 scale per {group} elements, fp8 included) that fits, preferring the widest one: "
              "each halving of the bytes adds quantization error. Justify with the bytes.")
    a = analyze(model, device, batch=1, prompt_len=context, gen_len=1).summary
    room = a["memory_capacity_bytes"] - a["weight_bytes"] - a["activation_peak_bytes"]
    elements = float(llmperf.kv_cache_bytes(model, context, 1, "bf16")) / 2
    lines = "\n".join(
        f"| {d} | {fmt(kc.kv_bytes_per_element(d, None if d == 'bf16' else group), 'sig4')} | "
        f"{fmt(n_seq * elements * kc.kv_bytes_per_element(d, None if d == 'bf16' else group) / 2**30)} | "
        f"{'yes' if fits[d] else 'no'} |" for d in _KV_DTYPES)
    solution = (
        f"The room for the cache is the memory minus the weights and the activation peak: "
        f"{fmt(room / 2**30)} GiB. {n_seq} sequences of {fmt(context)} tokens hold "
        f"{fmt(n_seq * elements / 1e9)} billion cached elements; by precision:\n\n"
        "| KV dtype | Bytes per element (scales included) | Cache (GiB) | Fits |\n|---|---|---|---|\n" + lines +
        "\n\n" + (f"The widest that fits is **{best}**" + (" (int8 is as wide and counts too). " if best == "fp8" else ". ")
                  if best else "Nothing fits: hold fewer sequences. ") +
        "An 8-bit cache halves the bytes of bf16 (plus 3 % of scales at one per 64), int4 quarters them; the "
        "decode attention reads those bytes every step, so a narrower cache also makes long-context decode "
        "faster, at the price of accuracy.")
    part = Part(best or "none", "KV dtype", rel=0, what="KV precision",
                accept=lambda c: _kv_verdict(model, device, context, n_seq, group, c))
    return Worked(prompt, {"answer": part}, solution)


@exercise("kvcache-ex7", variants={"context": [4096, 16384, 32768], "model": ["deepseek-v2-lite"],
                                   "device": ["h100-sxm", "a100-sxm-80gb"]})
def absorbed_against_expanded(model: str = "deepseek-v2-lite", device: str = "h100-sxm",
                              context: int = 16384) -> Worked:
    """Bytes moved by MLA decode attention, absorbed against expanded."""
    t = kc.mla_decode_compare(model, device, [context])
    ab = t[t.Decode == "absorbed"].iloc[0]
    ex = t[t.Decode == "expanded"].iloc[0]
    ratio = ex["Attention GB moved"] / ab["Attention GB moved"]
    prompt = (f"{model} decodes one token (batch 1, bf16) after $S = {fmt(context)}$ cached tokens on an "
              f"{llmperf.get_hardware(device).display_name}. Using llmperf, how many GB does the attention block "
              "of all layers move per step when the decode is absorbed (attention in the latent space) and when "
              "it is expanded (every cached latent re-expanded into keys and values, as the transformers code "
              "does), and what are the two step times in ms?")
    solution = (
        f"llmperf's decode step with `mla='absorbed'`: the attention block moves {fmt(ab['Attention GB moved'])} GB "
        f"and the step takes {fmt(ab['Step time (ms)'])} ms. With `mla='expanded'`: "
        f"{fmt(ex['Attention GB moved'])} GB and {fmt(ex['Step time (ms)'])} ms, {fmt(ratio)} times the bytes.\n\n"
        "Why: expanded decode multiplies every cached latent by the up-projection `kv_b_proj` again at every "
        "step and writes out full per-head keys and values for all $S$ positions, so its traffic grows with "
        "$S$ times the per-head width; absorbed decode folds that projection into the query and the output, "
        "reads only the latent cache, and its bytes grow with $S (d_c + d_r)$. The longer the context, the larger "
        "the gap.")
    return Worked(prompt, {"absorbed_gb": Part(float(ab["Attention GB moved"]), "GB", rel=0.01, what="absorbed bytes"),
                           "expanded_gb": Part(float(ex["Attention GB moved"]), "GB", rel=0.01, what="expanded bytes"),
                           "absorbed_ms": Part(float(ab["Step time (ms)"]), "ms", rel=0.01, what="absorbed step"),
                           "expanded_ms": Part(float(ex["Step time (ms)"]), "ms", rel=0.01, what="expanded step")},
                  solution)
