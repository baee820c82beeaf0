"""Sinusoidal position encodings (AnimateDiff `PositionalEncoding`, spec formats.md §2.5)."""
import math

import torch


def sinusoidal_encoding(length: int, dim: int) -> torch.Tensor:
    """Table of shape (length, dim): pe[p, 2i] = sin(p*w_i), pe[p, 2i+1] = cos(p*w_i), w_i = 10000^(-2i/dim).

    Computed in fp32, as the original code does.
    """
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    omega = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(position * omega)
    pe[:, 1::2] = torch.cos(position * omega)
    return pe
