"""What llmperf accepts from users: files, config fields, numbers.

One policy for every input, so that each ends within bounded time and memory,
either with finite non-negative numbers or with one line naming the field or
file to change:

* **Files** (``config.json``, hardware JSON/YAML) must be regular files of at
  most :data:`MAX_FILE_BYTES`; a FIFO, a device such as ``/dev/zero`` or a
  link to one is refused before it is read. YAML anchors and aliases are
  refused (an "alias bomb" expands a few hundred bytes into gigabytes), and
  so is nesting deeper than the parsers handle.
* **Config fields** (:func:`check_config_fields`): a field llmperf reads or
  knows to be harmless is accepted; a field known to change the cost that
  llmperf does not model is an error unless it holds its neutral value; any
  other field is a *warning* carried in the result, not a refusal.
  Booleans must be JSON booleans (the string ``"false"`` is not false), and
  sizes must be integers within :data:`MAX_SIZE`.
* **quantization_config** (:func:`weight_format_from_quantization`) sets the
  weight storage, with its scales and zero points counted.
* **Workload numbers** (:func:`count`): batch, token counts and cache
  lengths are integers up to :data:`MAX_COUNT`.
"""
from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any, Mapping

import numpy as np

#: Largest config or hardware file read (bytes). Published config.json files are a few KiB.
MAX_FILE_BYTES = 4 * 2 ** 20
#: Largest model size field (hidden size, heads, vocabulary, widths ...).
MAX_SIZE = 2 ** 31 - 1
#: Most decoder layers a model may have (one window entry per layer is kept).
MAX_LAYERS = 100_000
#: Largest batch, token count or cache length of a workload (exact in float64 arithmetic).
MAX_COUNT = 2 ** 40


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages (never expands a huge value)."""
    try:
        if isinstance(value, (dict, list, tuple)) and len(value) > 8:
            r = f"<{type(value).__name__} of {len(value)} items>"
        else:
            r = repr(value)
    except (RecursionError, ValueError):  # deeply nested, or an int too long to print
        r = f"<{type(value).__name__}>"
    return r if len(r) <= limit else r[: limit - 3] + "..."


# --- files ----------------------------------------------------------------------

class InputFileError(ValueError):
    """A file that cannot be read safely or does not parse."""


def read_text_file(path: "str | os.PathLike", what: str = "file", max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of a regular file of at most ``max_bytes`` (:data:`MAX_FILE_BYTES`), or a one-line error."""
    path = Path(path)
    if len(str(path)) > 4096:
        raise InputFileError(f"{short(str(path), 80)}: {what} path is longer than 4096 characters")
    try:
        st = os.stat(path)  # follows links: a link to /dev/zero is a character device
    except OSError as e:
        raise InputFileError(f"{path}: cannot read {what} ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputFileError(f"{path}: {what} must be a regular file (not a FIFO, device or directory)")
    if st.st_size > max_bytes:
        raise InputFileError(f"{path}: {what} is {st.st_size} bytes; the limit is {max_bytes}")
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise InputFileError(f"{path}: cannot read {what} ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise InputFileError(f"{path}: {what} is larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{path}: {what} is not UTF-8 text ({e.reason} at byte {e.start})") from None


def parse_json(text: str, where: str) -> Any:
    """JSON text to Python, with one-line errors for bad syntax and for nesting too deep."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputFileError(f"{where} is not valid JSON: {e}") from None
    except RecursionError:
        raise InputFileError(f"{where}: JSON nested too deeply") from None
    except ValueError as e:  # e.g. an integer literal longer than Python converts
        raise InputFileError(f"{where} is not valid JSON: {short(str(e), 100)}") from None


def parse_yaml(text: str, where: str) -> Any:
    """YAML text to Python with the safe loader, refusing anchors/aliases and deep nesting."""
    import yaml

    class _NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.events.AliasEvent):
                raise yaml.YAMLError("YAML aliases (*name) are not allowed in hardware files")
            event = self.peek_event()
            if getattr(event, "anchor", None) is not None:
                raise yaml.YAMLError("YAML anchors (&name) are not allowed in hardware files")
            return super().compose_node(parent, index)

    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputFileError(f"{where}: not valid YAML: {short(first, 160)}") from None
    except RecursionError:
        raise InputFileError(f"{where}: YAML nested too deeply") from None
    except ValueError as e:
        raise InputFileError(f"{where}: not valid YAML: {short(str(e), 100)}") from None


def read_json_file(path, what="config.json") -> Any:
    return parse_json(read_text_file(path, what), str(path))


# --- numbers ----------------------------------------------------------------------

def count(name: str, v, *, minimum: int = 1, maximum: int = MAX_COUNT, error=ValueError):
    """``v`` as an integer (or array of integers) in ``[minimum, maximum]``; arrays stay arrays.

    Booleans, strings, NaN, infinities and fractions are errors naming ``name``.
    """
    kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
    if isinstance(v, (bool, np.bool_)):
        raise error(f"{name} must be {kind}, got {v!r}")
    if isinstance(v, int):
        if not minimum <= v <= maximum:
            raise error(f"{name} must be {kind} (at most {maximum}), got {short(v)}")
        return v
    if isinstance(v, float):
        if not (math.isfinite(v) and v == int(v) and minimum <= v <= maximum):
            raise error(f"{name} must be {kind} (at most {maximum}), got {short(v)}")
        return v
    try:
        a = np.asarray(v)
    except (ValueError, TypeError, OverflowError):
        raise error(f"{name} must be {kind} (or an array of them), got {short(v)}") from None
    if a.dtype.kind not in "iuf" or a.size == 0:
        raise error(f"{name} must be {kind} (or an array of them), got {short(v)}")
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(a) | (a < minimum) | (a > maximum) | (a != np.floor(a)) if a.dtype.kind == "f" else \
            (a < minimum) | (a > maximum)
    if np.any(bad):
        first = a.ravel()[np.argmax(bad.ravel())] if a.ndim else a
        raise error(f"{name} must be {kind} (at most {maximum}), got {short(first.item())}")
    return a if a.ndim else a.item()


def fraction(name: str, v, *, minimum: float = 1e-6, error=ValueError) -> float:
    """A share in ``[minimum, 1]`` (an efficiency or memory fraction) as a float."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise error(f"{name} must be a number in [{minimum:g}, 1], got {short(v)}")
    f = float(v)
    if not (math.isfinite(f) and minimum <= f <= 1):
        raise error(f"{name} must be a number in [{minimum:g}, 1], got {short(v)}")
    return f


# --- config fields -----------------------------------------------------------------

#: Fields that never change FLOPs, bytes or memory of inference, beyond those models.py reads.
HARMLESS_FIELDS = frozenset({
    "is_llama_config", "rope_interleaved", "transformers.js_config", "query_pre_attn_scalar",
    "attention_multiplier", "embedding_multiplier", "residual_multiplier", "logits_scaling",
    "rope_type", "rope_local_base_freq", "use_mrope", "model_name", "name_or_path", "quantization_config",
    "cache_implementation", "keys_to_ignore_at_inference", "base_model_tp_plan", "base_model_pp_plan",
    "classifier_dropout", "mlp_dropout", "embedding_dropout", "ffn_dropout", "summary_type",
    "num_labels", "chat_template", "license", "dtype", "torch_dtype", "gradient_checkpointing",
    "rope_scaling", "rope_parameters", "head_dim_original", "vocab_size_original", "sep_token",
    "pad_token", "unk_token", "mask_token_id", "image_token_id", "video_token_id",
})

#: Fields known to change the cost, with their neutral values and what they do. When one of them
#: holds a non-neutral value and the model family does not read it, the config is refused.
COST_CHANGING_FIELDS: dict[str, tuple[tuple, str]] = {
    "use_bidirectional_attention": ((None, False), "bidirectional attention (every query sees every key)"),
    "attn_logit_softcapping": ((None, 0, 0.0), "attention logit soft-capping"),
    "final_logit_softcapping": ((None, 0, 0.0), "final logit soft-capping"),
    "attention_chunk_size": ((None,), "chunked local attention"),
    "sliding_window_pattern": ((None,), "an interleaved sliding-window pattern"),
    "kv_lora_rank": ((None, 0), "multi-head latent attention (compressed KV)"),
    "q_lora_rank": ((None, 0), "low-rank query projection"),
    "qk_rope_head_dim": ((None, 0), "split rotary/non-rotary head dimensions"),
    "qk_nope_head_dim": ((None, 0), "split rotary/non-rotary head dimensions"),
    "v_head_dim": ((None,), "a value head size different from the key head size"),
    "n_routed_experts": ((None, 0), "routed experts"),
    "n_shared_experts": ((None, 0), "shared experts"),
    "first_k_dense_replace": ((None, 0), "dense first layers in a mixture of experts"),
    "moe_layer_freq": ((None, 1), "experts in every n-th layer"),
    "interleave_moe_layer_step": ((None, 1), "experts in every n-th layer"),
    "num_nextn_predict_layers": ((None, 0), "multi-token-prediction layers"),
    "cross_attention_layers": ((None, ()), "cross-attention layers"),
    "vision_config": ((None,), "a vision encoder"),
    "audio_config": ((None,), "an audio encoder"),
    "text_config": ((None,), "a nested text model config (pass its text_config instead)"),
    "altup_num_inputs": ((None,), "AltUp"),
    "laurel_rank": ((None,), "LAuReL"),
    "hidden_size_per_layer_input": ((None, 0), "per-layer inputs"),
    "linear_num_key_heads": ((None,), "linear attention layers"),
    "full_attention_interval": ((None,), "hybrid linear/full attention layers"),
    "num_kv_shared_layers": ((None, 0), "KV-cache sharing between layers"),
    "parallel_attn": ((None, False), "parallel attention and MLP blocks"),
    "use_parallel_residual": ((None, False), "parallel attention and MLP blocks"),
}

#: Fields that must be JSON booleans (or null, meaning the family's default) when present.
BOOL_FIELDS = frozenset({
    "tie_word_embeddings", "attention_bias", "mlp_bias", "use_sliding_window", "use_cache", "is_decoder",
    "norm_topk_prob", "use_qk_norm", "qk_layernorm", "use_mrope", "output_router_logits",
    "use_bidirectional_attention", "is_llama_config", "rope_interleaved", "tie_encoder_decoder",
    "is_encoder_decoder", "return_dict", "output_hidden_states", "output_attentions", "torchscript",
    "use_bfloat16", "add_cross_attention", "tf_legacy_loss", "do_sample", "early_stopping", "output_scores",
    "return_dict_in_generate", "remove_invalid_values", "parallel_attn", "use_parallel_residual",
})

#: Size fields: integers (JSON numbers with no fraction), 1 ..  MAX_SIZE unless listed otherwise.
SIZE_FIELDS: dict[str, tuple[int, int]] = {
    "hidden_size": (1, MAX_SIZE), "num_hidden_layers": (1, MAX_LAYERS), "num_attention_heads": (1, MAX_SIZE),
    "num_key_value_heads": (1, MAX_SIZE), "vocab_size": (1, MAX_SIZE), "intermediate_size": (1, MAX_SIZE),
    "head_dim": (1, MAX_SIZE), "num_experts": (0, MAX_SIZE), "num_local_experts": (0, MAX_SIZE),
    "num_experts_per_tok": (1, MAX_SIZE), "moe_intermediate_size": (1, MAX_SIZE),
    "shared_expert_intermediate_size": (0, MAX_SIZE), "sliding_window": (1, MAX_SIZE),
    "max_window_layers": (0, MAX_LAYERS), "decoder_sparse_step": (1, MAX_LAYERS),
}

#: Fields that must be strings when present.
STRING_FIELDS = frozenset({"model_type", "hidden_act", "hidden_activation", "_name_or_path"})


def _neutral(v, neutral: tuple) -> bool:
    if isinstance(v, (list, tuple)) and () in neutral:
        return len(v) == 0
    return any(v is n or (not isinstance(v, bool) and not isinstance(n, bool) and n is not None
                          and isinstance(v, (int, float)) and v == n) for n in neutral)


def check_config_fields(cfg: Mapping[str, Any], name: str, known: frozenset,
                        allow_unknown: bool = False) -> tuple[str, ...]:
    """Check a config.json dict's fields; return the warnings for fields llmperf does not know.

    Raises ``ValueError`` (one line, naming the field) for a malformed value or a
    cost-changing field llmperf does not model. ``known`` is what the model reader
    reads or knows to be harmless; ``allow_unknown`` silences the warnings only.
    """
    where = f"model {short(name, 80)}"
    for k, v in cfg.items():
        if not isinstance(k, str):
            raise ValueError(f"{where}: config field names must be strings, got {short(k)}")
        if k in BOOL_FIELDS and v is not None and not isinstance(v, bool):
            raise ValueError(f"{where}: field {k!r} must be a JSON boolean (true or false), got {short(v)}")
        if k in SIZE_FIELDS and v is not None:
            lo, hi = SIZE_FIELDS[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and (
                    not math.isfinite(v) or v != int(v))) or not lo <= v <= hi:
                raise ValueError(f"{where}: field {k!r} must be an integer in [{lo}, {hi}], got {short(v)}")
        if k in STRING_FIELDS and v is not None and not isinstance(v, str):
            raise ValueError(f"{where}: field {k!r} must be a string, got {short(v)}")
    lt = cfg.get("layer_types")
    if lt is not None and (not isinstance(lt, list) or not all(isinstance(t, str) for t in lt)):
        raise ValueError(f"{where}: field 'layer_types' must be a list of strings, got {short(lt)}")
    mol = cfg.get("mlp_only_layers")
    if mol is not None and (not isinstance(mol, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < MAX_LAYERS for i in mol)):
        raise ValueError(f"{where}: field 'mlp_only_layers' must be a list of layer indices, got {short(mol)}")
    warnings = []
    for k, v in cfg.items():
        if k in known or k in HARMLESS_FIELDS:
            continue
        if k in COST_CHANGING_FIELDS:
            neutral, what = COST_CHANGING_FIELDS[k]
            if not _neutral(v, neutral):
                msg = (f"field {k!r} = {short(v)} means {what}, which llmperf does not model for model_type "
                       f"{short(cfg.get('model_type'))}")
                if not allow_unknown:
                    raise ValueError(f"{where}: {msg}; its numbers would be wrong (allow_unknown=True, CLI "
                                     "--allow-unknown-fields, ignores it at your own risk)")
                warnings.append(f"{msg}: IGNORED at your request, so the numbers leave it out")
            continue
        if not allow_unknown:
            warnings.append(f"unrecognised config field {short(k, 80)} ignored (assumed not to change the cost)")
    return tuple(warnings)


# --- quantization_config ----------------------------------------------------------------

def weight_format_from_quantization(qc: Any, name: str, d_model: int) -> str:
    """The weight storage a ``quantization_config`` describes, as a weight-format name of :mod:`llmperf.dtypes`.

    fp8 (with its block scales), mxfp4, GPTQ and AWQ integer weights with their group
    size (fp16 scales and packed zero points counted), bitsandbytes 4-bit (NF4/FP4 with
    its fp32 or double-quantized absmax per 64 weights) and 8-bit (int8 with an fp32
    scale per row of ``d_model`` weights). Anything else is an error naming the method.
    """
    where = f"model {short(name, 80)}: quantization_config"
    if not isinstance(qc, Mapping):
        raise ValueError(f"{where} must be a JSON object, got {short(qc)}")
    method = qc.get("quant_method")
    if not isinstance(method, str):
        raise ValueError(f"{where} has no quant_method string (got {short(method)})")
    m = method.lower()

    def int_field(key, default, lo, hi):
        v = qc.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"{where}: {key} must be an integer in [{lo}, {hi}], got {short(v)}")
        return v

    def bool_field(key, default):
        v = qc.get(key, default)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ValueError(f"{where}: {key} must be a JSON boolean, got {short(v)}")
        return v

    if m == "fp8":
        block = qc.get("weight_block_size")
        if block is None:
            return "fp8"
        if (not isinstance(block, list) or len(block) != 2 or
                not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= MAX_SIZE for b in block)):
            raise ValueError(f"{where}: weight_block_size must be two positive integers, got {short(block)}")
        return f"fp8-block{block[0]}x{block[1]}"
    if m == "mxfp4":
        return "mxfp4"
    if m in ("gptq", "awq"):
        bits = int_field("bits", 4, 2, 8) if m == "gptq" else int_field("bits", qc.get("w_bit", 4), 2, 8)
        if bits not in (2, 3, 4, 8):
            raise ValueError(f"{where}: bits must be 2, 3, 4 or 8, got {bits}")
        g = qc.get("group_size", qc.get("q_group_size", 128))
        if isinstance(g, bool) or not isinstance(g, int) or not (g == -1 or 1 <= g <= MAX_SIZE):
            raise ValueError(f"{where}: group_size must be a positive integer or -1, got {short(g)}")
        if g == -1:
            g = d_model  # one group per row of input features (per-channel)
        zeros = True if m == "gptq" else bool_field("zero_point", True)
        return f"int{bits}-g{g}" + ("" if zeros else "-nozero")
    if m == "bitsandbytes":
        four, eight = bool_field("load_in_4bit", False), bool_field("load_in_8bit", False)
        if four == eight:
            raise ValueError(f"{where}: bitsandbytes needs exactly one of load_in_4bit and load_in_8bit true")
        if eight:
            return f"int8-row{d_model}"
        qt = qc.get("bnb_4bit_quant_type", "fp4")
        if qt not in ("nf4", "fp4"):
            raise ValueError(f"{where}: bnb_4bit_quant_type must be 'nf4' or 'fp4', got {short(qt)}")
        return f"{qt}-b64" + ("-dq" if bool_field("bnb_4bit_use_double_quant", False) else "")
    raise ValueError(f"{where}: quant_method {short(method)} is not modelled (known: fp8, mxfp4, gptq, awq, "
                     "bitsandbytes); pass the weight storage with --weight-dtype / weight_dtype=")
