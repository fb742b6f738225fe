"""Exercises of the chapter "Measuring Your Machine" (labels ``measuring-ex1`` ...).

Every exercise works from the book's stored reference run
(``llmperf/data/measurements/reference_run.json``, made by
``scripts/measure_reference.py``): its numbers are in the statement, and the
worked solution recomputes the answer from them with llmperf, so a student
needs neither PyTorch nor the same machine.
"""
from __future__ import annotations

from llmperf import measure as M
from llmperf.book import fmt
from llmperf.dtypes import dtype_bytes

from . import Part, Worked, exercise
from .roofline import pretty, worked_md

MODELS = ["qwen2.5-0.5b", "qwen3-0.6b"]
DTYPES = ["fp32", "bf16"]


def _run():
    return M.reference_run()


def _profile():
    return M.MachineProfile.from_dict(_run()["profile"])


def _row(model, dtype, phase, batch, length):
    df, _ = M.reference_comparison()
    r = df[(df.model == model) & (df.dtype == dtype) & (df.phase == phase) & (df.batch == batch)
           & (df.length == length)]
    if r.empty:
        raise ValueError(f"the reference run has no {model} {dtype} {phase} {batch}x{length}")
    return r.iloc[0]


def _entry(model, dtype):
    for e in _run()["models"]:
        if e["model"] == model and e["dtype"] == dtype:
            return e
    raise ValueError(f"the reference run has no {model} {dtype}")


def _machine() -> str:
    m = _run()["machine"]
    return f"a {m['cores']}-core {m['cpu']} running PyTorch with {m['threads']} threads"


def _gb(x):
    return fmt(x / 1e9)


def _a(dtype: str) -> str:
    """The article before a dtype read aloud ("an fp32", "a bf16")."""
    return ("an " if dtype.startswith(("fp", "f")) else "a ") + dtype


@exercise("measuring-ex1", variants={"dtype": DTYPES, "batch": [1, 4, 16, 64]})
def measured_ridge(dtype: str = "fp32", batch: int = 4) -> Worked:
    """The measured machine's ridge, and whether a decode product at a batch is below it."""
    p = _profile()
    pk, bw = p.matmul_flop_per_s[dtype], p.bandwidth_bytes_per_s["triad"]
    ridge = pk / bw
    b_w = dtype_bytes(dtype)
    D = 4096
    # [B, D] x [D, D]: 2 B D^2 FLOP over (D^2 + 2 B D) b_w bytes
    inten = 2 * batch * D * D / ((D * D + 2 * batch * D) * b_w)
    prompt = (f"The reference run measured, on {_machine()}, {_a(dtype)} matrix-product peak of "
              f"{_gb(pk)} GFLOP/s and a STREAM triad bandwidth of {_gb(bw)} GB/s. "
              f"What is this machine's {dtype} ridge point $R$? A decode step multiplies a batch of "
              f"$B = {batch}$ activation rows $[B, 4096]$ by {_a(dtype)} weight $W$ of $[4096, 4096]$: what is the "
              "product's intensity $I$, and is it compute- or memory-bound here?")
    bound = "memory-bound" if inten < ridge else "compute-bound"
    solution = (
        f"$R = \\pi / \\beta = {_gb(pk)} \\times 10^9 / ({_gb(bw)} \\times 10^9) = {fmt(ridge)}$ FLOP/B.\n\n"
        f"The product does $C = 2 B D^2 = 2 \\times {batch} \\times 4096^2$ FLOP and moves "
        f"$Q = (D^2 + 2 B D)\\, b_w$ bytes with $b_w = {fmt(b_w)}$ B: "
        f"$I = 2 B / ((1 + 2B/D)\\, b_w) = {fmt(inten)}$ FLOP/B.\n\n"
        f"$I = {fmt(inten)} < R = {fmt(ridge)}$: the product is **{bound}**" if inten < ridge else
        f"$I = {fmt(inten)} \\ge R = {fmt(ridge)}$: the product is **{bound}**")
    solution += (". A CPU's ridge is low (its peak is small next to a GPU's) but the weight is read once "
                 "per step whatever $B$, so the intensity grows with the batch by about $2/b_w$ FLOP/B per row.")
    return worked_md(prompt, {"ridge": Part(ridge, "FLOP/B", rel=0.02, what="ridge point"),
                              "intensity": Part(inten, "FLOP/B", rel=0.02, what="intensity of the product"),
                              "bound": Part(bound, "", rel=0, what="'memory-bound' or 'compute-bound'")}, solution)


