"""Which reduced precision pays on this CPU: measured once, not assumed.

bfloat16 convolutions are fast only on CPUs with bf16 units (Intel AMX, AVX-512 BF16); on
others (e.g. AVX2-only machines) PyTorch emulates them and they run many times *slower*
than float32. The CPU capability string alone does not tell: ``"AVX512"`` covers CPUs with
and without BF16. :func:`cpu_reduced_precision` therefore times one representative
convolution (64 -> 64 channels, 3x3, a 64 x 64 ``channels_last`` map, the shape of the
zoo's feature convolutions) in float32 and under bfloat16 autocast, a few milliseconds
once per process, and answers bfloat16 only if it is clearly faster.
"""

from __future__ import annotations

import functools
import time

import torch

__all__ = ["cpu_reduced_precision"]

#: bfloat16 must take at most this fraction of float32's time to be chosen.
MARGIN = 0.9
_REPEATS = 5


def _best_time(conv: torch.nn.Module, x: torch.Tensor, bf16: bool) -> float:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        conv(x)  # warm-up: kernel selection, weight casts
        best = float("inf")
        for _ in range(_REPEATS):
            start = time.perf_counter()
            conv(x)
            best = min(best, time.perf_counter() - start)
    return best


@functools.cache
def _bf16_pays(capability: str, threads: int) -> bool:
    """One measurement per CPU capability and thread count (the arguments key the cache)."""
    generator = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 64, 64, 64, generator=generator).contiguous(
        memory_format=torch.channels_last
    )
    fp32 = _best_time(conv, x, bf16=False)
    bf16 = _best_time(conv, x, bf16=True)
    return bf16 <= MARGIN * fp32


def cpu_reduced_precision() -> torch.dtype | None:
    """``torch.bfloat16`` where this CPU runs bf16 convolutions faster than float32, else ``None``.

    Measured on the first call (a few milliseconds) and remembered for the process, per
    ``torch.backends.cpu.get_cpu_capability()`` and ``torch.get_num_threads()``.

    Example:
        >>> cpu_reduced_precision() in (torch.bfloat16, None)
        True
    """
    capability = torch.backends.cpu.get_cpu_capability()
    return torch.bfloat16 if _bf16_pays(capability, torch.get_num_threads()) else None
