"""Model architectures, read from Hugging Face ``config.json`` files.

:func:`load_model` turns a config (a catalog name, a path, or a dict) into a
frozen :class:`ModelConfig` that holds every quantity that changes the cost of
inference, in the book's notation (D, F, L, N, K, H, V, E, k). Parameter counts
follow the real Hugging Face modeling code exactly; ``tests/`` checks them
against the parameter counts of models built with ``transformers``.

Strictness: a missing size (``hidden_size``, ``num_hidden_layers`` ...) is an
error, never a silent default; so is a field llmperf does not know, because it
might change the cost (pass ``allow_unknown=True`` if you know it does not).

Families: Llama, Mistral, Mixtral, Qwen2/2-MoE/3/3-MoE, Gemma/Gemma-2/Gemma-3,
Phi-3, PhiMoE, DeepSeek-V2/V3 (multi-head latent attention, shared experts,
first dense layers; group-limited routing picks among groups of experts and
changes neither FLOPs nor bytes; the multi-token-prediction module, which
transformers does not build, is not counted), gpt-oss, Llama-4 (text model:
chunked attention, NoPE global layers, interleaved MoE with a shared expert),
OLMo-2 and Granite. The multimodal wrappers ``gemma3`` and ``llama4`` are read
through their ``text_config``; their vision tower is not modelled (a warning
says so). Where layer patterns depend on interacting fields (Qwen's
``use_sliding_window`` / ``max_window_layers`` / ``layer_types``, Gemma-3's
``sliding_window_pattern``, Llama-4's ``no_rope_layers``), llmperf follows the
transformers 5 code; ``tests/test_ground_truth.py`` checks each pattern against
the attention a real forward of a tiny model computes.
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

from .configfile import MAX_LAYERS, MAX_SIZE
from .dtypes import dtype_bytes

SUPPORTED_MODEL_TYPES = (
    "llama", "mistral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "mixtral", "gemma", "phi3",
    "gemma2", "gemma3_text", "gemma3", "deepseek_v2", "deepseek_v3", "gpt_oss", "llama4_text", "llama4",
    "phimoe", "olmo2", "granite",
)

#: Multimodal wrappers whose text model lives in ``text_config`` (llmperf models the text model only),
#: with the model_type of that text model.
WRAPPER_TYPES = {"gemma3": "gemma3_text", "llama4": "llama4_text"}

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
    # gpt-oss experts: clamp(gate) 1, clamp(up) 2, gate*alpha 1, sigmoid 4, gate*sigmoid 1, up+1 1
    "gpt_oss_swiglu": 10.0,
}

#: FLOP per element of tanh soft-capping, cap * tanh(x / cap): divide, tanh, multiply.
SOFTCAP_FLOP_PER_ELEMENT = 3.0

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

# Fields a family reads (or that are harmless for it) beyond _KNOWN_FIELDS. They are
# known only for that family: on another one, a cost-changing field is refused.
_MLA_FIELDS = frozenset({
    "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "n_routed_experts",
    "n_shared_experts", "first_k_dense_replace", "moe_layer_freq", "routed_scaling_factor", "n_group",
    "topk_group", "topk_method", "scoring_func", "aux_loss_alpha", "seq_aux", "ep_size", "rope_interleave",
    "num_nextn_predict_layers", "num_mtp_layers", "qk_head_dim",
})
_TYPE_FIELDS: dict[str, frozenset] = {
    "qwen2_moe": frozenset({"qkv_bias"}),
    "gemma2": frozenset({"query_pre_attn_scalar", "final_logit_softcapping", "attn_logit_softcapping", "sliding_window_size",
                         "cache_implementation"}),
    "gemma3_text": frozenset({"query_pre_attn_scalar", "final_logit_softcapping", "attn_logit_softcapping",
                              "sliding_window_pattern", "_sliding_window_pattern", "rope_local_base_freq",
                              "cache_implementation",
                              "use_bidirectional_attention"}),
    "deepseek_v2": _MLA_FIELDS,
    "deepseek_v3": _MLA_FIELDS,
    "gpt_oss": frozenset({"swiglu_alpha", "swiglu_limit", "experts_per_token", "initial_context_length"}),
    "llama4_text": frozenset({"attention_chunk_size", "intermediate_size_mlp", "interleave_moe_layer_step",
                              "moe_layers", "no_rope_layers", "no_rope_layer_interval", "attn_temperature_tuning",
                              "floor_scale", "attn_scale", "for_llm_compressor", "_attn_implementation_autoset"}),
    "phimoe": frozenset({"lm_head_bias", "input_jitter_noise"}),
    "granite": frozenset({"embedding_multiplier", "logits_scaling", "residual_multiplier",
                          "attention_multiplier"}),
}
# Fields of a multimodal wrapper (gemma3, llama4) around its text_config: token ids of images, and the
# vision tower, which llmperf does not model (it analyses the text model; a warning says so).
_WRAPPER_FIELDS = frozenset({
    "text_config", "vision_config", "boi_token_index", "eoi_token_index", "image_token_index",
    "mm_tokens_per_image", "boi_token_id", "eoi_token_id", "image_token_id",
})


def _known_fields(model_type) -> frozenset:
    """The fields llmperf knows for ``model_type`` (its reader reads them, or they are harmless)."""
    extra = _TYPE_FIELDS.get(model_type, frozenset()) if isinstance(model_type, str) else frozenset()
    return _KNOWN_FIELDS | extra

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
    "gemma2": dict(tie_word_embeddings=True, hidden_act="gelu_pytorch_tanh", attention_bias=False,
                   head_dim=256, sliding_window=4096, final_logit_softcapping=30.0, attn_logit_softcapping=50.0),
    "gemma3_text": dict(tie_word_embeddings=True, hidden_act="gelu_pytorch_tanh", attention_bias=False,
                        head_dim=256, sliding_window=4096, final_logit_softcapping=None,
                        attn_logit_softcapping=None, sliding_window_pattern=6),
    "deepseek_v2": dict(tie_word_embeddings=False, hidden_act="silu", attention_bias=False, mlp_bias=False,
                        first_k_dense_replace=0, n_shared_experts=2, q_lora_rank=1536),
    "deepseek_v3": dict(tie_word_embeddings=False, hidden_act="silu", attention_bias=False,
                        first_k_dense_replace=3, n_shared_experts=1, q_lora_rank=1536),
    "gpt_oss": dict(tie_word_embeddings=False, hidden_act="gpt_oss_swiglu", attention_bias=True,
                    sliding_window=128, head_dim=64),
    "llama4_text": dict(tie_word_embeddings=False, hidden_act="silu", attention_bias=False, head_dim=128,
                        attention_chunk_size=8192, interleave_moe_layer_step=1, no_rope_layer_interval=4,
                        use_qk_norm=True),
    "phimoe": dict(tie_word_embeddings=False, hidden_act="silu", attention_bias=False, lm_head_bias=False,
                   sliding_window=None),
    "olmo2": dict(tie_word_embeddings=False, hidden_act="silu", attention_bias=False),
    "granite": dict(tie_word_embeddings=False, hidden_act="silu", attention_bias=False, mlp_bias=False,
                    embedding_multiplier=1.0, residual_multiplier=1.0, logits_scaling=1.0),
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
    sliding-window length in tokens; ``chunks`` one entry per layer: ``None`` or
    the chunk length of chunked local attention (Llama-4: a query sees only the
    keys of its own chunk of ``chunk`` positions).

    Multi-head latent attention (DeepSeek-V2/V3, ``kv_lora_rank > 0``): queries
    through an optional low-rank ``q_lora_rank``; keys and values through a
    shared latent of ``kv_lora_rank`` plus a decoupled rotary key of
    ``qk_rope_head_dim``, which is what the KV cache holds; ``head_dim`` is the
    query/key head size (``qk_nope + qk_rope``) and ``v_head_dim`` the value
    head size; ``n_kv_heads`` equals ``n_heads``.
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
    chunks: tuple[int | None, ...] = field(default=())
    nope_layers: tuple[int, ...] = ()  # layers without RoPE (Llama-4's global layers; no qk L2 norm there either)
    norms_per_layer: int = 2         # 4: Gemma-2/3 (pre- and post-norm around attention and MLP)
    norm_bias: bool = False          # LayerNorm with a bias (PhiMoE) instead of RMSNorm
    qk_norm_kind: str = "head"       # "head": weights of H (Qwen3, Gemma-3); "full": weights of N*H and K*H
                                     # (OLMo-2); "l2": no weights, only on RoPE layers (Llama-4)
    attn_sinks: bool = False         # gpt-oss: one learned sink logit per head
    attn_softcap: bool = False       # Gemma-2: cap * tanh(scores / cap)
    logit_flop_per_element: float = 0.0  # final soft-capping (3) or logits scaling (1) on every logit
    residual_scale: bool = False     # Granite: residual_multiplier on each block output
    lm_head_bias: bool = False       # PhiMoE
    v_head_dim: int = 0              # value head size when it differs from head_dim (MLA); 0: head_dim
    q_lora_rank: int = 0             # MLA low-rank query (0: a full q_proj)
    kv_lora_rank: int = 0            # MLA compressed KV latent (0: not MLA)
    qk_rope_head_dim: int = 0        # MLA decoupled rotary key/query dims (part of head_dim)
    shared_expert_gate: bool = False  # Qwen2-MoE scales the shared expert by a sigmoid gate
    router_bias: bool = False        # gpt-oss
    expert_bias: bool = False        # gpt-oss: biases in every expert's gate_up and down
    # how the checkpoint stores its weights (quantization_config), and what reading the config warned about
    weight_format: str | None = field(default=None, compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self):
        for f in ("d_model", "d_ff", "n_layers", "n_heads", "n_kv_heads", "head_dim", "vocab_size"):
            v = getattr(self, f)
            if not isinstance(v, (int,)) or isinstance(v, bool) or v <= 0:
                raise ModelConfigError(f"model {self.name!r}: {f} must be a positive integer, got {v!r}")
            if v > (MAX_LAYERS if f == "n_layers" else MAX_SIZE):
                raise ModelConfigError(f"model {self.name!r}: {f} = {v} is larger than llmperf's limit "
                                       f"{MAX_LAYERS if f == 'n_layers' else MAX_SIZE}")
        for f in ("n_experts", "top_k", "d_expert", "d_shared_expert"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_SIZE:
                raise ModelConfigError(f"model {self.name!r}: {f} must be an integer in [0, {MAX_SIZE}], got {v!r}")
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
        if not self.chunks:
            object.__setattr__(self, "chunks", (None,) * self.n_layers)
        if len(self.chunks) != self.n_layers:
            raise ModelConfigError(f"model {self.name!r}: {len(self.chunks)} layer chunk sizes for {self.n_layers} layers")
        for c, w in zip(self.chunks, self.windows):
            if c is not None and (not isinstance(c, int) or isinstance(c, bool) or c <= 0):
                raise ModelConfigError(f"model {self.name!r}: an attention chunk size must be a positive integer, got {c!r}")
            if c is not None and w is not None:
                raise ModelConfigError(f"model {self.name!r}: a layer cannot be both chunked and sliding-window")
        if any(not isinstance(i, int) or not 0 <= i < self.n_layers for i in self.nope_layers):
            raise ModelConfigError(f"model {self.name!r}: nope_layers out of range 0..{self.n_layers - 1}")
        if self.norms_per_layer not in (2, 4):
            raise ModelConfigError(f"model {self.name!r}: norms_per_layer must be 2 or 4, got {self.norms_per_layer!r}")
        if self.qk_norm_kind not in ("head", "full", "l2"):
            raise ModelConfigError(f"model {self.name!r}: qk_norm_kind must be 'head', 'full' or 'l2'")
        for f in ("v_head_dim", "q_lora_rank", "kv_lora_rank", "qk_rope_head_dim"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_SIZE:
                raise ModelConfigError(f"model {self.name!r}: {f} must be an integer in [0, {MAX_SIZE}], got {v!r}")
        if self.kv_lora_rank:
            if self.n_kv_heads != self.n_heads:
                raise ModelConfigError(f"model {self.name!r}: multi-head latent attention has n_kv_heads == n_heads")
            if not 0 < self.qk_rope_head_dim < self.head_dim:
                raise ModelConfigError(
                    f"model {self.name!r}: MLA needs 0 < qk_rope_head_dim ({self.qk_rope_head_dim}) < the query/key "
                    f"head size qk_nope_head_dim + qk_rope_head_dim ({self.head_dim})")
        elif self.q_lora_rank or self.qk_rope_head_dim:
            raise ModelConfigError(f"model {self.name!r}: q_lora_rank / qk_rope_head_dim need kv_lora_rank > 0 (MLA)")
        if (self.router_bias or self.expert_bias or self.shared_expert_gate) and not self.n_experts:
            raise ModelConfigError(f"model {self.name!r}: router/expert options given but n_experts is 0")

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
    def is_mla(self) -> bool:
        """Multi-head latent attention (DeepSeek-V2/V3): the KV cache holds a shared latent."""
        return self.kv_lora_rank > 0

    @property
    def v_dim(self) -> int:
        """Value head size (``v_head_dim``, or ``head_dim`` when they are equal)."""
        return self.v_head_dim or self.head_dim

    @property
    def qk_nope_head_dim(self) -> int:
        """MLA: the query/key head dims that carry no rotary embedding."""
        return self.head_dim - self.qk_rope_head_dim

    @property
    def kv_elements_per_token_layer(self) -> int:
        """Elements one token adds to one layer's KV cache (whole model, before tensor parallelism).

        ``2 K H`` (a key and a value per KV head; ``K (H + Hv)`` when they differ);
        MLA: ``kv_lora_rank + qk_rope_head_dim`` (the latent and the rotary key, shared by all heads).
        """
        if self.is_mla:
            return self.kv_lora_rank + self.qk_rope_head_dim
        return self.n_kv_heads * (self.head_dim + self.v_dim)

    @property
    def attention_kind(self) -> str:
        if self.is_mla:
            return "MLA"
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
        n = changes.get("n_layers")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= MAX_LAYERS):
            raise ModelConfigError(f"n_layers must be an integer in [1, {MAX_LAYERS}], got {n!r}")
        if "n_layers" in changes and "windows" not in changes:
            w = set(self.windows)
            if len(w) != 1:
                raise ModelConfigError("give windows= when changing n_layers of a model with mixed windows")
            changes["windows"] = (next(iter(w)),) * changes["n_layers"]
        if "n_layers" in changes and "moe_layers" not in changes and self.moe_layers:
            changes["moe_layers"] = tuple(range(changes["n_layers"]))
        if "n_layers" in changes and "chunks" not in changes:
            c = set(self.chunks)
            if len(c) != 1:
                raise ModelConfigError("give chunks= when changing n_layers of a model with chunked and global layers")
            changes["chunks"] = (next(iter(c)),) * changes["n_layers"]
        if "n_layers" in changes and "nope_layers" not in changes and self.nope_layers:
            raise ModelConfigError("give nope_layers= when changing n_layers of a model with NoPE layers")
        return replace(self, **changes)

    # --- parameters ---------------------------------------------------------
    def layer_params(self, layer: int) -> dict[str, int]:
        """Parameters of one decoder layer, by part (matches the HF modules)."""
        D, N, K, H = self.d_model, self.n_heads, self.n_kv_heads, self.head_dim
        if self.is_mla:  # DeepSeek: q_a_proj + q_a_layernorm + q_b_proj (or q_proj); kv_a_proj_with_mqa,
            qr, kr, R = self.q_lora_rank, self.kv_lora_rank, self.qk_rope_head_dim  # kv_a_layernorm, kv_b_proj
            bias = 1 if self.qkv_bias else 0
            p = {
                "attn_q": (D * qr + bias * qr + qr + qr * N * H) if qr else D * N * H,
                "attn_kv": D * (kr + R) + bias * (kr + R) + kr + kr * N * (self.qk_nope_head_dim + self.v_dim),
            }
        else:
            p = {
                "attn_q": D * N * H + (N * H if self.qkv_bias else 0),
                "attn_kv": D * K * (H + self.v_dim) + (K * (H + self.v_dim) if self.qkv_bias else 0),
            }
        p["attn_o"] = N * self.v_dim * D + (D if self.o_bias else 0)
        p["qk_norm"] = self._qk_norm_params()
        if self.attn_sinks:
            p["attn_sinks"] = N
        p["norms"] = self.norms_per_layer * D * (2 if self.norm_bias else 1)
        if layer in self.moe_layers:
            E, Fe = self.n_experts, self.d_expert
            p["router"] = D * E + (E if self.router_bias else 0)
            p["experts"] = E * self.expert_params
            if self.d_shared_expert:
                p["shared_expert"] = 3 * D * self.d_shared_expert + (D if self.shared_expert_gate else 0)
        else:
            F = self.d_ff
            n_mats = 3 if self.mlp == "gated" else 2
            bias = (2 * F + D if self.mlp == "gated" else F + D) if self.mlp_bias else 0
            p["mlp"] = n_mats * D * F + bias
        return p

    def _qk_norm_params(self) -> int:
        if not self.qk_norm or self.qk_norm_kind == "l2":
            return 0
        if self.qk_norm_kind == "full":
            return (self.n_heads + self.n_kv_heads) * self.head_dim
        return 2 * self.head_dim

    @property
    def expert_params(self) -> int:
        """Parameters of one routed expert: gate, up and down (and their biases where the model has them)."""
        D, Fe = self.d_model, self.d_expert
        return 3 * D * Fe + ((2 * Fe + D) if self.expert_bias else 0)

    @property
    def replicated_linear_params(self) -> int:
        """Projection parameters every tensor-parallel device holds whole: MLA's q_a_proj and
        kv_a_proj_with_mqa (with their biases), which produce the latents all heads share."""
        if not self.is_mla:
            return 0
        bias = 1 if self.qkv_bias else 0
        per_layer = (self.d_model + bias) * (self.q_lora_rank + self.kv_lora_rank + self.qk_rope_head_dim)
        return self.n_layers * per_layer

    @property
    def norm_params(self) -> int:
        """Parameters of all norms (layer norms, q/k norms, MLA's latent norms, final norm): tensor
        parallelism replicates them on every device."""
        D = self.d_model
        per_layer = self.norms_per_layer * D * (2 if self.norm_bias else 1) + self._qk_norm_params()
        if self.is_mla:
            per_layer += self.q_lora_rank + self.kv_lora_rank
        return self.n_layers * per_layer + D * (2 if self.norm_bias else 1)

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
        head_bias = self.vocab_size if self.lm_head_bias else 0
        layers = experts = active_experts = 0
        for i in range(self.n_layers):
            lp = self.layer_params(i)
            layers += sum(lp.values())
            if "experts" in lp:
                experts += lp["experts"]
                active_experts += self.top_k * self.expert_params
        final_norm = self.d_model * (2 if self.norm_bias else 1)
        total = emb + layers + final_norm + head + head_bias
        return {
            "embedding": emb, "layers": layers, "experts": experts, "final_norm": final_norm,
            "lm_head": head, "lm_head_bias": head_bias, "total": total, "active": total - experts + active_experts,
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
            "chunk": ",".join(sorted({str(c) for c in self.chunks if c is not None})) or "-",
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


def _opt_bool(cfg: Mapping[str, Any], key: str, default: bool, name: str) -> bool:
    v = cfg.get(key)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise ModelConfigError(f"model {name!r}: field {key!r} must be a JSON boolean (true or false), got {v!r}")
    return v


def _opt_float(cfg: Mapping[str, Any], key: str, default: Any, name: str):
    v = cfg.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ModelConfigError(f"model {name!r}: field {key!r} must be a finite number, got {v!r}")
    return float(v)


def _layer_list(cfg: Mapping[str, Any], key: str, L: int, name: str, *, flags: bool = False) -> list | None:
    """A per-layer list field (``no_rope_layers``: L flags) or a list of layer indices (``moe_layers``)."""
    v = cfg.get(key)
    if v is None:
        return None
    if not isinstance(v, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        raise ModelConfigError(f"model {name!r}: field {key!r} must be a list of integers")
    if flags and (len(v) != L or any(i not in (0, 1) for i in v)):
        raise ModelConfigError(f"model {name!r}: field {key!r} must hold one 0/1 flag per layer ({L})")
    if not flags and any(not 0 <= i < L for i in v):
        raise ModelConfigError(f"model {name!r}: field {key!r} holds a layer index outside 0..{L - 1}")
    return list(v)


def _layer_types(cfg: Mapping[str, Any], L: int, name: str, allowed: tuple) -> list | None:
    types = cfg.get("layer_types")
    if types is None:
        return None
    if not isinstance(types, (list, tuple)) or len(types) != L:
        raise ModelConfigError(f"model {name!r}: layer_types must list one type per layer ({L})")
    for t in types:
        if t not in allowed:
            raise ModelConfigError(f"model {name!r}: unsupported layer type {t!r} in layer_types "
                                   f"(model_type {cfg.get('model_type')!r} knows {', '.join(allowed)})")
    return list(types)


def _layer_windows(cfg: Mapping[str, Any], mt: str, L: int, name: str) -> tuple:
    """Sliding window of each layer (``None``: full attention), as the transformers code chooses it."""
    d = _TYPE_DEFAULTS[mt]
    window = _opt_int(cfg, "sliding_window", d.get("sliding_window"), name)
    if mt in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe") and not _opt_bool(
            cfg, "use_sliding_window", d["use_sliding_window"], name):
        window = None  # their configs drop the window when use_sliding_window is off
    if mt in ("deepseek_v2", "deepseek_v3", "llama4_text", "olmo2", "granite"):
        return (None,) * L  # no sliding windows in these families (Llama-4's chunks are read separately)
    if mt == "qwen3_moe":
        # Qwen3MoeAttention slides every layer when use_sliding_window is on (max_window_layers and
        # layer_types are not read by the transformers 5 code)
        on = _opt_bool(cfg, "use_sliding_window", d["use_sliding_window"], name)
        return (window if on else None,) * L
    types = _layer_types(cfg, L, name, ("full_attention", "sliding_attention"))
    if types is None:
        if mt in ("qwen2", "qwen3"):
            on = _opt_bool(cfg, "use_sliding_window", d["use_sliding_window"], name)
            start = cfg.get("max_window_layers", d["max_window_layers"])
            types = ["sliding_attention" if on and window is not None and i >= start else "full_attention"
                     for i in range(L)]
        elif mt == "qwen2_moe":  # every other layer below max_window_layers (transformers 5 Qwen2MoeConfig)
            on = _opt_bool(cfg, "use_sliding_window", d["use_sliding_window"], name)
            start = cfg.get("max_window_layers", d["max_window_layers"])
            types = ["sliding_attention" if on and (i + 1) % 2 and i < start else "full_attention"
                     for i in range(L)]
        elif mt in ("gemma2", "gpt_oss"):  # alternating local/global, local first
            types = ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(L)]
        elif mt == "gemma3_text":  # (pattern - 1) local layers, then a global one
            pattern = _opt_int(cfg, "sliding_window_pattern", d["sliding_window_pattern"], name)
            types = ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(L)]
        elif mt in ("mistral", "mixtral", "phi3", "phimoe"):
            types = ["sliding_attention" if window is not None else "full_attention"] * L
        else:
            types = ["full_attention"] * L
    if "sliding_attention" in types and window is None:  # transformers refuses this too
        off = " (use_sliding_window is false)" if mt.startswith("qwen") else ""
        raise ModelConfigError(f"model {name!r}: layer_types has sliding_attention layers but no "
                               f"sliding_window{off}")
    return tuple(window if t == "sliding_attention" else None for t in types)


def _unwrap(cfg: Mapping[str, Any], name: str, allow_unknown: bool) -> tuple[Mapping[str, Any], tuple]:
    """The text model's config of a multimodal wrapper (gemma3, llama4), and warnings; other configs as given.

    Also reads ``sliding_window: 0`` (what transformers 5 saves when sliding is off) as no window.
    """
    from .configfile import check_config_fields
    warnings: tuple = ()
    mt = cfg.get("model_type")
    if isinstance(mt, str) and mt in WRAPPER_TYPES:
        text = cfg.get("text_config")
        if not isinstance(text, Mapping):
            raise ModelConfigError(f"model {name!r}: a {mt!r} config holds its text model in 'text_config' "
                                   "(a JSON object), which is missing")
        outer = {k: v for k, v in cfg.items() if k != "text_config"}
        try:
            warnings = check_config_fields(outer, name, _KNOWN_FIELDS | _WRAPPER_FIELDS, allow_unknown)
        except ValueError as e:
            raise ModelConfigError(str(e)) from None
        inner = text.get("model_type", WRAPPER_TYPES[mt])
        if inner != WRAPPER_TYPES[mt]:
            raise ModelConfigError(f"model {name!r}: text_config.model_type is {inner!r}; a {mt!r} wrapper holds "
                                   f"a {WRAPPER_TYPES[mt]!r} text model")
        new = dict(text)
        new["model_type"] = inner
        if outer.get("tie_word_embeddings") is not None and text.get("tie_word_embeddings") is None:
            new["tie_word_embeddings"] = outer["tie_word_embeddings"]  # the wrapper ties its lm_head
        if outer.get("quantization_config") is not None and text.get("quantization_config") is None:
            new["quantization_config"] = outer["quantization_config"]  # the checkpoint's weight format
        if outer.get("vision_config") is not None:
            warnings += ("vision_config: the vision encoder is not modelled; llmperf analyses the text model "
                         "(text_config) only, so parameters and memory leave the vision tower out",)
        cfg = new
    sw = cfg.get("sliding_window")
    if sw is not None and not isinstance(sw, bool) and isinstance(sw, (int, float)) and sw == 0:
        cfg = {**cfg, "sliding_window": None}
    return cfg, warnings


def _read_family(cfg: Mapping[str, Any], mt: str, name: str, kw: dict) -> None:
    """Fields of the families added with issue 8 (attention, norms, MoE); updates ``kw`` in place."""
    d = _TYPE_DEFAULTS[mt]
    L, N = kw["n_layers"], kw["n_heads"]
    bias = _opt_bool(cfg, "attention_bias", d.get("attention_bias", False), name)
    kw.update(qkv_bias=bias, o_bias=bias)
    if mt in ("gemma2", "gemma3_text"):
        kw.update(norms_per_layer=4, embedding_scale=True, qk_norm=mt == "gemma3_text")
        if mt == "gemma3_text" and _opt_bool(cfg, "use_bidirectional_attention", False, name):
            raise ModelConfigError(f"model {name!r}: use_bidirectional_attention is an encoder (embedding) "
                                   "model, not a causal decoder")
        cap = _opt_float(cfg, "attn_logit_softcapping", d["attn_logit_softcapping"], name)
        kw["attn_softcap"] = bool(cap)
        if _opt_float(cfg, "final_logit_softcapping", d["final_logit_softcapping"], name):
            kw["logit_flop_per_element"] = SOFTCAP_FLOP_PER_ELEMENT
        kw["d_ff"] = _need_int(cfg, "intermediate_size", name)
    elif mt == "olmo2":
        kw.update(qk_norm=True, qk_norm_kind="full", d_ff=_need_int(cfg, "intermediate_size", name))
    elif mt == "granite":
        kw["d_ff"] = _need_int(cfg, "intermediate_size", name)
        kw["mlp_bias"] = _opt_bool(cfg, "mlp_bias", False, name)
        kw["embedding_scale"] = _opt_float(cfg, "embedding_multiplier", 1.0, name) != 1.0
        kw["residual_scale"] = _opt_float(cfg, "residual_multiplier", 1.0, name) != 1.0
        if _opt_float(cfg, "logits_scaling", 1.0, name) != 1.0:
            kw["logit_flop_per_element"] = 1.0
    elif mt == "phimoe":
        Fe = _need_int(cfg, "intermediate_size", name)
        kw.update(norm_bias=True, lm_head_bias=_opt_bool(cfg, "lm_head_bias", False, name), d_ff=Fe,
                  n_experts=_need_int(cfg, "num_local_experts", name),
                  top_k=_need_int(cfg, "num_experts_per_tok", name), d_expert=Fe, moe_layers=tuple(range(L)))
    elif mt == "gpt_oss":
        Fe = _need_int(cfg, "intermediate_size", name)
        E = _need_int(cfg, "num_local_experts" if "num_local_experts" in cfg else "num_experts", name)
        k = _need_int(cfg, "num_experts_per_tok", name)
        if cfg.get("experts_per_token") is not None and cfg["experts_per_token"] != k:
            raise ModelConfigError(f"model {name!r}: experts_per_token ({cfg['experts_per_token']!r}) differs from "
                                   f"num_experts_per_tok ({k}), which transformers reads")
        kw.update(activation="gpt_oss_swiglu", attn_sinks=True, d_ff=Fe, n_experts=E, top_k=k, d_expert=Fe,
                  moe_layers=tuple(range(L)), router_bias=True, expert_bias=True)
    elif mt == "llama4_text":
        Fe = _need_int(cfg, "intermediate_size", name)
        step = _opt_int(cfg, "interleave_moe_layer_step", d["interleave_moe_layer_step"], name)
        moe = _layer_list(cfg, "moe_layers", L, name)
        moe = tuple(sorted(set(moe))) if moe is not None else tuple(range(step - 1, L, step))
        dense_ff = _opt_int(cfg, "intermediate_size_mlp", None, name)
        if dense_ff is None and len(moe) < L:
            raise ModelConfigError(f"model {name!r}: config.json is missing the required field "
                                   "'intermediate_size_mlp' (the width of the dense layers)")
        kw.update(d_ff=dense_ff or Fe, n_experts=_need_int(cfg, "num_local_experts", name),
                  top_k=_need_int(cfg, "num_experts_per_tok", name), d_expert=Fe, d_shared_expert=Fe,
                  moe_layers=moe)
        rope = _layer_list(cfg, "no_rope_layers", L, name, flags=True)  # 1: the layer uses RoPE
        if not rope:  # transformers: an empty or missing list means the default interval
            every = _opt_int(cfg, "no_rope_layer_interval", d["no_rope_layer_interval"], name)
            rope = [int((i + 1) % every != 0) for i in range(L)]
        kw["nope_layers"] = tuple(i for i in range(L) if not rope[i])
        if _opt_bool(cfg, "use_qk_norm", d["use_qk_norm"], name):
            kw.update(qk_norm=True, qk_norm_kind="l2")
        chunk = _opt_int(cfg, "attention_chunk_size", d["attention_chunk_size"], name)
        types = _layer_types(cfg, L, name, ("full_attention", "chunked_attention"))
        if types is None:
            types = ["chunked_attention" if rope[i] else "full_attention" for i in range(L)]
        if "chunked_attention" in types and chunk is None:
            raise ModelConfigError(f"model {name!r}: chunked_attention layers but no attention_chunk_size")
        kw["chunks"] = tuple(chunk if t == "chunked_attention" else None for t in types)
    elif mt in ("deepseek_v2", "deepseek_v3"):
        if cfg.get("num_key_value_heads") not in (None, N):
            raise ModelConfigError(f"model {name!r}: multi-head latent attention needs num_key_value_heads == "
                                   f"num_attention_heads ({N}), got {cfg['num_key_value_heads']!r}")
        R = _need_int(cfg, "qk_rope_head_dim", name)
        if cfg.get("qk_head_dim") is not None and cfg["qk_head_dim"] != R + _need_int(cfg, "qk_nope_head_dim", name):
            raise ModelConfigError(f"model {name!r}: qk_head_dim ({cfg['qk_head_dim']!r}) is not qk_nope_head_dim + "
                                   "qk_rope_head_dim")
        kw.update(n_kv_heads=N, head_dim=_need_int(cfg, "qk_nope_head_dim", name) + R, qk_rope_head_dim=R,
                  v_head_dim=_need_int(cfg, "v_head_dim", name), kv_lora_rank=_need_int(cfg, "kv_lora_rank", name),
                  q_lora_rank=_opt_int(cfg, "q_lora_rank", d["q_lora_rank"], name) or 0)
        if mt == "deepseek_v2" and _opt_bool(cfg, "mlp_bias", False, name):
            raise ModelConfigError(f"model {name!r}: mlp_bias = true (biases in the dense and shared-expert MLPs) "
                                   "is not modelled for deepseek_v2")
        E = next((cfg[k] for k in ("n_routed_experts", "num_experts", "num_local_experts") if cfg.get(k) is not None),
                 None)
        if E is None:
            raise ModelConfigError(f"model {name!r}: config.json is missing the required field 'n_routed_experts'")
        E = _need_int({"n_routed_experts": E}, "n_routed_experts", name)
        first = cfg.get("first_k_dense_replace", d["first_k_dense_replace"])
        first = 0 if first is None else first
        if isinstance(first, bool) or not isinstance(first, int) or not 0 <= first <= L:
            raise ModelConfigError(f"model {name!r}: field 'first_k_dense_replace' must be an integer in [0, {L}]")
        freq = cfg.get("moe_layer_freq")
        if freq not in (None, 1):
            raise ModelConfigError(f"model {name!r}: moe_layer_freq = {freq!r}: transformers builds experts in every "
                                   "layer from first_k_dense_replace on; only moe_layer_freq 1 is modelled")
        # group-limited routing (n_group, topk_group) picks the k experts among topk_group of n_group groups:
        # it changes which experts run, not how many, so it does not change FLOPs or bytes
        groups, top_groups = cfg.get("n_group"), cfg.get("topk_group")
        if groups is not None:
            groups = _opt_int(cfg, "n_group", None, name)
            if E % groups:
                raise ModelConfigError(f"model {name!r}: n_group ({groups}) must divide n_routed_experts ({E})")
            if top_groups is not None and not 0 < _opt_int(cfg, "topk_group", None, name) <= groups:
                raise ModelConfigError(f"model {name!r}: topk_group must be in 1..n_group ({groups})")
        Fe = _need_int(cfg, "moe_intermediate_size", name)
        shared = cfg.get("n_shared_experts", d["n_shared_experts"])
        shared = 0 if shared is None else shared
        if isinstance(shared, bool) or not isinstance(shared, int) or shared < 0:
            raise ModelConfigError(f"model {name!r}: field 'n_shared_experts' must be a non-negative integer")
        kw.update(d_ff=_need_int(cfg, "intermediate_size", name) if first else
                  (_opt_int(cfg, "intermediate_size", None, name) or Fe),
                  n_experts=E, top_k=_need_int(cfg, "num_experts_per_tok", name), d_expert=Fe,
                  d_shared_expert=shared * Fe, moe_layers=tuple(range(first, L)))
    else:  # pragma: no cover - every family in SUPPORTED_MODEL_TYPES is handled above or in from_hf_config
        raise ModelConfigError(f"model {name!r}: model_type {mt!r} has no reader")


_NEW_FAMILIES = frozenset({"gemma2", "gemma3_text", "deepseek_v2", "deepseek_v3", "gpt_oss", "llama4_text",
                           "phimoe", "olmo2", "granite"})


def from_hf_config(cfg: Mapping[str, Any], name: str | None = None, *, allow_unknown: bool = False) -> ModelConfig:
    """Build a :class:`ModelConfig` from a Hugging Face ``config.json`` dict."""
    if not isinstance(cfg, Mapping):
        raise ModelConfigError(f"a model config must be a JSON object, got {type(cfg).__name__}")
    from .configfile import check_config_fields, short, weight_format_from_quantization
    name = name or cfg.get("_name_or_path") or cfg.get("model_type") or "model"
    name = name if isinstance(name, str) and len(name) <= 200 else short(name, 80)
    quant = cfg.get("quantization_config")  # a multimodal wrapper keeps it outside its text_config
    cfg, wrapper_warnings = _unwrap(cfg, name, allow_unknown)  # a multimodal wrapper's text_config
    quant = cfg.get("quantization_config", quant)
    try:  # booleans, sizes and value types; cost-changing fields not modelled; warnings for unknown ones
        warnings = wrapper_warnings + check_config_fields(cfg, name, _known_fields(cfg.get("model_type")),
                                                          allow_unknown)
    except ValueError as e:
        raise ModelConfigError(str(e)) from None
    mt = cfg.get("model_type")
    if mt is None:
        raise ModelConfigError(f"model {name!r}: config.json has no 'model_type'")
    if mt not in SUPPORTED_MODEL_TYPES:
        raise ModelConfigError(
            f"model {name!r}: unsupported model_type {mt!r}; supported: {', '.join(SUPPORTED_MODEL_TYPES)}")
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
    if mt in ("gemma2", "gemma3_text"):  # their MLPs read hidden_activation only
        act = cfg.get("hidden_activation") or d["hidden_act"]
    kw: dict[str, Any] = dict(
        name=name, model_type=mt, d_model=D, n_layers=L, n_heads=N, n_kv_heads=K, head_dim=H, vocab_size=V,
        tie_embeddings=bool(cfg.get("tie_word_embeddings", d["tie_word_embeddings"])),
        activation=act, windows=_layer_windows(cfg, mt, L, name),
    )
    bias = bool(cfg.get("attention_bias", d.get("attention_bias", False)))
    if mt == "qwen2_moe":  # transformers 5 saves qkv_bias (default true) and reads it
        kw.update(qkv_bias=_opt_bool(cfg, "qkv_bias", True, name))
    elif mt == "qwen2":
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
    if mt in _NEW_FAMILIES:
        _read_family(cfg, mt, name, kw)
    elif mt == "mixtral":
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
            kw["shared_expert_gate"] = bool(kw["d_shared_expert"])
    else:
        kw["d_ff"] = _need_int(cfg, "intermediate_size", name)
        for k in ("num_experts", "num_local_experts", "moe_intermediate_size"):
            if cfg.get(k):
                raise ModelConfigError(f"model {name!r}: field {k!r} is set but model_type {mt!r} is dense")
    if quant is not None:
        try:
            kw["weight_format"] = weight_format_from_quantization(quant, name, D)
        except ValueError as e:
            raise ModelConfigError(str(e)) from None
    return ModelConfig(**kw, warnings=warnings)


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
        if path.exists():
            from .configfile import read_json_file
            try:  # a regular file of bounded size; one-line errors for FIFOs, devices, bad or deep JSON
                cfg = read_json_file(path, "model config")
            except ValueError as e:
                raise ModelConfigError(str(e)) from None
            stem = path.parent.name if path.name == "config.json" else path.stem
            return from_hf_config(cfg, stem, allow_unknown=allow_unknown)
        raise ModelConfigError(_unknown_model_msg(key))
    raise ModelConfigError(f"cannot read a model from {type(model).__name__}")


def list_models() -> "pd.DataFrame":
    """The catalog as a table: one row per model, sizes in the book's notation."""
    import pandas as pd
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


def require_standard_attention(model: ModelConfig, what: str) -> None:
    """Raise a ValueError naming ``what`` when ``model`` uses multi-head latent attention.

    The book's closed forms (attention share, decode intensity, the step-time formula, a linear layer's
    dimensions) are written with per-head keys and values: ``N`` query heads of ``H`` and ``K`` KV heads.
    MLA projects through a latent and caches it, so those formulas would give wrong numbers for it.
    """
    if model.is_mla:
        raise ValueError(
            f"{model.name} uses multi-head latent attention (MLA); this closed form ({what}) is written for "
            "standard attention (q/k/v projections and per-head keys and values in the cache) and would give "
            "wrong numbers for it. "
            "Use the per-operator engine instead (llmperf.decode_step, llmperf.prefill_step, "
            "llmperf.share.part_flops, llmperf.kvcache), which models MLA exactly.")


def kv_bytes_per_token_layer(model, kv_dtype: str = "bf16", tp: int = 1) -> float:
    """KV-cache bytes one token adds to one layer, per device: a key and a value vector per KV head.

    Multi-head latent attention caches one latent of ``kv_lora_rank + qk_rope_head_dim``
    elements per token and layer, shared by all heads, so every tensor-parallel device holds
    all of it.
    """
    m = load_model(model)
    kv_heads_check(m, tp)
    if m.is_mla:
        return float(m.kv_elements_per_token_layer) * dtype_bytes(kv_dtype)
    return float(kv_heads_per_device(m, tp) * (m.head_dim + m.v_dim)) * dtype_bytes(kv_dtype)


def kv_heads_per_device(model: ModelConfig, tp: int) -> int:
    """Key/value heads each of ``tp`` devices holds: ``K / tp``, or 1 when ``tp`` exceeds ``K``.

    Wider than the KV heads, serving engines (vLLM, SGLang, TensorRT-LLM) replicate each KV
    head on ``tp / K`` devices: every device keeps one head's projection weights and cache.
    """
    return max(model.n_kv_heads // tp, 1)


def _cache_spans(m: ModelConfig) -> tuple:
    """Per layer, the most tokens its cache keeps: the sliding window, the attention chunk, or None (all)."""
    return tuple(w if w is not None else c for w, c in zip(m.windows, m.chunks))


@lru_cache(maxsize=1024)
def _window_counts(windows: tuple) -> tuple:
    """``((window, layers), ...)``: how many layers have each window (``None``: full attention)."""
    counts: dict = {}
    for w in windows:
        counts[w] = counts.get(w, 0) + 1
    return tuple(counts.items())


def kv_cache_bytes(model, context, batch=1, kv_dtype: str = "bf16", tp: int = 1):
    """KV cache of ``batch`` sequences holding ``context`` tokens each, all layers, per device (arrays broadcast).

    A sliding-window layer keeps at most its window of tokens, a chunked-attention layer at most its
    chunk (transformers' cache keeps ``chunk - 1`` past positions). ``context`` is a
    count of tokens (an integer >= 0), ``batch`` a positive integer.
    """
    from .configfile import count
    m = load_model(model)
    t, b = count("context", context, minimum=0), count("batch", batch)
    per = kv_bytes_per_token_layer(m, kv_dtype, tp)
    if not np.ndim(t) and not np.ndim(b):
        t = float(t)
        cached = sum(n * (t if w is None else min(t, w)) for w, n in _window_counts(_cache_spans(m)))
        return np.float64(float(b) * cached * per)
    t = np.asarray(t, dtype=float)
    cached = sum(n * (t if w is None else np.minimum(t, w)) for w, n in _window_counts(_cache_spans(m)))
    return np.asarray(b, dtype=float) * cached * per


def kv_heads_check(model: ModelConfig, tp: int) -> None:
    """Raise a clear error unless ``tp`` splits the query heads evenly and the KV heads evenly or into replicas.

    ``tp`` must divide the query heads N, and either divide the KV heads K or be
    a multiple of K (then each KV head is replicated on ``tp / K`` devices).
    """
    if isinstance(tp, bool) or not isinstance(tp, (int, np.integer)) or tp < 1:
        raise ModelConfigError(f"tp must be a positive integer, got {tp!r}")
    if model.n_heads % tp or (model.n_kv_heads % tp and tp % model.n_kv_heads):
        ok = [t for t in range(1, model.n_heads + 1)
              if model.n_heads % t == 0 and (model.n_kv_heads % t == 0 or t % model.n_kv_heads == 0)]
        raise ModelConfigError(
            f"tensor parallelism tp={tp} does not split {model.name}'s {model.n_heads} query heads and "
            f"{model.n_kv_heads} key/value heads evenly (tp must divide N and divide or be a multiple of K); "
            f"choose tp in {', '.join(map(str, ok[:12]))}")
