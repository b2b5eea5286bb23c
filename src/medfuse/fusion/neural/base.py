"""The base of the neural strategies (:class:`NeuralFusion`): settings, inputs, training and
prediction shared by ``intermediate``, ``attention`` and ``cross-attention``.

All three share one design: a per-modality encoder (:mod:`~medfuse.fusion.neural.encoders`)
maps the subjects that have a modality to a latent vector of size ``latent_dim``; a subject
without the modality gets a learned "missing" embedding instead (its rows never reach the
encoder), and the availability mask goes to the fusion layer
(:mod:`~medfuse.fusion.neural.layers`). Inputs are preprocessed inside the estimator, fitted on
the training subjects only: tabular blocks with :func:`medfuse.preprocess.resolve_preprocessor`
(z-score, log-CPM + z-score, clinical encoding by default; cells still NaN afterwards become 0,
the training mean), image and timeseries blocks with per-channel standardisation.

Notes
-----
*Persistence.* Every torch module of a fitted estimator lives in ``module_`` (a
:class:`~medfuse.fusion.neural.layers.FusionNetwork`); everything else fitted is numpy,
pandas or scikit-learn. ``_build_module()`` rebuilds an untrained network of the right
architecture from the fitted attributes, so a model is saved as the estimator without
``module_`` plus ``module_.state_dict()``, and loaded with
``est.module_ = est._build_module(); est.module_.load_state_dict(state)``.

*Explanations.* ``inputs, mask = est._torch_inputs(data)`` gives the preprocessed inputs on
``est.device``: a list with one float tensor per training modality (order
``est.modalities_``, all subjects first; rows of subjects lacking the modality are zeros and
are never used) and a bool mask
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
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn

from medfuse import limits
from medfuse.data.kinds import get_kind
from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.fusion.base import FusionClassifier
from medfuse.fusion.neural.encoders import build_encoder, check_encoder
from medfuse.fusion.neural.layers import EnsembleNetwork, FusionNetwork
from medfuse.fusion.neural.objectives import (
    Reconstruction,
    default_objectives,
    loss_term_spec,
    make_objectives,
    network_parts,
    term_labels,
)
from medfuse.fusion.neural.settings import NeuralSettings, settings_init
from medfuse.fusion.neural.train import TrainHistory, pretrain_module, train_module
from medfuse.preprocess.blocks import (
    as_matrix,
    fit_transform_block,
    neural_input,
    resolve_preprocessor,
    transform_block,
)

_PREDICT_BATCH = 256


def _whole(value, name: str) -> int:
    """A non-negative whole number of a network's settings (bool refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} is {value!r}, not a non-negative whole number")
    return int(value)


