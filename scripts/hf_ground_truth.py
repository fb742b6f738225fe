#!/usr/bin/env python3
"""Ground truth for the model catalog, measured with the real Hugging Face code.

What it measures
----------------
For every model config in ``llmperf/data/models/<slug>.json`` (a copy of the
model's public ``config.json``) this script builds the model with the real
``transformers`` modeling code on ``torch.device("meta")`` (no weights, no
memory, seconds even for 70B models) and records:

* exact parameter counts from ``model.named_parameters()``:
  ``params_total`` (unique parameters, so a tied embedding / LM head is counted
  once), ``params_embedding`` (input embedding table), ``params_lm_head``
  (0 when tied), ``params_experts`` (parameters of the routed-expert modules,
  0 for dense models) and ``params_active`` (= total - experts
  + top_k / num_experts * experts; equal to total for dense models);
* forward-pass FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode``
  for three workloads at batch 1:
  - prefill of T=128 and of T=1024 tokens: a plain ``model(input_ids)``, which
    computes logits for every position;
  - one decode step: a ``DynamicCache`` already holding 128 positions (filled
    by an uncounted meta forward of 128 tokens), then a forward of 1 token,
    which attends 129 keys.
  For each workload: ``flops_total``, ``flops_lm_head`` (module ``lm_head``),
  ``flops_attention_core`` (the QK^T and scores x V matmuls: the FLOPs inside
  each ``self_attn`` module minus those of its child modules, i.e. of the
  q/k/v/o or qkv/o projections), ``flops_experts`` (inside the routed-expert
  modules) and ``flops_by_op`` ({aten op: FLOPs} from the global counts).

Two further sections, recomputed on every run (seconds):

* ``layer_cases``: tiny configs of every family whose layer pattern depends on
  interacting fields (sliding windows, chunks, NoPE and MoE layers, q/k/v
  biases), run for real on the CPU; for each layer, how many keys each query
  position attends (nonzero attention probabilities);
* ``saved_configs``: each catalog config as transformers 5 writes it back
  (``to_json_string(use_diff=False)``), to check llmperf reads those the same.

Multimodal wrappers (gemma3, llama4) are measured on their text model
(``text_config``), which is what llmperf models.

Conventions (also written into the fixture)
-------------------------------------------
* Only matmul-like aten ops are counted (mm, addmm, bmm, ...), at 2 FLOPs per
  multiply-accumulate; bias additions are not counted.
* Attention runs with ``attn_implementation="eager"``: the score matrix is the
  full T x S square (no causal halving) and grouped-query K/V heads are
  repeated to every query head, so both attention matmuls cost
  2 * B * n_heads * T * S * head_dim each. Sliding windows are masks in eager
  mode and do not reduce the counted FLOPs (and all lengths here are shorter
  than every window in the catalog).
* Norms, softmax, activations, RoPE, residual adds, the embedding lookup, MoE
  top-k / softmax routing and the weighted sum of expert outputs are not
  counted. The MoE router's gate Linear is a matmul and is counted
  (2 * T * hidden * num_experts per MoE layer).
* MoE experts run with ``experts_implementation="batched_mm"`` (the default
  grouped_mm kernel is invisible to the counter): each (token, expert) pair
  multiplies against its selected expert, i.e.
  2 * T * top_k * 3 * hidden * moe_intermediate per MoE layer, as aten.bmm.

Usage
-----
    .venv-gt/bin/python scripts/hf_ground_truth.py            # all models
    .venv-gt/bin/python scripts/hf_ground_truth.py --models llama-2-7b mixtral-8x7b

With ``--models`` the listed entries are recomputed and merged into the
existing fixture. A model that fails is reported and skipped (its previous
entry is kept only if its config is unchanged); the exit status is then 1.
The environment is pinned in ``requirements-groundtruth.txt``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
import traceback
from pathlib import Path

import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoConfig, AutoModelForCausalLM

REPO = Path(__file__).resolve().parent.parent
CATALOG_DIR = REPO / "llmperf" / "data" / "models"
FIXTURE = REPO / "tests" / "fixtures" / "hf_ground_truth.json"

BATCH = 1
PREFILL_TOKENS = (128, 1024)
DECODE_PAST_TOKENS = 128

CONVENTIONS = (
    "Forward-pass FLOPs counted by torch.utils.flop_counter.FlopCounterMode on meta tensors with the real "
    "transformers modeling code; only matmul-like aten ops are counted (mm/addmm/bmm), 2 FLOPs per "
    "multiply-accumulate, bias adds not counted. Attention is attn_implementation='eager': QK^T and "
    "scores x V each cost 2*B*n_heads*T*S*head_dim over the full T x S score square (no causal halving; "
    "GQA K/V heads are repeated to every query head; sliding-window masks do not reduce the count, and "
    "every length here is below every window in the catalog). Prefill is a plain model(input_ids) at "
    "batch 1, so the LM head computes logits for every position (2*B*T*hidden*vocab). The decode step "
    "is one new token on a DynamicCache already holding past_tokens positions, so it attends past+1 "
    "keys and the LM head runs on 1 token. Not counted: norms, softmax, activations, RoPE, residual "
    "adds, the embedding lookup, MoE top-k/softmax routing and the weighted sum of expert outputs; the "
    "MoE router gate Linear is a matmul and is counted (2*T*hidden*num_experts per MoE layer, inside "
    "flops_total but outside flops_experts). MoE experts use experts_implementation='batched_mm' "
    "(the default grouped_mm is invisible to the counter): 2*T*top_k*3*hidden*moe_intermediate per MoE "
    "layer as aten.bmm, reported in flops_experts. flops_attention_core = FLOPs inside each self_attn "
    "module minus those of its child modules (the q/k/v/o or qkv/o projections). params_total counts "
    "unique parameters (a tied embedding/LM head once); params_lm_head is 0 when tied; params_experts "
    "are the routed-expert weights; params_active = total - experts + top_k/num_experts*experts "
    "(= total for dense models). Multi-head latent attention (DeepSeek): transformers re-expands every cached latent "
    "through kv_b_proj at each step (inside flops_total, outside flops_attention_core), and the attention core "
    "costs 2*B*n_heads*T*S*(qk_nope+qk_rope) + 2*B*n_heads*T*S*v_head_dim. Sliding-window and chunked layers: the "
    "decode step sees the window - 1 (or chunk - 1) positions transformers' cache keeps plus the new token. "
    "Llama-4: transformers multiplies every token by all num_local_experts experts (scores of unpicked experts are "
    "zero), so its flops_experts are for E experts per token (experts_per_token_in_hf_forward). Multimodal "
    "wrappers (gemma3, llama4) are measured on their text model (text_config). layer_cases: tiny configs run for "
    "real on the CPU; keys_per_query[layer][position] is how many keys got nonzero attention probability."
)


def catalog_slugs() -> list[str]:
    return sorted(p.stem for p in CATALOG_DIR.glob("*.json") if p.stem != "index")


def load_index() -> dict:
    path = CATALOG_DIR / "index.json"
    return json.loads(path.read_text()) if path.exists() else {}


#: Multimodal wrappers: llmperf models their text model, which lives in ``text_config``.
WRAPPERS = {"gemma3": "gemma3_text", "llama4": "llama4_text"}


def build_config(cfg: dict):
    """Turn a published config.json dict into the transformers config object (of the text model for a
    multimodal wrapper such as gemma3 or llama4: its ``text_config``)."""
    cfg = dict(cfg)
    if cfg.get("model_type") in WRAPPERS:
        outer = cfg
        cfg = dict(outer["text_config"])
        cfg.setdefault("model_type", WRAPPERS[outer["model_type"]])
        if "tie_word_embeddings" in outer and "tie_word_embeddings" not in cfg:
            cfg["tie_word_embeddings"] = outer["tie_word_embeddings"]
    # Remote-code pointers (Phi-3) are irrelevant: the class is in transformers.
    cfg.pop("auto_map", None)
    model_type = cfg.pop("model_type")
    return AutoConfig.for_model(model_type, **cfg)


def experts_run_dense(config) -> bool:
    """Llama-4's transformers code multiplies every token by every expert (scores of unpicked
    experts are zero): its counted expert FLOPs are for num_local_experts experts per token."""
    return config.model_type == "llama4_text"


def is_moe(config) -> bool:
    return bool(getattr(config, "num_experts", None) or getattr(config, "num_local_experts", None)
                or getattr(config, "n_routed_experts", None))


def moe_counts(config) -> tuple[int, int]:
    num_experts = (getattr(config, "num_experts", None) or getattr(config, "num_local_experts", None)
                   or getattr(config, "n_routed_experts"))
    return int(config.num_experts_per_tok), int(num_experts)


def build_model(config):
    kwargs = {"attn_implementation": "eager"}
    if is_moe(config) and not experts_run_dense(config):
        # The default grouped_mm experts kernel is invisible to FlopCounterMode.
        kwargs["experts_implementation"] = "batched_mm"
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=False, **kwargs)
    model.eval()
    if is_moe(config) and not experts_run_dense(config):
        got = getattr(model.config, "_experts_implementation", None)
        if got != "batched_mm":
            raise RuntimeError(f"experts implementation is {got!r}, expected 'batched_mm'")
    got_attn = getattr(model.config, "_attn_implementation", None)
    if got_attn != "eager":
        raise RuntimeError(f"attention implementation is {got_attn!r}, expected 'eager'")
    return model


EXPERT_PARAM = re.compile(r"(^|\.)experts\.")


def count_params(model, config) -> dict:
    total = 0
    experts = 0
    for name, p in model.named_parameters(remove_duplicate=True):
        total += p.numel()
        if EXPERT_PARAM.search(name):
            experts += p.numel()
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    tied = head is emb
    params = {
        "params_total": int(total),
        "params_embedding": int(emb.numel()),
        "params_lm_head": 0 if tied else int(head.numel()),
        "params_experts": int(experts),
    }
    if is_moe(config):
        top_k, num_experts = moe_counts(config)
        if experts == 0:
            raise RuntimeError("MoE config but no parameter under an 'experts' module")
        if (experts * top_k) % num_experts:
            raise RuntimeError("active expert parameters are not an integer")
        params["params_active"] = int(total - experts + experts * top_k // num_experts)
    else:
        if experts:
            raise RuntimeError("dense config but parameters under an 'experts' module")
        params["params_active"] = int(total)
    return params


def resolved_fields(model, config) -> dict:
    """Architecture facts as the HF classes resolve them (defaults the JSON omits)."""
    attn = model.model.layers[0].self_attn
    qkv_bias = any(
        getattr(getattr(attn, n, None), "bias", None) is not None for n in ("q_proj", "k_proj", "v_proj", "qkv_proj")
    )
    o_bias = getattr(attn.o_proj, "bias", None) is not None
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rope = getattr(config, "rope_parameters", None) or {}
    rope_theta = rope.get("rope_theta", getattr(config, "rope_theta", None))
    act = getattr(config, "hidden_activation", None) or config.hidden_act
    return {
        "head_dim": int(head_dim),
        "hidden_act": act,
        "num_key_value_heads": int(config.num_key_value_heads),
        "o_proj_bias": bool(o_bias),
        "qkv_bias": bool(qkv_bias),
        "rope_theta": float(rope_theta) if rope_theta is not None else None,
        "sliding_window": getattr(config, "sliding_window", None),
        "tie_word_embeddings": model.get_output_embeddings().weight is model.get_input_embeddings().weight,
    }


def _module_total(counts: dict) -> int:
    return int(sum(counts.values()))


def summarize(counter: FlopCounterMode) -> dict:
    by_module = counter.get_flop_counts()
    totals = {name: _module_total(ops) for name, ops in by_module.items()}
    names = list(totals)

    def children(parent: str) -> list[str]:
        prefix = parent + "."
        return [n for n in names if n.startswith(prefix) and "." not in n[len(prefix):]]

    lm_head = sum(v for n, v in totals.items() if n.endswith(".lm_head"))
    attn_core = 0
    attn_modules = [n for n in names if n.endswith(".self_attn")]
    for name in attn_modules:
        attn_core += totals[name] - sum(totals[c] for c in children(name))
    experts = sum(v for n, v in totals.items() if n.endswith(".experts"))
    glob = by_module["Global"]
    by_op = {str(op): int(v) for op, v in sorted(glob.items(), key=lambda kv: str(kv[0]))}
    return {
        "flops_total": int(counter.get_total_flops()),
        "flops_lm_head": int(lm_head),
        "flops_attention_core": int(attn_core),
        "flops_experts": int(experts),
        "flops_by_op": by_op,
        "_attention_modules": len(attn_modules),
    }


def count_forward(model, **inputs) -> tuple[dict, object]:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(**inputs)
    return summarize(counter), out


def measure(model, config) -> dict:
    n_layers = config.num_hidden_layers
    result = {"prefill": []}
    for tokens in PREFILL_TOKENS:
        ids = torch.zeros(BATCH, tokens, dtype=torch.long, device="meta")
        stats, out = count_forward(model, input_ids=ids)
        if tuple(out.logits.shape) != (BATCH, tokens, config.vocab_size):
            raise RuntimeError(f"prefill logits shape {tuple(out.logits.shape)}")
        if stats.pop("_attention_modules") != n_layers:
            raise RuntimeError("did not find one self_attn module per layer")
        result["prefill"].append({"batch": BATCH, "tokens": tokens, **stats})

    # Decode: fill a cache with an uncounted forward, then count one new token.
    ids = torch.zeros(BATCH, DECODE_PAST_TOKENS, dtype=torch.long, device="meta")
    with torch.no_grad():
        past = model(input_ids=ids, use_cache=True).past_key_values
    if past.get_seq_length() != DECODE_PAST_TOKENS:
        raise RuntimeError(f"cache holds {past.get_seq_length()} positions")
    new = torch.zeros(BATCH, 1, dtype=torch.long, device="meta")
    stats, out = count_forward(model, input_ids=new, past_key_values=past, use_cache=True)
    if tuple(out.logits.shape) != (BATCH, 1, config.vocab_size):
        raise RuntimeError(f"decode logits shape {tuple(out.logits.shape)}")
    if out.past_key_values.get_seq_length() != DECODE_PAST_TOKENS + 1:
        raise RuntimeError("decode step did not append exactly one position")
    if stats.pop("_attention_modules") != n_layers:
        raise RuntimeError("did not find one self_attn module per layer")
    result["decode"] = {"batch": BATCH, "past_tokens": DECODE_PAST_TOKENS, "tokens": 1, **stats}
    return result


def _layer_span(config, layer: int):
    """Keys a layer's cache keeps beyond the new tokens: its sliding window or chunk size (None: all)."""
    types = getattr(config, "layer_types", None)
    if not types:
        w = getattr(config, "sliding_window", None)
        return w or None
    t = types[layer]
    if t == "sliding_attention":
        return config.sliding_window or None
    if t == "chunked_attention":
        return config.attention_chunk_size
    return None


