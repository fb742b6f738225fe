"""Speed of the llmperf engine (a benchmark, not a test: run it and read the figures).

    python scripts/benchmark.py

1. One full analysis of Llama-2-70B on an H100 SXM: prefill of 1024 tokens plus
   128 decode steps (gen_len 129), every operator, memory and summary.
   Target: under 1 ms (LLM-Viewer takes about 7 ms for the same generation).
2. A 100 x 100 = 10,000-point batch x context sweep of decode step time,
   returned as a pandas DataFrame. Target: under 100 ms.
3. For reference, the same analysis plus its JSON export, and the text report.
"""
from __future__ import annotations

import platform
import statistics
import time

import numpy as np

import llmperf


def bench(fn, number, repeat=7):
    fn()  # warm caches (catalog loads, lazy imports)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return min(times), statistics.median(times)


def main():
    model = llmperf.load_model("llama-2-70b")
    hw = llmperf.get_hardware("h100-sxm")

    def full():
        return llmperf.analyze(model, hw, batch=1, prompt_len=1024, gen_len=129).summary

    batch = np.arange(1, 101)
    context = np.linspace(128, 32768, 100).round()

    def grid():
        return llmperf.sweep(model, hw, batch=batch, context=context)

    assert llmperf.analyze(model, hw, 1, 1024, 129).n_decode_steps == 128
    assert len(grid()) == 10_000
    print(f"llmperf {llmperf.__version__} on Python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}")
    for label, fn, n, target in [
        ("analyze llama-2-70b: prefill 1024 + 128 decode steps", full, 200, 1e-3),
        ("decode sweep 100 batch x 100 context = 10,000 points", grid, 5, 100e-3),
        ("analyze + to_dict (JSON export)", lambda: llmperf.analyze(model, hw, 1, 1024, 129).to_dict(), 50, None),
        ("analyze + text report", lambda: llmperf.analyze(model, hw, 1, 1024, 129).report(), 10, None),
    ]:
        best, med = bench(fn, n)
        verdict = "" if target is None else ("  (target < %g ms: %s)" % (target * 1e3, "met" if med < target else "MISSED"))
        print(f"{label:58s} best {best * 1e3:8.3f} ms  median {med * 1e3:8.3f} ms{verdict}")


if __name__ == "__main__":
    main()
