"""Cycle-consistent translation between two modalities measured on different subjects.

When no (or few) subjects have both modalities, a translator cannot be fitted on pairs.
Two networks are trained instead on the unpaired cohorts: ``G`` from the source modality's
scores to the target's standardised features and ``F`` back, with

    L = MMD(G(a), b) + MMD(F(b), a)
        + lambda_cycle * (mean ||F(G(a)) - a||^2 + mean ||G(F(b)) - b||^2)
        + lambda_pair * mean ||G(a_i) - b_i||^2 over the subjects that have both,

where ``a`` are the source scores of every training subject that has the source, ``b`` the
target values of every one that has the target, and MMD the squared maximum mean
discrepancy (Gretton et al., JMLR 2012) with a sum of Gaussian kernels at 0.5, 1 and 2 times
the median pairwise distance of the pooled sample. The MMD terms stand where CycleGAN (Zhu et
al., ICCV 2017) has adversarial losses: they make ``G(a)`` look like a sample of the target
and need no discriminator, which small cohorts cannot train. Distribution matching alone
cannot tell a map from its composition with a symmetry of the target distribution (a
rotation, for a spherical Gaussian), so the translation is only as identifiable as the
distributions are asymmetric; a few paired subjects (``lambda_pair``) pin it down.

Filling the target for subjects that have only the source creates pseudo-paired data: the
completed cohort can train any fusion strategy. Networks: ``Linear -> GELU -> Linear`` with
``hidden`` units, full batch, Adam; weights kept as plain arrays, prediction in NumPy.
"""

from __future__ import annotations

import numpy as np

from medfuse.data import DataValidationError, MultiModalData
from medfuse.preprocess.impute.base import ModalityImputer
from medfuse.preprocess.impute.encoding import PredictorEncoder, TargetScale
from medfuse.preprocess.impute.translator import _gelu, weights_as_arrays


