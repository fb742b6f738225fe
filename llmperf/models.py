"""Model architectures, read from Hugging Face ``config.json`` files.

:func:`load_model` turns a config (a catalog name, a path, or a dict) into a
frozen :class:`ModelConfig` that holds every quantity that changes the cost of
inference, in the book's notation (D, F, L, N, K, H, V, E, k). Parameter counts
follow the real Hugging Face modeling code exactly; ``tests/`` checks them
against the parameter counts of models built with ``transformers``.

Strictness: a missing size (``hidden_size``, ``num_hidden_layers`` ...) is an
error, never a silent default; so is a field llmperf does not know, because it
might change the cost (pass ``allow_unknown=True`` if you know it does not).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .dtypes import dtype_bytes

SUPPORTED_MODEL_TYPES = (
    "llama", "mistral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "mixtral", "gemma", "phi3",
)

#: FLOP per element charged for each activation function (a convention: the
#: count of arithmetic operations in a straightforward implementation).
ACTIVATION_FLOP_PER_ELEMENT = {
    "silu": 4.0,           # x / (1 + exp(-x)): neg, exp, add, div
    "swish": 4.0,
    "gelu": 8.0,           # erf form, counted like the tanh form
    "gelu_new": 8.0,
    "gelu_pytorch_tanh": 8.0,  # 0.5 x (1 + tanh(c (x + 0.044715 x^3)))
    "gelu_fast": 8.0,
    "relu": 1.0,
}

# Every field llmperf knows: the ones it reads, and the ones that do not change
# the FLOPs, bytes or memory of inference (token ids, RoPE base, dropout ...).
_KNOWN_FIELDS = frozenset({
    "_name_or_path", "architectures", "model_type", "transformers_version", "torch_dtype", "dtype",
    "bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id", "sep_token_id", "decoder_start_token_id",
    "max_position_embeddings", "original_max_position_embeddings", "rope_theta", "rope_scaling",
    "rope_parameters", "partial_rotary_factor", "rms_norm_eps", "layer_norm_eps", "initializer_range",
    "use_cache", "attention_dropout", "hidden_dropout", "resid_pdrop", "embd_pdrop", "attention_probs_dropout_prob",
    "pretraining_tp", "output_router_logits", "router_aux_loss_coef", "router_jitter_noise", "norm_topk_prob",
    "tokenizer_class", "auto_map", "is_decoder", "bos_token", "eos_token", "id2label", "label2id",
    "return_dict", "output_hidden_states", "output_attentions", "torchscript", "use_bfloat16",
    "problem_type", "chunk_size_feed_forward", "tie_encoder_decoder", "is_encoder_decoder",
    "task_specific_params", "finetuning_task", "prefix", "add_cross_attention", "cross_attention_hidden_size",
    "tf_legacy_loss", "pruned_heads", "max_length", "min_length", "do_sample", "num_beams",
    "temperature", "top_k", "top_p", "repetition_penalty", "bad_words_ids", "num_return_sequences",
    "early_stopping", "length_penalty", "no_repeat_ngram_size", "diversity_penalty", "num_beam_groups",
    "output_scores", "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id",
    "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens",
    "encoder_no_repeat_ngram_size", "typical_p", "_attn_implementation",
    "attn_implementation", "use_qk_norm", "qk_layernorm", "use_mrope",
    "mlp_only_layers",
    "decoder_sparse_step", "max_window_layers", "use_sliding_window", "sliding_window", "layer_types",
    "hidden_act", "hidden_activation", "head_dim", "num_key_value_heads", "tie_word_embeddings",
    "attention_bias", "mlp_bias", "num_experts", "num_local_experts", "num_experts_per_tok",
    "moe_intermediate_size", "shared_expert_intermediate_size", "intermediate_size", "hidden_size",
    "num_hidden_layers", "num_attention_heads", "vocab_size",
})

_REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")

# Defaults of the Hugging Face config classes for the optional fields that
# change cost (not for sizes: a missing size is an error).
_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": dict(tie_word_embeddings=False, hidden_act="silu", attention_bias=False, mlp_bias=False),
    "mistral": dict(tie_word_embeddings=False, hidden_act="silu", sliding_window=4096),
    "mixtral": dict(tie_word_embeddings=False, hidden_act="silu", sliding_window=None,
                    num_local_experts=8, num_experts_per_tok=2),
    "qwen2": dict(tie_word_embeddings=False, hidden_act="silu", use_sliding_window=False,
                  sliding_window=4096, max_window_layers=28),
    "qwen2_moe": dict(tie_word_embeddings=False, hidden_act="silu", use_sliding_window=False,
                      sliding_window=4096, max_window_layers=28, decoder_sparse_step=1,
                      mlp_only_layers=[], num_experts_per_tok=4, num_experts=60),
    "qwen3": dict(tie_word_embeddings=False, hidden_act="silu", use_sliding_window=False,
                  sliding_window=4096, max_window_layers=28, attention_bias=False, head_dim=128),
    "qwen3_moe": dict(tie_word_embeddings=False, hidden_act="silu", use_sliding_window=False,
                      sliding_window=4096, max_window_layers=28, attention_bias=False,
                      decoder_sparse_step=1, mlp_only_layers=[], num_experts_per_tok=8,
                      num_experts=128),
    "gemma": dict(tie_word_embeddings=True, hidden_act="gelu_pytorch_tanh", attention_bias=False,
                  head_dim=256),
    "phi3": dict(tie_word_embeddings=False, hidden_act="silu", sliding_window=None),
}


class ModelConfigError(ValueError):
    """A model config that llmperf cannot turn into an exact cost model."""


@dataclass(frozen=True)
class ModelConfig:
    """One decoder-only transformer, in the book's notation.

    Sizes: ``d_model`` (D), ``d_ff`` (F, dense MLP width), ``n_layers`` (L),
    ``n_heads`` (N), ``n_kv_heads`` (K), ``head_dim`` (H), ``vocab_size`` (V).
    MoE: ``n_experts`` (E), ``top_k`` (k), ``d_expert`` (expert MLP width),
    ``moe_layers`` (indices of layers whose MLP is a mixture of experts).
    ``windows`` holds one entry per layer: ``None`` for full attention or the
    sliding-window length in tokens.
    """

    name: str
    model_type: str
    d_model: int
    d_ff: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab_size: int
    tie_embeddings: bool = False
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False
    mlp: str = "gated"               # "gated" (gate/up/down) or "plain" (fc1/fc2)
    activation: str = "silu"
    fused_qkv: bool = False          # Phi-3 style qkv_proj
    fused_gate_up: bool = False      # Phi-3 style gate_up_proj
    embedding_scale: bool = False    # Gemma multiplies embeddings by sqrt(D)
    n_experts: int = 0
    top_k: int = 0
    d_expert: int = 0
    d_shared_expert: int = 0         # Qwen2-MoE shared expert width (0: none)
    moe_layers: tuple[int, ...] = ()
    windows: tuple[int | None, ...] = field(default=())

    def __post_init__(self):
        for f in ("d_model", "d_ff", "n_layers", "n_heads", "n_kv_heads", "head_dim", "vocab_size"):
            v = getattr(self, f)
            if not isinstance(v, (int,)) or isinstance(v, bool) or v <= 0:
                raise ModelConfigError(f"model {self.name!r}: {f} must be a positive integer, got {v!r}")
        if self.n_heads % self.n_kv_heads:
            raise ModelConfigError(
                f"model {self.name!r}: {self.n_heads} query heads do not divide evenly into "
                f"{self.n_kv_heads} key/value heads (num_attention_heads must be a multiple of num_key_value_heads)")
        if self.mlp not in ("gated", "plain"):
            raise ModelConfigError(f"model {self.name!r}: mlp must be 'gated' or 'plain', got {self.mlp!r}")
        if self.activation not in ACTIVATION_FLOP_PER_ELEMENT:
            raise ModelConfigError(
                f"model {self.name!r}: unknown activation {self.activation!r}; "
                f"known: {', '.join(ACTIVATION_FLOP_PER_ELEMENT)}")
        if self.n_experts:
            if not (0 < self.top_k <= self.n_experts) or self.d_expert <= 0:
                raise ModelConfigError(
                    f"model {self.name!r}: MoE needs 0 < experts per token ({self.top_k}) <= experts "
                    f"({self.n_experts}) and a positive expert width ({self.d_expert})")
        if any(i < 0 or i >= self.n_layers for i in self.moe_layers):
            raise ModelConfigError(f"model {self.name!r}: moe_layers out of range 0..{self.n_layers - 1}")
        if self.moe_layers and not self.n_experts:
            raise ModelConfigError(f"model {self.name!r}: moe_layers given but n_experts is 0")
        if not self.windows:
            object.__setattr__(self, "windows", (None,) * self.n_layers)
        if len(self.windows) != self.n_layers:
            raise ModelConfigError(f"model {self.name!r}: {len(self.windows)} layer windows for {self.n_layers} layers")
        for w in self.windows:
            if w is not None and (not isinstance(w, int) or w <= 0):
                raise ModelConfigError(f"model {self.name!r}: a sliding window must be a positive integer, got {w!r}")

    # --- notation aliases -------------------------------------------------
    D = property(lambda self: self.d_model)
    F = property(lambda self: self.d_ff)
    L = property(lambda self: self.n_layers)
    N = property(lambda self: self.n_heads)
    K = property(lambda self: self.n_kv_heads)
    H = property(lambda self: self.head_dim)
    V = property(lambda self: self.vocab_size)

    @property
    def group_size(self) -> int:
        """Query heads per key/value head (N / K): 1 for MHA, N for MQA."""
        return self.n_heads // self.n_kv_heads

    @property
    def attention_kind(self) -> str:
        if self.n_kv_heads == self.n_heads:
            return "MHA"
        if self.n_kv_heads == 1:
            return "MQA"
        return f"GQA-{self.group_size}"

    @property
    def is_moe(self) -> bool:
        return bool(self.moe_layers)

    def replace(self, **changes) -> "ModelConfig":
        """A copy with some fields changed (validated again)."""
        if "n_layers" in changes and "windows" not in changes:
            w = set(self.windows)
            if len(w) != 1:
                raise ModelConfigError("give windows= when changing n_layers of a model with mixed windows")
            changes["windows"] = (next(iter(w)),) * changes["n_layers"]
        if "n_layers" in changes and "moe_layers" not in changes and self.moe_layers:
            changes["moe_layers"] = tuple(range(changes["n_layers"]))
        return replace(self, **changes)

    # --- parameters ---------------------------------------------------------
    def layer_params(self, layer: int) -> dict[str, int]:
        """Parameters of one decoder layer, by part (matches the HF modules)."""
        D, N, K, H = self.d_model, self.n_heads, self.n_kv_heads, self.head_dim
        p = {
            "attn_q": D * N * H + (N * H if self.qkv_bias else 0),
            "attn_kv": 2 * (D * K * H + (K * H if self.qkv_bias else 0)),
            "attn_o": N * H * D + (D if self.o_bias else 0),
            "qk_norm": 2 * H if self.qk_norm else 0,
            "norms": 2 * D,
        }
        if layer in self.moe_layers:
            E, Fe = self.n_experts, self.d_expert
            p["router"] = D * E
            p["experts"] = E * 3 * D * Fe
            if self.d_shared_expert:
                p["shared_expert"] = 3 * D * self.d_shared_expert + D  # + shared_expert_gate
        else:
            F = self.d_ff
            n_mats = 3 if self.mlp == "gated" else 2
            bias = (2 * F + D if self.mlp == "gated" else F + D) if self.mlp_bias else 0
            p["mlp"] = n_mats * D * F + bias
        return p

    def param_counts(self, tied_embeddings: str = "once") -> dict[str, int]:
        return dict(_param_counts(self, tied_embeddings))

    def _param_counts(self, tied_embeddings: str) -> dict[str, int]:
        """Parameter counts by part: embedding, layers, experts, final norm, lm_head, total, active.

        ``tied_embeddings='once'`` (default, as ``sum(p.numel())`` over the HF
        model's unique parameters) counts a tied embedding matrix once;
        ``'twice'`` counts it again as the lm_head, as some tools do.
        """
        if tied_embeddings not in ("once", "twice"):
            raise ValueError("tied_embeddings must be 'once' or 'twice'")
        emb = self.vocab_size * self.d_model
        head = emb if (not self.tie_embeddings or tied_embeddings == "twice") else 0
        layers = experts = active_experts = 0
        for i in range(self.n_layers):
            lp = self.layer_params(i)
            layers += sum(lp.values())
            if "experts" in lp:
                experts += lp["experts"]
                active_experts += self.top_k * 3 * self.d_model * self.d_expert
        total = emb + layers + self.d_model + head
        return {
            "embedding": emb, "layers": layers, "experts": experts, "final_norm": self.d_model,
            "lm_head": head, "total": total, "active": total - experts + active_experts,
        }

    @property
    def params_total(self) -> int:
        return self.param_counts()["total"]

    @property
    def params_active(self) -> int:
        return self.param_counts()["active"]

    def describe(self) -> dict[str, Any]:
        """One row of facts for tables."""
        pc = self.param_counts()
        return {
            "model": self.name, "type": self.model_type, "params (B)": pc["total"] / 1e9,
            "active (B)": pc["active"] / 1e9, "L": self.n_layers, "D": self.d_model, "F": self.d_ff,
            "N": self.n_heads, "K": self.n_kv_heads, "H": self.head_dim, "V": self.vocab_size,
            "attention": self.attention_kind, "E": self.n_experts, "k": self.top_k,
            "tied": self.tie_embeddings,
            "window": ",".join(sorted({str(w) for w in self.windows if w is not None})) or "-",
        }


@lru_cache(maxsize=256)
def _param_counts(model: ModelConfig, tied_embeddings: str) -> dict[str, int]:
    return model._param_counts(tied_embeddings)


# --- reading configs -------------------------------------------------------

def _need_int(cfg: Mapping[str, Any], key: str, name: str) -> int:
    if key not in cfg or cfg[key] is None:
        raise ModelConfigError(f"model {name!r}: config.json is missing the required field {key!r}")
    v = cfg[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or v <= 0:
        raise ModelConfigError(f"model {name!r}: field {key!r} must be a positive integer, got {v!r}")
    return int(v)


def _opt_int(cfg: Mapping[str, Any], key: str, default: Any, name: str):
    v = cfg.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or v <= 0:
        raise ModelConfigError(f"model {name!r}: field {key!r} must be a positive integer, got {v!r}")
    return int(v)


def _layer_windows(cfg: Mapping[str, Any], mt: str, L: int, name: str) -> tuple:
    d = _TYPE_DEFAULTS[mt]
    window = _opt_int(cfg, "sliding_window", d.get("sliding_window"), name)
    types = cfg.get("layer_types")
    if types is not None:
        if len(types) != L:
            raise ModelConfigError(f"model {name!r}: layer_types has {len(types)} entries for {L} layers")
        out = []
        for t in types:
            if t == "full_attention":
                out.append(None)
            elif t == "sliding_attention":
                if window is None:
                    raise ModelConfigError(f"model {name!r}: sliding_attention layers but no sliding_window")
                out.append(window)
            else:
                raise ModelConfigError(f"model {name!r}: unsupported layer type {t!r} in layer_types")
        return tuple(out)
    if mt in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe"):
        if not cfg.get("use_sliding_window", d["use_sliding_window"]) or window is None:
            return (None,) * L
        start = cfg.get("max_window_layers", d["max_window_layers"])
        return tuple(window if i >= start else None for i in range(L))
    if mt in ("mistral", "mixtral", "phi3"):
        return (window,) * L
    return (None,) * L


def from_hf_config(cfg: Mapping[str, Any], name: str | None = None, *, allow_unknown: bool = False) -> ModelConfig:
    """Build a :class:`ModelConfig` from a Hugging Face ``config.json`` dict."""
    if not isinstance(cfg, Mapping):
        raise ModelConfigError(f"a model config must be a JSON object, got {type(cfg).__name__}")
    name = name or cfg.get("_name_or_path") or cfg.get("model_type") or "model"
    mt = cfg.get("model_type")
    if mt is None:
        raise ModelConfigError(f"model {name!r}: config.json has no 'model_type'")
    if mt not in SUPPORTED_MODEL_TYPES:
        raise ModelConfigError(
            f"model {name!r}: unsupported model_type {mt!r}; supported: {', '.join(SUPPORTED_MODEL_TYPES)}")
    unknown = sorted(k for k in cfg if k not in _KNOWN_FIELDS)
    if unknown and not allow_unknown:
        raise ModelConfigError(
            f"model {name!r}: unknown config field(s) {', '.join(map(repr, unknown))} might change the cost; "
            "remove them, or pass allow_unknown=True (CLI: --allow-unknown-fields) if they do not")
    d = _TYPE_DEFAULTS[mt]
    D = _need_int(cfg, "hidden_size", name)
    L = _need_int(cfg, "num_hidden_layers", name)
    N = _need_int(cfg, "num_attention_heads", name)
    V = _need_int(cfg, "vocab_size", name)
    K = _opt_int(cfg, "num_key_value_heads", N, name)  # HF: absent means MHA
    H = _opt_int(cfg, "head_dim", d.get("head_dim"), name)
    if H is None:
        if D % N:
            raise ModelConfigError(f"model {name!r}: hidden_size {D} is not divisible by {N} heads and no head_dim is given")
        H = D // N
    act = cfg.get("hidden_activation") if mt == "gemma" and cfg.get("hidden_activation") else cfg.get("hidden_act", d["hidden_act"])
    if mt == "gemma" and act == "gelu" and not cfg.get("hidden_activation"):
        act = "gelu_pytorch_tanh"  # HF Gemma uses the tanh approximation unless hidden_activation says otherwise
    kw: dict[str, Any] = dict(
        name=name, model_type=mt, d_model=D, n_layers=L, n_heads=N, n_kv_heads=K, head_dim=H, vocab_size=V,
        tie_embeddings=bool(cfg.get("tie_word_embeddings", d["tie_word_embeddings"])),
        activation=act, windows=_layer_windows(cfg, mt, L, name),
    )
    bias = bool(cfg.get("attention_bias", d.get("attention_bias", False)))
    if mt in ("qwen2", "qwen2_moe"):
        kw.update(qkv_bias=True)
    elif mt in ("llama", "qwen3", "qwen3_moe", "gemma"):
        kw.update(qkv_bias=bias, o_bias=bias)
    if mt == "llama":
        kw["mlp_bias"] = bool(cfg.get("mlp_bias", False))
    if mt in ("qwen3", "qwen3_moe"):
        kw["qk_norm"] = True
    if mt == "phi3":
        kw.update(fused_qkv=True, fused_gate_up=True)
    if mt == "gemma":
        kw["embedding_scale"] = True
    # MLP widths and experts
    if mt == "mixtral":
        kw["d_ff"] = _need_int(cfg, "intermediate_size", name)
        E = _need_int(cfg, "num_local_experts", name)
        kw.update(n_experts=E, top_k=_need_int(cfg, "num_experts_per_tok", name), d_expert=kw["d_ff"],
                  moe_layers=tuple(range(L)))
    elif mt in ("qwen3_moe", "qwen2_moe"):
        kw["d_ff"] = _need_int(cfg, "intermediate_size", name)
        E = _opt_int(cfg, "num_experts", d["num_experts"], name) or 0
        step = _opt_int(cfg, "decoder_sparse_step", d["decoder_sparse_step"], name)
        only = set(cfg.get("mlp_only_layers") or [])
        moe = tuple(i for i in range(L) if i not in only and E > 0 and (i + 1) % step == 0)
        kw.update(n_experts=E, top_k=_need_int(cfg, "num_experts_per_tok", name),
                  d_expert=_need_int(cfg, "moe_intermediate_size", name), moe_layers=moe)
        if mt == "qwen2_moe":
            kw["d_shared_expert"] = _opt_int(cfg, "shared_expert_intermediate_size", None, name) or 0
    else:
        kw["d_ff"] = _need_int(cfg, "intermediate_size", name)
        for k in ("num_experts", "num_local_experts", "moe_intermediate_size"):
            if cfg.get(k):
                raise ModelConfigError(f"model {name!r}: field {k!r} is set but model_type {mt!r} is dense")
    return ModelConfig(**kw)


def _catalog_dir():
    return resources.files("llmperf") / "data" / "models"


@lru_cache(maxsize=None)
def _catalog_index() -> dict:
    p = _catalog_dir() / "index.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def model_names() -> list[str]:
    """Names of the bundled catalog models."""
    return sorted(p.name[:-5] for p in _catalog_dir().iterdir()
                  if p.name.endswith(".json") and p.name != "index.json")


@lru_cache(maxsize=None)
def _load_catalog(name: str) -> ModelConfig:
    cfg = json.loads((_catalog_dir() / f"{name}.json").read_text())
    return from_hf_config(cfg, name)


def catalog_config(name: str) -> dict:
    """The raw ``config.json`` dict of a catalog model."""
    if name not in model_names():
        raise ModelConfigError(_unknown_model_msg(name))
    return json.loads((_catalog_dir() / f"{name}.json").read_text())


def _unknown_model_msg(name) -> str:
    return (f"unknown model {name!r}; catalog models: {', '.join(model_names())}; "
            "or pass the path of a Hugging Face config.json")


def load_model(model: "str | Path | Mapping | ModelConfig", *, allow_unknown: bool = False) -> ModelConfig:
    """A :class:`ModelConfig` from a catalog name, a ``config.json`` path (or its folder), or a dict."""
    if isinstance(model, ModelConfig):
        return model
    if isinstance(model, Mapping):
        return from_hf_config(model, allow_unknown=allow_unknown)
    if isinstance(model, (str, Path)):
        key = str(model).strip()
        if key.lower() in model_names():
            return _load_catalog(key.lower())
        path = Path(key)
        if path.is_dir():
            path = path / "config.json"
        if path.is_file():
            try:
                cfg = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ModelConfigError(f"{path} is not valid JSON: {e}") from None
            stem = path.parent.name if path.name == "config.json" else path.stem
            return from_hf_config(cfg, stem, allow_unknown=allow_unknown)
        raise ModelConfigError(_unknown_model_msg(key))
    raise ModelConfigError(f"cannot read a model from {type(model).__name__}")


def list_models() -> pd.DataFrame:
    """The catalog as a table: one row per model, sizes in the book's notation."""
    rows = []
    for n in model_names():
        r = _load_catalog(n).describe()
        r["hf_id"] = _catalog_index().get(n, {}).get("hf_id", "")
        rows.append(r)
    return pd.DataFrame(rows).set_index("model")


def textbook_model(d_model: int, n_layers: int, n_heads: int, vocab_size: int = 32000,
                   d_ff: int | None = None, name: str = "textbook") -> ModelConfig:
    """A GPT-style textbook model: multi-head attention, plain 2-matrix MLP of width 4D, GELU.

    The model behind the classic ``1/2 + L/(4D)``-style ratios; not a real checkpoint.
    """
    return ModelConfig(name=name, model_type="textbook", d_model=d_model, d_ff=d_ff or 4 * d_model,
                       n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_heads,
                       head_dim=d_model // n_heads, vocab_size=vocab_size, mlp="plain", activation="gelu")


def kv_bytes_per_token_layer(model, kv_dtype: str = "bf16", tp: int = 1) -> float:
    """KV-cache bytes one token adds to one layer, per device: a key and a value vector per KV head."""
    m = load_model(model)
    return 2.0 * (m.n_kv_heads // tp) * m.head_dim * dtype_bytes(kv_dtype)


def kv_cache_bytes(model, context, batch=1, kv_dtype: str = "bf16", tp: int = 1):
    """KV cache of ``batch`` sequences holding ``context`` tokens each, all layers, per device (arrays broadcast).

    A sliding-window layer keeps at most its window of tokens.
    """
    m = load_model(model)
    t = np.asarray(context, dtype=float)
    cached = sum(t if w is None else np.minimum(t, w) for w in m.windows)
    return np.asarray(batch, dtype=float) * cached * kv_bytes_per_token_layer(m, kv_dtype, tp)


def kv_heads_check(model: ModelConfig, tp: int) -> None:
    """Raise a clear error unless ``tp`` splits the heads evenly."""
    if model.n_heads % tp or model.n_kv_heads % tp:
        raise ModelConfigError(
            f"tensor parallelism tp={tp} does not divide {model.name}'s {model.n_heads} query heads and "
            f"{model.n_kv_heads} key/value heads evenly; choose a tp that divides {math.gcd(model.n_heads, model.n_kv_heads)}")