@exercise("measuring-ex2", variants={"model": MODELS, "dtype": DTYPES, "batch": [1, 4], "context": [128, 1024]})
def decode_gap(model: str = "qwen2.5-0.5b", dtype: str = "bf16", batch: int = 1, context: int = 1024) -> Worked:
    """The roofline of a decode step from the measured peaks, against the measured step."""
    r = _row(model, dtype, "decode", batch, context)
    p = _profile()
    bw = p.bandwidth_bytes_per_s["triad"]
    meas, roof = float(r.measured_s), float(r.roofline_s)
    prompt = (f"On {_machine()}, the reference run measured {_a(dtype)} decode step of {pretty(model)} "
              f"(random weights) at $B = {batch}$ and $S = {fmt(context)}$ cached tokens: "
              f"{fmt(meas * 1e3)} ms. With the machine's measured peaks (triad {_gb(bw)} GB/s, "
              f"{dtype} matmul {_gb(p.matmul_flop_per_s[dtype])} GFLOP/s) as its `Hardware`, what is "
              "llmperf's roofline time of the step, in ms, and how many times slower is the measured step?")
    solution = (
        f"`llmperf.decode_step` on `MachineProfile.hardware()` sums every operator's roofline time: "
        f"{fmt(roof * 1e3)} ms, almost all of it the weights read at {_gb(bw)} GB/s (decode is memory-bound "
        f"on this machine as on a GPU).\n\n"
        f"Measured over bound: ${fmt(meas * 1e3)} / {fmt(roof * 1e3)} = {fmt(meas / roof)}$. "
        "The roofline is a lower bound, never a forecast: its rates are what a streaming kernel reaches, and "
        "the step's matrix-vector products, attention and framework work reach less.")
    return worked_md(prompt, {"roofline_ms": Part(roof * 1e3, "ms", rel=0.02, what="roofline time of the step"),
                              "ratio": Part(meas / roof, "", rel=0.02, what="measured / roofline")}, solution)


@exercise("measuring-ex3", variants={"dtype": DTYPES, "rows": [1, 4]})
def gemv_efficiency(dtype: str = "fp32", rows: int = 4) -> Worked:
    """The matrix-vector kernel's bandwidth against STREAM's."""
    p = _profile()
    g = [x for x in p.gemv if x["dtype"] == dtype and x["m"] == rows][0]
    bw = p.bandwidth_bytes_per_s["triad"]
    b = dtype_bytes(dtype)
    k, n = g["k"], g["n"]
    moved = (rows * k + k * n + rows * n) * b
    got = moved / g["seconds"]
    prompt = (f"On {_machine()}, the reference run timed `F.linear` of {_a(dtype)} input $[{rows}, {fmt(k)}]$ by a "
              f"weight $W$ of $[{fmt(n)}, {fmt(k)}]$: {fmt(g['seconds'] * 1e3)} ms. Its STREAM triad reached "
              f"{_gb(bw)} GB/s. What bandwidth does the product reach (GB/s, counting the bytes it must move), and "
              "what fraction of the triad bandwidth is that? Why does the roofline with the triad bandwidth "
              "underestimate a decode step?")
    solution = (
        f"Bytes moved: $Q = ({rows} \\times {k} + {k} \\times {n} + {rows} \\times {n}) \\times {fmt(b)}$ B "
        f"$= {fmt(moved / 1e6)}$ MB; reached bandwidth $Q / t = {fmt(moved / 1e6)}$ MB / {fmt(g['seconds'] * 1e3)} ms "
        f"$= {fmt(got / 1e9)}$ GB/s, that is ${fmt(got / bw)}$ of the triad's {_gb(bw)} GB/s.\n\n"
        "Why: a decode step is mostly such products, and the roofline charges them the triad rate. "
        "A matrix-vector kernel streams one large operand but also reduces along rows, and on a CPU its "
        "threading, blocking and (for bf16) conversions keep it below a pure streaming loop, so every weight "
        "byte costs more than the roofline assumes.")
    return worked_md(prompt, {"bandwidth": Part(got / 1e9, "GB/s", rel=0.02, what="reached bandwidth"),
                              "fraction": Part(got / bw, "", rel=0.02, what="fraction of the triad")}, solution)