def check_invariants(slug: str, config, entry: dict, model) -> None:
    """Cheap closed-form checks of what the counter reported."""
    heads = config.num_attention_heads
    if getattr(config, "kv_lora_rank", None):  # MLA: query/key heads of nope + rope dims, value heads of v dims
        qk_dim, v_dim = config.qk_nope_head_dim + config.qk_rope_head_dim, config.v_head_dim
    else:
        qk_dim = v_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    layers = config.num_hidden_layers
    hidden = config.hidden_size
    vocab = config.vocab_size
    cases = [(p["tokens"], 0, p) for p in entry["prefill"]]
    d = entry["decode"]
    cases.append((1, d["past_tokens"], d))
    for t, past, rec in cases:
        want_attn = 0
        for i in range(layers):
            span = _layer_span(config, i)
            # a sliding (or chunked) cache keeps span - 1 past tokens; the step sees those plus the new ones
            s = past + t if span is None or past == 0 else min(past, span - 1) + t
            want_attn += 2 * BATCH * heads * t * s * (qk_dim + v_dim)
        if rec["flops_attention_core"] != want_attn:
            raise RuntimeError(f"{slug}: attention core {rec['flops_attention_core']} != {want_attn}")
        want_head = 2 * BATCH * t * hidden * vocab
        if rec["flops_lm_head"] != want_head:
            raise RuntimeError(f"{slug}: lm_head {rec['flops_lm_head']} != {want_head}")
        if sum(rec["flops_by_op"].values()) != rec["flops_total"]:
            raise RuntimeError(f"{slug}: flops_by_op does not sum to flops_total")
        if is_moe(config):
            top_k, num_experts = moe_counts(config)
            per_token = num_experts if experts_run_dense(config) else top_k
            want_exp = 0
            for name, mod in model.named_modules():
                if name.endswith(".experts"):  # gate_up and down weights: 3 * hidden * width per expert
                    weights = sum(p.numel() for n, p in mod.named_parameters() if not n.endswith("bias"))
                    want_exp += 2 * BATCH * t * per_token * weights // num_experts
            if rec["flops_experts"] != want_exp:
                raise RuntimeError(f"{slug}: experts {rec['flops_experts']} != {want_exp}")


