"""Measure the machine you run on: its roofline, and a real model against llmperf's prediction.

Needs PyTorch (the ``measure`` extra); ``import llmperf`` does not load it.

:func:`machine_roofline` times, with PyTorch's own benchmark timer
(``torch.utils.benchmark.Timer.blocked_autorange``), at a fixed thread count:

- memory bandwidth: a read (sum), a copy and a STREAM-style triad over arrays
  far larger than any cache;
- the matrix-multiply peak per dtype (fp32, and bf16 where the CPU runs it);
- matrix-vector products at decode shapes (1 and 4 rows), the kernel that
  decode is made of, as a bandwidth;
- the fixed cost of launching one small kernel.

It reports the machine's load average before and after (a busy shared machine
swings multi-threaded timings by large factors) and returns a
:class:`MachineProfile` whose :meth:`~MachineProfile.hardware` is an
``llmperf.Hardware`` that says what was measured, where and when.

:func:`time_model` times a real Hugging Face decoder built from a catalog
config with random weights (nothing is downloaded) at decode steps and
prefills, with module hooks splitting the time into linear layers, attention
and the rest; :func:`predict` gives llmperf's numbers for the same cases,
at the roofline bound and in two "expected" strengths (see :func:`expected_step`).
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["MachineProfile", "machine_roofline", "time_fn", "time_model", "predict", "expected_step",
           "calibrate_kernels"]

_TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("llmperf.measure needs PyTorch: pip install 'llmperf-book[measure]'") from exc
    return torch


def _load() -> float:
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):  # not on every platform
        return float("nan")


def time_fn(stmt, globals_: dict, *, min_run_time: float = 0.2, threads: int | None = None) -> float:
    """Median seconds per call of ``stmt`` (a string evaluated with ``globals_``), by ``blocked_autorange``."""
    torch = _torch()
    from torch.utils.benchmark import Timer

    t = Timer(stmt=stmt, globals=globals_, num_threads=threads or torch.get_num_threads())
    return float(t.blocked_autorange(min_run_time=min_run_time).median)


@dataclass
class MachineProfile:
    """What :func:`machine_roofline` measured. Rates in bytes/s and FLOP/s, times in s."""

    threads: int
    bandwidth_bytes_per_s: dict
    matmul_flop_per_s: dict
    gemv: list
    kernel_overhead_s: float
    load_before: float
    load_after: float
    host: str
    when: str
    torch_version: str
    seconds: float
    notes: list = field(default_factory=list)

    def hardware(self, name: str = "this-machine"):
        """This machine as an ``llmperf.Hardware``: triad bandwidth, measured matmul peaks."""
        from .hardware import Hardware

        bw = self.bandwidth_bytes_per_s["triad"]
        src = (f"measured by llmperf.measure.machine_roofline on {self.host} at {self.when} with torch "
               f"{self.torch_version}, {self.threads} threads: bandwidth = STREAM-style triad; peaks = square "
               f"matmul per dtype; load average {self.load_before:.2f} before, {self.load_after:.2f} after")
        return Hardware(name=name, display_name=f"{self.host} (measured, {self.threads} threads)",
                        category="workstation", memory_bytes=float(_total_memory()),
                        memory_bandwidth_bytes_per_s=bw, peak_flop_per_s=dict(self.matmul_flop_per_s),
                        source=src, sparse_note="dense: measured", notes="; ".join(self.notes))

    def table(self):
        """One row per measurement, SI units in the headers."""
        import pandas as pd

        rows = [{"Measurement": f"memory {k}", "Rate": v / 1e9, "Unit": "GB/s"}
                for k, v in self.bandwidth_bytes_per_s.items()]
        rows += [{"Measurement": f"matmul {k}", "Rate": v / 1e9, "Unit": "GFLOP/s"}
                 for k, v in self.matmul_flop_per_s.items()]
        rows += [{"Measurement": f"matrix-vector {g['dtype']} [{g['rows']}, {g['k']}] x [{g['k']}, {g['n']}]",
                  "Rate": g["bytes_per_s"] / 1e9, "Unit": "GB/s"} for g in self.gemv]
        rows.append({"Measurement": "fixed cost of one small kernel", "Rate": self.kernel_overhead_s * 1e6,
                     "Unit": "µs"})
        return pd.DataFrame(rows)


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 2**34


def _bf16_native(torch) -> bool:
    """True when this CPU has bf16 matrix instructions (AVX512-BF16 or AMX), so bf16 is worth measuring."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def machine_roofline(seconds: float = 30.0, threads: int | None = None, dtypes=("fp32", "bf16"),
                     stream_elements: int = 2**25, matmul_n: int = 2048, progress: bool = True) -> MachineProfile:
    """Measure this machine's roofline in about ``seconds`` (see the module docstring).

    ``threads`` fixes the thread count (default: PyTorch's). bf16 is measured
    only where the CPU has native bf16 matrix instructions (elsewhere it is
    emulated, and its peak would mislead); the profile's ``notes`` say so.
    """
    torch = _torch()
    if not (1 <= float(seconds) <= 600):
        raise ValueError("seconds must be between 1 and 600")
    threads = int(threads or torch.get_num_threads())
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    notes = []
    dts = [d for d in dtypes if d == "fp32" or (d in _TORCH_DTYPES and _bf16_native(torch))]
    for d in dtypes:
        if d not in dts:
            notes.append(f"{d} not measured: no native {d} matrix instructions on this CPU")
    steps = 3 + len(dts) + 2 * len(dts) + 1
    per = max(0.05, 0.8 * float(seconds) / steps)
    load0, t0 = _load(), time.perf_counter()
    bar = _Progress(steps, progress)
    try:
        n = int(stream_elements)
        a, b, c = (torch.ones(n, dtype=torch.float32) for _ in range(3))
        g = {"a": a, "b": b, "c": c, "torch": torch}
        bw = {}
        bw["read"] = 4 * n / time_fn("a.sum()", g, min_run_time=per, threads=threads); bar.step("read")
        bw["copy"] = 8 * n / time_fn("b.copy_(a)", g, min_run_time=per, threads=threads); bar.step("copy")
        bw["triad"] = 12 * n / time_fn("torch.add(b, c, alpha=3.0, out=a)", g, min_run_time=per,
                                      threads=threads); bar.step("triad")
        del a, b, c, g
        peaks, gemv = {}, []
        for d in dts:
            tdt = getattr(torch, _TORCH_DTYPES[d])
            x = torch.randn(matmul_n, matmul_n).to(tdt)
            y = torch.randn(matmul_n, matmul_n).to(tdt)
            s = time_fn("x @ y", {"x": x, "y": y}, min_run_time=per, threads=threads)
            peaks[d] = 2.0 * matmul_n ** 3 / s
            bar.step(f"matmul {d}")
            for rows in (1, 4):
                k, nn = 4096, 4096
                w = torch.randn(nn, k).to(tdt)
                v = torch.randn(rows, k).to(tdt)
                s = time_fn("torch.nn.functional.linear(v, w)", {"v": v, "w": w, "torch": torch},
                            min_run_time=per, threads=threads)
                moved = w.numel() * w.element_size() + v.numel() * v.element_size() + rows * nn * v.element_size()
                gemv.append({"dtype": d, "rows": rows, "k": k, "n": nn, "seconds": s, "bytes_per_s": moved / s})
                bar.step(f"matrix-vector {d} x{rows}")
        one = torch.ones(1)
        overhead = time_fn("torch.add(one, one)", {"one": one, "torch": torch}, min_run_time=per, threads=threads)
        bar.step("kernel cost")
    finally:
        torch.set_num_threads(old_threads)
        bar.done()
    return MachineProfile(threads=threads, bandwidth_bytes_per_s=bw, matmul_flop_per_s=peaks, gemv=gemv,
                          kernel_overhead_s=overhead, load_before=load0, load_after=_load(),
                          host=socket.gethostname() or platform.node(),
                          when=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                          torch_version=torch.__version__, seconds=time.perf_counter() - t0, notes=notes)


