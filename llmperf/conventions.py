"""The accounting conventions on which tools disagree, with llmperf's defaults.

Every result carries the :class:`Conventions` it was computed with, and prints
them, so two numbers are never compared under different rules by accident.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

_CHOICES = {
    "attention_flops": ("causal", "full"),
    "logits": ("last", "all"),
    "tied_embeddings": ("once", "twice"),
    "decode_kv": ("inclusive", "exclusive"),
    "mla": ("absorbed", "expanded"),
}


@dataclass(frozen=True)
class Conventions:
    """How llmperf counts.

    attention_flops
        ``"causal"`` (default): only the query-key pairs a causal (and, where the
        model has one, sliding-window) mask keeps, T*P + T(T+1)/2 per head for T
        new tokens after P cached ones. ``"full"``: the whole T x S rectangle, as
        an eager kernel computes it and as PyTorch's FlopCounterMode counts it.
    logits
        ``"last"`` (default): prefill computes the lm_head for the last token of
        each sequence only (what ``generate()`` does). ``"all"``: for every
        prompt token (a plain forward pass, or scoring a prompt).
    flash_attention
        ``True`` (default): attention is one fused kernel; scores never leave
        the chip, so it reads Q, K, V once and writes the output. ``False``:
        QK^T, softmax and score x V are three kernels and the score matrix goes
        through memory twice.
    tied_embeddings
        ``"once"`` (default): a tied embedding/lm_head matrix counts once in the
        parameters and weight memory (as ``sum(p.numel())`` does). ``"twice"``:
        it also counts as a separate lm_head. The lm_head matmul and its weight
        reads are charged in every case: the matrix is streamed either way.
    decode_kv
        ``"inclusive"`` (default): a decode step after S cached tokens attends
        S + 1 keys (the cache plus the current token, as Hugging Face does).
        ``"exclusive"``: it attends S keys (some tools' simplification).
    mla
        Decode attention of multi-head latent attention (DeepSeek-V2/V3; other
        models ignore it). ``"absorbed"`` (default, what serving engines such as
        vLLM and SGLang run): the key and value up-projections are folded into
        the query and the output, and attention runs over the cached latent
        (``kv_lora_rank + qk_rope_head_dim`` per position, shared by all heads).
        ``"expanded"`` (what the transformers code runs): each step re-expands
        every cached latent through ``kv_b_proj`` into per-head keys and values.
        Prefill is expanded under both; the cache holds the latent under both.
    """

    attention_flops: str = "causal"
    logits: str = "last"
    flash_attention: bool = True
    tied_embeddings: str = "once"
    decode_kv: str = "inclusive"
    mla: str = "absorbed"

    def __post_init__(self):
        for k, allowed in _CHOICES.items():
            v = getattr(self, k)
            if v not in allowed:
                raise ValueError(f"convention {k}={v!r} is not one of {', '.join(map(repr, allowed))}")
        if not isinstance(self.flash_attention, bool):
            raise ValueError(f"convention flash_attention must be True or False, got {self.flash_attention!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One line saying which rules a result used."""
        return (f"attention FLOPs {self.attention_flops}; logits for {self.logits} prompt token(s) in prefill; "
                f"flash attention {'on' if self.flash_attention else 'off'}; tied embeddings counted "
                f"{self.tied_embeddings}; decode attends {'cache + 1' if self.decode_kv == 'inclusive' else 'cache'} keys; "
                f"MLA decode {self.mla}")


DEFAULT = Conventions()
