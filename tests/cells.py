"""Small recurrent cells of the shapes users plug in: GRU-style, LSTM-style, odd ones."""

from __future__ import annotations

import torch
from torch import nn


class TinyGRUCell(nn.Module):
    """Conv GRU, x2 encoder; feature and hidden at half resolution, tensor hidden."""

    def __init__(self, features: int = 6, hidden: int = 4, stride: int = 2) -> None:
        super().__init__()
        self.hidden = hidden
        self.encoder = nn.Conv2d(3, features, 3, stride=stride, padding=1)
        self.gates = nn.Conv2d(features + hidden, 2 * hidden, 3, padding=1)
        self.candidate = nn.Conv2d(features + hidden, hidden, 3, padding=1)
        self.out = nn.Conv2d(features + hidden, features, 3, padding=1)

    def forward(self, frame: torch.Tensor, hidden: torch.Tensor | None):
        x = torch.relu(self.encoder(frame))
        if hidden is None:
            hidden = x.new_zeros(x.shape[0], self.hidden, *x.shape[-2:])
        update, reset = torch.sigmoid(self.gates(torch.cat((x, hidden), 1))).chunk(2, 1)
        candidate = torch.tanh(self.candidate(torch.cat((x, reset * hidden), 1)))
        hidden = (1 - update) * hidden + update * candidate
        return self.out(torch.cat((x, hidden), 1)), hidden


class TinyLSTMCell(nn.Module):
    """Conv LSTM at full resolution with a tuple hidden state ``(h, c)``."""

    in_channels = 3

    def __init__(self, features: int = 5, hidden: int = 3) -> None:
        super().__init__()
        self.hidden = hidden
        self.encoder = nn.Conv2d(3, features, 3, padding=1)
        self.gates = nn.Conv2d(features + hidden, 4 * hidden, 3, padding=1)
        self.out = nn.Conv2d(features + hidden, features, 1)

    def forward(self, frame: torch.Tensor, hidden: tuple[torch.Tensor, torch.Tensor] | None):
        x = torch.relu(self.encoder(frame))
        if hidden is None:
            zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[-2:])
            hidden = (zeros, zeros)
        h, c = hidden
        i, f, o, g = self.gates(torch.cat((x, h), 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return self.out(torch.cat((x, h), 1)), (h, c)


class MismatchedCell(nn.Module):
    """Feature at half resolution, hidden at full resolution: must be rejected."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.keep = nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, frame: torch.Tensor, hidden: torch.Tensor | None):
        return self.down(frame), torch.tanh(self.keep(frame))


class OpaqueCell(nn.Module):
    """A cell that only runs on 7-channel input and has no channel attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(7 + 2, 6, 3, padding=1)

    def forward(self, frame: torch.Tensor, hidden: torch.Tensor | None):
        if hidden is None:
            hidden = frame.new_zeros(frame.shape[0], 2, *frame.shape[-2:])
        f, h = self.conv(torch.cat((frame, hidden), 1)).split([4, 2], 1)
        return f, torch.tanh(h)
