"""Speed of the llmperf engine, side by side with LLM-Viewer (a benchmark, not a test: read the figures).

    python scripts/benchmark.py                       # llmperf alone
    python scripts/benchmark.py --llm-viewer PATH     # and LLM-Viewer (a checkout of hahnyuan/LLM-Viewer)

Without ``--llm-viewer``, a checkout at ``$LLM_VIEWER``, ``/tmp/LLM-Viewer`` or
``../LLM-Viewer`` is used when present. LLM-Viewer imports ``transformers`` only
to read a config from the Hugging Face hub; the benchmark gives it the
configuration directly (the published Llama-2 sizes) and a stand-in module, so
neither the hub nor transformers is needed. Every figure is the median of 7
repetitions, each the mean of many calls, measured in this process, both tools
on the same inputs one after the other, in CPU time (``--wall`` for elapsed time;
CPU time is what a busy shared machine does not inflate). The import figure
counts the CPU time of the new process from before ``import llmperf``.

1. One analysis: prefill of 1024 tokens plus one decode step of Llama-2-7B on an
   H100, every operator. Target: under 50 µs, and faster than LLM-Viewer.
2. A 128-step generation of Llama-2-70B (prefill 1024, then 128 decode steps).
   Target: under 100 µs (LLM-Viewer runs one analysis per step).
3. A 100 x 100 = 10,000-point batch x context sweep of decode step time.
4. The per-operator prefill table and the ``--json`` export. Target: under 1 ms.
5. ``import llmperf`` plus one analysis in a new process. Target: under 150 ms, with the bytecode
   cached as an installed package has it (also shown without, where PYTHONDONTWRITEBYTECODE is set).
"""
from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

import llmperf


#: The clock: CPU time of this process (both tools are single-threaded), so that other work on a shared
#: machine does not inflate the figures; ``--wall`` measures elapsed time instead.
CLOCK = time.process_time


def bench(fn, number, repeat=7) -> float:
    """Median over ``repeat`` runs of the mean time of ``number`` calls (seconds)."""
    fn()  # warm caches (catalog loads, lazy imports)
    times = []
    for _ in range(repeat):
        t0 = CLOCK()
        for _ in range(number):
            fn()
        times.append((CLOCK() - t0) / number)
    return statistics.median(times)


def _number(fn, budget_s=0.2) -> int:
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-6)
    return max(1, min(20000, int(budget_s / one)))


# --- LLM-Viewer ------------------------------------------------------------------

LLAMA_2 = {
    "llama-2-7b": dict(hidden_size=4096, num_attention_heads=32, num_key_value_heads=32, num_hidden_layers=32,
                       intermediate_size=11008, vocab_size=32000),
    "llama-2-70b": dict(hidden_size=8192, num_attention_heads=64, num_key_value_heads=8, num_hidden_layers=80,
                        intermediate_size=28672, vocab_size=32000),
}


def find_llm_viewer(arg: str | None) -> Path | None:
    for c in ([arg] if arg else []) + [os.environ.get("LLM_VIEWER"), "/tmp/LLM-Viewer",
                                       str(Path(__file__).resolve().parents[2] / "LLM-Viewer")]:
        if c and (Path(c) / "model_analyzer.py").is_file():
            return Path(c)
    return None


def load_llm_viewer(root: Path):
    """LLM-Viewer's ModelAnalyzer for Llama-2 on an H100, built without the hub."""
    sys.path.insert(0, str(root))
    if "transformers" not in sys.modules:  # imported by model_analyzer for AutoConfig only
        stub = types.ModuleType("transformers")
        for n in ("AutoTokenizer", "AutoConfig", "AutoModelForCausalLM"):
            setattr(stub, n, None)
        sys.modules["transformers"] = stub
    cwd = os.getcwd()
    os.chdir(root)
    try:
        ma = importlib.import_module("model_analyzer")
        llama = importlib.import_module("configs.Llama")
    finally:
        os.chdir(cwd)

    def analyzer(name):
        a = object.__new__(ma.ModelAnalyzer)
        a.model_id, a.hardware = f"meta-llama/{name}", "nvidia_H100"
        a.model_params = types.SimpleNamespace(**LLAMA_2[name])
        a.config, a.results = llama, None
        return a
    return analyzer