class _Progress:
    def __init__(self, total, on):
        self.total, self.n, self.on = total, 0, on

    def step(self, what):
        self.n += 1
        if self.on:
            done = int(20 * self.n / self.total)
            print(f"\r[{'#' * done}{'.' * (20 - done)}] {what:<28}", end="", flush=True)

    def done(self):
        if self.on:
            print("\r" + " " * 60 + "\r", end="", flush=True)


# --- a real model, timed -------------------------------------------------------------------------------

def build_hf_model(model: str, dtype: str = "fp32", attn: str = "sdpa"):
    """A transformers causal LM from a catalog config, random weights, on the CPU (needs transformers)."""
    torch = _torch()
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover
        raise ImportError("timing a real model needs transformers: pip install 'llmperf-book[measure]'") from exc
    from .models import catalog_config

    cfg = dict(catalog_config(model))
    cfg.pop("architectures", None)
    mt = cfg.pop("model_type")
    config = transformers.AutoConfig.for_model(mt, **cfg)
    # Built on the meta device and filled with random numbers: initialising a model the usual way takes
    # tens of seconds on a CPU, and the values do not change the time of a forward pass (they stay normal
    # floats, no denormals). Non-persistent buffers (rotary frequencies) are rebuilt on the CPU.
    with torch.device("meta"):
        m = transformers.AutoModelForCausalLM.from_config(config, attn_implementation=attn,
                                                          dtype=getattr(torch, _TORCH_DTYPES[dtype]))
    m = m.to_empty(device="cpu")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32).mul_(0.02).to(p.dtype))
        for name, mod in list(m.named_modules()):
            if "Rotary" in type(mod).__name__ and hasattr(mod, "config"):
                parent = m.get_submodule(name.rsplit(".", 1)[0]) if "." in name else m
                setattr(parent, name.rsplit(".", 1)[-1], type(mod)(config=mod.config))
        for name, buf in m.named_buffers():
            if not torch.isfinite(buf.float()).all():
                raise RuntimeError(f"buffer {name} was not rebuilt after building on the meta device")
    return m.eval()


