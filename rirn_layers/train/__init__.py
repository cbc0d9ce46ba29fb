"""Training tools: metrics as the papers report them and safe, resumable checkpoints.

Needs the ``train`` extra (``pip install 'rirn-layers[train]'``) for SSIM (kornia).
"""

from rirn_layers.train.checkpoint import (
    CheckpointError,
    copy_checkpoint,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    unwrap_model,
)
from rirn_layers.train.metrics import MetricTracker, psnr, quantize_8bit, ssim

__all__ = [
    "CheckpointError",
    "MetricTracker",
    "copy_checkpoint",
    "load_checkpoint",
    "model_from_checkpoint",
    "psnr",
    "quantize_8bit",
    "save_checkpoint",
    "ssim",
    "unwrap_model",
]
