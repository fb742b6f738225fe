"""Regenerate ``llmperf/data/measurements/vidur_mlp.csv.gz`` from a checkout of microsoft/vidur.

Usage::

    python scripts/extract_vidur.py PATH_TO_VIDUR [--out llmperf/data/measurements/vidur_mlp.csv.gz]

``PATH_TO_VIDUR`` is a work tree (``git clone https://github.com/microsoft/vidur``)
or a bare repository (read with ``git show HEAD:...``). The script reads
``data/profiling/compute/{a100,h100}/{model}/mlp.csv`` (Vidur's per-operator
profiles, MIT licence, see ``VIDUR_LICENSE``) for every model of
``llmperf.gpucal.MODELS`` that Vidur profiled on that device, and keeps, for
every row and in the file's order, the device, the model, the tensor parallel
degree, the number of tokens and the **median** time of each operator of one
decoder layer, in milliseconds as Vidur records them. Nothing else is changed:
the duplicated rows Vidur's token grid has (2048 and 4096 tokens) are kept.

Not extracted: ``microsoft/phi-2`` (a different layer: LayerNorm with bias, an
ungated GELU MLP, attention and MLP in parallel, so its operators do not map
onto the nine below), and every ``attention.csv`` (stored in Git LFS, absent
from the snapshot this was made from). Vidur's commit is printed; write it into
``VIDUR_LICENSE``'s header and ``llmperf.gpucal.VIDUR_COMMIT`` when it changes.
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys

import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from llmperf.gpucal import DEVICES, MODELS, OPS  # noqa: E402

PATH = "data/profiling/compute/{device}/{model}/mlp.csv"


def _read(repo: str, rel: str) -> str | None:
    if os.path.isfile(os.path.join(repo, rel)):
        with open(os.path.join(repo, rel)) as f:
            return f.read()
    r = subprocess.run(["git", "-C", repo, "show", f"HEAD:{rel}"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def commit(repo: str) -> str:
    return subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def extract(repo: str) -> pd.DataFrame:
    frames = []
    for device in DEVICES:
        for model in MODELS:
            text = _read(repo, PATH.format(device=device, model=model))
            if text is None:  # Vidur did not profile this model on this device
                continue
            raw = pd.read_csv(io.StringIO(text))
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
                                                  "measurements", "vidur_mlp.csv.gz"))
    a = ap.parse_args(argv)
    df = extract(a.vidur)
    # mtime=0: the same rows give the same bytes
    df.to_csv(a.out, index=False, float_format="%.10g", compression={"method": "gzip", "mtime": 0})
    print(f"{len(df)} rows from vidur {commit(a.vidur)} -> {os.path.normpath(a.out)}")
    print(df.groupby(["device", "model"]).size().to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
