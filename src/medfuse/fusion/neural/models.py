"""Neural fusion strategies as scikit-learn classifiers: ``intermediate``, ``attention`` and
``cross-attention``.

All three share one design: a per-modality encoder (:mod:`~medfuse.fusion.neural.encoders`)
maps the subjects that have a modality to a latent vector of size ``latent_dim``; a subject
without the modality gets a learned "missing" embedding instead (its rows never reach the
encoder), and the availability mask goes to the fusion layer
(:mod:`~medfuse.fusion.neural.layers`). Inputs are preprocessed inside the estimator, fitted on
the training subjects only: tabular blocks with :func:`medfuse.preprocess.resolve_preprocessor`
(z-score, log-CPM + z-score, clinical encoding by default; cells still NaN afterwards become 0,
the training mean), image and timeseries blocks with per-channel standardisation.

Persistence
-----------
Every torch module of a fitted estimator lives in ``module_`` (a
:class:`~medfuse.fusion.neural.layers.FusionNetwork`); everything else fitted is numpy,
pandas or scikit-learn. ``_build_module()`` rebuilds an untrained network of the right
architecture from the fitted attributes, so a model is saved as the estimator without
``module_`` plus ``module_.state_dict()``, and loaded with
``est.module_ = est._build_module(); est.module_.load_state_dict(state)``.

Explanations
------------
``inputs, mask = est._torch_inputs(data)`` gives the preprocessed inputs on ``est.device``:
a list with one float tensor per training modality (order ``est.modalities_``, all subjects
first; rows of subjects lacking the modality are zeros and are never used) and a bool mask
``(n_subjects, n_modalities)``. ``est.module_(inputs, mask)`` returns logits
``(n_subjects, n_classes)`` (softmax gives ``predict_proba``; for ``n_ensemble > 1`` they are
the log of the members' mean probabilities) and is differentiable with
respect to every input tensor, e.g. for captum:
``IntegratedGradients(lambda *xs, mask: est.module_(list(xs), mask))`` with
``additional_forward_args=(mask,)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion._class_weight import class_weights
from medfuse.fusion.base import FusionClassifier
from medfuse.fusion.neural.encoders import TABULAR_KINDS, build_encoder
from medfuse.fusion.neural.layers import EnsembleNetwork, FusionNetwork
from medfuse.fusion.neural.train import TrainHistory, train_module
from medfuse.fusion.registry import register
from medfuse.preprocess.blocks import (
    as_matrix,
    fit_transform_block,
    resolve_preprocessor,
    transform_block,
)

KINDS = (*TABULAR_KINDS, "image", "timeseries")
_PREDICT_BATCH = 256


class NeuralFusion(FusionClassifier):
    """Base of the neural strategies (parameters shared by all three).

    Parameters
    ----------
    latent_dim : int
        Size of every modality's latent vector.
    hidden : tuple of int
        Hidden widths of the tabular (MLP) encoders; the default ``()`` is a linear map to
        the latent, which suits omics with a few hundred subjects (inner-CV choice on ROSMAP).
    head_hidden : int
        Hidden width of the classification head (0, the default: linear head; use e.g. 32
        so that ``intermediate`` can model interactions between modalities).
    dropout : float
        Dropout in encoders and head.
    lr : float
        AdamW learning rate.
    weight_decay : float
        AdamW (decoupled) weight decay.
    max_epochs : int
    patience : int
        Early stopping: epochs without a lower validation loss before stopping.
    batch_size : int
    modality_dropout : float
        Probability of hiding each modality a subject has in a training batch (never all of
        them), so that predicting with missing modalities is trained for.
    class_weight : None, "balanced", dict or sequence
        Cross-entropy class weights ("balanced": inverse class frequency; a dict is keyed by
        class label, a sequence follows ``classes_``).
    validation_fraction : float
        Share of training subjects held out (stratified, seeded) for early stopping; 0 trains
        for ``max_epochs``.
    preprocessors : None, dict or transformer
        Tabular preprocessing, see :func:`medfuse.preprocess.resolve_preprocessor`.
    conv_width : int
        Channels of the first convolution of image / timeseries encoders.
    series_encoder : {"conv", "gru"}
        Time-series encoder: 1-D convolutions with global pooling (fast; blind to when a
        pattern occurs) or a bidirectional GRU (keeps order and timing).
    device : str
        Torch device, e.g. "cpu" or "cuda".
    reconstruction : float
        Weight of an auxiliary loss: a linear decoder reconstructs each tabular modality from
        its latent (mean squared error on the standardised inputs). It keeps the latents on
        each modality's main axes of variation, which helps a lot when the outcome depends on
        a cross-modal interaction that gives little signal through any modality alone.
        0 turns it off.
    auxiliary : float
        Weight of a second auxiliary loss: a linear classifier on each modality's latent
        predicts the outcome from that modality alone (deep supervision), so every latent
        carries the label signal that late fusion exploits; the heads are used in training
        only. 0 turns it off.
    refit : bool
        After early stopping has chosen the number of epochs on the inner validation split,
        train a fresh network (same seed) on all training subjects for that many epochs.
    n_ensemble : int
        Number of networks trained from different seeds (each with its own inner split)
        whose class probabilities are averaged; ``module_`` is then an
        :class:`~medfuse.fusion.neural.layers.EnsembleNetwork`. The default 5 averages out
        the noise of early stopping on a small inner split (repeated 5-fold CV on the ROSMAP
        training subjects: intermediate AUC .849 with 1 network, .861 with 5), at 5 times
        the fitting cost; use 1 for speed.
    n_threads : int or None
        Torch CPU threads while fitting/predicting (restored afterwards); None leaves the
        setting alone.
    random_state : int, RandomState or None
        Seeds weight initialisation, dropout, the inner split and batch order: the same seed
        gives identical predictions on the same device and thread count.
    verbose : bool
        Show a progress bar while training.

    Attributes
    ----------
    module_ : FusionNetwork
        All torch weights.
    preprocessors_ : dict modality -> fitted transformer (or None) for tabular modalities.
    channel_mean_, channel_std_ : dict modality -> ndarray (C,) for array modalities.
    input_shapes_ : dict modality -> per-subject input shape after preprocessing.
    history_ : list (one per ensemble member) of dicts with ``train_loss`` and ``val_loss``
        lists (one value per epoch).
    best_epoch_, n_epochs_ : ndarray (n_ensemble,) of int, the epoch kept and the epochs run
        by each member before any refit.
    seed_ : int, the seed actually used.
    """

    _fusion = "concat"

    def __init__(self, *, latent_dim: int = 32, hidden: tuple[int, ...] = (),
                 head_hidden: int = 0, dropout: float = 0.5, lr: float = 1e-3,
                 weight_decay: float = 1e-2, max_epochs: int = 200, patience: int = 20,
                 batch_size: int = 32, modality_dropout: float = 0.2,
                 class_weight="balanced", validation_fraction: float = 0.2,
                 preprocessors=None, conv_width: int = 8, series_encoder: str = "conv",
                 device: str = "cpu",
                 reconstruction: float = 1.0, auxiliary: float = 0.0, refit: bool = True,
                 n_ensemble: int = 5,
                 n_threads: int | None = None,
                 random_state=None, verbose: bool = False) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.head_hidden = head_hidden
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.modality_dropout = modality_dropout
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.preprocessors = preprocessors
        self.conv_width = conv_width
        self.series_encoder = series_encoder
        self.device = device
        self.reconstruction = reconstruction
        self.auxiliary = auxiliary
        self.refit = refit
        self.n_ensemble = n_ensemble
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ torch state
    @contextlib.contextmanager
    def _torch_state(self, seed: int | None = None) -> Iterator[None]:
        """Fixed threads and deterministic algorithms; with ``seed``, a forked and seeded
        global torch RNG (dropout, initialisation), so the caller's RNG is untouched."""
        threads = torch.get_num_threads()
        deterministic = torch.are_deterministic_algorithms_enabled()
        devices = [torch.device(self.device)] if torch.device(self.device).type == "cuda" else []
        try:
            if self.n_threads is not None:
                torch.set_num_threads(int(self.n_threads))
            torch.use_deterministic_algorithms(True, warn_only=True)
            with torch.random.fork_rng(devices=devices):
                if seed is not None:
                    torch.manual_seed(seed)
                yield
        finally:
            torch.use_deterministic_algorithms(deterministic)
            torch.set_num_threads(threads)

    def _network_kwargs(self) -> dict:
        return {}

    def _build_module(self) -> nn.Module:
        """An untrained network with the fitted architecture (on ``self.device``)."""
        check_is_fitted(self, "input_shapes_")
        if self.n_ensemble > 1:
            return EnsembleNetwork([self._build_member() for _ in range(self.n_ensemble)])
        return self._build_member()

    def _build_member(self) -> FusionNetwork:
        encoders = [build_encoder(self.modality_kinds_[m], self.input_shapes_[m],
                                  self.latent_dim, tuple(self.hidden), self.dropout,
                                  self.conv_width, self.series_encoder)
                    for m in self.modalities_]
        reconstruct = [self.input_shapes_[m][0] if self.reconstruction > 0
                       and self.modality_kinds_[m] in TABULAR_KINDS else 0
                       for m in self.modalities_]
        net = FusionNetwork(encoders, self.latent_dim, len(self.classes_), fusion=self._fusion,
                            head_hidden=self.head_hidden, dropout=self.dropout,
                            reconstruct=reconstruct, aux_heads=self.auxiliary > 0,
                            **self._network_kwargs())
        return net.to(self.device)

    # ------------------------------------------------------------------ preprocessing
    def _fit_preprocessing(self, data: MultiModalData) -> None:
        self.preprocessors_, self.channel_mean_, self.channel_std_ = {}, {}, {}
        self.input_shapes_ = {}
        for m in self.modalities_:
            spec = data.modalities[m]
            block = data.block(m)
            if self.modality_kinds_[m] in ("image", "timeseries"):
                x = np.asarray(block, dtype=np.float64)
                axes = (0, *range(2, x.ndim))
                mean, std = x.mean(axis=axes), x.std(axis=axes)
                self.channel_mean_[m] = mean
                self.channel_std_[m] = np.where(std > 0, std, 1.0)
                self.input_shapes_[m] = tuple(int(s) for s in x.shape[1:])
            else:
                tf = resolve_preprocessor(self.preprocessors, m, spec)
                out = fit_transform_block(tf, block, obs=data.obs.loc[block.index])
                self.preprocessors_[m] = tf
                self.input_shapes_[m] = (as_matrix(out).shape[1],)

    def _arrays(self, data: MultiModalData) -> tuple[list[np.ndarray], np.ndarray]:
        """Preprocessed float32 arrays (all subjects first, zeros where missing) and mask."""
        mask = data.available[self.modalities_].to_numpy()
        arrays = []
        for j, m in enumerate(self.modalities_):
            rows = mask[:, j]
            x = np.zeros((len(data), *self.input_shapes_[m]), dtype=np.float32)
            if rows.any():
                block = data.block(m)
                if m in self.channel_mean_:
                    shape = (1, -1) + (1,) * (len(self.input_shapes_[m]) - 1)
                    v = ((np.asarray(block, dtype=np.float64)
                          - self.channel_mean_[m].reshape(shape))
                         / self.channel_std_[m].reshape(shape))
                else:
                    out = transform_block(self.preprocessors_[m], block,
                                          obs=data.obs.loc[block.index])
                    v = as_matrix(out)
                x[rows] = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
            arrays.append(x)
        return arrays, mask

    def _tensors(self, arrays: Sequence[np.ndarray], mask: np.ndarray, rows=slice(None)
                 ) -> tuple[list[torch.Tensor], torch.Tensor]:
        inputs = [torch.as_tensor(a[rows], device=self.device) for a in arrays]
        return inputs, torch.as_tensor(mask[rows], device=self.device)

    def _torch_inputs(self, data: MultiModalData) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Preprocessed inputs for ``module_``: (list of float tensors, one per modality in
        ``modalities_`` order with all subjects first, zeros where missing; bool mask
        ``(n_subjects, n_modalities)``), on ``self.device``. See the module docstring."""
        check_is_fitted(self, "module_")
        return self._tensors(*self._arrays(self.align(data)))

    # ------------------------------------------------------------------ fit / predict
    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        self.seed_ = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self._fit_preprocessing(data)
        arrays, mask = self._arrays(data)
        inputs, mask_t = self._tensors(arrays, mask)
        if self.n_ensemble < 1:
            raise ValueError(f"n_ensemble must be at least 1, got {self.n_ensemble}")
        members, self.history_, best, ran = [], [], [], []
        for k in range(self.n_ensemble):
            seed = self.seed_ + k
            net, hist = self._train(inputs, mask_t, y, self.max_epochs,
                                    self.validation_fraction, seed)
            if self.refit and hist.val_loss:
                net, _ = self._train(inputs, mask_t, y, hist.best_epoch + 1, 0.0, seed)
            members.append(net)
            self.history_.append({"train_loss": hist.train_loss, "val_loss": hist.val_loss})
            best.append(hist.best_epoch)
            ran.append(len(hist.train_loss))
        self.best_epoch_, self.n_epochs_ = np.array(best), np.array(ran)
        self.module_ = members[0] if self.n_ensemble == 1 else EnsembleNetwork(members)
        self.module_.eval()

    def _index_weight(self, y: np.ndarray):
        """``class_weight`` with a dict keyed by class labels turned into per-class weights
        in class-index order (None and "balanced" pass through: "balanced" is computed on
        the inner training part)."""
        if self.class_weight is None or isinstance(self.class_weight, str):
            return self.class_weight
        return class_weights(self.class_weight, np.asarray(self.classes_), y)

    def _train(self, inputs, mask, y, max_epochs: int, validation_fraction: float, seed: int
               ) -> tuple[FusionNetwork, TrainHistory]:
        """Build one network from ``seed`` and train it (see :func:`train_module`)."""
        with self._torch_state(seed):
            net = self._build_member()
            hist = train_module(
                net, inputs, mask, y, lr=self.lr, weight_decay=self.weight_decay,
                max_epochs=max_epochs, patience=self.patience, batch_size=self.batch_size,
                modality_dropout=self.modality_dropout, class_weight=self._index_weight(y),
                validation_fraction=validation_fraction, seed=seed,
                reconstruction=self.reconstruction, auxiliary=self.auxiliary,
                verbose=self.verbose,
                description=type(self).__name__)
        return net, hist

    def _forward(self, data: MultiModalData, what: str = "logits") -> np.ndarray:
        """Evaluate the network in batches on aligned data: ``logits`` or the fusion's
        attention weights (``weights``)."""
        arrays, mask = self._arrays(data)
        parts = []
        self.module_.eval()
        with self._torch_state(), torch.no_grad():
            for start in range(0, len(data), _PREDICT_BATCH):
                inputs, m = self._tensors(arrays, mask, slice(start, start + _PREDICT_BATCH))
                if what == "logits":
                    parts.append(self.module_(inputs, m))
                else:
                    parts.append(self.module_.fuse_latents(inputs, m)[1])
        return torch.cat(parts).cpu().double().numpy()

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        logits = self._forward(data)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


@register("intermediate", family="neural", kinds=KINDS, handles_missing=True,
          interpretable=False)
class IntermediateFusion(NeuralFusion):
    """Intermediate fusion: per-modality encoders, latents concatenated into a shared head.

    A missing modality enters the head as its learned "missing" embedding, and the head also
    sees the availability mask. Parameters: see :class:`NeuralFusion`.
    """

    _fusion = "concat"


class _AttentionWeights:
    def attention_weights(self, data: MultiModalData) -> pd.DataFrame:
        """Modality attention per subject: DataFrame subjects x modalities whose rows sum to
        1, exactly 0 for modalities the subject lacks."""
        check_is_fitted(self, "module_")
        data = self.align(data)
        w = self._modality_weights(self._forward(data, "weights"))
        return pd.DataFrame(w, index=data.subjects,
                            columns=pd.Index(self.modalities_, name="modality"))

    def _set_attention(self, data: MultiModalData) -> None:
        self.attention_ = self.attention_weights(data).mean(axis=0)


@register("attention", family="neural", kinds=KINDS, handles_missing=True,
          interpretable=True)
class AttentionFusion(_AttentionWeights, NeuralFusion):
    """Modality-attention fusion: ``e_i = w^T tanh(W z_i + b)``, ``alpha = softmax(e)`` over
    the modalities a subject has, ``F = sum_i alpha_i z_i`` into the head.

    Parameters: see :class:`NeuralFusion`, plus ``attn_dim`` (width of ``W``); the default
    ``latent_dim`` is 16 here (inner-CV choice on ROSMAP).

    Attributes
    ----------
    attention_ : Series modality -> mean attention weight over the training subjects
        (0 counted for subjects lacking the modality).
    """

    _fusion = "attention"

    def __init__(self, *, latent_dim: int = 16, hidden: tuple[int, ...] = (),
                 head_hidden: int = 0, dropout: float = 0.5, lr: float = 1e-3,
                 weight_decay: float = 1e-2, max_epochs: int = 200, patience: int = 20,
                 batch_size: int = 32, modality_dropout: float = 0.2,
                 class_weight="balanced", validation_fraction: float = 0.2,
                 preprocessors=None, conv_width: int = 8, series_encoder: str = "conv",
                 device: str = "cpu",
                 reconstruction: float = 1.0, auxiliary: float = 0.0, refit: bool = True,
                 n_ensemble: int = 5,
                 n_threads: int | None = None,
                 random_state=None, verbose: bool = False,
                 attn_dim: int = 16) -> None:
        # scikit-learn needs every parameter spelled out (no **kwargs) in the signature.
        super().__init__(
            latent_dim=latent_dim, hidden=hidden, head_hidden=head_hidden, dropout=dropout, lr=lr,
            weight_decay=weight_decay, max_epochs=max_epochs, patience=patience,
            batch_size=batch_size, modality_dropout=modality_dropout,
            class_weight=class_weight, validation_fraction=validation_fraction,
            preprocessors=preprocessors, conv_width=conv_width,
            series_encoder=series_encoder, device=device,
            reconstruction=reconstruction, auxiliary=auxiliary, refit=refit,
            n_ensemble=n_ensemble,
            n_threads=n_threads, random_state=random_state,
            verbose=verbose)
        self.attn_dim = attn_dim

    def _network_kwargs(self) -> dict:
        return {"attn_dim": self.attn_dim}

    def _modality_weights(self, raw: np.ndarray) -> np.ndarray:
        return raw

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        super()._fit(data, y)
        self._set_attention(data)


@register("cross-attention", family="neural", kinds=KINDS, handles_missing=True,
          interpretable=True)
class CrossAttentionFusion(_AttentionWeights, NeuralFusion):
    """Cross-modal attention fusion: each modality's latent token queries the modalities the
    subject has (multi-head attention with a key padding mask for missing ones), followed by
    a feed-forward layer; the output tokens of present modalities are averaged into the head.

    Parameters: see :class:`NeuralFusion`, plus ``n_heads`` (must divide ``latent_dim``); the
    defaults here are ``lr=3e-4`` and ``patience=40`` (inner-CV choice on ROSMAP).

    Attributes
    ----------
    attention_ : Series modality -> mean attention a modality receives over the training
        subjects (see :meth:`attention_weights`).
    """

    _fusion = "cross-attention"

    def __init__(self, *, latent_dim: int = 32, hidden: tuple[int, ...] = (),
                 head_hidden: int = 0, dropout: float = 0.5, lr: float = 3e-4,
                 weight_decay: float = 1e-2, max_epochs: int = 200, patience: int = 40,
                 batch_size: int = 32, modality_dropout: float = 0.2,
                 class_weight="balanced", validation_fraction: float = 0.2,
                 preprocessors=None, conv_width: int = 8, series_encoder: str = "conv",
                 device: str = "cpu",
                 reconstruction: float = 1.0, auxiliary: float = 0.0, refit: bool = True,
                 n_ensemble: int = 5,
                 n_threads: int | None = None,
                 random_state=None, verbose: bool = False,
                 n_heads: int = 2) -> None:
        # scikit-learn needs every parameter spelled out (no **kwargs) in the signature.
        super().__init__(
            latent_dim=latent_dim, hidden=hidden, head_hidden=head_hidden, dropout=dropout, lr=lr,
            weight_decay=weight_decay, max_epochs=max_epochs, patience=patience,
            batch_size=batch_size, modality_dropout=modality_dropout,
            class_weight=class_weight, validation_fraction=validation_fraction,
            preprocessors=preprocessors, conv_width=conv_width,
            series_encoder=series_encoder, device=device,
            reconstruction=reconstruction, auxiliary=auxiliary, refit=refit,
            n_ensemble=n_ensemble,
            n_threads=n_threads, random_state=random_state,
            verbose=verbose)
        self.n_heads = n_heads

    def _network_kwargs(self) -> dict:
        return {"n_heads": self.n_heads}

    def cross_attention_maps(self, data: MultiModalData) -> np.ndarray:
        """Attention maps, ndarray ``(n_subjects, n_heads, n_modalities, n_modalities)``:
        ``maps[s, h, q, k]`` is the weight that query modality ``q`` gives key modality ``k``
        in head ``h`` for subject ``s`` (subjects in ``data.subjects`` order, modalities in
        ``modalities_`` order). Rows of present queries sum to 1; rows of missing queries and
        columns of missing keys are 0."""
        check_is_fitted(self, "module_")
        return self._forward(self.align(data), "weights")

    def _modality_weights(self, maps: np.ndarray) -> np.ndarray:
        """Attention each key modality receives, averaged over heads and present queries
        (rows sum to 1, 0 for missing modalities)."""
        per_query = maps.mean(axis=1)
        present = per_query.sum(axis=2) > 0
        return (per_query.sum(axis=1) / np.maximum(present.sum(axis=1), 1)[:, None])

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        super()._fit(data, y)
        self._set_attention(data)