def _classify(name: str, module) -> str | None:
    torch = _torch()
    if isinstance(module, torch.nn.Linear):
        return "attention linear" if ".self_attn." in f".{name}." else "other linear"
    if name.endswith("self_attn"):
        return "attention block"
    return None


def time_model(model: str, cases, dtype: str = "fp32", *, min_run_time: float = 0.3, threads: int | None = None,
               hf_model=None):
    """Time a real decoder at each case: ``("decode", batch, context)`` or ``("prefill", batch, prompt_len)``.

    Decode holds the context fixed: the cache is filled once to ``context``
    tokens and cropped back to it (``cache.crop(-1)``) after every timed step (cropping is a view,
    not a copy; the step's own concatenation is part of what is timed, as in
    ``generate()``). Returns a pandas DataFrame: measured seconds per step, and
    the share of it spent in linear layers and in the attention blocks'
    remaining work (from forward hooks, one extra untimed pass).
    """
    import pandas as pd

    torch = _torch()
    threads = int(threads or torch.get_num_threads())
    m = hf_model if hf_model is not None else build_hf_model(model, dtype)
    from transformers import DynamicCache

    rows = []
    torch.set_num_threads(threads)
    with torch.inference_mode():
        for phase, batch, length in cases:
            vocab = m.config.vocab_size
            g = torch.Generator().manual_seed(1)
            if phase == "decode":
                ids = torch.randint(0, vocab, (batch, length), generator=g)
                cache = DynamicCache(config=m.config)
                m(input_ids=ids, past_key_values=cache, use_cache=True)
                nxt = torch.randint(0, vocab, (batch, 1), generator=g)
                pos = torch.full((batch, 1), length)

                def run():
                    m(input_ids=nxt, past_key_values=cache, use_cache=True, position_ids=pos,
                      logits_to_keep=1)
                    cache.crop(-1)  # back to `length` tokens: a view, no copy
            elif phase == "prefill":
                ids = torch.randint(0, vocab, (batch, length), generator=g)

                def run():
                    m(input_ids=ids, use_cache=True, logits_to_keep=1)
            else:
                raise ValueError(f"phase must be 'decode' or 'prefill', got {phase!r}")
            run()  # warm-up
            s = time_fn("run()", {"run": run}, min_run_time=min_run_time, threads=threads)
            split = _hook_split(m, run)
            rows.append({"phase": phase, "batch": batch, "length": length, "dtype": dtype, "measured_s": s,
                         **split})
    return pd.DataFrame(rows)


