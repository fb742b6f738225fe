"""How much of a transformer's work is attention: the textbook ratio and exact shares.

The chapter ``book/attention_share.ipynb`` is built on this module.

Two definitions of "attention" are used side by side:

* **attention** (the textbook's definition): everything in the attention block:
  the projections ``q_proj, k_proj, v_proj, o_proj`` (and their biases), the
  rotary embedding, and the **core** (``Q K^T``, softmax, scores times ``V``);
* **core** only: the part whose cost grows with the context length ``S``.

Shares are fractions of the decoder layers' attention + MLP FLOPs (the
textbook's denominator) unless a name says ``step`` (the whole forward step:
norms, embedding and ``lm_head`` included). Every count comes from
:func:`llmperf.build_ops`, so it follows llmperf's conventions (causal
attention FLOPs, last-token logits, decode attends ``S + 1`` keys) unless a
keyword switches one. Everything is vectorized: contexts are numpy arrays.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .analysis import analyze, step
from .conventions import Conventions
from .models import ACTIVATION_FLOP_PER_ELEMENT, ModelConfig, load_model, require_standard_attention
from .ops import build_ops

#: Parts of a forward step, in display order.
PARTS = ("projections", "core", "rope", "mlp", "norm", "lm_head", "embedding", "comm")
#: The parts that make up "attention" in the textbook's sense.
ATTENTION_PARTS = ("projections", "core", "rope")
PART_LABELS = {"projections": "Q/K/V/O projections", "core": "attention core (QK, softmax, SV)",
               "rope": "RoPE", "mlp": "MLP / experts", "norm": "norms and residuals", "lm_head": "lm_head",
               "embedding": "embedding", "comm": "communication"}


# --- the textbook ratio ------------------------------------------------------

def textbook_ratio(S, D):
    """Attention FLOPs over MLP FLOPs of a GPT layer (MHA, full attention, plain 4D MLP).

    Per token and layer: projections ``8 D^2`` + scores and weighted sum ``4 S D``
    against the MLP's ``16 D^2``, so ``(8 D^2 + 4 S D) / (16 D^2) = 1/2 + S / (4 D)``.
    """
    return 0.5 + np.asarray(S, dtype=float) / (4.0 * np.asarray(D, dtype=float))


def textbook_share(S, D):
    """Attention's share of the layer's FLOPs: ``ratio / (1 + ratio)`` (not the ratio itself)."""
    r = textbook_ratio(S, D)
    return r / (1.0 + r)


def textbook_core_share(S, D):
    """Share of the core alone in the layer: ``4 S D / (24 D^2 + 4 S D) = S / (6 D + S)``."""
    S = np.asarray(S, dtype=float)
    return S / (6.0 * np.asarray(D, dtype=float) + S)


def textbook_table(S, D) -> pd.DataFrame:
    """Ratio and both shares of the textbook layer for an array of contexts ``S``."""
    S = np.atleast_1d(np.asarray(S, dtype=float))
    return pd.DataFrame({
        "S (tokens)": S.astype(int),
        "S / D": S / D,
        "Attention / MLP ratio": textbook_ratio(S, D),
        "Attention share (%)": 100 * textbook_share(S, D),
        "Core / MLP ratio": S / (4.0 * D),
        "Core share (%)": 100 * textbook_core_share(S, D),
    }).set_index("S (tokens)")


# --- exact FLOPs by part -------------------------------------------------------

def part_masks(ops) -> dict:
    """Boolean mask over the operators of an OpSet for each part of :data:`PARTS`.

    ``core`` is the fused attention operator, or ``qk_matmul``, ``softmax`` and
    ``sv_matmul`` when flash attention is off.
    """
    names, groups, kinds = ops.names, ops.groups, ops.kinds
    n = len(names)
    m = {p: np.zeros(n, dtype=bool) for p in PARTS}
    for i in range(n):
        g, k, nm = groups[i], kinds[i], names[i]
        if g == "attention":
            if k == "matmul":
                m["projections"][i] = True
            elif nm == "rope":
                m["rope"][i] = True
            else:
                m["core"][i] = True
        elif g in ("mlp", "moe"):
            m["mlp"][i] = True
        elif g in m:
            m[g][i] = True
        else:  # an operator group this module does not know: keep it visible in the totals
            m["norm"][i] = True
    return m


def _sum_parts(ops, values, masks=None) -> dict:
    """Sum ``repeats * values`` over the operators of each part (values: (n_ops, *grid))."""
    masks = masks or part_masks(ops)
    return {p: np.tensordot(ops.repeats * mask, values, axes=(0, 0)) for p, mask in masks.items()}


def _conventions(**kw) -> Conventions:
    return Conventions(**kw)


def part_flops(model, context, phase="prefill", *, batch=1, matmul_only=False, **conventions) -> dict:
    """FLOPs of the whole step by part, for an array of contexts.

    ``phase='prefill'``: a prompt of ``context`` tokens with an empty cache;
    ``phase='decode'``: one token after ``context`` cached tokens. Conventions
    (``attention_flops``, ``decode_kv``, ``logits``) are keywords. With
    ``matmul_only=True`` only matrix multiplications count (no softmax, RoPE,
    norms, activations), as in the textbook formula. Returns part -> array.
    """
    m = load_model(model)
    conv = _conventions(**{**conventions, "flash_attention": False})  # FLOPs do not depend on it; it splits softmax
    S = np.asarray(context, dtype=float)
    if phase == "prefill":
        ops = build_ops(m, batch, S, 0, phase="prefill", conventions=conv)
    elif phase == "decode":
        ops = build_ops(m, batch, 1, S, phase="decode", conventions=conv)
    else:
        raise ValueError("phase must be 'prefill' or 'decode'")
    flops = ops.data["flops"]
    if matmul_only:
        keep = np.array([k in ("matmul", "attention") for k in ops.kinds])
        flops = flops * keep.reshape((-1,) + (1,) * (flops.ndim - 1))
    return _sum_parts(ops, flops)


def shares(parts: dict) -> dict:
    """Shares from FLOPs (or times) by part: layer shares and whole-step shares."""
    attn = sum(parts[p] for p in ATTENTION_PARTS)
    layer = attn + parts["mlp"]
    step = sum(parts.values())
    return {
        "attention_share": attn / layer,
        "core_share": parts["core"] / layer,
        "attention_share_step": attn / step,
        "core_share_step": parts["core"] / step,
        "attention_to_mlp": attn / parts["mlp"],
        "core_to_mlp": parts["core"] / parts["mlp"],
    }


def share_vs_context(model, context, phase="prefill", *, batch=1, matmul_only=False, **conventions) -> pd.DataFrame:
    """One row per context: FLOPs by part (whole step) and the shares of :func:`shares`."""
    m = load_model(model)
    S = np.atleast_1d(np.asarray(context, dtype=float))
    parts = part_flops(m, S, phase, batch=batch, matmul_only=matmul_only, **conventions)
    df = pd.DataFrame({"model": m.name, "phase": phase, "context": S.astype(int)})
    for p in PARTS:
        df[f"{p}_flops"] = np.broadcast_to(parts[p], S.shape)
    for k, v in shares(parts).items():
        df[k] = v
    return df


def share_grid(models, contexts, phases=("prefill", "decode"), column="attention_share", **kw) -> pd.DataFrame:
    """Share (in %) with models as rows and (phase, context) as columns."""
    frames = [share_vs_context(m, contexts, ph, **kw) for m in models for ph in phases]
    df = pd.concat(frames)
    out = df.pivot_table(index="model", columns=["phase", "context"], values=column, sort=False) * 100
    out.columns.names = ["phase", "context (tokens)"]
    return out.reindex(columns=list(phases), level=0)


# --- closed forms per token and layer ------------------------------------------

def layer_coefficients(model, matmul_only=False) -> dict:
    """FLOPs per token and layer (mean over layers), from the model's sizes alone.

    Returns ``proj`` (Q/K/V/O projections with biases, plus RoPE unless
    ``matmul_only``; bias adds always count, as part of their linear layer), ``mlp`` (dense MLP or MoE layer: router, routed experts,
    shared expert), and ``core_per_key`` (core FLOPs per query-key pair, all
    heads: ``4 N H`` for the two matmuls plus ``5 N`` for softmax unless
    ``matmul_only``). The core of a token that sees ``s`` keys costs
    ``core_per_key * s``.
    """
    m = load_model(model)
    require_standard_attention(m, "the per-layer FLOP coefficients")
    D, N, K, H = m.d_model, m.n_heads, m.n_kv_heads, m.head_dim
    qo, ko = N * H, K * H
    bias = 1.0 if m.qkv_bias else 0.0          # bias adds belong to their linear layer: always counted
    ob = 1.0 if m.o_bias else 0.0
    proj = (2 * D + bias) * (qo + 2 * ko) + 2 * qo * D + ob * D
    if not matmul_only:
        proj += 3.0 * (qo + ko)                                   # RoPE on queries and keys
    a = 0.0 if matmul_only else ACTIVATION_FLOP_PER_ELEMENT[m.activation]
    n_moe = len(m.moe_layers)
    mb = 1.0 if m.mlp_bias else 0.0
    F = m.d_ff
    if m.mlp == "gated":   # gate and up (D -> F each), activation times up, down (F -> D)
        dense = 2 * (2 * D + mb) * F + (0.0 if matmul_only else (a + 1) * F) + 2 * F * D + mb * D
    else:                  # fc1 (D -> F), activation, fc2 (F -> D)
        dense = (2 * D + mb) * F + a * F + 2 * F * D + mb * D
    moe = 0.0
    if n_moe:
        E, k, Fe = m.n_experts, m.top_k, m.d_expert
        moe = 2 * D * E + k * 6 * D * Fe
        if not matmul_only:
            moe += 5 * E + k * ((a + 1) * Fe + 2 * D)
        if m.d_shared_expert:
            Fs = m.d_shared_expert
            moe += 6 * D * Fs + (0 if matmul_only else (a + 1) * Fs + 2 * D)
    mlp = ((m.n_layers - n_moe) * dense + n_moe * moe) / m.n_layers
    core = (4.0 * H + (0.0 if matmul_only else 5.0)) * N
    return {"proj": float(proj), "mlp": float(mlp), "core_per_key": float(core)}


def _uniform_window(m: ModelConfig):
    w = set(m.windows)
    if len(w) != 1:
        raise ValueError(f"{m.name} mixes window sizes across layers: use crossover_numeric")
    return next(iter(w))


def crossover_context(model, phase="prefill", what="core", *, attention_flops="causal", decode_kv="inclusive",
                      matmul_only=False) -> float:
    """Context at which the core (``what='core'``) or the whole attention block
    (``what='attention'``) does as many FLOPs as the MLP; ``inf`` if never.

    Closed forms, with per-token-and-layer coefficients ``c`` (core per key),
    ``g`` (MLP, minus the projections when ``what='attention'``):

    * prefill, causal: the mean query sees ``(S + 1) / 2`` keys, so ``S* = 2 g / c - 1``;
      with a window ``W`` reached first, ``S* = c W (W - 1) / (2 (c W - g))``;
    * prefill, full square: ``S* = g / c``;
    * decode, ``S`` cached keys plus itself: ``S* = g / c - 1`` (``g / c`` with
      ``decode_kv='exclusive'``); with a window the token sees at most ``W`` keys.

    Returns a real number; the first integer context at or past it is ``ceil``.
    """
    m = load_model(model)
    co = layer_coefficients(m, matmul_only)
    c = co["core_per_key"]
    g = co["mlp"] - (co["proj"] if what == "attention" else 0.0)
    if what not in ("core", "attention"):
        raise ValueError("what must be 'core' or 'attention'")
    if g <= 0:
        return 0.0
    W = _uniform_window(m)
    if phase == "prefill":
        if attention_flops == "full":
            return g / c
        s = 2 * g / c - 1
        if W is None or s <= W:
            return s
        return c * W * (W - 1) / (2 * (c * W - g)) if c * W > g else math.inf
    if phase == "decode":
        keys_needed = g / c                                # keys a decode token must see
        if W is not None and keys_needed > W:
            return math.inf
        return keys_needed - (1.0 if decode_kv == "inclusive" else 0.0)
    raise ValueError("phase must be 'prefill' or 'decode'")


def crossover_numeric(model, phase="prefill", what="core", *, hi=2 ** 24, matmul_only=False, **conventions) -> float:
    """Smallest integer context where core (or attention) FLOPs reach the MLP's, by
    bisection on llmperf's operator counts; ``inf`` if not reached by ``hi``."""
    def excess(S):
        p = part_flops(model, S, phase, matmul_only=matmul_only, **conventions)
        lhs = p["core"] + (p["projections"] + p["rope"] if what == "attention" else 0.0)
        return float(lhs - p["mlp"])
    lo = 0 if phase == "decode" else 1
    if excess(lo) >= 0:
        return float(lo)
    if excess(hi) < 0:
        return math.inf
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if excess(mid) >= 0:
            hi = mid
        else:
            lo = mid
    return float(hi)


