"""Measure the machine you run on: its roofline, and a real model against llmperf's prediction.

Needs PyTorch (the ``measure`` extra: ``pip install 'llmperf-book[measure]'``);
``import llmperf`` does not load it, and the functions that only read stored
numbers (:func:`op_parts`, :func:`expected_times`, :func:`fit_efficiencies`,
:func:`fit_overhead`, :func:`ratio_table`) need numpy and pandas only.

:func:`machine_roofline` times, with PyTorch's own benchmark timer
(``torch.utils.benchmark.Timer.blocked_autorange``), at a fixed thread count:

- memory bandwidth: a read (sum), a copy and a STREAM-style triad over arrays
  far larger than any cache;
- matrix products per dtype (fp32, and bf16 where the CPU has bf16 matrix
  instructions) at a few sizes: the largest rate is the peak;
- matrix-vector products at decode shapes (1 and 4 rows), the kernel decode is
  made of, as a bandwidth (cycling through copies of the weight, so that it
  comes from memory, not from a warm cache);
- the fixed cost of one small kernel.

It reports the load average before and after (a busy shared machine swings
multi-threaded timings by large factors) and returns a :class:`MachineProfile`
whose :meth:`~MachineProfile.hardware` is an ``llmperf.Hardware`` that says
what was measured, where and when.

:func:`time_model` times a real Hugging Face decoder built from a catalog
config with random weights (nothing is downloaded) at decode steps and
prefills, with module hooks splitting the time into linear layers, attention
and the rest. :func:`expected_times` gives llmperf's numbers for the same
cases: the roofline bound and an "expected" time in two strengths, each with
its source (see :func:`expected_times`).
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import socket
import time
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["MachineProfile", "machine_roofline", "time_fn", "build_hf_model", "time_model", "calibrate_kernels",
           "op_parts", "expected_times", "fit_efficiencies", "fit_overhead", "ratio_table", "cpu_model",
           "DECODE_CASES", "PREFILL_CASES", "CLASSES", "cache_append_parts", "compare_run", "error_summary",
           "bf16_native", "model_config", "kernel_key", "reference_run", "reference_comparison"]

_TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}

#: The cases the book times: decode steps (batch, cached tokens) and prefills (batch, prompt tokens).
DECODE_CASES = [("decode", 1, 128), ("decode", 1, 1024), ("decode", 4, 128), ("decode", 4, 1024)]
PREFILL_CASES = [("prefill", 1, 128), ("prefill", 1, 512)]

#: Kernel classes of strength 1 ("per-kernel-class efficiencies").
CLASSES = ("linear, memory-bound", "linear, compute-bound", "attention", "other")


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


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: The statistic :func:`time_fn` takes over ``blocked_autorange``'s blocks when none is given:
#: "median" (PyTorch's own summary), or "min" (the fastest block: on a shared machine other
#: processes only ever add time, so the fastest block is the best estimate of the kernel's own).
DEFAULT_STAT = "median"


def time_fn(stmt, globals_: dict, *, min_run_time: float = 0.2, threads: int | None = None,
            stat: str | None = None) -> float:
    """Seconds per call of ``stmt`` (a string evaluated with ``globals_``), by ``blocked_autorange``:
    the median over its blocks, or with ``stat="min"`` the fastest block (see :data:`DEFAULT_STAT`)."""
    torch = _torch()
    from torch.utils.benchmark import Timer

    t = Timer(stmt=stmt, globals=globals_, num_threads=threads or torch.get_num_threads())
    m = t.blocked_autorange(min_run_time=min_run_time)
    stat = stat or DEFAULT_STAT
    if stat == "median":
        return float(m.median)
    if stat == "min":
        return float(min(m.times))
    raise ValueError(f"stat must be 'median' or 'min', got {stat!r}")


@dataclass
class MachineProfile:
    """What :func:`machine_roofline` measured. Rates in bytes/s and FLOP/s, times in s.

    ``points`` holds every timed product (``kind`` "matmul" or "matrix-vector",
    ``dtype``, ``m``, ``k``, ``n``, ``flops``, ``bytes``, ``seconds``): the
    points of the empirical roofline.
    """

    threads: int
    bandwidth_bytes_per_s: dict
    matmul_flop_per_s: dict
    points: list
    kernel_overhead_s: float
    load_before: float
    load_after: float
    host: str
    cpu: str
    when: str
    torch_version: str
    seconds: float
    notes: list = field(default_factory=list)

    @property
    def gemv(self) -> list:
        """The matrix-vector points, with their bandwidth ``bytes_per_s``."""
        return [dict(p, bytes_per_s=p["bytes"] / p["seconds"]) for p in self.points if p["kind"] == "matrix-vector"]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MachineProfile":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def source(self) -> str:
        return (f"measured by llmperf.measure.machine_roofline on {self.host} ({self.cpu}) at {self.when} with "
                f"torch {self.torch_version}, {self.threads} threads: bandwidth = STREAM-style triad; peaks = "
                f"fastest square matmul per dtype; load average {self.load_before:.2f} before, "
                f"{self.load_after:.2f} after")

    def hardware(self, name: str = "this-machine", memory_bytes: float | None = None):
        """This machine as an ``llmperf.Hardware``: triad bandwidth, measured matmul peaks."""
        from .hardware import Hardware

        return Hardware(name=name, display_name=f"{self.cpu} (measured, {self.threads} threads)",
                        category="workstation", memory_bytes=float(memory_bytes or _total_memory()),
                        memory_bandwidth_bytes_per_s=float(self.bandwidth_bytes_per_s["triad"]),
                        peak_flop_per_s={k: float(v) for k, v in self.matmul_flop_per_s.items()},
                        source=self.source(), sparse_note="dense: measured", notes="; ".join(self.notes))

    def table(self):
        """One row per measurement, the rate in the unit its row names."""
        import pandas as pd

        rows = [{"Measurement": f"memory {k}", "Rate": v / 1e9, "Unit": "GB/s"}
                for k, v in self.bandwidth_bytes_per_s.items()]
        rows += [{"Measurement": f"matmul peak {k}", "Rate": v / 1e9, "Unit": "GFLOP/s"}
                 for k, v in self.matmul_flop_per_s.items()]
        rows += [{"Measurement": f"matrix-vector {g['dtype']} [{g['m']}, {g['k']}] x [{g['k']}, {g['n']}]",
                  "Rate": g["bytes_per_s"] / 1e9, "Unit": "GB/s"} for g in self.gemv]
        rows.append({"Measurement": "fixed cost of one small kernel", "Rate": self.kernel_overhead_s * 1e6,
                     "Unit": "µs"})
        return pd.DataFrame(rows)

    def points_table(self):
        """The empirical roofline's points: intensity and reached rate of each timed product."""
        import pandas as pd

        rows = [{"Kernel": p["kind"], "dtype": p["dtype"], "Shape": f"[{p['m']}, {p['k']}] x [{p['k']}, {p['n']}]",
                 "Intensity (FLOP/B)": p["flops"] / p["bytes"], "Reached (GFLOP/s)": p["flops"] / p["seconds"] / 1e9,
                 "Bandwidth (GB/s)": p["bytes"] / p["seconds"] / 1e9} for p in self.points]
        return pd.DataFrame(rows)


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 2**34


