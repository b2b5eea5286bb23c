"""Per-modality encoders: one block of one modality -> a latent vector per subject, and the
registry of encoders by name.

Every encoder maps a float tensor with subjects first to ``(n, latent_dim)``:

- ``"mlp"``: :class:`MLPEncoder` for tables (``n x p``),
- ``"cnn"``: :class:`ImageEncoder` for images (``n x C x H x W`` or ``n x C x H x W x D``),
- ``"conv1d"``: :class:`SeriesEncoder` and ``"gru"``: :class:`RecurrentSeriesEncoder` for
  series (``n x C x T``).

A modality kind names its default encoder (:attr:`medfuse.data.kinds.Kind.encoder`); a
strategy's ``encoders`` parameter can choose another registered name, an
:class:`EncoderSpec` (a registered architecture with pretrained weights, optionally frozen)
or a pre-built module. Encoders only ever see rows of subjects that have the modality;
missing subjects are represented downstream by a learned embedding (see
:mod:`medfuse.fusion.neural.layers`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from sklearn.base import BaseEstimator
from torch import nn


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
        ``C`` of an ``n x C x H x W [x D]`` block.
    spatial : sequence of int
        ``(H, W)`` or ``(H, W, D)``.
    latent_dim : int
        Output width.
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

    Works for any length ``T >= 1`` (pooling is global).

    Parameters
    ----------
    in_channels : int
        ``C`` of an ``n x C x T`` block.
    latent_dim : int
        Output width.
    width : int
        Channels of both convolutions (the pooled features are ``2 * width``: mean and
        max).
    dropout : float
        Dropout before the final linear map.
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
    or late in a recording).

    Parameters
    ----------
    in_channels : int
        ``C`` of an ``n x C x T`` block.
    latent_dim : int
        Output width.
    width : int
        Hidden size of the GRU in each direction.
    dropout : float
        Dropout before the final linear map.
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

#: name -> builder(shape, settings) returning an ``nn.Module`` with output ``latent_dim``.
_ENCODERS: dict[str, Callable] = {}


def register_encoder(name: str, builder: Callable | None = None):
    """Register an encoder builder under ``name`` (usable as a decorator).

    Parameters
    ----------
    name : str
        How a kind's ``encoder`` and a strategy's ``encoders`` refer to it.
    builder : callable, optional
        ``builder(shape, settings) -> nn.Module``: ``shape`` is the per-subject input shape
        after preprocessing, ``settings`` the strategy's
        :class:`~medfuse.fusion.neural.settings.NeuralSettings` (``latent_dim``,
        ``hidden``, ``dropout``, ``conv_width`` ...); the module maps ``(n, *shape)`` to
        ``(n, latent_dim)``. Omitted, a decorator is returned.

    Returns
    -------
    callable
        ``builder``, or the decorator that registers and returns one.
    """

    def wrap(f: Callable) -> Callable:
        _ENCODERS[str(name)] = f
        return f

    return wrap(builder) if builder is not None else wrap


def encoder_names() -> list[str]:
    """Registered encoder names.

    Returns
    -------
    list of str
        Sorted.
    """
    return sorted(_ENCODERS)


@register_encoder("mlp")
def _mlp(shape, settings) -> nn.Module:
    if len(shape) != 1:
        raise ValueError(f"The mlp encoder takes tables, got per-subject shape {tuple(shape)}.")
    return MLPEncoder(shape[0], tuple(settings.hidden), settings.latent_dim, settings.dropout)


@register_encoder("cnn")
def _cnn(shape, settings) -> nn.Module:
    return ImageEncoder(shape[0], shape[1:], settings.latent_dim, width=settings.conv_width,
                        dropout=settings.dropout)


def _check_series(shape) -> None:
    if len(shape) != 2:
        raise ValueError(f"timeseries blocks must be n x C x T, got per-subject {tuple(shape)}")


@register_encoder("conv1d")
def _conv1d(shape, settings) -> nn.Module:
    _check_series(shape)
    return SeriesEncoder(shape[0], settings.latent_dim, width=2 * settings.conv_width,
                         dropout=settings.dropout)


@register_encoder("gru")
def _gru(shape, settings) -> nn.Module:
    _check_series(shape)
    return RecurrentSeriesEncoder(shape[0], settings.latent_dim, width=2 * settings.conv_width,
                                  dropout=settings.dropout)


class EncoderSpec(BaseEstimator):
    """A registered encoder architecture, optionally started from pretrained weights.

    Parameters
    ----------
    name : str
        A registered encoder (:func:`encoder_names`).
    weights : str, optional
        A ``.safetensors`` file with the encoder's state dict (e.g. written by
        :func:`export_encoder` from another fitted model), loaded before training.
    freeze : bool
        Keep the encoder's weights fixed during training (only fusion and head learn).
    """

    def __init__(self, name: str = "mlp", weights: str | None = None,
                 freeze: bool = False) -> None:
        self.name = name
        self.weights = weights
        self.freeze = freeze


def build_encoder(modality: str, kind, shape: Sequence[int], settings,
                  pretrained: bool = True) -> nn.Module:
    """The encoder of one modality: the strategy's ``encoders`` choice for it, else the
    kind's default (:meth:`~medfuse.data.kinds.Kind.encoder_for`).

    Parameters
    ----------
    modality : str
    kind : Kind
        The modality's kind.
    shape : sequence of int
        Per-subject input shape after preprocessing (``(p,)``, ``(C, H, W[, D])``,
        ``(C, T)``).
    settings : NeuralSettings
    pretrained : bool
        Load an :class:`EncoderSpec`'s weights (True while fitting; False when rebuilding a
        saved model's architecture, whose weights come from the model file).
    """
    if settings.series_encoder not in SERIES_ENCODERS:
        raise ValueError(f"series_encoder must be one of {SERIES_ENCODERS}, got "
                         f"{settings.series_encoder!r}.")
    choice = (settings.encoders or {}).get(modality)
    if isinstance(choice, nn.Module):
        return copy.deepcopy(choice)
    spec = choice if isinstance(choice, EncoderSpec) else EncoderSpec(
        choice if isinstance(choice, str) else kind.encoder_for(settings))
    if spec.name is None:
        raise ValueError(f"Modality {modality!r} (kind {kind.name!r}) has no neural encoder; "
                         "give it a representation that makes features, or an encoder in "
                         "the strategy's encoders parameter.")
    if spec.name not in _ENCODERS:
        raise ValueError(f"Unknown encoder {spec.name!r} for modality {modality!r}; "
                         f"registered: {', '.join(encoder_names())}.")
    module = _ENCODERS[spec.name](tuple(shape), settings)
    if pretrained and spec.weights:
        from safetensors.torch import load_file

        state = load_file(str(spec.weights))
        try:
            module.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(f"The weights in {spec.weights} do not fit the {spec.name!r} "
                             f"encoder of modality {modality!r}: {err}") from None
    if spec.freeze:
        for p in module.parameters():
            p.requires_grad_(False)
    return module


def check_encoder(module: nn.Module, modality: str, shape: Sequence[int],
                  latent_dim: int) -> None:
    """Refuse an encoder whose output is not ``(n, latent_dim)`` for inputs ``(n, *shape)``."""
    with torch.no_grad():
        was = module.training
        module.eval()
        out = module(torch.zeros((2, *shape), dtype=torch.float32))
        module.train(was)
    if tuple(out.shape) != (2, latent_dim):
        raise ValueError(f"The encoder of modality {modality!r} maps inputs of shape "
                         f"{tuple(shape)} to {tuple(out.shape[1:])}, not ({latent_dim},).")


def export_encoder(model, modality: str, path: str | Path, member: int = 0) -> Path:
    """Save the trained encoder of one modality of a fitted neural strategy as a
    ``.safetensors`` file, to start another model from it (:class:`EncoderSpec` ``weights``).

    Parameters
    ----------
    model : NeuralFusion
        A fitted neural strategy.
    modality : str
        The modality whose encoder is saved.
    path : str or Path
        The ``.safetensors`` file to write.
    member : int
        Which network of a seed ensemble.

    Returns
    -------
    Path
        ``path``.
    """
    from safetensors.torch import save_file

    net = model.module_
    if hasattr(net, "members"):
        net = net.members[member]
    encoder = net.encode.encoders[list(model.modalities_).index(modality)]
    path = Path(path)
    save_file({k: v.detach().contiguous() for k, v in encoder.state_dict().items()}, str(path))
    return path
