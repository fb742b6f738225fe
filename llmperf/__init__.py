"""llmperf: exact roofline accounting of LLM inference.

``import llmperf`` and :func:`analyze` need numpy only; pandas is imported when a
table is asked for (``prefill_table()``, ``sweep()``, ``list_models()`` ...). The
chapters' modules (``llmperf.tables``, ``llmperf.share`` ...) load on first use, and
the drawing modules (``llmperf.charts``, ``llmperf.widgets``) import Altair and
ipywidgets themselves.
"""
from .analysis import (Analysis, Setup, StepResult, WorkloadError, analyze, decode_step, make_setup, prefill_step,
                       step, sweep)
from .conventions import Conventions
from .dtypes import DTYPE_BYTES, canonical_dtype, dtype_bytes, weight_format
from .hardware import Hardware, HardwareError, get_hardware, hardware_names, list_hardware
from .models import (ModelConfig, ModelConfigError, kv_bytes_per_token_layer, kv_cache_bytes, list_models, load_model,
                     model_names, textbook_model)
from .ops import attention_pairs, build_ops
from .roofline import matmul_intensity, ridge_point, roofline

#: Submodules loaded on first attribute access (``llmperf.tables`` ...): the chapters' computations
#: (numpy/pandas) and the helpers of the command line.
_LAZY_SUBMODULES = frozenset({"edge", "regimes", "rooflines", "share", "tables", "generation", "kvcache", "serving",
                              "htmlreport", "book", "report", "cli", "configfile", "parallel", "exercises", "charts",
                              "widgets"})


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'llmperf' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "Analysis", "Setup", "StepResult", "WorkloadError", "analyze", "decode_step", "make_setup", "prefill_step",
    "step", "sweep", "Conventions", "DTYPE_BYTES", "canonical_dtype", "dtype_bytes", "weight_format", "Hardware", "HardwareError",
    "get_hardware", "hardware_names", "list_hardware", "ModelConfig", "ModelConfigError", "kv_bytes_per_token_layer", "kv_cache_bytes", "list_models",
    "load_model", "model_names", "textbook_model", "attention_pairs", "build_ops", "matmul_intensity",
    "ridge_point", "roofline", "edge", "regimes", "rooflines", "share", "tables",
]
