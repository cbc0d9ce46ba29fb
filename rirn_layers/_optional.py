"""The one way the package imports an optional dependency.

The core needs only torch, einops and typing-extensions; the rest comes with an extra
(``pyproject.toml``): ``train`` (scikit-image, Pillow, kornia, tqdm, tensorboard,
matplotlib), ``video`` (PyAV, Pillow, numpy), ``inspect`` (matplotlib), ``export`` (onnx,
onnxscript, onnxruntime), ``bench`` (matplotlib, numpy). :func:`require` imports a module
where it is used, or fails with one line that names what needs it, the package that
provides it and the extra that installs it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]

#: Import name (its first part) -> the name pip installs it under, where they differ.
_PACKAGES = {"PIL": "pillow", "skimage": "scikit-image", "av": "av", "cv2": "opencv-python"}
_EXTRAS = ("train", "video", "inspect", "export", "bench", "docs", "test")


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise ``ImportError`` naming ``purpose``, its package and ``extra``.

    Example:
        >>> require("math", extra="train", purpose="this example").sqrt(4.0)
        2.0
        >>> require("no_such_module", extra="video", purpose="Reading videos")
        Traceback (most recent call last):
        ...
        ImportError: Reading videos needs the optional package 'no_such_module' (not installed); install it with: pip install 'rirn-layers[video]'
    """  # noqa: E501
    if extra not in _EXTRAS:
        raise ValueError(f"require: `extra` must be one of {', '.join(_EXTRAS)}, got {extra!r}")
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = _PACKAGES.get(module.split(".")[0], module.split(".")[0])
        raise ImportError(
            f"{purpose} needs the optional package {package!r} (not installed); install it "
            f"with: pip install 'rirn-layers[{extra}]'"
        ) from err