def _hook_split(m, run) -> dict:
    """Shares of one step's time: linear layers, attention core (the attention blocks less their
    projections: scores, softmax, values, rotary embedding, cache update) and the rest (norms,
    activations, embedding, framework work between kernels). Forward hooks, one untimed pass."""
    acc = {"attention linear": 0.0, "other linear": 0.0, "attention block": 0.0}
    starts, handles = {}, []
    for name, mod in m.named_modules():
        cls = _classify(name, mod)
        if cls is None:
            continue

        def pre(mod, args, _n=name):
            starts[_n] = time.perf_counter()

        def post(mod, args, out, _n=name, _c=cls):
            acc[_c] += time.perf_counter() - starts.pop(_n, time.perf_counter())

        handles.append(mod.register_forward_pre_hook(pre))
        handles.append(mod.register_forward_hook(post))
    try:
        t0 = time.perf_counter()
        run()
        total = time.perf_counter() - t0
    finally:
        for h in handles:
            h.remove()
    linear = (acc["attention linear"] + acc["other linear"]) / total
    core = max(acc["attention block"] - acc["attention linear"], 0.0) / total
    return {"share_linear": linear, "share_attention_core": core, "share_rest": max(1.0 - linear - core, 0.0)}


# --- predictions ---------------------------------------------------------------------------------------

def predict(model: str, hardware, cases, dtype: str = "fp32", **opts):
    """llmperf's roofline time for each case (same tuples as :func:`time_model`)."""
    import pandas as pd

    from .analysis import decode_step, prefill_step

    rows = []
    for phase, batch, length in cases:
        if phase == "decode":
            r = decode_step(model, hardware, batch=batch, context=length, weight_dtype=dtype, act_dtype=dtype, **opts)
        else:
            r = prefill_step(model, hardware, batch=batch, prompt_len=length, weight_dtype=dtype, act_dtype=dtype,
                             **opts)
        rows.append({"phase": phase, "batch": batch, "length": length, "dtype": dtype,
                     "roofline_s": float(np.ravel(r.time_s)[0]), "kernels": int(np.sum(r.ops.repeats))})
    return pd.DataFrame(rows)


def calibrate_kernels(model: str, cases, dtype: str = "fp32", *, min_run_time: float = 0.1,
                      threads: int | None = None) -> dict:
    """Measured seconds of each distinct linear shape and attention shape of the cases' steps.

    Keys: ``("linear", M, K, N)`` for an ``[M, K] x [K, N]`` product and
    ``("attention", B, N, K, T, S, H)`` for scaled dot-product attention of
    ``T`` queries over ``S`` keys with ``N`` query and ``K`` key-value heads.
    """
    torch = _torch()
    from .models import load_model

    threads = int(threads or torch.get_num_threads())
    m = load_model(model)
    tdt = getattr(torch, _TORCH_DTYPES[dtype])
    shapes = set()
    for phase, batch, length in cases:
        T = 1 if phase == "decode" else length
        S = length + 1 if phase == "decode" else length
        M = batch * T
        D, F, N, K, H, V = m.d_model, m.d_ff, m.n_heads, m.n_kv_heads, m.head_dim, m.vocab_size
        for k_, n_ in ((D, N * H), (D, K * H), (N * H, D), (D, F), (F, D)):
            shapes.add(("linear", M, k_, n_))
        shapes.add(("linear", batch, D, V))  # lm_head on the last token
        shapes.add(("attention", batch, N, K, T, S, H))
    out = {}
    torch.set_num_threads(threads)
    for key in sorted(shapes):
        if key[0] == "linear":
            _, M, k_, n_ = key
            x, w = torch.randn(M, k_).to(tdt), torch.randn(n_, k_).to(tdt)
            out[key] = time_fn("F.linear(x, w)", {"F": torch.nn.functional, "x": x, "w": w},
                               min_run_time=min_run_time, threads=threads)
        else:
            _, B, N, K, T, S, H = key
            q = torch.randn(B, N, T, H).to(tdt)
            k = torch.randn(B, K, S, H).to(tdt)
            v = torch.randn(B, K, S, H).to(tdt)
            out[key] = time_fn("F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)",
                               {"F": torch.nn.functional, "q": q, "k": k, "v": v, "causal": T > 1},
                               min_run_time=min_run_time, threads=threads)
    return out