@exercise("measuring-ex4", variants={"model": MODELS, "dtype": DTYPES, "batch": [1, 4]})
def attention_read(model: str = "qwen2.5-0.5b", dtype: str = "bf16", batch: int = 4) -> Worked:
    """Decode attention's share of a step and the bandwidth at which it reads the KV cache."""
    from llmperf.models import load_model

    context = 1024
    r = _row(model, dtype, "decode", batch, context)
    m = load_model(M.model_config(model, _entry(model, dtype).get("layers")))
    share = float(r.share_attention_core)
    t_att = share * float(r.measured_s)
    b_kv = dtype_bytes(dtype)
    kv = 2 * m.n_layers * batch * (context + 1) * m.n_kv_heads * m.head_dim * b_kv
    prompt = (f"In the reference run, module hooks split {_a(dtype)} decode step of {pretty(model)} at $B = {batch}$, "
              f"$S = {fmt(context)}$ into its parts: the step took {fmt(float(r.measured_s) * 1e3)} ms and the "
              f"attention blocks, less their projections, {fmt(share, '.1%')} of it. The model has $L = {m.n_layers}$ "
              f"layers, $K = {m.n_kv_heads}$ KV heads and $H = {m.head_dim}$. How long does attention take (ms), and at "
              "what bandwidth (GB/s) does it read the keys and values of the $S + 1$ cached tokens?")
    solution = (
        f"Attention time: ${fmt(share, '.3f')} \\times {fmt(float(r.measured_s) * 1e3)}$ ms $= {fmt(t_att * 1e3)}$ ms.\n\n"
        f"KV bytes read: $M_{{kv}} = 2 L B (S + 1) K H\\, b_{{kv}} = 2 \\times {m.n_layers} \\times {batch} \\times "
        f"{context + 1} \\times {m.n_kv_heads} \\times {m.head_dim} \\times {fmt(b_kv)}$ B $= {fmt(kv / 1e6)}$ MB, "
        f"so the reached bandwidth is ${fmt(kv / 1e6)}$ MB / {fmt(t_att * 1e3)} ms $= {fmt(kv / t_att / 1e9)}$ GB/s "
        f"(the triad reached {_gb(_profile().bandwidth_bytes_per_s['triad'])} GB/s).\n\n"
        "The roofline charges attention its bytes at the triad rate; on this CPU the attention path (the "
        "cache's append, a copy of the whole cache, and a decode kernel that is not tuned for a single query, "
        "especially in bf16) runs far below it, which is why attention can be a large share of a small model's step.")
    return worked_md(prompt, {"attention_ms": Part(t_att * 1e3, "ms", rel=0.02, what="attention time"),
                              "bandwidth": Part(kv / t_att / 1e9, "GB/s", rel=0.02, what="KV read bandwidth")},
                     solution)


@exercise("measuring-ex5", variants={"train": MODELS, "dtype": DTYPES, "batch": [1, 4]})
def global_factor(train: str = "qwen2.5-0.5b", dtype: str = "fp32", batch: int = 1) -> Worked:
    """One global efficiency factor fitted on one model's decode step, judged on the other's steps."""
    test = [m for m in MODELS if m != train][0]
    fit = _row(train, dtype, "decode", batch, 128)
    eta = float(fit.roofline_s / fit.measured_s)
    judged = [_row(test, dtype, "decode", 4, 1024), _row(test, dtype, "prefill", 1, 512)]
    pred = [float(j.roofline_s) / eta for j in judged]
    errs = [abs(p - float(j.measured_s)) / float(j.measured_s) for p, j in zip(pred, judged)]
    ms = lambda x: fmt(float(x) * 1e3)  # noqa: E731
    prompt = (f"In the reference run ({dtype}), {pretty(train)}'s decode step at $B = {batch}$, $S = 128$ took "
              f"{ms(fit.measured_s)} ms against a roofline of {ms(fit.roofline_s)} ms. Fit one efficiency $\\eta$ = "
              f"roofline / measured on that case and use it to predict two steps of {pretty(test)}: a decode step at "
              f"$B = 4$, $S = 1{{,}}024$ (roofline {ms(judged[0].roofline_s)} ms, measured {ms(judged[0].measured_s)} "
              f"ms) and a prefill of $T = 512$ tokens (roofline {ms(judged[1].roofline_s)} ms, measured "
              f"{ms(judged[1].measured_s)} ms). Give $\\eta$ and the relative error of each prediction. Why does "
              "one factor not carry over?")
    worse = "prefill" if errs[1] > errs[0] else "decode step"
    solution = (
        f"$\\eta = {ms(fit.roofline_s)} / {ms(fit.measured_s)} = {fmt(eta)}$. "
        f"Predictions: decode ${ms(judged[0].roofline_s)} / {fmt(eta)} = {fmt(pred[0] * 1e3)}$ ms, "
        f"prefill ${ms(judged[1].roofline_s)} / {fmt(eta)} = {fmt(pred[1] * 1e3)}$ ms; errors "
        f"{fmt(errs[0], '.1%')} and {fmt(errs[1], '.1%')} (the {worse} is missed more).\n\n"
        "Why: one factor assumes every kernel misses its roof by the same fraction. A decode step at batch 1 is "
        "made of matrix-vector products; a batch of 4 over a long cache adds attention, which on a CPU reaches a "
        "different fraction of its roof, and a prefill is made of large matrix products that run near the "
        "matmul peak. The factor fitted on one mix of kernels is wrong for another, and the models differ in "
        "their mix too (vocabulary head, KV heads, layers).")
    return worked_md(prompt, {"eta": Part(eta, "", rel=0.02, what="efficiency fitted"),
                              "error_decode": Part(errs[0], "", rel=0.05, abs=0.005, what="error of the decode step"),
                              "error_prefill": Part(errs[1], "", rel=0.05, abs=0.005, what="error of the prefill")},
                     solution)


