"""Make the book's stored reference run: llmperf/data/measurements/reference_run.json.

Measures this machine's roofline (llmperf.measure.machine_roofline), times
real transformers decoders built from catalog configs with random weights
(decode steps at batch 1 and 4 over 128 and 1024 cached tokens, prefills of
128 and 512 tokens, fp32 and bf16), times their own linear and attention
shapes (the kernel calibration), and stores every measured number with the
predictions (roofline bound and both "expected" strengths, judged held out).

    .venv/bin/python scripts/measure_reference.py            # the book's run
    .venv/bin/python scripts/measure_reference.py --quick    # a smoke run (tiny)
    .venv/bin/python scripts/measure_reference.py --refresh-notebook   # only restate the exercises

The chapter's exercise statements quote the run's numbers: after a new run,
this script restates them in book/measuring.ipynb (``--refresh-notebook``
alone does only that); then execute the notebook
(scripts/execute_notebooks.py book/measuring.ipynb).

Run it on a quiet machine: the load average is stored with the numbers.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmperf import measure as M  # noqa: E402

OUT = ROOT / "llmperf" / "data" / "measurements" / "reference_run.json"
NOTEBOOK = ROOT / "book" / "measuring.ipynb"


def refresh_notebook(path=NOTEBOOK):
    """Restate each exercise of the chapter with the numbers of the stored run (its default prompt)."""
    import re

    from llmperf.exercises import worked

    nb = json.loads(path.read_text())
    n = 0
    for c in nb["cells"]:
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        m = re.search(r":label: (measuring-ex\d+)", src)
        if c["cell_type"] != "markdown" or not m or "exercise-start" not in src:
            continue
        head = src.split("\n")[:4]                      # exercise-start, label, fence, bold title
        w = worked(m.group(1))
        c["source"] = "\n".join(head) + f"\n{w.prompt}\n\n*Answer form:* {w.form()}\n```{{exercise-end}}\n```"
        n += 1
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    print(f"restated {n} exercises in {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["qwen2.5-0.5b", "qwen3-0.6b"])
    ap.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--roofline-seconds", type=float, default=20.0)
    ap.add_argument("--min-run-time", type=float, default=0.8)
    ap.add_argument("--kernel-min-run-time", type=float, default=0.2)
    ap.add_argument("--layers", type=int, default=None, help="cut each model to this many layers")
    ap.add_argument("--stat", choices=["min", "median"], default="min",
                    help="statistic over blocked_autorange's blocks (min: the fastest block, robust to "
                         "other processes on a shared machine)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 layers, short timings")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--refresh-notebook", action="store_true", help="only restate the chapter's exercises")
    ap.add_argument("--repredict", action="store_true",
                    help="recompute the stored predictions from the stored measurements (no timing)")
    a = ap.parse_args(argv)
    if a.repredict:
        run = json.loads(a.out.read_text())
        df, fits = M.compare_run(run)
        run["predicted"] = df.to_dict("records")
        run["fits"] = [{"held_out": k[0], "dtype": k[1], **v} for k, v in fits.items()]
        a.out.write_text(json.dumps(run, indent=1, default=float) + "\n")
        print(M.error_summary(df).to_string(index=False))
        return
    if a.refresh_notebook:
        refresh_notebook()
        return
    if a.quick:
        a.layers, a.roofline_seconds, a.min_run_time, a.kernel_min_run_time = 2, 3.0, 0.05, 0.02
    import torch
    import transformers

    t0 = time.perf_counter()
    M.DEFAULT_STAT = a.stat
    cases = M.DECODE_CASES + M.PREFILL_CASES
    load0 = os.getloadavg()
    print(f"load average {load0[0]:.2f}; measuring the roofline ({a.roofline_seconds:g} s)", flush=True)
    if load0[0] > 0.5 * (os.cpu_count() or 1):
        print(f"WARNING: load average {load0[0]:.2f} on {os.cpu_count()} cores: other processes will slow "
              "multi-threaded kernels (a thread that loses its core stalls the others at every barrier); "
              "the book's reference run should be made on a quiet machine", flush=True)
    prof = M.machine_roofline(seconds=a.roofline_seconds, threads=a.threads, progress=False)
    entries = []
    for model in a.models:
        for dtype in a.dtypes:
            if dtype == "bf16" and "bf16" not in prof.matmul_flop_per_s:
                print(f"skip {model} {dtype}: no native bf16", flush=True)
                continue
            t1 = time.perf_counter()
            hf = M.build_hf_model(model, dtype, layers=a.layers)
            build_s = time.perf_counter() - t1
            meas = M.time_model(model, cases, dtype, min_run_time=a.min_run_time, threads=a.threads, hf_model=hf)
            del hf
            kern = M.calibrate_kernels(model, cases, dtype, min_run_time=a.kernel_min_run_time, threads=a.threads,
                                       layers=a.layers)
            entries.append({"model": model, "dtype": dtype, "layers": a.layers, "build_s": build_s,
                            "measured": meas.to_dict("records"),
                            "kernels": [[list(k), s] for k, s in sorted(kern.items())],
                            "seconds": time.perf_counter() - t1})
            print(f"{model} {dtype}: {time.perf_counter() - t1:.0f} s; "
                  + ", ".join(f"{r['phase']} {r['batch']}x{r['length']} {r['measured_s'] * 1e3:.1f} ms"
                              for r in entries[-1]["measured"]), flush=True)
    run = {
        "machine": {"host": prof.host, "cpu": prof.cpu, "cores": os.cpu_count(), "threads": a.threads,
                    "python": platform.python_version(), "torch": torch.__version__,
                    "transformers": transformers.__version__, "platform": platform.platform(),
                    "load_average_before": list(load0), "load_average_after": list(os.getloadavg()),
                    "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")},
        "settings": {"models": a.models, "dtypes": a.dtypes, "layers": a.layers, "stat": a.stat,
                     "roofline_seconds": a.roofline_seconds, "min_run_time": a.min_run_time,
                     "kernel_min_run_time": a.kernel_min_run_time, "cases": [list(c) for c in cases],
                     "context": "decode: cache filled once with random keys/values, cropped back to the "
                                "context after every timed step (cache.crop), no re-fill between repeats"},
        "profile": prof.to_dict(),
        "models": entries,
    }
    df, fits = M.compare_run(run)
    run["predicted"] = df.to_dict("records")
    run["fits"] = [{"held_out": k[0], "dtype": k[1], **v} for k, v in fits.items()]
    run["elapsed_s"] = time.perf_counter() - t0
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(run, indent=1, default=float) + "\n")
    print(M.error_summary(df).to_string(index=False))
    print(f"wrote {a.out} in {run['elapsed_s']:.0f} s", flush=True)
    if a.out == OUT and NOTEBOOK.exists():
        from llmperf import measure as _m

        _m._REF_CACHE.clear()
        refresh_notebook()


if __name__ == "__main__":
    main()