def _one_shape_message(modality: str, kind: str, got: str) -> str:
    """Why a modality cannot reach a neural encoder, with a representation that fits its
    kind."""
    from medfuse.represent import representations_for

    fitting = representations_for(kind)
    hint = (f"give it a representation that fits the {kind} kind (e.g. representations="
            f"{{{modality!r}: {fitting[0]!r}}}) or a preprocessor that resamples it"
            if fitting else "give it a preprocessor that makes one array per subject")
    return (f"Modality {modality!r} ({kind}) reaches the neural strategies as a {got}, not one "
            f"array of one shape per subject, which an encoder needs: {hint}.")


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
        Most training epochs of each network.
    patience : int
        Early stopping: epochs without a lower validation loss before stopping.
    batch_size : int
        Subjects per mini-batch.
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
        Tabular preprocessing, see :func:`medfuse.preprocess.resolve_preprocessor`; array
        modalities are standardised per channel unless a dict gives them a transformer.
    conv_width : int
        Channels of the first convolution of image / timeseries encoders.
    series_encoder : {"conv", "gru"}
        Time-series encoder: 1-D convolutions with global pooling (fast; blind to when a
        pattern occurs) or a bidirectional GRU (keeps order and timing).
    encoders : dict modality -> str, EncoderSpec or nn.Module, optional
        Encoder of a modality instead of its kind's default: a registered encoder name
        (:func:`~medfuse.fusion.neural.encoders.register_encoder`), an
        :class:`~medfuse.fusion.neural.encoders.EncoderSpec` (pretrained weights, optionally
        frozen) or a pre-built module mapping ``(n, *shape)`` to ``(n, latent_dim)`` (copied
        for every network; a model holding a module cannot be saved: register it instead).
    objectives : list, optional
        The training loss terms (:mod:`medfuse.fusion.neural.objectives`): registered names
        (``"cross-entropy"``), ``{"name": ..., "params": {...}}`` or LossTerm objects; by
        default cross-entropy plus the ``reconstruction`` and ``auxiliary`` terms below.
        Given explicitly, they replace those two weights.
    pretrain_epochs : int
        Epochs of an unsupervised stage before supervised training, on every subject,
        subjects without an outcome included (their outcome may be missing in ``fit`` only
        when this is positive).
    pretrain_objectives : list, optional
        Label-free terms of that stage, given as ``objectives`` (default: reconstruction).
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
        Torch CPU threads while fitting (restored afterwards); None leaves the setting
        alone. Prediction changes no process-wide torch setting, so several threads may
        predict with one model at once.
    random_state : int, RandomState or None
        Seeds weight initialisation, dropout, the inner split and batch order: the same seed
        gives identical predictions on the same device and thread count.
    verbose : bool
        Show a progress bar while training.

    Attributes
    ----------
    module_ : FusionNetwork
        All torch weights.
    preprocessors_ : dict modality -> fitted transformer (or None): the tabular
        preprocessing, or a :class:`~medfuse.preprocess.ChannelStandardizer` for arrays.
    input_shapes_ : dict modality -> per-subject input shape after preprocessing.
    pretrain_loss_ : list (one per ensemble member) of per-epoch losses of the
        unsupervised stage (empty lists without one).
    history_ : list (one per ensemble member) of dicts with ``train_loss`` and ``val_loss``
        lists (one value per epoch) and ``term_loss``: term label -> per-epoch mean of that
        term, unweighted (labels from
        :func:`~medfuse.fusion.neural.objectives.term_labels`).
    network_parts_ : list of str, the network parts the loss terms needed (decoders,
        auxiliary heads), so the architecture is rebuilt without the terms.
    best_epoch_, n_epochs_ : ndarray (n_ensemble,) of int, the epoch kept and the epochs run
        by each member before any refit.
    seed_ : int, the seed actually used.
    """

    _fusion = "concat"
    #: per-class overrides of the shared defaults, and the class's own parameters
    _defaults: ClassVar[dict] = {}
    _extra: ClassVar[dict] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.__init__ = settings_init(cls._defaults, cls._extra)

    @property
    def settings(self) -> NeuralSettings:
        """The shared parameters as one :class:`NeuralSettings` object."""
        return NeuralSettings.of(self)

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

    def _uses_unlabelled(self) -> bool:
        return int(self.pretrain_epochs) > 0

    def _objectives(self) -> list:
        """The supervised loss terms (``objectives``, or those made from the
        ``reconstruction`` and ``auxiliary`` weights)."""
        if self.objectives is not None:
            return make_objectives(self.objectives, "objectives")
        return default_objectives(self.reconstruction, self.auxiliary)

    def _pretrain_objectives(self) -> list:
        if int(self.pretrain_epochs) <= 0:
            return []
        return (make_objectives(self.pretrain_objectives, "pretrain_objectives")
                or [Reconstruction(1.0)])

    def _check_settings(self) -> None:
        """Refuse settings that cannot train, before any fit: loss terms that are not
        registered names, ``{name, params}`` or LossTerm objects, and supervised terms in
        the unsupervised stage (a ValueError naming the parameter)."""
        if self.objectives is not None and not make_objectives(self.objectives):
            raise ValueError("objectives: give at least one loss term, or None for the "
                             "default (cross-entropy with reconstruction).")
        supervised = [t for t in make_objectives(self.pretrain_objectives,
                                                 "pretrain_objectives") if t.supervised]
        if supervised:
            raise ValueError(f"pretrain_objectives: the unsupervised stage uses no labels; "
                             f"{', '.join(term_labels(supervised))} need them (use label-free "
                             "terms such as reconstruction).")

    def _persisted_params(self) -> dict:
        """Parameters as a saved model keeps them: registered loss terms by name, so that
        loading the model for prediction needs none of their classes (only training reads
        them; the network parts they needed are in ``network_parts_``)."""
        out = {}
        for name in ("objectives", "pretrain_objectives"):
            value = getattr(self, name)
            if isinstance(value, list | tuple):
                out[name] = [loss_term_spec(t) for t in value]
        return out

    def _check_architecture(self) -> None:
        """Refuse fitted settings that would build an oversized network, before any layer is
        built (a saved model is rebuilt from them): the seed ensemble's size and every width
        and input dimension against the caps of :mod:`medfuse.limits`."""
        limits.ENSEMBLE.check(_whole(self.n_ensemble, "n_ensemble"), "n_ensemble")
        widths = {"latent_dim": self.latent_dim, "head_hidden": self.head_hidden,
                  "conv_width": self.conv_width}
        widths.update({f"hidden[{i}]": h for i, h in enumerate(tuple(self.hidden or ()))})
        widths.update({k: getattr(self, k) for k in ("attn_dim", "n_heads") if hasattr(self, k)})
        for name, value in widths.items():
            limits.NETWORK_WIDTH.check(_whole(value, name), name)
        for m, shape in dict(self.input_shapes_).items():
            for axis, size in enumerate(tuple(shape)):
                limits.NETWORK_WIDTH.check(_whole(size, f"input_shapes_[{m!r}]"),
                                           f"input_shapes_[{m!r}][{axis}]")

    def _build_module(self) -> nn.Module:
        """An untrained network with the fitted architecture (on ``self.device``)."""
        check_is_fitted(self, "input_shapes_")
        if self.n_ensemble > 1:
            return EnsembleNetwork([self._build_member(False) for _ in range(self.n_ensemble)])
        return self._build_member(False)

    def _build_member(self, pretrained: bool = True) -> FusionNetwork:
        """One network; ``pretrained`` loads the weights of :class:`EncoderSpec` encoders
        (while fitting; a saved model's weights come from its file)."""
        settings = self.settings
        encoders = []
        for m in self.modalities_:
            enc = build_encoder(m, get_kind(self.modality_kinds_[m]), self.input_shapes_[m],
                                settings, pretrained)
            if (settings.encoders or {}).get(m) is not None:
                check_encoder(enc, m, self.input_shapes_[m], self.latent_dim)
            encoders.append(enc)
        parts = getattr(self, "network_parts_", None)
        if parts is None:  # a model saved before network_parts_ was recorded
            parts = network_parts(self._objectives() + self._pretrain_objectives())
        reconstruct = [self.input_shapes_[m][0] if "decoders" in parts
                       and "tabular" in get_kind(self.modality_kinds_[m]).capabilities else 0
                       for m in self.modalities_]
        net = FusionNetwork(encoders, self.latent_dim, len(self.classes_), fusion=self._fusion,
                            head_hidden=self.head_hidden, dropout=self.dropout,
                            reconstruct=reconstruct, aux_heads="aux_heads" in parts,
                            **self._network_kwargs())
        if any(p.is_meta for p in net.parameters()):  # shapes only (a saved model's check)
            return net
        return net.to(self.device)

    # ------------------------------------------------------------------ preprocessing
    def _fit_preprocessing(self, data: MultiModalData) -> None:
        """Fit each modality's input transformer (its kind's ``neural_input``) on the
        training subjects that have it."""
        self.preprocessors_, self.input_shapes_ = {}, {}
        for m in self.modalities_:
            spec = data.modalities[m]
            tf = neural_input(spec, resolve_preprocessor(self.preprocessors, m, spec))
            rows = data.available[m].to_numpy()
            out = fit_transform_block(tf, data.block(m), obs=data.obs.loc[rows])
            if not isinstance(out, np.ndarray | pd.DataFrame):
                raise DataValidationError(_one_shape_message(m, spec.kind, type(out).__name__))
            self.preprocessors_[m] = tf
            self.input_shapes_[m] = tuple(int(s) for s in as_matrix(out).shape[1:])

    def _arrays(self, data: MultiModalData) -> tuple[list[np.ndarray], np.ndarray]:
        """Preprocessed float32 arrays (all subjects first, zeros where missing) and mask."""
        mask = data.available[self.modalities_].to_numpy()
        arrays = []
        for j, m in enumerate(self.modalities_):
            rows = mask[:, j]
            x = np.zeros((len(data), *self.input_shapes_[m]), dtype=np.float32)
            if rows.any():
                out = transform_block(self.preprocessors_[m], data.block(m),
                                      obs=data.obs.loc[rows])
                x[rows] = np.nan_to_num(as_matrix(out), nan=0.0, posinf=0.0, neginf=0.0)
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
        self._check_settings()
        self.seed_ = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self.network_parts_ = sorted(network_parts(self._objectives()
                                                   + self._pretrain_objectives()))
        self._fit_preprocessing(data)
        arrays, mask = self._arrays(data)
        inputs, mask_t = self._tensors(arrays, mask)
        if self.n_ensemble < 1:
            raise ValueError(f"n_ensemble must be at least 1, got {self.n_ensemble}")
        members, self.history_, best, ran, self.pretrain_loss_ = [], [], [], [], []
        for k in range(self.n_ensemble):
            seed = self.seed_ + k
            net, hist, pre = self._train(inputs, mask_t, y, self.max_epochs,
                                         self.validation_fraction, seed)
            if self.refit and hist.val_loss:
                net, _, _ = self._train(inputs, mask_t, y, hist.best_epoch + 1, 0.0, seed)
            members.append(net)
            self.history_.append({"train_loss": hist.train_loss, "val_loss": hist.val_loss,
                                  "term_loss": hist.term_loss})
            self.pretrain_loss_.append(pre)
            best.append(hist.best_epoch)
            ran.append(len(hist.train_loss))
        self.best_epoch_, self.n_epochs_ = np.array(best), np.array(ran)
        self.module_ = members[0] if self.n_ensemble == 1 else EnsembleNetwork(members)
        self.module_.eval()

    def _train(self, inputs, mask, y, max_epochs: int, validation_fraction: float, seed: int
               ) -> tuple[FusionNetwork, TrainHistory, list[float]]:
        """Build one network from ``seed``, pre-train it without labels (when
        ``pretrain_epochs``) and train it (see :func:`train_module`)."""
        with self._torch_state(seed):
            net = self._build_member()
            pre = []
            if int(self.pretrain_epochs) > 0:
                pre = pretrain_module(
                    net, inputs, mask, terms=self._pretrain_objectives(),
                    epochs=int(self.pretrain_epochs), lr=self.lr,
                    weight_decay=self.weight_decay, batch_size=self.batch_size,
                    modality_dropout=self.modality_dropout, seed=seed)
            hist = train_module(
                net, inputs, mask, y, terms=self._objectives(), lr=self.lr,
                weight_decay=self.weight_decay, max_epochs=max_epochs, patience=self.patience,
                batch_size=self.batch_size, modality_dropout=self.modality_dropout,
                class_weight=self.class_weight, classes=np.asarray(self.classes_),
                validation_fraction=validation_fraction, seed=seed, verbose=self.verbose,
                description=type(self).__name__)
        return net, hist, pre

    def _forward(self, data: MultiModalData, what: str = "logits") -> np.ndarray:
        """Evaluate the network in batches on aligned data: ``logits`` or the fusion's
        attention weights (``weights``). Uses no process-wide torch state (inference mode
        is local to the calling thread), so concurrent calls do not interfere."""
        arrays, mask = self._arrays(data)
        parts = []
        if self.module_.training:  # a freshly rebuilt module; eval() is idempotent
            self.module_.eval()
        with torch.inference_mode():
            for start in range(0, len(data), _PREDICT_BATCH):
                inputs, m = self._tensors(arrays, mask, slice(start, start + _PREDICT_BATCH))
                if what == "logits":
                    parts.append(self.module_(inputs, m))
                else:
                    parts.append(self.module_.fuse_latents(inputs, m)[1])
        return torch.cat(parts).cpu().double().numpy()

    def predict_uncertainty(self, data: MultiModalData, method: str = "ensemble",
                            n_passes: int = 20, random_state: int = 0) -> pd.DataFrame:
        """Per-subject predictive entropy, expected entropy and mutual information from the
        seed ensemble (``method="ensemble"``) or Monte Carlo dropout (``"mc-dropout"``,
        ``n_passes`` seeded passes per member); see
        :mod:`medfuse.fusion.neural.uncertainty`. Changes no shared state."""
        from medfuse.fusion.neural.uncertainty import predictive_uncertainty

        return predictive_uncertainty(self, data, method=method, n_passes=n_passes,
                                      random_state=random_state)

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        logits = self._forward(data)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


NeuralFusion.__init__ = settings_init({}, {})