@exercise("measuring-ex6", variants={"model": MODELS, "dtype": DTYPES, "batch": [1, 4]})
def kernel_calibration(model: str = "qwen3-0.6b", dtype: str = "fp32", batch: int = 1) -> Worked:
    """Strength 2 by hand: the model's own kernel times put into its operator list."""
    e = _entry(model, dtype)
    kern = M._kernels_from(e["kernels"])
    hw = _profile().hardware()
    case = ("decode", batch, 1024)
    parts = M.op_parts(model, hw, case, dtype, e.get("layers"))
    lin = [p for p in parts if p["key"] is not None and p["key"][0] == "linear"]
    att = [p for p in parts if p["key"] is not None and p["key"][0] == "attention"]
    t_lin = sum(p["repeats"] * kern[p["key"]] for p in lin)
    t_att = sum(p["repeats"] * kern[p["key"]] for p in att)
    t_rest = sum(p["repeats"] * p["roofline_s"] for p in parts if p["key"] is None)
    prof = _profile()
    copy_bw = prof.bandwidth_bytes_per_s["copy"]
    cp = M.cache_append_parts(model, case, dtype, e.get("layers"), copy_bytes_per_s=copy_bw)[0]
    copy_bytes = cp["roofline_s"] * copy_bw
    t_copy = cp["repeats"] * cp["roofline_s"]
    total = t_lin + t_att + t_rest + t_copy
    r = _row(model, dtype, "decode", batch, 1024)
    err = abs(total - float(r.measured_s)) / float(r.measured_s)
    names = ", ".join(f"`{p['name']}` {fmt(kern[p['key']] * 1e6)} µs × {int(p['repeats'])}" for p in lin)
    a = att[0]
    prompt = (f"The reference run timed each linear shape and the attention of {pretty(model)}'s {dtype} decode "
              f"step at $B = {batch}$, $S = 1{{,}}024$ on its own: {names}; attention "
              f"{fmt(kern[a['key']] * 1e6)} µs × {int(a['repeats'])}. The remaining operators (norms, rotary "
              f"embedding, residual adds, activation, embedding) take {fmt(t_rest * 1e6)} µs at the roofline. "
              f"The model's cache (transformers' `DynamicCache`) appends the new token by concatenation, which copies it: "
              f"{int(cp['repeats'])} copies (keys and values of every layer) of {fmt(copy_bytes / 1e6)} MB each "
              f"(bytes read plus written), at the copy bandwidth the run measured, {_gb(copy_bw)} GB/s. "
              f"Put these times into the operator list: what step time do you predict (ms), and what is its relative "
              f"error against the measured {fmt(float(r.measured_s) * 1e3)} ms (|predicted − measured| / measured, "
              "a fraction)?")
    solution = (
        f"Linear layers: $\\sum$ repeats × time $= {fmt(t_lin * 1e3)}$ ms; attention: "
        f"${int(a['repeats'])} \\times {fmt(kern[a['key']] * 1e6)}$ µs $= {fmt(t_att * 1e3)}$ ms; the cache's "
        f"copies ${int(cp['repeats'])} \\times {fmt(copy_bytes / 1e6)}$ MB / {_gb(copy_bw)} GB/s $= {fmt(t_copy * 1e3)}$ ms; "
        f"the rest {fmt(t_rest * 1e3)} ms. Total {fmt(total * 1e3)} ms, an error of "
        f"$|{fmt(total * 1e3)} - {fmt(float(r.measured_s) * 1e3)}| / {fmt(float(r.measured_s) * 1e3)} = "
        f"{fmt(err)}$ ({fmt(err, '.1%')}), the prediction being "
        + ("above" if total > float(r.measured_s) else "below") + " the measured step.\n\n"
        "Timing the model's own shapes measures exactly the efficiency each kernel reaches on this CPU, which no "
        "single factor can; what is left is the work between kernels (hooks, Python, the cache's bookkeeping) "
        "and the elementwise kernels' fixed cost, which strength 2 adds as a cost per kernel fitted on another "
        "model's decode steps.")
    return worked_md(prompt, {"predicted_ms": Part(total * 1e3, "ms", rel=0.02, what="predicted step time"),
                              "error": Part(err, "", rel=0.05, abs=0.005, what="relative error")}, solution)


