"""Shared test set-up: hypothesis profile, small reference cells on the import path."""

from __future__ import annotations

import os
import sys

import torch
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile(
    "rirn",
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "rirn"))
torch.set_num_threads(min(2, torch.get_num_threads()))