def bf16_native() -> bool:
    """True when this CPU has bf16 matrix instructions (AVX512-BF16 or AMX), so bf16 is worth measuring."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


#: Bytes a timed kernel cycles through (three times a 32 MiB last-level cache): a weight or KV cache
#: smaller than that is copied and the copies taken in turn, so each call reads its operand from
#: memory as it does inside a model whose weights far exceed the cache, not from a warm cache.
COLD_BYTES = 96 * 2**20


def _cold(make, nbytes: int, cold_bytes: int = COLD_BYTES):
    """An endless cycle over enough copies made by ``make()`` (each ``nbytes``) to exceed ``cold_bytes``."""
    import itertools

    n = max(1, min(256, -(-int(cold_bytes) // max(int(nbytes), 1))))
    return itertools.cycle([make() for _ in range(n)])


def _product_point(torch, kind, d, m, k, n, per, threads):
    tdt = getattr(torch, _TORCH_DTYPES[d])
    x = torch.randn(m, k).to(tdt)
    ws = _cold(lambda: torch.randn(n, k).to(tdt), n * k * x.element_size()) if kind != "matmul" else None
    if ws is None:
        w = torch.randn(n, k).to(tdt)
        s = time_fn("F.linear(x, w)", {"F": torch.nn.functional, "x": x, "w": w}, min_run_time=per,
                    threads=threads)
    else:
        s = time_fn("F.linear(x, next(ws))", {"F": torch.nn.functional, "x": x, "ws": ws}, min_run_time=per,
                    threads=threads)
    b = x.element_size()
    return {"kind": kind, "dtype": d, "m": m, "k": k, "n": n, "flops": 2.0 * m * k * n,
            "bytes": float(b * (m * k + k * n + m * n)), "seconds": s}


def machine_roofline(seconds: float = 20.0, threads: int | None = None, dtypes=("fp32", "bf16"),
                     stream_elements: int = 2**25, matmul_sizes=(256, 512, 1024, 2048),
                     gemv_shape=(4096, 4096), gemv_rows=(1, 4), progress: bool = True) -> MachineProfile:
    """Measure this machine's roofline in about ``seconds`` (see the module docstring).

    ``threads`` fixes the thread count (default: PyTorch's) for every timing.
    bf16 is measured only where the CPU has native bf16 matrix instructions
    (elsewhere it is emulated, and its "peak" would mislead); ``notes`` say so.
    """
    torch = _torch()
    if not (0.5 <= float(seconds) <= 600):
        raise ValueError("seconds must be between 0.5 and 600")
    threads = int(threads or torch.get_num_threads())
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    notes = []
    dts = [d for d in dtypes if d == "fp32" or (d in _TORCH_DTYPES and bf16_native())]
    for d in dtypes:
        if d not in dts:
            notes.append(f"{d} not measured: no native {d} matrix instructions on this CPU")
    steps = 3 + len(dts) * (len(matmul_sizes) + len(gemv_rows)) + 1
    # blocked_autorange runs a little past min_run_time (a first estimate, whole blocks): 0.6 of the share
    per = max(0.02, 0.6 * float(seconds) / steps)
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
        peaks, points = {}, []
        for d in dts:
            for size in matmul_sizes:
                points.append(_product_point(torch, "matmul", d, size, size, size, per, threads))
                bar.step(f"matmul {d} {size}")
            peaks[d] = max(p["flops"] / p["seconds"] for p in points if p["kind"] == "matmul" and p["dtype"] == d)
            for rows in gemv_rows:
                points.append(_product_point(torch, "matrix-vector", d, rows, gemv_shape[0], gemv_shape[1], per,
                                             threads))
                bar.step(f"matrix-vector {d} x{rows}")
        one = torch.ones(1)
        overhead = time_fn("torch.add(one, one)", {"one": one, "torch": torch}, min_run_time=per, threads=threads)
        bar.step("kernel cost")
    finally:
        torch.set_num_threads(old_threads)
        bar.done()
    return MachineProfile(threads=threads, bandwidth_bytes_per_s=bw, matmul_flop_per_s=peaks, points=points,
                          kernel_overhead_s=overhead, load_before=load0, load_after=_load(),
                          host=socket.gethostname() or platform.node(), cpu=cpu_model(),
                          when=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                          torch_version=torch.__version__, seconds=time.perf_counter() - t0, notes=notes)


class _Progress:
    """A one-line text progress bar (printed to stdout, erased when done)."""

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

def model_config(model: str, layers: int | None = None) -> dict:
    """A catalog model's ``config.json`` dict, optionally cut to ``layers`` layers (a faster stand-in)."""
    from .models import catalog_config

    cfg = dict(catalog_config(model)) if isinstance(model, str) else dict(model)
    if layers is not None:
        cfg["num_hidden_layers"] = int(layers)
        if isinstance(cfg.get("layer_types"), list):
            cfg["layer_types"] = cfg["layer_types"][: int(layers)]
    return cfg


def build_hf_model(model, dtype: str = "fp32", attn: str = "sdpa", layers: int | None = None):
    """A transformers causal LM from a catalog config, random weights, on the CPU (needs transformers).

    Built on the meta device and filled with random numbers: initialising a
    model the usual way takes tens of seconds on a CPU, and the values do not
    change the time of a forward pass (they stay normal floats, no denormals).
    The fill repeats one block of 2**20 random numbers, so it costs a memory
    copy. Non-persistent buffers (rotary frequencies) are rebuilt on the CPU.
    """
    torch = _torch()
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover
        raise ImportError("timing a real model needs transformers: pip install 'llmperf-book[measure]'") from exc

    cfg = model_config(model, layers)
    cfg.pop("architectures", None)
    cfg.pop("torch_dtype", None)
    cfg.pop("dtype", None)
    mt = cfg.pop("model_type")
    config = transformers.AutoConfig.for_model(mt, **cfg)
    tdt = getattr(torch, _TORCH_DTYPES[dtype])
    with torch.device("meta"):
        m = transformers.AutoModelForCausalLM.from_config(config, attn_implementation=attn, dtype=tdt)
    m = m.to_empty(device="cpu")
    if getattr(config, "tie_word_embeddings", False):
        m.tie_weights()  # to_empty gives the output head its own copy of the embedding: tie it again
    pool = torch.randn(2**20, generator=torch.Generator().manual_seed(0)).mul_(0.02).to(tdt)
    with torch.no_grad():
        for p in m.parameters():
            flat, n = p.view(-1), p.numel()
            for i in range(0, n, pool.numel()):
                j = min(n, i + pool.numel())
                flat[i:j].copy_(pool[: j - i])
        for name, mod in list(m.named_modules()):
            if "Rotary" in type(mod).__name__ and hasattr(mod, "config"):
                parent = m.get_submodule(name.rsplit(".", 1)[0]) if "." in name else m
                setattr(parent, name.rsplit(".", 1)[-1], type(mod)(config=mod.config))
        for name, buf in m.named_buffers():
            if not torch.isfinite(buf.float()).all():
                raise RuntimeError(f"buffer {name} was not rebuilt after building on the meta device")
    return m.eval().requires_grad_(False)


def _classify(name: str, module) -> str | None:
    torch = _torch()
    if isinstance(module, torch.nn.Linear):
        return "attention linear" if ".self_attn." in f".{name}." else "other linear"
    if name.endswith("self_attn"):
        return "attention block"
    return None


def time_model(model, cases, dtype: str = "fp32", *, min_run_time: float = 0.3, threads: int | None = None,
               hf_model=None, layers: int | None = None, split: bool = True):
    """Time a real decoder at each case: ``("decode", batch, context)`` or ``("prefill", batch, prompt_len)``.

    Decode holds the context fixed without rebuilding the cache: it is filled
    once with ``context`` random keys and values per layer, and after every timed step
    ``cache.crop(-1)`` drops the token that step appended (a slice, no
    copy), so every repeat attends ``context + 1`` keys; the step's own append
    (a concatenation that copies the cache, as in ``generate()``) is part of
    what is timed. Logits are computed for the last token only
    (``logits_to_keep=1``), as in ``generate()``.

    Returns a pandas DataFrame: measured seconds per step (the median of
    ``blocked_autorange``), and with ``split`` the shares of one step spent in
    linear layers, in the attention blocks less their projections, and in the
    rest (forward hooks, one extra untimed pass).
    """
    import pandas as pd

    torch = _torch()
    threads = int(threads or torch.get_num_threads())
    m = hf_model if hf_model is not None else build_hf_model(model, dtype, layers=layers)
    from transformers import DynamicCache

    rows = []
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            for phase, batch, length in cases:
                vocab = m.config.vocab_size
                g = torch.Generator().manual_seed(1)
                ids = torch.randint(0, vocab, (batch, length if phase == "prefill" else 1), generator=g)
                if phase == "decode":
                    cache = _filled_cache(m, DynamicCache, batch, length, g)
                    nxt = torch.randint(0, vocab, (batch, 1), generator=g)
                    pos = torch.full((batch, 1), length)

                    def run(cache=cache, nxt=nxt, pos=pos, length=length):
                        m(input_ids=nxt, past_key_values=cache, use_cache=True, position_ids=pos, logits_to_keep=1)
                        cache.crop(-1)  # drop the appended token: back to `length`, a slice, no copy
                elif phase == "prefill":
                    def run(ids=ids):
                        m(input_ids=ids, use_cache=True, logits_to_keep=1)
                else:
                    raise ValueError(f"phase must be 'decode' or 'prefill', got {phase!r}")
                run()  # warm-up
                if phase == "decode" and cache.get_seq_length() != length:
                    raise RuntimeError("the cache did not stay at the context length")
                s = time_fn("run()", {"run": run}, min_run_time=min_run_time, threads=threads)
                row = {"phase": phase, "batch": batch, "length": length, "dtype": dtype, "measured_s": s}
                if split:
                    row.update(_hook_split(m, run))
                rows.append(row)
    finally:
        torch.set_num_threads(old)
    return pd.DataFrame(rows)


def _filled_cache(m, DynamicCache, batch, length, g):
    """A cache holding ``length`` random keys and values per layer (what a prefill would leave, at a
    fraction of its cost: the values do not change the time of a step)."""
    torch = _torch()
    c = m.config
    K = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
    H = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    dt = next(m.parameters()).dtype
    cache = DynamicCache(config=c)
    for i in range(c.num_hidden_layers):
        k = torch.randn(batch, K, length, H, generator=g).to(dt)
        v = torch.randn(batch, K, length, H, generator=g).to(dt)
        cache.update(k, v, i)
    return cache


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


# --- the model's own operator list, and what calibrates it ----------------------------------------------

_MM = re.compile(r"\w+\[(\d+), (\d+)\] x \w+\[(\d+), (\d+)\]")
_ATT = re.compile(r"Q \w+\[(\d+), (\d+), (\d+), (\d+)\], K \w+\[(\d+), (\d+), (\d+), (\d+)\]")


def _loaded(model, layers: int | None = None):
    """A catalog name (whole), or a config / catalog name cut to ``layers`` layers, as a ModelConfig."""
    from .models import load_model

    return load_model(model_config(model, layers)) if (layers is not None or not isinstance(model, str)) else \
        load_model(model)


def _step(model, hardware, case, dtype, layers=None):
    from .analysis import decode_step, prefill_step

    m = _loaded(model, layers)
    phase, batch, length = case
    opts = dict(weight_dtype=dtype, act_dtype=dtype)
    if phase == "decode":
        return decode_step(m, hardware, batch=batch, context=length, **opts)
    if phase == "prefill":
        return prefill_step(m, hardware, batch=batch, prompt_len=length, **opts)
    raise ValueError(f"phase must be 'decode' or 'prefill', got {phase!r}")


def kernel_key(kind: str, shape: str):
    """The calibration key of an operator: ``("linear", M, K, N)`` for a product
    ``[M, K] x [K, N]``, ``("attention", B, N, K, T, S, H)`` for attention of ``T``
    queries over ``S`` keys; None for operators that are not calibrated."""
    if kind == "matmul":
        mm = _MM.search(shape)
        if mm:
            M, K, K2, N = map(int, mm.groups())
            return ("linear", M, K, N)
    if kind == "attention":
        a = _ATT.search(shape)
        if a:
            B, N, T, H, _, K, S, _ = map(int, a.groups())
            return ("attention", B, N, K, T, S, H)
    return None


def op_parts(model, hardware, case, dtype: str = "fp32", layers: int | None = None) -> list[dict]:
    """The case's operator list at the roofline of ``hardware``: one dict per operator with
    ``name``, ``repeats``, ``roofline_s`` (per instance), ``cls`` (one of :data:`CLASSES`) and
    ``key`` (see :func:`kernel_key`)."""
    r = _step(model, hardware, case, dtype, layers)
    t = np.asarray(r.op_time_peak_s, dtype=float).reshape(len(r.ops.names), -1)[:, 0]
    out = []
    for i, name in enumerate(r.ops.names):
        kind = r.ops.kinds[i]
        if kind == "matmul":
            cls = "linear, compute-bound" if str(np.ravel(r.op_bound)[i]) == "compute" else "linear, memory-bound"
        elif kind == "attention":
            cls = "attention"
        else:
            cls = "other"
        key = kernel_key(kind, r.ops.shape_at(i))
        if name == "lm_head" and case[0] == "prefill" and key is not None:
            # the head of a prefill multiplies the last token's row, a slice of [B, T, D]: PyTorch's matmul
            # cannot fold that view into one product and takes another path (in bf16 on a CPU, one that
            # copies the whole weight), so it is calibrated as the model calls it
            key = ("last token", case[1], case[2], key[2], key[3])
        out.append({"name": name, "repeats": float(r.ops.repeats[i]), "roofline_s": float(t[i]), "cls": cls,
                    "key": key})
    return out


def cache_append_parts(model, case, dtype: str = "fp32", layers: int | None = None, *,
                       copy_bytes_per_s: float) -> list[dict]:
    """The copy transformers' ``DynamicCache`` makes to append one token, as operator parts (empty for a prefill).

    llmperf's operator list writes only the new token's keys and values (an in-place append, as a paged or
    static cache does). ``DynamicCache.update`` instead concatenates (``torch.cat``) the whole cache with the
    new token, for the keys and for the values of every layer: each concatenation reads the ``S`` cached rows
    and the new one and writes ``S + 1``, ``(2S + 2) B K H`` elements. Strength 2 adds this work at the
    machine's measured copy bandwidth (``copy_bytes_per_s``, counted as STREAM counts a copy: bytes read plus
    bytes written); the roofline and strength 1 keep llmperf's list. One part, ``2 L`` kernels, class
    ``"attention"`` (the attention block does it), no calibration key.
    """
    from .dtypes import dtype_bytes

    phase, batch, length = case
    if phase != "decode":
        return []
    m = _loaded(model, layers)
    per_copy = (2.0 * length + 2.0) * batch * m.n_kv_heads * m.head_dim * dtype_bytes(dtype)
    return [{"name": "cache append (DynamicCache, torch.cat)", "repeats": 2.0 * m.n_layers,
             "roofline_s": per_copy / float(copy_bytes_per_s), "cls": "attention", "key": None}]


def calibrate_kernels(model, cases, dtype: str = "fp32", *, min_run_time: float = 0.1,
                      threads: int | None = None, layers: int | None = None, progress: bool = False,
                      cold_bytes: int = COLD_BYTES) -> dict:
    """Measured seconds of each distinct linear and attention shape in the cases' operator lists.

    Keys as :func:`kernel_key`: ``("linear", M, K, N)`` times ``F.linear`` of an
    ``[M, K]`` input by an ``[N, K]`` weight; ``("last token", B, T, K, N)`` the
    output head of a prefill as the model calls it, on the last row of a
    ``[B, T, K]`` input (``x[:, -1:, :]``); ``("attention", B, N, K, T, S, H)``
    times ``F.scaled_dot_product_attention`` (causal for ``T > 1``, grouped
    query heads), the kernel transformers' ``sdpa`` attention calls. Each call
    takes the next of enough copies of its weight (or keys and values) to
    exceed ``cold_bytes``, so it reads them from memory as inside the model.
    """
    torch = _torch()
    from .hardware import get_hardware

    threads = int(threads or torch.get_num_threads())
    hw = get_hardware("h100-sxm")  # any device: only the shapes are used
    shapes = set()
    for case in cases:
        for p in op_parts(model, hw, case, "bf16", layers):
            if p["key"] is not None:
                shapes.add(p["key"])
    tdt = getattr(torch, _TORCH_DTYPES[dtype])
    out = {}
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    bar = _Progress(len(shapes), progress)
    try:
        for key in sorted(shapes):
            if key[0] == "linear":
                _, M, k_, n_ = key
                x = torch.randn(M, k_).to(tdt)
                ws = _cold(lambda: torch.randn(n_, k_).to(tdt), n_ * k_ * x.element_size(), cold_bytes)
                out[key] = time_fn("F.linear(x, next(ws))", {"F": torch.nn.functional, "x": x, "ws": ws},
                                   min_run_time=min_run_time, threads=threads)
            elif key[0] == "last token":
                _, B, T, k_, n_ = key
                x = torch.randn(B, T, k_).to(tdt)
                ws = _cold(lambda: torch.randn(n_, k_).to(tdt), n_ * k_ * x.element_size(), cold_bytes)
                out[key] = time_fn("F.linear(x[:, -1:, :], next(ws))",
                                   {"F": torch.nn.functional, "x": x, "ws": ws},
                                   min_run_time=min_run_time, threads=threads)
            else:
                _, B, N, K, T, S, H = key
                q = torch.randn(B, N, T, H).to(tdt)
                kv = _cold(lambda: (torch.randn(B, K, S, H).to(tdt), torch.randn(B, K, S, H).to(tdt)),
                           2 * B * K * S * H * q.element_size(), cold_bytes)
                out[key] = time_fn("F.scaled_dot_product_attention(q, *next(kv), is_causal=causal, "
                                   "enable_gqa=True)",
                                   {"F": torch.nn.functional, "q": q, "kv": kv, "causal": T > 1},
                                   min_run_time=min_run_time, threads=threads)
            bar.step(str(key))
    finally:
        torch.set_num_threads(old)
        bar.done()
    return out


# --- expected times: the two strengths ------------------------------------------------------------------

def _class_sums(parts) -> dict:
    s = {c: 0.0 for c in CLASSES}
    for p in parts:
        s[p["cls"]] += p["repeats"] * p["roofline_s"]
    return s


def _n_kernels(parts) -> float:
    return float(sum(p["repeats"] for p in parts))


def expected_times(parts, *, efficiency: dict | None = None, kernels: dict | None = None,
                   overhead_s: float = 0.0) -> dict:
    """Roofline bound and "expected" time of one case from its :func:`op_parts`.

    - strength 1, ``efficiency``: a fraction of the roofline reached by each
      kernel class (:data:`CLASSES`), ``time = sum over classes of roofline / efficiency``,
      plus ``overhead_s`` per kernel (:func:`fit_efficiencies` fits both);
    - strength 2, ``kernels``: measured times of the case's own linear and
      attention shapes (:func:`calibrate_kernels`) in place of those
      operators' roofline times; the other operators keep their roofline time,
      and every kernel pays ``overhead_s`` (:func:`fit_overhead`).

    Returns ``{"roofline_s", "expected_s", "basis"}``; ``basis`` says which strength and its source.
    """
    roof = float(sum(p["repeats"] * p["roofline_s"] for p in parts))
    nk = _n_kernels(parts)
    if kernels is not None:
        total = 0.0
        missing = 0
        for p in parts:
            t = kernels.get(p["key"]) if p["key"] is not None else None
            if p["key"] is not None and t is None:
                missing += 1
            total += p["repeats"] * (t if t is not None else p["roofline_s"])
        if missing:
            raise KeyError(f"{missing} calibrated shapes missing: run calibrate_kernels on this case")
        return {"roofline_s": roof, "expected_s": total + nk * overhead_s,
                "basis": f"strength 2: measured linear and attention kernels at the model's shapes, "
                         f"{overhead_s * 1e6:.1f} µs per kernel"}
    if efficiency is None:
        return {"roofline_s": roof, "expected_s": roof, "basis": "roofline bound"}
    s = _class_sums(parts)
    total = sum(s[c] / efficiency[c] for c in CLASSES if s[c] > 0)
    eff = ", ".join(f"{c} {efficiency[c]:.3g}" for c in CLASSES)
    return {"roofline_s": roof, "expected_s": total + nk * overhead_s,
            "basis": f"strength 1: efficiencies {eff}; {overhead_s * 1e6:.1f} µs per kernel"}


def _nnls(A, b):
    """Non-negative least squares, exactly: the best of the unconstrained fits on every subset of
    columns whose coefficients come out non-negative (a handful of unknowns: 2**n small solves)."""
    import itertools

    A, b = np.asarray(A, float), np.asarray(b, float)
    n = A.shape[1]
    best, best_r = np.zeros(n), float(np.dot(b, b))
    for k in range(1, n + 1):
        for cols in itertools.combinations(range(n), k):
            sol, *_ = np.linalg.lstsq(A[:, cols], b, rcond=None)
            if np.any(sol < 0):
                continue
            r = b - A[:, cols] @ sol
            rr = float(np.dot(r, r))
            if rr < best_r - 1e-15:
                best_r, best = rr, np.zeros(n)
                best[list(cols)] = sol
    return best


def fit_efficiencies(parts_list, measured_s, *, overhead: bool = True) -> tuple[dict, float]:
    """Strength 1: fit each kernel class's efficiency and a fixed cost per kernel on some cases.

    The model is ``sum over classes of roofline_c / e_c + n_kernels * overhead``
    with every efficiency ``0 < e_c <= 1`` (the roofline is a bound) and the
    overhead non-negative; the fit minimises the squared *relative* error
    against the measured times (so a long prefill does not outweigh a short
    decode step). A class with no time in the fit cases keeps efficiency 1.
    Returns ``(efficiency, overhead_s)``.
    """
    rows, base = [], []
    for parts in parts_list:
        s = _class_sums(parts)
        rows.append([s[c] for c in CLASSES] + ([_n_kernels(parts)] if overhead else []))
        base.append(sum(s.values()))
    y = np.asarray(measured_s, float)
    A = np.asarray(rows, float) / y[:, None]
    # 1/e_c = 1 + x_c with x_c >= 0: the residual left after the roofline itself
    x = _nnls(A, 1.0 - np.asarray(base) / y)
    eff = {c: float(1.0 / (1.0 + v)) for c, v in zip(CLASSES, x[: len(CLASSES)])}
    return eff, (float(x[-1]) if overhead else 0.0)


def fit_overhead(parts_list, measured_s, kernels: dict) -> float:
    """Strength 2's one free number: the fixed cost per kernel that best fits (relative least squares,
    non-negative) the measured steps after the calibrated kernel times are put in."""
    base = np.array([expected_times(p, kernels=kernels)["expected_s"] for p in parts_list])
    nk = np.array([_n_kernels(p) for p in parts_list])
    y = np.asarray(measured_s, float)
    a, r = nk / y, 1.0 - base / y
    return max(float(np.dot(a, r) / np.dot(a, a)), 0.0)


def ratio_table(df, value: str = "ratio", index=("phase", "batch", "length"), columns="dtype"):
    """A case-by-dtype table of one column of a comparison frame (for display with ``tidy``)."""
    return df.pivot_table(index=list(index), columns=columns, values=value, aggfunc="first")


# --- a stored run: predictions and held-out errors ------------------------------------------------------

def _kernels_from(stored) -> dict:
    return {tuple(k): float(s) for k, s in stored}


def compare_run(run: dict):
    """Predictions for every measured case of a stored run (see ``scripts/measure_reference.py``).

    Strength 2's operator list also has the copy transformers' cache makes to append a token
    (:func:`cache_append_parts`), and its cost per kernel is fitted on steps of the same phase (decode or
    prefill). For each dtype, both strengths are judged **held out**: the numbers fitted
    (strength 1: class efficiencies and a cost per kernel; strength 2: the cost
    per kernel) come from the *other* models' cases, never from the case's own
    model (with one model only: from the other cases of that model). Returns
    ``(table, fits)``: one row per case with ``measured_s``, ``roofline_s``,
    ``strength1_s``, ``strength2_s`` and the ratios and errors; ``fits`` the
    fitted numbers per (held-out model, dtype).
    """
    import pandas as pd

    prof = MachineProfile.from_dict(run["profile"])
    hw = prof.hardware()
    entries = []
    for e in run["models"]:
        kern = _kernels_from(e["kernels"])
        for row in e["measured"]:
            case = (row["phase"], int(row["batch"]), int(row["length"]))
            parts = op_parts(e["model"], hw, case, e["dtype"], e.get("layers"))
            # strength 2 also has the cache's append copy, at the run's measured copy bandwidth
            parts2 = parts + cache_append_parts(e["model"], case, e["dtype"], e.get("layers"),
                                                copy_bytes_per_s=prof.bandwidth_bytes_per_s["copy"])
            entries.append({"model": e["model"], "dtype": e["dtype"], "case": case, "parts": parts,
                            "parts2": parts2, "kernels": kern, "row": row})
    models = sorted({x["model"] for x in entries})
    out, fits = [], {}
    for x in entries:
        same = [y for y in entries if y["dtype"] == x["dtype"]]
        train = [y for y in same if y["model"] != x["model"]] if len(models) > 1 else \
            [y for y in same if y["case"] != x["case"]]
        eff, ov1 = fit_efficiencies([y["parts"] for y in train], [y["row"]["measured_s"] for y in train])
        # strength 2's cost per kernel: from the training steps of the same phase (what the kernel list leaves
        # out differs: dispatch and the cache's bookkeeping in a decode step, elementwise kernels over T tokens
        # in a prefill), all of them when there are none
        train2 = [y for y in train if y["case"][0] == x["case"][0]] or train
        merged = {}
        for y in train2:
            merged.update(y["kernels"])
        ov2 = fit_overhead([y["parts2"] for y in train2], [y["row"]["measured_s"] for y in train2], merged)
        f = fits.setdefault((x["model"] if len(models) > 1 else "-", x["dtype"]),
                            {"efficiency": eff, "overhead1_s": ov1, "overhead2_s": {}})
        f["overhead2_s"][x["case"][0]] = ov2
        meas = float(x["row"]["measured_s"])
        r0 = expected_times(x["parts"])
        r1 = expected_times(x["parts"], efficiency=eff, overhead_s=ov1)
        r2 = expected_times(x["parts2"], kernels=x["kernels"], overhead_s=ov2)
        r2b = expected_times(x["parts2"], kernels=x["kernels"])
        phase, b, l = x["case"]
        row = {"model": x["model"], "dtype": x["dtype"], "phase": phase, "batch": b, "length": l,
               "measured_s": meas, "roofline_s": r0["roofline_s"], "strength1_s": r1["expected_s"],
               "strength2_s": r2["expected_s"], "kernels_only_s": r2b["expected_s"],
               "fit_on": ", ".join(sorted({y["model"] for y in train})) if len(models) > 1 else "other cases"}
        for k in ("share_linear", "share_attention_core", "share_rest"):
            if k in x["row"]:
                row[k] = float(x["row"][k])
        if "share_linear" in x["row"]:
            # measured time of each operator class (hook shares) over its roofline time; the hooks' attention
            # core also holds the rotary embedding, which the roofline counts with the other operators
            cs = _class_sums(x["parts"])
            roof_lin = cs["linear, memory-bound"] + cs["linear, compute-bound"]
            row["linear_over_roofline"] = row["share_linear"] * meas / roof_lin
            row["attention_over_roofline"] = row["share_attention_core"] * meas / cs["attention"]
            row["rest_over_roofline"] = row["share_rest"] * meas / cs["other"]
        out.append(row)
    df = pd.DataFrame(out)
    df["measured_over_roofline"] = df["measured_s"] / df["roofline_s"]
    for s in ("strength1", "strength2"):
        df[f"{s}_error"] = (df[f"{s}_s"] - df["measured_s"]).abs() / df["measured_s"]
    return df, fits


def error_summary(df):
    """Median and worst held-out error of each strength, by phase (fractions)."""
    import pandas as pd

    rows = []
    for phase, g in df.groupby("phase", sort=False):
        for s, label in (("strength1", "1: class efficiencies"), ("strength2", "2: kernel calibration")):
            e = g[f"{s}_error"]
            rows.append({"Phase": phase, "Strength": label, "Median error": float(e.median()),
                         "Worst error": float(e.max()), "Cases": int(len(e))})
    return pd.DataFrame(rows)


REFERENCE_PATH = os.path.join(os.path.dirname(__file__), "data", "measurements", "reference_run.json")
_REF_CACHE: dict = {}


def reference_run(path: str | None = None) -> dict:
    """The book's stored reference run (``scripts/measure_reference.py`` writes it), read once."""
    import json

    p = path or REFERENCE_PATH
    if p not in _REF_CACHE:
        with open(p) as f:
            _REF_CACHE[p] = json.load(f)
    return _REF_CACHE[p]


def reference_comparison(path: str | None = None):
    """:func:`compare_run` of the reference run, computed once: ``(table, fits)``."""
    key = ("cmp", path or REFERENCE_PATH)
    if key not in _REF_CACHE:
        _REF_CACHE[key] = compare_run(reference_run(path))
    return _REF_CACHE[key]