def _tpot(model, dtype, batch, context=1024):
    return float(_row(model, dtype, "decode", batch, context).measured_s)


@exercise("measuring-ex7", variants={"model": MODELS, "slack": [1.1, 1.5, 3.0]})
def choose_dtype_batch(model: str = "qwen2.5-0.5b", slack: float = 1.5) -> Worked:
    """An open design question: choose a dtype and a batch on the measured machine for a TPOT target.

    The target is ``slack`` times the fastest measured step, rounded to two significant figures, so that
    the question has an answer on whatever machine made the reference run."""
    import math

    opts = [(d, b) for d in DTYPES for b in (1, 4)]
    fastest = min(_tpot(model, d, b) for d, b in opts) * 1e3
    raw = slack * fastest
    mag = 10 ** (math.floor(math.log10(raw)) - 1)
    target_ms = math.ceil(raw / mag) * mag
    ok = [(d, b) for d, b in opts if _tpot(model, d, b) * 1e3 <= target_ms]
    best = max(ok, key=lambda o: o[1] / _tpot(model, *o))
    table = "; ".join(f"{d} $B = {b}$: {fmt(_tpot(model, d, b) * 1e3)} ms" for d, b in opts)

    def accept(v):
        try:
            d, b = str(v[0]), int(v[1])
        except (IndexError, KeyError, TypeError, ValueError):
            return "submit a pair (dtype, batch), for example ('fp32', 1)"
        if (d, b) not in opts:
            return "the reference run measured dtype fp32 or bf16 at batch 1 or 4 only"
        t = _tpot(model, d, b) * 1e3
        if t > target_ms:
            return f"{d} at B = {b} measured {fmt(t)} ms per step, above the {fmt(target_ms)} ms target"
        return None

    prompt = (f"You serve {pretty(model)} on the reference machine ({_machine()}) with $S = 1{{,}}024$ cached tokens "
              f"per sequence, and want a TPOT of at most {fmt(target_ms)} ms with as much throughput as possible. "
              f"The reference run measured these decode steps: {table}. Choose a dtype and a batch, and justify "
              "the choice with the throughput it gives. Submit the pair (dtype, batch), for example ('fp32', 1).")
    thr = best[1] / _tpot(model, *best)
    others = [o for o in ok if o != best]
    why = (f"The choices with a step of at most {fmt(target_ms)} ms meet the target: "
           + ", ".join(f"{d} $B = {b}$" for d, b in ok) + ". "
           f"Among them {best[0]} at $B = {best[1]}$ gives the most throughput, $B / \\text{{TPOT}} = {best[1]} / "
           f"{fmt(_tpot(model, *best))}$ s $= {fmt(thr)}$ tokens/s"
           + (f" (the others: " + ", ".join(f"{fmt(b / _tpot(model, d, b))} tokens/s for {d} $B = {b}$"
                                            for d, b in others) + ")" if others else "") + ". ")
    solution = (why + "A batch of 4 reads the weights once for four tokens, so on a memory-bound step it costs less "
                "than four times a batch of 1; bf16 halves the bytes of every weight, but on a CPU the bf16 "
                "kernels (attention especially) do not always turn that into time, so measure rather than assume. "
                "Any choice that meets the target is accepted.")
    return worked_md(prompt, {"answer": Part((best[0], best[1]), "", rel=0, accept=accept,
                                             what="dtype and batch")}, solution)


