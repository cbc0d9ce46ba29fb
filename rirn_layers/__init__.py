"""rirn-layers: drop-in long-range memory for recurrent video-deblurring models.

The core layers of "Recurrence-in-Recurrence Networks for Video Deblurring" (Park, Nah and
Lee, BMVC 2022) and the blends and attention they are compared with:

- :class:`InnerRecurrence` (IRM), an RNN over hidden states, RIRN eq. 3;
- :class:`AdaptiveTemporalBlend` (ATB), a conical feature blend, RIRN eq. 4;
- :class:`DynamicTemporalBlend` (DTB), the sum-to-one blend of OVD (ICCV 2017);
- :class:`GlobalSpatioTemporalAttention` (GSA), the window fusion of ESTRNN (ECCV 2020);
- :func:`wrap_recurrent_cell`, which retrofits IRM and ATB onto any recurrent cell (with
  :class:`zero_state` and :class:`ExtraInput` for cells written as published code writes
  them), and :func:`detach_state` for truncated back-propagation through time.

This package imports only torch, einops and typing-extensions; the baselines, data,
training and video tools live in subpackages that the core never imports.
"""

from rirn_layers.cell_inputs import ExtraInput
from rirn_layers.cell_state import zero_state
from rirn_layers.contracts import CellFeatures, FrameReconstructor, RecurrentCell
from rirn_layers.layers import (
    AdaptiveTemporalBlend,
    DynamicTemporalBlend,
    GlobalSpatioTemporalAttention,
    InnerRecurrence,
    ResBlock,
)
from rirn_layers.model import RecurrentDeblurNet, StreamingDeblurModel, StreamState
from rirn_layers.padding import crop_to, pad_to_multiple
from rirn_layers.reconstructor import Reconstructor
from rirn_layers.wrap import RecurrentCellWrapper, RIRNState, detach_state, wrap_recurrent_cell

__version__ = "0.1.0"

__all__ = [
    "AdaptiveTemporalBlend",
    "CellFeatures",
    "DynamicTemporalBlend",
    "ExtraInput",
    "FrameReconstructor",
    "GlobalSpatioTemporalAttention",
    "InnerRecurrence",
    "RIRNState",
    "Reconstructor",
    "RecurrentCell",
    "RecurrentCellWrapper",
    "RecurrentDeblurNet",
    "ResBlock",
    "StreamState",
    "StreamingDeblurModel",
    "crop_to",
    "detach_state",
    "pad_to_multiple",
    "wrap_recurrent_cell",
    "zero_state",
]