class CycleTranslatorImputer(ModalityImputer):
    """Fill a modality from another one measured on other subjects (module docstring).

    Parameters
    ----------
    source : str, optional
        The modality translated from; default: the other tabular modality that the most
        subjects without the target have.
    hidden : int
        Hidden units of each network.
    epochs : int
        Full-batch training epochs.
    learning_rate : float
        Adam's step size.
    cycle_weight, pair_weight : float
        ``lambda_cycle`` and ``lambda_pair`` of the loss.
    restarts : int
        Independently initialised trainings; the one with the lowest final loss is kept
        (the MMD landscape of a multimodal distribution has poor local minima).
    modality, n_components, bootstrap, random_state, shift
        See :class:`~medfuse.preprocess.impute.base.ModalityImputer`.

    Attributes
    ----------
    source_ : str
    forward_, backward_ : list of ndarray
        ``[W1, b1, W2, b2]`` of ``G`` and ``F`` (layers as ``x @ W + b``).
    n_unpaired_ : tuple of int
        Training subjects with the source only and with the target only.
    """

    def __init__(self, modality: str = "", source: str | None = None, hidden: int = 64,
                 epochs: int = 600, learning_rate: float = 3e-3, cycle_weight: float = 1.0,
                 pair_weight: float = 1.0, restarts: int = 3, n_components: int = 10,
                 bootstrap: bool = False, random_state=None, shift: float = 0.0) -> None:
        super().__init__(modality, n_components, bootstrap, random_state, shift)
        self.source = source
        self.hidden = hidden
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.cycle_weight = cycle_weight
        self.pair_weight = pair_weight
        self.restarts = restarts

    def _choose_source(self, data: MultiModalData) -> str:
        modalities = self.predictors_.modalities_
        if self.source is not None:
            if self.source not in modalities:
                raise DataValidationError(
                    f"impute: cycle translation of {self.modality!r} from {self.source!r}: "
                    f"{self.source!r} is not a tabular modality of the training subjects "
                    f"(those are {modalities}).")
            return self.source
        if not modalities:
            raise DataValidationError(f"impute: cycle translation of {self.modality!r} needs "
                                      "another tabular modality to translate from.")
        lacking = ~data.available[self.modality].to_numpy()
        counts = [int((data.available[m].to_numpy() & lacking).sum()) for m in modalities]
        return modalities[int(np.argmax(counts))]

    def fit(self, data: MultiModalData, y=None) -> CycleTranslatorImputer:
        """Learn ``G`` and ``F`` from the training subjects ``data`` (paired or not)."""
        self.target_ = TargetScale(self.modality).fit(data)
        self.predictors_ = PredictorEncoder(self.modality, self.n_components).fit(data)
        self.source_ = self._choose_source(data)
        self.columns_ = self.predictors_.groups()[self.predictors_.modalities_.index(
            self.source_)]
        rng = np.random.default_rng(self.random_state)
        has_target = data.available[self.modality].to_numpy()
        has_source = data.available[self.source_].to_numpy()
        a_rows = np.flatnonzero(has_source)
        b_rows = np.flatnonzero(has_target)
        if self.bootstrap:
            a_rows = rng.choice(a_rows, len(a_rows))
            b_rows = rng.choice(b_rows, len(b_rows))
        scores = self.predictors_.transform(data)[:, self.columns_]
        target = np.full((len(data), len(self.target_.columns_)), np.nan)
        target[has_target] = self.target_.transform(data.block(self.modality))
        target = np.where(np.isnan(target), 0.0, target)
        paired = np.flatnonzero(has_source & has_target)
        best = None
        for seed in rng.integers(2 ** 31, size=max(1, int(self.restarts))):
            trained = self._train(scores[a_rows], target[b_rows], scores[paired],
                                  target[paired], int(seed))
            if best is None or trained[2] < best[2]:
                best = trained
        self.forward_, self.backward_, self.training_loss_ = best
        reconstructed = self._g(self._f(target[b_rows]))
        self.residual_sd_ = np.sqrt(np.mean((reconstructed - target[b_rows]) ** 2, axis=0))
        self.n_unpaired_ = (int((has_source & ~has_target).sum()),
                            int((has_target & ~has_source).sum()))
        self.n_training_subjects_ = int(has_target.sum())
        return self

    def _train(self, a, b, pair_a, pair_b, seed: int) -> tuple[list, list, float]:
        """One training from seed ``seed``: the weights of ``G`` and ``F`` and the final
        loss."""
        import torch

        torch.manual_seed(seed)
        a_t, b_t = (torch.as_tensor(v, dtype=torch.float32) for v in (a, b))
        pa, pb = (torch.as_tensor(v, dtype=torch.float32) for v in (pair_a, pair_b))

        def net(d_in, d_out):
            return torch.nn.Sequential(torch.nn.Linear(d_in, self.hidden), torch.nn.GELU(),
                                       torch.nn.Linear(self.hidden, d_out))

        g, f = net(a.shape[1], b.shape[1]), net(b.shape[1], a.shape[1])
        optimiser = torch.optim.Adam([*g.parameters(), *f.parameters()],
                                     lr=self.learning_rate)
        for _ in range(int(self.epochs)):
            optimiser.zero_grad()
            fake_b, fake_a = g(a_t), f(b_t)
            loss = mmd(fake_b, b_t) + mmd(fake_a, a_t) + self.cycle_weight * (
                ((f(fake_b) - a_t) ** 2).mean() + ((g(fake_a) - b_t) ** 2).mean())
            if len(pa) and self.pair_weight > 0:
                loss = loss + self.pair_weight * ((g(pa) - pb) ** 2).mean()
            loss.backward()
            optimiser.step()
        return weights_as_arrays(g), weights_as_arrays(f), float(loss.detach())

    def _g(self, a: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2 = self.forward_
        return _gelu(a @ w1 + b1) @ w2 + b2

    def _f(self, b: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2 = self.backward_
        return _gelu(b @ w1 + b1) @ w2 + b2

    def _predict_core(self, p: np.ndarray) -> np.ndarray:
        source = p[:, self.columns_]
        has = ~np.isnan(source).any(axis=1)
        out = np.zeros((len(p), len(self.target_.columns_)))
        if has.any():
            out[has] = self._g(source[has])
        return out


def mmd(x, y):
    """Squared maximum mean discrepancy of two samples (rows) under a sum of Gaussian
    kernels at 0.5, 1 and 2 times the median pairwise distance of the pooled sample
    (biased V-statistic; torch tensors in, a scalar tensor out)."""
    import torch

    pooled = torch.cat([x, y])
    distances = torch.cdist(pooled, pooled) ** 2
    scale = distances.detach()[distances.detach() > 0].median().clamp_min(1e-6)
    kernel = sum(torch.exp(-distances / (scale * f)) for f in (0.25, 1.0, 4.0))
    n = len(x)
    return kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean()