@exercise("measuring-ex8", variants={"model": ["Llama-2-70B", "Llama-3-70B", "CodeLlama-34B", "Qwen-72B"],
                                     "tokens": [264, 392, 520, 648]})
def tile_quantization(model: str = "Llama-2-70B", tokens: int = 264) -> Worked:
    """A GPU product's roofline with and without tile quantization, against Vidur's measured time."""
    from llmperf import gpucal
    from llmperf.hardware import get_hardware

    tile = 128
    t = gpucal.op_table()
    rows = t[(t.device == "a100") & (t.model == model) & (t.tp == 1) & (t.op == "mlp_up_proj")
             & (t.num_tokens == tokens)]
    if rows.empty:
        raise ValueError(f"Vidur's A100 profile of {model} has no row at {tokens} tokens")
    r = rows.iloc[0]
    hw = get_hardware("a100-sxm-80gb")
    peak, bw = hw.peak_for("fp16"), hw.memory_bandwidth_bytes_per_s
    cfg = gpucal.vidur_config(next(k for k, v in gpucal.LABELS.items() if v == model))
    D, F = cfg["hidden_size"], cfg["intermediate_size"]
    N = 2 * F  # gate and up, fused
    padded = -(-tokens // tile) * tile
    plain = float(gpucal.tiled_roofline(rows, 1)[0][0])
    tiled = float(gpucal.tiled_roofline(rows, tile)[0][0])
    meas = float(r.measured_s)
    mem_us = r.bytes / bw * 1e6
    prompt = (f"Vidur timed the fused gate and up projection of {model} (fp16, one GPU, $D = {fmt(D)}$, "
              f"gate and up together $N = 2 \\times {fmt(F)} = {fmt(N)}$ output columns) on an A100 "
              f"({fmt(peak / 1e12)} TFLOP/s fp16 dense, {fmt(bw / 1e12)} TB/s) at $n = {tokens}$ tokens: "
              f"{fmt(meas * 1e6)} µs. The product moves {fmt(r.bytes / 1e6)} MB. What is its roofline time (µs)? "
              f"cuBLAS computes the output in tiles of {tile} rows: what is the roofline time if the arithmetic is "
              f"that of the rows the tiles cover (µs)? Give the measured time over each.")
    solution = (
        f"Plain: $C = 2 n D N = 2 \\times {tokens} \\times {fmt(D)} \\times {fmt(N)} = {fmt(r.flops / 1e12)}$ TFLOP, "
        f"so $C / \\pi = {fmt(r.flops / peak * 1e6)}$ µs against $Q / \\beta = {fmt(mem_us)}$ µs: the roofline is "
        f"**{fmt(plain * 1e6)} µs**, and the measurement is ${fmt(meas / plain)}$ times it.\n\n"
        f"Tiled: ${tokens}$ rows need $\\lceil {tokens} / {tile} \\rceil = {padded // tile}$ tiles, the arithmetic of "
        f"${padded}$ rows: $C \\times {padded} / {tokens} / \\pi = {fmt(r.flops * padded / tokens / peak * 1e6)}$ µs, "
        f"so the roofline is **{fmt(tiled * 1e6)} µs** and the measurement ${fmt(meas / tiled)}$ times it.\n\n"
        f"The last tile of {tokens - (padded - tile)} rows costs as much as a full one: the time of a product "
        f"rises in steps of {tile} tokens, and the plain roofline, smooth in $n$, cannot follow them. With the "
        "tile, the measured time is a steady multiple of the bound; that multiple is the efficiency strength 1 fits.")
    return worked_md(prompt, {
        "plain_us": Part(plain * 1e6, "µs", rel=0.02, what="roofline time"),
        "tiled_us": Part(tiled * 1e6, "µs", rel=0.02, what="roofline time with 128-row tiles"),
        "measured_over_plain": Part(meas / plain, "", rel=0.02, what="measured / roofline"),
        "measured_over_tiled": Part(meas / tiled, "", rel=0.02, what="measured / tiled roofline")}, solution)