def crossover_table(models, **kw) -> pd.DataFrame:
    """Closed-form and numeric crossovers for several models, prefill and decode."""
    rows = []
    for name in models:
        m = load_model(name)
        row = {"model": m.name, "attention": m.attention_kind,
               "window": ",".join(sorted({str(w) for w in m.windows if w is not None})) or "-"}
        for phase in ("prefill", "decode"):
            for what in ("core", "attention"):
                cf = crossover_context(m, phase, what, **kw)
                row[f"{phase} {what} S* (closed form)"] = cf
                row[f"{phase} {what} S* (llmperf)"] = crossover_numeric(m, phase, what, **kw)
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


# --- time share against FLOP share ----------------------------------------------

def time_vs_flop_share(model, hardware, batch, context, phase="decode", **opts) -> pd.DataFrame:
    """FLOP share and roofline-time share of attention and of its core, over a batch x context grid.

    Times are llmperf's per-operator roofline times (lower bounds at peak,
    flash attention on); shares are of the layers' attention + MLP.
    """
    b = np.atleast_1d(np.asarray(batch, dtype=float))
    s = np.atleast_1d(np.asarray(context, dtype=float))
    bb, ss = np.meshgrid(b, s, indexing="ij")
    r = step(model, hardware, bb, ss, phase, **opts)
    masks = part_masks(r.ops)
    t = shares(_sum_parts(r.ops, r.op_time_s, masks))
    fl = _sum_parts(r.ops, r.ops.data["flops"], masks)
    by = _sum_parts(r.ops, r.ops.bytes_read + r.ops.bytes_written, masks)
    f = shares(fl)
    inten = {p: fl[p] / by[p] for p in ("core", "mlp")}
    from .regimes import max_decode_batch          # (regimes does not import this module)
    max_b = max_decode_batch(model, hardware, ss, **opts) if phase == "decode" else None
    return pd.DataFrame({
        "batch": bb.ravel().astype(int), "context": ss.ravel().astype(int),
        "attention_flop_share": f["attention_share"].ravel(), "attention_time_share": t["attention_share"].ravel(),
        "core_flop_share": f["core_share"].ravel(), "core_time_share": t["core_share"].ravel(),
        "core_intensity": inten["core"].ravel(), "mlp_intensity": inten["mlp"].ravel(),
        "step_time_s": r.time_s.ravel(),
        # decode only: whether the weights and the B sequences' KV caches (S + 1 tokens) fit in device memory
        "max_batch": max_b.ravel() if max_b is not None else np.nan,
        "fits": (bb <= max_b).ravel() if max_b is not None else True,
    })


