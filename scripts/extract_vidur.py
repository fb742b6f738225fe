"""Regenerate ``llmperf/data/measurements/vidur_llama2_mlp.csv`` from a checkout of microsoft/vidur.

Usage::

    python scripts/extract_vidur.py PATH_TO_VIDUR [--out llmperf/data/measurements/vidur_llama2_mlp.csv]

``PATH_TO_VIDUR`` is a work tree (``git clone https://github.com/microsoft/vidur``)
or a bare repository (read with ``git show HEAD:...``). The script reads
``data/profiling/compute/{a100,h100}/meta-llama/Llama-2-{7b,70b}-hf/mlp.csv``
(Vidur's per-operator profiles, MIT licence, see ``VIDUR_LICENSE``) and keeps,
for every row and in the file's order, the device, the model, the tensor
parallel degree, the number of tokens and the **median** time of each operator
of one decoder layer, in milliseconds as Vidur records them. Nothing else is
changed: the duplicated rows Vidur's token grid has (2048 and 4096 tokens) are
kept. Vidur's commit is printed; write it into ``VIDUR_LICENSE``'s header and
``llmperf.gpucal.VIDUR_COMMIT`` when it changes.
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys

import pandas as pd

DEVICES = ("a100", "h100")
MODELS = ("meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-70b-hf")
#: Vidur's timer names of the operators of one decoder layer, in the order they run.
OPS = ("input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm",
       "mlp_up_proj", "mlp_act", "mlp_down_proj", "add")
PATH = "data/profiling/compute/{device}/{model}/mlp.csv"


def _read(repo: str, rel: str) -> str:
    if os.path.isfile(os.path.join(repo, rel)):
        with open(os.path.join(repo, rel)) as f:
            return f.read()
    return subprocess.run(["git", "-C", repo, "show", f"HEAD:{rel}"], check=True, capture_output=True,
                          text=True).stdout


def commit(repo: str) -> str:
    return subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def extract(repo: str) -> pd.DataFrame:
    frames = []
    for device in DEVICES:
        for model in MODELS:
            raw = pd.read_csv(io.StringIO(_read(repo, PATH.format(device=device, model=model))))
            out = pd.DataFrame({"device": device, "model": model,
                                "tp": raw["num_tensor_parallel_workers"].astype(int),
                                "num_tokens": raw["num_tokens"].astype(int)})
            for op in OPS:
                out[f"{op}_ms"] = raw[f"time_stats.{op}.median"].astype(float)
            frames.append(out)
    return pd.concat(frames, ignore_index=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vidur", help="path to a checkout (or bare repository) of microsoft/vidur")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "llmperf", "data",
                                                  "measurements", "vidur_llama2_mlp.csv"))
    a = ap.parse_args(argv)
    df = extract(a.vidur)
    df.to_csv(a.out, index=False, float_format="%.6g")
    print(f"{len(df)} rows from vidur {commit(a.vidur)} -> {os.path.normpath(a.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
