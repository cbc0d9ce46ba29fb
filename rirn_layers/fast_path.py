"""Which reduced precision pays on this CPU: measured once, not assumed.

bfloat16 convolutions are fast only on CPUs with bf16 units (Intel AMX, AVX-512 BF16); on
others (e.g. AVX2-only machines) PyTorch emulates them and they run many times *slower*
than float32. The CPU capability string alone does not tell: ``"AVX512"`` covers CPUs with
and without BF16. :func:`cpu_reduced_precision` therefore times one representative
convolution (64 -> 64 channels, 3x3, a 64 x 64 ``channels_last`` map, the shape of the
zoo's feature convolutions) in float32 and under bfloat16 autocast, a few milliseconds
once per process, and answers bfloat16 only if it is clearly faster.

:class:`Precision` is a model's choice of precision for its steps: off, a forced reduced
dtype, or one per device (CUDA: bf16 where supported, else fp16; CPU: what
:func:`cpu_reduced_precision` measured).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch

__all__ = ["Precision", "cpu_reduced_precision"]

_REDUCED = (torch.bfloat16, torch.float16)

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


@dataclass(frozen=True)
class Precision:
    """The precision a model's steps run in: full, or reduced (autocast) on the fast path.

    Args:
        fast_path: run steps in reduced precision where :meth:`autocast_dtype` names one.
        dtype: the reduced dtype forced (``torch.bfloat16`` or ``torch.float16``);
            ``None``: chosen per device.
        cpu_dtype: the CPU's choice when ``dtype`` is ``None``: what
            :func:`cpu_reduced_precision` measured (``None``: float32 is as fast there).

    Example:
        >>> Precision().autocast_dtype(torch.device("cpu")) is None  # full precision
        True
        >>> Precision(True, torch.float16).autocast_dtype(torch.device("cpu"))
        torch.float16
    """

    fast_path: bool = False
    dtype: torch.dtype | None = None
    cpu_dtype: torch.dtype | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.fast_path, bool):
            raise TypeError(f"`enabled` must be True or False, got {self.fast_path!r}")
        if self.dtype is not None and self.dtype not in _REDUCED:
            raise ValueError(
                f"`dtype` must be None, torch.bfloat16 or torch.float16, got {self.dtype}"
            )

    @classmethod
    def measured(cls, fast_path: bool, dtype: torch.dtype | None = None) -> Precision:
        """``Precision(fast_path, dtype)``, with the CPU measured when it may be needed.

        Measure here, outside any compiled step: the measurement runs convolutions.
        """
        cpu = cpu_reduced_precision() if fast_path and dtype is None else None
        return cls(fast_path, dtype, cpu)

    def autocast_dtype(self, device: torch.device) -> torch.dtype | None:
        """The autocast dtype of a step on ``device``, or ``None``: full precision."""
        if not self.fast_path:
            return None
        if self.dtype is not None:
            return self.dtype
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return self.cpu_dtype if device.type == "cpu" else None