def time_share_table(model, hardware, batch, context, **opts) -> pd.DataFrame:
    """The core's FLOP and time shares (%) and the intensities of the core and the MLP in decode,
    for each context (rows) and batch (columns), as display strings at 3 significant figures,
    with a row per context saying whether the workload fits in the device's memory."""
    from .book import significant
    tf = time_vs_flop_share(model, hardware, batch, context, **opts)
    rows = {}
    for s, g in tf.groupby("context", sort=True):
        g = g.set_index("batch")
        for label, col, scale in (("Core FLOP share (%)", "core_flop_share", 100),
                                  ("Core time share (%)", "core_time_share", 100),
                                  ("Core intensity (FLOP/B)", "core_intensity", 1),
                                  ("MLP intensity (FLOP/B)", "mlp_intensity", 1)):
            rows[(int(s), label)] = {int(b): significant(scale * v, 3) for b, v in g[col].items()}
        rows[(int(s), "Fits in memory")] = {int(b): ("yes" if v else "no") for b, v in g["fits"].items()}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["S (tokens)", ""])
    out.columns.name = "B"
    return out


def share_over_generation(model, hardware, prompt_len, gen_len, batch=1, every=1, **opts) -> pd.DataFrame:
    """Attention share of each decode step of a generation (``llmperf.analyze``), FLOPs and time.

    Step ``i`` attends the prompt plus ``i`` generated tokens (plus itself);
    ``every`` keeps one step in ``every`` (the last step is always kept).
    """
    a = analyze(model, hardware, batch, prompt_len, gen_len, **opts)
    steps = a.decode_steps()
    d = a.decode
    masks = part_masks(d.ops)
    f = shares(_sum_parts(d.ops, d.ops.data["flops"], masks))
    t = shares(_sum_parts(d.ops, d.op_time_s, masks))
    out = pd.DataFrame({"step": steps["step"], "context": steps["context"],
                        "attention_flop_share": f["attention_share"], "core_flop_share": f["core_share"],
                        "attention_time_share": t["attention_share"], "core_time_share": t["core_share"],
                        "step_time_s": steps["time_s"]})
    keep = (out["step"] % every == 0) | (out["step"] == out["step"].iloc[-1])
    return out[keep].reset_index(drop=True)