# --- main ----------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--llm-viewer", help="path of an LLM-Viewer checkout (hahnyuan/LLM-Viewer)")
    p.add_argument("--wall", action="store_true", help="measure elapsed time, not CPU time")
    args = p.parse_args(argv)
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    m7, m70 = llmperf.load_model("llama-2-7b"), llmperf.load_model("llama-2-70b")
    hw = llmperf.get_hardware("h100-sxm")
    batch = np.arange(1, 101)
    context = np.linspace(128, 32768, 100).round()
    assert llmperf.analyze(m70, hw, 1, 1024, 129).n_decode_steps == 128
    assert len(llmperf.sweep(m70, hw, batch=batch, context=context)) == 10_000

    ours = {
        "one analysis (7B, prefill 1024 + 1 decode step)": (lambda: llmperf.analyze(m7, hw, 1, 1024, 2).summary, 50e-6),
        "128-step generation (70B, prefill 1024 + 128 steps)":
            (lambda: llmperf.analyze(m70, hw, 1, 1024, 129).summary, 100e-6),
        "sweep 100 x 100 = 10,000 decode points (70B)":
            (lambda: llmperf.sweep(m70, hw, batch=batch, context=context), 100e-3),
        "prefill table (7B, per operator, pandas)": (lambda: llmperf.analyze(m7, hw, 1, 1024, 2).prefill_table(), 1e-3),
        "--json export (7B: analysis + to_dict + json.dumps)":
            (lambda: __import__("json").dumps(llmperf.analyze(m7, hw, 1, 1024, 2).to_dict()), 1e-3),
    }
    theirs = {}
    root = find_llm_viewer(args.llm_viewer)
    if root is not None:
        make = load_llm_viewer(root)
        lv7, lv70 = make("llama-2-7b"), make("llama-2-70b")

        def lv_sweep():
            for b in batch:
                for s in context:
                    lv70.analyze(int(s), int(b), 16, 16, 16, use_flashattention=True)
        theirs = {
            "one analysis (7B, prefill 1024 + 1 decode step)":
                lambda: lv7.analyze(1024, 1, 16, 16, 16, use_flashattention=True),
            "128-step generation (70B, prefill 1024 + 128 steps)":
                lambda: lv70.analyze_generate_task(1024, 128, 1, 16, 16, 16),
            "sweep 100 x 100 = 10,000 decode points (70B)": lv_sweep,
        }

    print(f"llmperf {llmperf.__version__} on Python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs"
          + (f"; LLM-Viewer at {root}" if root else "; LLM-Viewer not found (pass --llm-viewer PATH)")
          + f"; {'elapsed' if CLOCK is time.perf_counter else 'CPU'} time, median of 7")
    print(f"{'':54s} {'llmperf':>12s} {'LLM-Viewer':>12s} {'ratio':>7s}  target")
    for label, (fn, target) in ours.items():
        ours_s = bench(fn, _number(fn))
        lv = theirs.get(label)
        lv_s = bench(lv, _number(lv), repeat=3 if "sweep" in label else 7) if lv else None
        ratio = f"{lv_s / ours_s:6.1f}x" if lv_s else "      -"
        met = "met" if ours_s < target and (lv_s is None or ours_s < lv_s) else "MISSED"
        print(f"{label:54s} {_fmt(ours_s):>12s} {_fmt(lv_s):>12s} {ratio}  < {_fmt(target)}: {met}")
    # a new process: import plus one analysis. An installed package has its bytecode compiled; a
    # checkout run with PYTHONDONTWRITEBYTECODE (as here, perhaps) compiles every module on every import,
    # so the figure is given both ways: bytecode cached (in a temporary folder), and as this environment runs.
    clock = "perf_counter" if CLOCK is time.perf_counter else "process_time"
    code = (f"import time; t = time.{clock}(); import llmperf; "
            f"llmperf.analyze('llama-2-7b', 'h100-sxm', 1, 1024, 2).summary; print(time.{clock}() - t)")

    def new_process(env) -> float:
        runs = sorted(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                           check=True).stdout) for _ in range(5))
        return statistics.median(runs)
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=True)  # writes the cache
        t = new_process(env)
    print(f"{'import llmperf + one analysis, new process':54s} {_fmt(t):>12s} {'':>12s} {'':7s}  < 150 ms: "
          f"{'met' if t < 0.150 else 'MISSED'}")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        t = new_process(dict(os.environ))
        print(f"{'  the same, no bytecode cache (PYTHONDONTWRITEBYTECODE)':54s} {_fmt(t):>12s}")
    pandas_loaded = subprocess.run(
        [sys.executable, "-c", "import sys, llmperf; llmperf.analyze('llama-2-7b', 'h100-sxm', 1, 1024, 2).summary; "
                               "print('pandas' in sys.modules)"], capture_output=True, text=True, check=True).stdout
    print(f"pandas imported by import llmperf + analyze: {pandas_loaded.strip()}")


def _fmt(s):
    if s is None:
        return "-"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


if __name__ == "__main__":
    main()
