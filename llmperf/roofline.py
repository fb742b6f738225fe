"""The roofline model: the whole of it, as one pure vectorized function."""
from __future__ import annotations

import numpy as np


def roofline(flops, bytes_moved, peak_flop_per_s, bandwidth_bytes_per_s):
    """Time and bound of work that does ``flops`` and moves ``bytes_moved``.

    An operation cannot finish before its arithmetic at the peak rate, nor
    before its traffic at the memory bandwidth, so its time is at least
    ``max(flops / peak, bytes / bandwidth)``; equivalently its attainable rate
    is ``min(peak, intensity * bandwidth)``. All arguments broadcast.

    Returns a dict of arrays: ``intensity`` (FLOP/byte), ``compute_s``,
    ``memory_s``, ``time_s``, ``attainable_flop_per_s`` and ``bound``
    (``"compute"`` where compute time is at least memory time, else ``"memory"``).
    """
    flops = np.asarray(flops, dtype=float)
    bytes_moved = np.asarray(bytes_moved, dtype=float)
    compute_s = flops / peak_flop_per_s
    memory_s = bytes_moved / bandwidth_bytes_per_s
    time_s = np.maximum(compute_s, memory_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        intensity = np.where(bytes_moved > 0, flops / np.where(bytes_moved > 0, bytes_moved, 1.0), np.inf)
        attainable = np.where(time_s > 0, flops / np.where(time_s > 0, time_s, 1.0), 0.0)
    bound = np.where(compute_s >= memory_s, "compute", "memory")
    return {"intensity": intensity, "compute_s": compute_s, "memory_s": memory_s, "time_s": time_s,
            "attainable_flop_per_s": attainable, "bound": bound}


def ridge_point(peak_flop_per_s, bandwidth_bytes_per_s):
    """Intensity (FLOP/byte) at which the roof turns: peak / bandwidth."""
    return np.asarray(peak_flop_per_s, dtype=float) / bandwidth_bytes_per_s


def matmul_intensity(m, n, k, bytes_per_element=2.0, weight_bytes_per_element=None):
    """Arithmetic intensity of ``[m, k] @ [k, n]``: 2mnk FLOP over the bytes of A, B and C.

    With ``m`` tokens against a ``[k, n]`` weight matrix, batch-1 decode
    (m = 1) gives about 1 FLOP/byte in 16-bit: every weight is used once.
    """
    a = bytes_per_element
    w = a if weight_bytes_per_element is None else weight_bytes_per_element
    m, n, k = (np.asarray(x, dtype=float) for x in (m, n, k))
    return 2 * m * n * k / (a * m * k + w * k * n + a * m * n)