# --- tables and chart data ------------------------------------------------------

def breakdown(model, hardware, phase="decode", batch=1, context=4096, **opts) -> pd.DataFrame:
    """One row per part: FLOPs, roofline time and their shares of the whole step (display units)."""
    r = step(model, hardware, batch, context, phase, **opts)
    masks = part_masks(r.ops)
    fl = _sum_parts(r.ops, r.ops.data["flops"], masks)
    tm = _sum_parts(r.ops, r.op_time_s, masks)
    by = _sum_parts(r.ops, r.ops.bytes_read + r.ops.bytes_written, masks)
    parts = [p for p in PARTS if float(fl[p]) > 0 or float(tm[p]) > 0]
    F, T = sum(float(fl[p]) for p in parts), sum(float(tm[p]) for p in parts)
    return pd.DataFrame({
        "Part": [PART_LABELS[p] for p in parts],
        "GFLOP": [float(fl[p]) / 1e9 for p in parts],
        "FLOP share (%)": [100 * float(fl[p]) / F for p in parts],
        "Bytes moved (MB)": [float(by[p]) / 1e6 for p in parts],
        "Time (µs)": [1e6 * float(tm[p]) for p in parts],
        "Time share (%)": [100 * float(tm[p]) / T for p in parts],
    }).set_index("Part")


