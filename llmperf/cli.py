"""Command line: ``python -m llmperf analyze | sweep | report | models | hardware``.

Bad input (unknown model or device, malformed config, impossible sizes) ends
with exit status 2 and one line on stderr that says what to change.
"""
from __future__ import annotations

import argparse
import json
import sys

from .dtypes import DTYPE_BYTES


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2, no usage dump
        raise _UsageError(f"{self.prog}: {message} (see --help)")


class _UsageError(Exception):
    pass


def _workload_arguments(a) -> None:
    """The model, device, workload and convention flags that `analyze` and `report` share."""
    a.add_argument("--model", required=True, help="catalog name (see `models`) or path to a config.json")
    a.add_argument("--hardware", required=True, help="catalog name (see `hardware`) or path to a JSON/YAML device file")
    a.add_argument("--batch", type=int, default=1)
    a.add_argument("--prompt-len", type=int, default=1024)
    a.add_argument("--gen-len", type=int, default=128, help="generated tokens (prefill makes the first)")
    dts = sorted(DTYPE_BYTES)
    a.add_argument("--weight-dtype", default=None,
                   help=f"one of {', '.join(dts)}, or a weight format such as int4-g128, fp8-block128x128, mxfp4, "
                        "nf4-b64 (default: the config's quantization_config, else bf16)")
    a.add_argument("--act-dtype", default="bf16", help="activation dtype (also the compute dtype)")
    a.add_argument("--kv-dtype", default=None, help="KV cache dtype (default: activation dtype)")
    a.add_argument("--compute-dtype", default=None, help="dtype whose peak is used (default: activation dtype)")
    a.add_argument("--tp", type=int, default=1, help="tensor-parallel devices")
    a.add_argument("--pp", type=int, default=1, help="pipeline-parallel stages")
    a.add_argument("--ep", type=int, default=1, help="expert-parallel devices (data-parallel attention)")
    a.add_argument("--attention-flops", choices=["causal", "full"], default="causal")
    a.add_argument("--logits", choices=["last", "all"], default="last")
    a.add_argument("--flash-attention", choices=["on", "off"], default="on")
    a.add_argument("--tied-embeddings", choices=["once", "twice"], default="once")
    a.add_argument("--decode-kv", choices=["inclusive", "exclusive"], default="inclusive")
    a.add_argument("--mla", choices=["absorbed", "expanded"], default="absorbed",
                   help="MLA decode: attention in the latent space (serving engines) or re-expanded keys/values")
    a.add_argument("--compute-efficiency", type=float, default=1.0)
    a.add_argument("--memory-efficiency", type=float, default=1.0)
    a.add_argument("--comm-efficiency", type=float, default=1.0)
    a.add_argument("--memory-fraction", type=float, default=1.0, help="share of device memory usable")
    a.add_argument("--allow-unknown-fields", action="store_true",
                   help="silence the warnings for config.json fields llmperf does not know, and ignore "
                        "cost-changing fields it does not model (at your own risk: the result says so)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="llmperf", description="Roofline analysis of LLM inference: per-operator FLOPs, bytes, "
                "time, memory, TTFT, TPOT and max batch for any Hugging Face config on any device.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    a = sub.add_parser("analyze", help="analyse prefill and decode of a model on a device")
    _workload_arguments(a)
    a.add_argument("--json", action="store_true", help="print one JSON object (SI units)")
    sw = sub.add_parser("sweep", help="step time over a batch x context grid (batch across the columns)")
    sw.add_argument("--model", required=True)
    sw.add_argument("--hardware", required=True)
    sw.add_argument("--batch", default="1,4,16,64,256", help="comma-separated batch sizes")
    sw.add_argument("--context", default="1024,4096,16384", help="comma-separated cached tokens (prompt tokens for prefill)")
    sw.add_argument("--phase", choices=["decode", "prefill"], default="decode")
    sw.add_argument("--metric", choices=["time_s", "tokens_per_s", "bound", "intensity"], default="tokens_per_s")
    for flag in ("--weight-dtype", "--act-dtype", "--kv-dtype"):
        sw.add_argument(flag, default=None)
    sw.add_argument("--tp", type=int, default=1)
    sw.add_argument("--pp", type=int, default=1)
    sw.add_argument("--ep", type=int, default=1)
    sw.add_argument("--memory-fraction", type=float, default=1.0, help="share of device memory usable")
    sw.add_argument("--json", action="store_true", help="print the long table as JSON records (SI units)")
    r = sub.add_parser("report", help="write a self-contained offline HTML report of one workload")
    _workload_arguments(r)
    r.add_argument("--out", required=True, help="HTML file to write")
    r.add_argument("--rates", default=None,
                   help="comma-separated arrival rates (requests/s): add the continuous-batching serving section")
    m = sub.add_parser("models", help="list the model catalog")
    m.add_argument("--json", action="store_true")
    h = sub.add_parser("hardware", help="list the hardware catalog")
    h.add_argument("--json", action="store_true")
    return p


def _workload(args) -> dict:
    """Keyword arguments of :func:`llmperf.analyze` from the shared workload flags."""
    return dict(weight_dtype=args.weight_dtype, act_dtype=args.act_dtype, kv_dtype=args.kv_dtype,
                  compute_dtype=args.compute_dtype, tp=args.tp, pp=args.pp, ep=args.ep,
                  compute_efficiency=args.compute_efficiency,
                  memory_efficiency=args.memory_efficiency, comm_efficiency=args.comm_efficiency,
                  memory_fraction=args.memory_fraction, attention_flops=args.attention_flops,
                  logits=args.logits, flash_attention=args.flash_attention == "on",
                  tied_embeddings=args.tied_embeddings, decode_kv=args.decode_kv, mla=args.mla)


def _analyze(args) -> str:
    from .analysis import analyze
    from .models import load_model
    model = load_model(args.model, allow_unknown=args.allow_unknown_fields)
    res = analyze(model, args.hardware, args.batch, args.prompt_len, args.gen_len, **_workload(args))
    if args.json:
        return json.dumps(res.to_dict(), indent=1, allow_nan=False)
    return res.report()


#: Most values one --batch or --context list of `sweep` may hold on the command line.
MAX_LIST = 1000


def _report(args) -> str:
    from .htmlreport import write_report
    from .models import load_model
    model = load_model(args.model, allow_unknown=args.allow_unknown_fields)
    rates = None
    if args.rates:
        rates = []
        for x in args.rates.split(","):
            try:
                v = float(x)
            except ValueError:
                raise ValueError(f"--rates: {x.strip()!r} is not a number of requests per second") from None
            if not 0 < v < 1e9:
                raise ValueError(f"--rates: {x.strip()} must be a positive number of requests per second")
            rates.append(v)
    path = write_report(args.out, model, args.hardware, batch=args.batch, prompt_len=args.prompt_len,
                        gen_len=args.gen_len, serving_rates=rates, **_workload(args))
    return f"wrote {path}"


def _int_list(name, text) -> list[int]:
    items = [x for x in text.split(",") if x.strip()]
    if not items:
        raise ValueError(f"--{name} must be comma-separated integers, got {text[:60]!r}")
    if len(items) > MAX_LIST:
        raise ValueError(f"--{name} lists {len(items)} values; the command line takes at most {MAX_LIST}")
    try:
        return [int(x) for x in items]
    except ValueError:
        raise ValueError(f"--{name} must be comma-separated integers, got {text[:60]!r}") from None


def _sweep(args) -> str:
    from .analysis import sweep
    opts = {k: v for k, v in (("weight_dtype", args.weight_dtype), ("act_dtype", args.act_dtype),
                              ("kv_dtype", args.kv_dtype)) if v is not None}
    df = sweep(args.model, args.hardware, _int_list("batch", args.batch), _int_list("context", args.context),
               phase=args.phase, tp=args.tp, pp=args.pp, ep=args.ep, memory_fraction=args.memory_fraction, **opts)
    if args.json:
        return json.dumps(df.to_dict(orient="records"), indent=1, allow_nan=False, default=_json_default)
    values = df[args.metric]
    if args.metric != "bound":
        values = values.map(lambda v: f"{v:,.4g}")
    df = df.assign(cell=values.where(df["fits"], values + " *"))
    table = df.pivot(index="context", columns="batch", values="cell")
    table.columns = [f"B={b}" for b in table.columns]
    unit = {"time_s": "step time (s)", "tokens_per_s": "tokens/s", "bound": "bound",
            "intensity": "intensity (FLOP/B)"}[args.metric]
    head = f"{args.phase} {unit} of {args.model} on {args.hardware}; rows: context (tokens); roofline lower bound"
    n_out = int((~df["fits"]).sum())
    foot = (f"* does not fit in memory ({n_out} of {len(df)} points): weights + KV cache + activations exceed "
            "the device" if n_out else "every point fits in memory")
    return head + "\n" + _table(table, False) + "\n" + foot


def _json_default(v):
    import numpy as np
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serializable: {type(v).__name__}")


def _table(df, as_json: bool) -> str:
    import pandas as pd
    if as_json:
        return df.reset_index().to_json(orient="records", indent=1)
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_colwidth", 40,
                           "display.max_rows", 500, "display.float_format", lambda v: f"{v:,.4g}"):
        return df.to_string()


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "analyze":
            out = _analyze(args)
        elif args.command == "sweep":
            out = _sweep(args)
        elif args.command == "report":
            out = _report(args)
        elif args.command == "models":
            from .models import list_models
            out = _table(list_models(), args.json)
        else:
            from .hardware import list_hardware
            out = _table(list_hardware(), args.json)
    except _UsageError as e:
        msg = str(e)
        print(msg if len(msg) <= 500 else msg[:497] + "...", file=sys.stderr)
        return 2
    except (ValueError, KeyError, OSError, ArithmeticError, RecursionError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if len(msg) > 500:  # a path or value as long as the command line: keep the line readable
            msg = msg[:497] + "..."
        print(f"llmperf: error: {msg}", file=sys.stderr)
        return 2
    try:
        print(out)
    except BrokenPipeError:  # e.g. piped into head
        pass
    return 0