def expected_step(model: str, hardware, case, dtype: str = "fp32", *, kernels: dict | None = None,
                  efficiency: dict | None = None, overhead_s: float = 0.0) -> dict:
    """An "expected" time for one case, next to the roofline bound, in two strengths.

    - ``efficiency`` (strength 1): ``{"compute": e_c, "memory": e_m}`` efficiencies applied to every
      operator's roofline, plus ``overhead_s`` per kernel: right where the sum is dominated by large
      GEMMs (GPUs), fitted on some cases and judged on others.
    - ``kernels`` (strength 2): measured times of the case's own linear and attention shapes
      (:func:`calibrate_kernels`) put in place of those operators' roofline times; the other operators
      keep their roofline time, and every kernel pays ``overhead_s``. Right for CPUs.

    Returns ``{"roofline_s", "expected_s", "basis"}``.
    """
    from .analysis import decode_step, prefill_step
    from .models import load_model

    phase, batch, length = case
    opts = dict(weight_dtype=dtype, act_dtype=dtype)
    if efficiency:
        opts.update(compute_efficiency=efficiency["compute"], memory_efficiency=efficiency["memory"])
    step = (decode_step(model, hardware, batch=batch, context=length, **opts) if phase == "decode"
            else prefill_step(model, hardware, batch=batch, prompt_len=length, **opts))
    names = list(step.ops.names)
    rep = np.asarray(step.ops.repeats, dtype=float)
    t_op = np.asarray(step.op_time_s, dtype=float).reshape(len(names), -1)[:, 0]
    roof = float(np.sum(rep * np.asarray(step.op_time_peak_s, dtype=float).reshape(len(names), -1)[:, 0]))
    n_kernels = float(np.sum(rep))
    if kernels is None:
        return {"roofline_s": roof, "expected_s": float(np.sum(rep * t_op)) + n_kernels * overhead_s,
                "basis": f"per-operator efficiencies {efficiency} and {overhead_s * 1e6:.1f} µs per kernel"}
    m = load_model(model)
    T = 1 if phase == "decode" else length
    S = length + 1 if phase == "decode" else length
    M = batch * T
    D, F, N, K, H, V = m.d_model, m.d_ff, m.n_heads, m.n_kv_heads, m.head_dim, m.vocab_size
    shape_of = {"q_proj": (D, N * H), "k_proj": (D, K * H), "v_proj": (D, K * H), "o_proj": (N * H, D),
                "gate_proj": (D, F), "up_proj": (D, F), "down_proj": (F, D)}
    total = 0.0
    for i, name in enumerate(names):
        key = None
        if name in shape_of:
            key = ("linear", M) + shape_of[name]
        elif name == "lm_head":
            key = ("linear", batch, D, V)
        elif name.startswith("attention (fused)"):
            key = ("attention", batch, N, K, T, S, H)
        t = kernels.get(key) if key is not None else None
        total += rep[i] * (t if t is not None else t_op[i])
    return {"roofline_s": roof, "expected_s": total + n_kernels * overhead_s,
            "basis": f"measured kernels at the model's shapes, {overhead_s * 1e6:.1f} µs per kernel"}
