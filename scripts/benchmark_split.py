"""Redo the seed report's q/k/v split experiment on this machine and store it as the book's reference run.

The report (seed 003) claims that caching the q/k/v split sizes of a LLaMA-7B attention block
(``qkv.split(self._qkv_split_sizes, -1)`` instead of ``qkv.split([q, kv, kv], -1)``) makes it 1.83 %
faster on average. This script times, interleaved with :func:`llmperf.abtest.compare`:

- ``torch.split`` of a [B, T, 3 × 4096] tensor with a cached tuple of sizes (B) against a list built
  afresh at every call (A), for a few batch × length configurations, each with an A/A control;
- the same inside the block: the q/k/v projection ``x @ W_qkv`` followed by the split.

It writes ``llmperf/data/measurements/qkv_split_reference.json`` with the per-round times and where they
were taken (machine, torch version and threads, load average before and after, date). Needs torch.

    .venv/bin/python scripts/benchmark_split.py            # about a minute
    .venv/bin/python scripts/benchmark_split.py --quick    # a smoke run, written to --out
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmperf import abtest  # noqa: E402

OUT = ROOT / "llmperf" / "data" / "measurements" / "qkv_split_reference.json"
CONFIGS = [(1, 128), (16, 512), (32, 1024), (4, 4096)]   # the report's best, two "high" cases, its worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--inner", type=int, default=200)
    ap.add_argument("--block-rounds", type=int, default=16)
    ap.add_argument("--quick", action="store_true", help="few rounds, two configurations (a smoke test)")
    args = ap.parse_args(argv)
    configs = CONFIGS[:2] if args.quick else CONFIGS
    rounds, inner, block_rounds = (6, 20, 5) if args.quick else (args.rounds, args.inner, args.block_rounds)

    before = abtest.machine_info()
    results = abtest.qkv_split_experiment(configs, rounds=rounds, inner=inner, warmup=3, control=True)
    block = abtest.qkv_block_experiment(1, 16 if args.quick else 128, rounds=block_rounds, inner=1, warmup=2)
    after = abtest.machine_info()
    record = {
        "what": "torch.split of a LLaMA-7B q/k/v projection output [B, T, 12288] into (4096, 4096, 4096): "
                "A = sizes as a list built at every call, B = a cached tuple; interleaved rounds "
                "(llmperf.abtest.compare), times in seconds per call",
        "machine": before["machine"], "processor": before["processor"], "system": before["system"],
        "cpus": before["cpus"], "python": before["python"], "torch": before["torch"],
        "threads": before["threads"], "load_average_before": before["load_average"],
        "load_average_after": after["load_average"], "date": before["date"],
        "rounds": rounds, "inner": inner, "warmup": 3, "split_dtype": "bfloat16",
        "block_dtype": "float32", "block_rounds": block_rounds,
        "results": results + [block],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(abtest.experiment_table(record["results"]).round(3).to_string(index=False))
    print(f"load average {before['load_average']} -> {after['load_average']} on {os.cpu_count()} CPUs; "
          f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
