"""llmperf: exact roofline accounting of LLM inference.

``import llmperf`` needs numpy and pandas only; the drawing modules
(``llmperf.charts``, ``llmperf.widgets``) import Altair and ipywidgets themselves.
"""
from .analysis import (Analysis, Setup, StepResult, WorkloadError, analyze, decode_step, make_setup, prefill_step,
                       step, sweep)
from .conventions import Conventions
from .dtypes import DTYPE_BYTES, canonical_dtype, dtype_bytes
from .hardware import Hardware, HardwareError, get_hardware, hardware_names, list_hardware
from .models import (ModelConfig, ModelConfigError, kv_bytes_per_token_layer, kv_cache_bytes, list_models, load_model,
                     model_names, textbook_model)
from .ops import attention_pairs, build_ops
from .roofline import matmul_intensity, ridge_point, roofline
from . import edge, regimes, rooflines, share, tables  # the chapters' computations (numpy/pandas only)

__version__ = "0.1.0"

__all__ = [
    "Analysis", "Setup", "StepResult", "WorkloadError", "analyze", "decode_step", "make_setup", "prefill_step",
    "step", "sweep", "Conventions", "DTYPE_BYTES", "canonical_dtype", "dtype_bytes", "Hardware", "HardwareError",
    "get_hardware", "hardware_names", "list_hardware", "ModelConfig", "ModelConfigError", "kv_bytes_per_token_layer", "kv_cache_bytes", "list_models",
    "load_model", "model_names", "textbook_model", "attention_pairs", "build_ops", "matmul_intensity",
    "ridge_point", "roofline", "edge", "regimes", "rooflines", "share", "tables",
]
