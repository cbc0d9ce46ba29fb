"""The RIRN layers, one concept a file: IRM, ATB, DTB and GSA."""

from rirn_layers.layers.atb import AdaptiveTemporalBlend
from rirn_layers.layers.common import ResBlock
from rirn_layers.layers.dtb import DynamicTemporalBlend
from rirn_layers.layers.gsa import GlobalSpatioTemporalAttention
from rirn_layers.layers.irm import InnerRecurrence

__all__ = [
    "AdaptiveTemporalBlend",
    "DynamicTemporalBlend",
    "GlobalSpatioTemporalAttention",
    "InnerRecurrence",
    "ResBlock",
]
