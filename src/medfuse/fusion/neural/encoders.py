"""Per-modality encoders: one block of one modality -> a latent vector per subject.

Every encoder maps a float tensor with subjects first to ``(n, latent_dim)``:

- :class:`MLPEncoder` for tabular kinds (``n x p``),
- :class:`ImageEncoder` for ``image`` blocks (``n x C x H x W`` or ``n x C x H x W x D``),
- :class:`SeriesEncoder` for ``timeseries`` blocks (``n x C x T``).

Encoders only ever see rows of subjects that have the modality; missing subjects are
represented downstream by a learned embedding (see :mod:`medfuse.fusion.neural.layers`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

TABULAR_KINDS = ("continuous", "counts", "clinical")


class MLPEncoder(nn.Module):
    """Linear -> LayerNorm -> ReLU -> Dropout per hidden layer, then Linear to the latent.

    Parameters
    ----------
    n_features : int
        Input width ``p``.
    hidden : sequence of int
        Hidden layer widths (empty: a single linear map).
    latent_dim : int
        Output width.
    dropout : float
        Dropout after each hidden layer and on the input (half the rate there).
    """

    def __init__(self, n_features: int, hidden: Sequence[int], latent_dim: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Dropout(dropout / 2)] if dropout > 0 else []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LayerNorm(h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, latent_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, p) -> (n, latent_dim)."""
        return self.net(x)


def n_downsamplings(spatial: Sequence[int], max_down: int = 4, min_size: int = 4) -> int:
    """How many stride-2 stages an image of this size allows while every side stays at
    least ``min_size`` voxels (0 for tiny images)."""
    k, side = 0, min(spatial)
    while k < max_down and side // 2 >= min_size:
        side //= 2
        k += 1
    return k


class ImageEncoder(nn.Module):
    """A small CNN for 2D or 3D images that adapts to the image size.

    Stages of ``conv3 -> GroupNorm -> ReLU`` double the channels; the first
    :func:`n_downsamplings` stages have stride 2 (so 16x16 images get two downsamplings and
    64^3 volumes four), and global average pooling removes any dependence on the spatial size
    before a linear map to the latent.

    Parameters
    ----------
    in_channels : int
    spatial : sequence of int
        ``(H, W)`` or ``(H, W, D)``.
    latent_dim : int
    width : int
        Channels of the first stage.
    dropout : float
        Dropout before the final linear map.
    """

    def __init__(self, in_channels: int, spatial: Sequence[int], latent_dim: int,
                 width: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        if len(spatial) not in (2, 3):
            raise ValueError(f"ImageEncoder needs 2D or 3D images, got spatial shape {spatial}")
        conv = nn.Conv2d if len(spatial) == 2 else nn.Conv3d
        pool = nn.AdaptiveAvgPool2d if len(spatial) == 2 else nn.AdaptiveAvgPool3d
        n_down = n_downsamplings(spatial)
        n_stages = max(n_down, 2)
        layers: list[nn.Module] = []
        c_in, c_out = in_channels, width
        for s in range(n_stages):
            stride = 2 if s < n_down else 1
            layers += [conv(c_in, c_out, kernel_size=3, stride=stride, padding=1),
                       nn.GroupNorm(min(4, c_out), c_out), nn.ReLU()]
            c_in, c_out = c_out, min(c_out * 2, 64)
        layers += [pool(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_in, latent_dim)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, C, H, W[, D]) -> (n, latent_dim)."""
        return self.net(x)


class SeriesEncoder(nn.Module):
    """1D convolutions over time, then average- and max-pooling over time, then a linear map.

    Works for any length ``T >= 1`` (pooling is global). Parameters as in
    :class:`ImageEncoder`; ``in_channels`` is ``C`` of an ``n x C x T`` block.
    """

    def __init__(self, in_channels: int, latent_dim: int, width: int = 16,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(in_channels, width, kernel_size=5, padding=2), nn.ReLU(),
            nn.Conv1d(width, width, kernel_size=5, padding=2), nn.ReLU())
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * width, latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, C, T) -> (n, latent_dim)."""
        h = self.conv(x)
        return self.out(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))


class RecurrentSeriesEncoder(nn.Module):
    """A bidirectional GRU over time; its last hidden states (forward and backward) are
    mapped linearly to the latent space.

    Unlike :class:`SeriesEncoder`, whose global pooling makes it blind to WHEN a pattern
    occurs, the recurrent state carries the order and timing of events (e.g. a peak early
    or late in a recording). ``in_channels`` is ``C`` of an ``n x C x T`` block.
    """

    def __init__(self, in_channels: int, latent_dim: int, width: int = 16,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.gru = nn.GRU(in_channels, width, batch_first=True, bidirectional=True)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * width, latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, C, T) -> (n, latent_dim)."""
        _, last = self.gru(x.transpose(1, 2))            # last: (2, n, width)
        return self.out(torch.cat([last[0], last[1]], dim=1))


SERIES_ENCODERS = ("conv", "gru")


def build_encoder(kind: str, shape: Sequence[int], latent_dim: int, hidden: Sequence[int],
                  dropout: float, conv_width: int = 8,
                  series_encoder: str = "conv") -> nn.Module:
    """The encoder for one modality.

    Parameters
    ----------
    kind : modality kind (``continuous``, ``counts``, ``clinical``, ``image``, ``timeseries``).
    shape : per-subject input shape after preprocessing: ``(p,)`` for tabular kinds,
        ``(C, H, W[, D])`` for images, ``(C, T)`` for series.
    latent_dim, hidden, dropout : see :class:`MLPEncoder`.
    conv_width : channels of the first convolution of image/series encoders (the GRU's
        hidden size is twice it).
    series_encoder : ``"conv"`` (:class:`SeriesEncoder`) or ``"gru"``
        (:class:`RecurrentSeriesEncoder`) for time series.
    """
    if series_encoder not in SERIES_ENCODERS:
        raise ValueError(f"series_encoder must be one of {SERIES_ENCODERS}, got "
                         f"{series_encoder!r}.")
    if kind == "image":
        return ImageEncoder(shape[0], shape[1:], latent_dim, width=conv_width, dropout=dropout)
    if kind == "timeseries":
        if len(shape) != 2:
            raise ValueError(f"timeseries blocks must be n x C x T, got per-subject {shape}")
        encoder = SeriesEncoder if series_encoder == "conv" else RecurrentSeriesEncoder
        return encoder(shape[0], latent_dim, width=2 * conv_width, dropout=dropout)
    if len(shape) != 1:
        raise ValueError(f"{kind} blocks must be tabular, got per-subject shape {shape}")
    return MLPEncoder(shape[0], hidden, latent_dim, dropout)