def run_model(slug: str, index: dict) -> dict:
    path = CATALOG_DIR / f"{slug}.json"
    raw = path.read_bytes()
    config = build_config(json.loads(raw))
    model = build_model(config)
    entry = {
        "config_sha256": hashlib.sha256(raw).hexdigest(),
        "hf_id": index.get(slug, {}).get("hf_id"),
        "model_type": config.model_type,
        "architecture": type(model).__name__,
        "hf_resolved": resolved_fields(model, config),
    }
    entry.update(count_params(model, config))
    entry.update(measure(model, config))
    if experts_run_dense(config):  # what the counter saw, and what a routed forward runs
        entry["experts_per_token_in_hf_forward"] = moe_counts(config)[1]
        entry["experts_per_token_routed"] = moe_counts(config)[0]
    check_invariants(slug, config, entry, model)
    return entry


# Small configs whose per-layer attention pattern (sliding window, chunk, RoPE) and q/k/v biases the
# transformers code resolves from fields that interact (use_sliding_window, max_window_layers,
# layer_types, sliding_window_pattern, no_rope_layers, qkv_bias ...). Each is run for real on the CPU
# (tiny random weights, eager attention): the attention probabilities show which keys each query
# position of each layer attends, whatever code path decides it.
CASE_TOKENS = 20
_SMALL = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, vocab_size=128, intermediate_size=32,
              head_dim=16)
_MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16)
LAYER_CASES = {
    "qwen2 sliding from max_window_layers": dict(model_type="qwen2", num_hidden_layers=4, use_sliding_window=True,
                                                 sliding_window=6, max_window_layers=2),
    "qwen3 layer_types, sliding on": dict(model_type="qwen3", num_hidden_layers=4, sliding_window=6,
                                          use_sliding_window=True,
                                          layer_types=["sliding_attention", "full_attention"] * 2),
    "qwen2_moe sliding on": dict(model_type="qwen2_moe", num_hidden_layers=6, use_sliding_window=True,
                                 sliding_window=6, max_window_layers=3, shared_expert_intermediate_size=16, **_MOE),
    "qwen2_moe sliding off, window 0, no qkv bias": dict(model_type="qwen2_moe", num_hidden_layers=4,
                                                         use_sliding_window=False, sliding_window=0,
                                                         qkv_bias=False, shared_expert_intermediate_size=16,
                                                         **_MOE),
    "qwen3_moe sliding on": dict(model_type="qwen3_moe", num_hidden_layers=4, use_sliding_window=True,
                                 sliding_window=6, max_window_layers=2, **_MOE),
    "qwen3_moe sliding off": dict(model_type="qwen3_moe", num_hidden_layers=4, sliding_window=6, **_MOE),
    "gemma2 default pattern": dict(model_type="gemma2", num_hidden_layers=5, sliding_window=6),
    "gemma3_text sliding_window_pattern 3": dict(model_type="gemma3_text", num_hidden_layers=7, sliding_window=6,
                                                 sliding_window_pattern=3),
    "gemma3_text default pattern": dict(model_type="gemma3_text", num_hidden_layers=13, sliding_window=6),
    "gpt_oss default pattern": dict(model_type="gpt_oss", num_hidden_layers=5, sliding_window=6,
                                    num_local_experts=4, num_experts_per_tok=2),
    "phimoe window": dict(model_type="phimoe", num_hidden_layers=3, sliding_window=6, num_local_experts=4,
                          num_experts_per_tok=2),
    "llama4_text chunks, NoPE, interleaved MoE": dict(model_type="llama4_text", num_hidden_layers=8,
                                                      num_local_experts=4, num_experts_per_tok=1,
                                                      intermediate_size_mlp=48, attention_chunk_size=8,
                                                      interleave_moe_layer_step=2),
}