def chart_data(models, log2_context, phases=("prefill", "decode")) -> pd.DataFrame:
    """Long table for the share-vs-context chart: one row per model, phase, definition and context."""
    S = np.round(2.0 ** np.asarray(log2_context, dtype=float))
    frames = []
    for name in models:
        for ph in phases:
            df = share_vs_context(name, S, ph)
            for col, label in (("attention_share", "attention (projections + core)"), ("core_share", "core only")):
                frames.append(pd.DataFrame({"model": df["model"], "phase": ph, "definition": label,
                                            "log2_context": np.asarray(log2_context, dtype=float),
                                            "context": df["context"], "share": df[col].round(5)}))
    return pd.concat(frames, ignore_index=True)


def variant_ladder(S=4096, phase="prefill") -> pd.DataFrame:
    """From the textbook layer to Llama-3.1-8B's, one change at a time, with the attention share after each.

    The textbook model has D = 4096, 32 heads of 128, MHA and a plain MLP of 4D.
    """
    from .models import textbook_model
    tb = textbook_model(4096, 32, 32)
    steps = [
        ("textbook: MHA, plain MLP F=4D, full attention, matmuls only", tb, dict(attention_flops="full"), True),
        ("+ causal mask", tb, {}, True),
        ("+ gated MLP, F = 14336", tb.replace(mlp="gated", activation="silu", d_ff=14336), {}, True),
        ("+ GQA, K = 8", tb.replace(mlp="gated", activation="silu", d_ff=14336, n_kv_heads=8), {}, True),
        ("+ softmax, RoPE, activations, norms (= Llama-3.1-8B layer)", load_model("llama-3.1-8b"), {}, False),
    ]
    rows = []
    for label, m, conv, mo in steps:
        p = part_flops(m, S, phase, matmul_only=mo, **conv)
        sh = shares(p)
        L = m.n_layers
        rows.append({"Layer": label, "Attention (GFLOP/layer)": float(sum(p[q] for q in ATTENTION_PARTS)) / L / 1e9,
                     "MLP (GFLOP/layer)": float(p["mlp"]) / L / 1e9,
                     "Attention share (%)": 100 * float(sh["attention_share"]),
                     "Core share (%)": 100 * float(sh["core_share"])})
    return pd.DataFrame(rows).set_index("Layer")