def layer_case(cfg: dict) -> dict:
    """Per layer: keys each query position attends (a real forward), RoPE, experts; q/k/v biases."""
    config = build_config(cfg)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    ids = torch.arange(CASE_TOKENS).unsqueeze(0) % config.vocab_size
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True, use_cache=False)
    keys, nope, moe = [], [], []
    for i, (layer, probs) in enumerate(zip(model.model.layers, out.attentions)):
        keys.append([int(k) for k in (probs[0, 0] > 0).sum(-1)])  # head 0: keys with nonzero probability
        if not getattr(layer.self_attn, "use_rope", True):
            nope.append(i)
        ff = getattr(layer, "feed_forward", None) or layer.mlp
        if any(n.startswith("experts.") for n, _ in ff.named_parameters()):
            moe.append(i)
    attn = model.model.layers[0].self_attn
    return {"config": cfg, "tokens": CASE_TOKENS, "keys_per_query": keys, "nope_layers": nope,
            "moe_layers": moe, "qkv_bias": attn.q_proj.bias is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", metavar="SLUG", help="only these catalog slugs (merged into the fixture)")
    parser.add_argument("--output", type=Path, default=FIXTURE, help="fixture path (default: %(default)s)")
    args = parser.parse_args(argv)

    slugs = catalog_slugs()
    if args.models:
        unknown = sorted(set(args.models) - set(slugs))
        if unknown:
            parser.error(f"unknown slugs: {', '.join(unknown)} (catalog: {', '.join(slugs)})")
        selected = sorted(set(args.models))
    else:
        selected = slugs

    previous = {}
    if args.output.exists():
        try:
            old = json.loads(args.output.read_text())
            previous = old.get("models", {})
            if old.get("torch") != torch.__version__ or old.get("transformers") != transformers.__version__:
                print(
                    f"note: existing fixture was made with torch {old.get('torch')} / transformers "
                    f"{old.get('transformers')}; now torch {torch.__version__} / transformers {transformers.__version__}",
                    file=sys.stderr,
                )
        except (OSError, ValueError) as exc:
            print(f"warning: could not read existing fixture: {exc}", file=sys.stderr)

    index = load_index()
    models = {}
    if args.models:
        models = {s: e for s, e in previous.items() if s in slugs and s not in selected}
    failures = []
    for slug in selected:
        start = time.time()
        try:
            models[slug] = run_model(slug, index)
            e = models[slug]
            print(
                f"{slug:16s} params_total={e['params_total']:>15,d} params_active={e['params_active']:>15,d} "
                f"prefill128={e['prefill'][0]['flops_total']:.4e} decode={e['decode']['flops_total']:.4e} "
                f"({time.time() - start:.1f}s)",
                flush=True,
            )
        except Exception as exc:  # keep going; report at the end
            failures.append(slug)
            print(f"{slug}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            traceback.print_exc()
            old = previous.get(slug)
            sha = hashlib.sha256((CATALOG_DIR / f"{slug}.json").read_bytes()).hexdigest()
            if old and old.get("config_sha256") == sha:
                models[slug] = old
                print(f"{slug}: keeping the previous entry (config unchanged)", file=sys.stderr)

    fixture = {
        "generated_by": "scripts/hf_ground_truth.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "conventions": CONVENTIONS,
        "workloads": {
            "batch": BATCH,
            "prefill_tokens": list(PREFILL_TOKENS),
            "decode_past_tokens": DECODE_PAST_TOKENS,
        },
        "models": dict(sorted(models.items())),
        "layer_cases": {k: layer_case({**_SMALL, **v}) for k, v in LAYER_CASES.items()},
        # each catalog config as transformers 5 saves it (config.to_json_string(use_diff=False)): every
        # default written out, derived fields (layer_types, qk_head_dim ...) included
        "saved_configs": {slug: json.loads(build_config(json.loads((CATALOG_DIR / f"{slug}.json").read_text()))
                                           .to_json_string(use_diff=False)) for slug in slugs},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.output} ({len(models)} models)")
    if failures:
        print(f"FAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