def coefficient_table(models, matmul_only=False) -> pd.DataFrame:
    """Per token and layer: projections, MLP and core-per-key FLOPs, and the keys at which core = MLP."""
    rows = []
    for name in models:
        m = load_model(name)
        co = layer_coefficients(m, matmul_only)
        rows.append({"model": m.name, "D": m.d_model, "F": m.d_ff, "N": m.n_heads, "K": m.n_kv_heads,
                     "H": m.head_dim, "MLP": "MoE" if m.is_moe else m.mlp,
                     "Projections (MFLOP)": co["proj"] / 1e6, "MLP (MFLOP)": co["mlp"] / 1e6,
                     "Core per key (kFLOP)": co["core_per_key"] / 1e3,
                     "Keys for core = MLP": co["mlp"] / co["core_per_key"]})
    return pd.DataFrame(rows).set_index("model")


def crossover_summary(models, **kw) -> pd.DataFrame:
    """Compact view of :func:`crossover_table`: first integer context of each crossover
    (``'never'`` if none), and whether every closed form, rounded up, equals llmperf's count."""
    t = crossover_table(models, **kw)
    out = pd.DataFrame(index=t.index)
    out["attention"], out["window"] = t["attention"], t["window"]
    agree = pd.Series(True, index=t.index)
    for phase in ("prefill", "decode"):
        for what in ("core", "attention"):
            cf, num = t[f"{phase} {what} S* (closed form)"], t[f"{phase} {what} S* (llmperf)"]
            ok = [(math.isinf(a) and math.isinf(b)) or (not math.isinf(a) and math.ceil(a - 1e-9) == b)
                  for a, b in zip(cf, num)]
            agree &= pd.Series(ok, index=t.index)
            out[f"{phase}: {what} = MLP at S"] = ["never" if math.isinf(v) else f"{int(v):,}" for v in num]
    out["closed forms agree"] = agree
    return out
