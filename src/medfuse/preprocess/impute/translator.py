"""A neural translator that generates a missing modality from the others.

A multilayer perceptron maps the other modalities' scores (0 where a modality is absent) and
one availability indicator per other modality to the standardised target features:
``Linear(d, h) -> GELU -> Linear(h, h) -> GELU -> Linear(h, q)``. It is trained with mean
squared error on the training subjects that have the target, full batch with Adam, and each
other modality is hidden from a subject with probability ``modality_dropout`` in every epoch
(so it learns to translate from any subset of what a subject has). A random
``validation_fraction`` of those subjects is held out: training stops when their error has
not improved for ``patience`` epochs, and the weights of the best epoch are kept. The fitted
weights are kept as plain arrays and the forward pass at prediction runs in NumPy: a saved
translator holds no torch object.
"""

from __future__ import annotations

import numpy as np

from medfuse.preprocess.impute.base import ModalityImputer


class TranslatorImputer(ModalityImputer):
    """Generate the missing modality with a small neural network (see the module
    docstring).

    Parameters
    ----------
    modality : str
        The modality to fill in.
    hidden : int
        Width of the two hidden layers.
    epochs : int
        Full-batch training epochs.
    learning_rate, weight_decay : float
        Adam's step size and L2 weight decay.
    modality_dropout : float
        Probability of hiding each other modality from a subject in an epoch.
    validation_fraction : float
        Share of the training subjects held out for early stopping.
    patience : int
        Epochs without improvement of the held-out error before training stops.
    n_components, bootstrap, random_state, shift
        See :class:`~medfuse.preprocess.impute.base.ModalityImputer`.

    Attributes
    ----------
    weights_ : list of ndarray
        ``[W1, b1, W2, b2, W3, b3]``, layers as ``x @ W + b``.
    """

    def __init__(self, modality: str = "", hidden: int = 64, epochs: int = 500,
                 learning_rate: float = 3e-3, weight_decay: float = 1e-2,
                 modality_dropout: float = 0.3, validation_fraction: float = 0.2,
                 patience: int = 30, n_components: int = 10, bootstrap: bool = False,
                 random_state=None, shift: float = 0.0) -> None:
        super().__init__(modality, n_components, bootstrap, random_state, shift)
        self.hidden = hidden
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.modality_dropout = modality_dropout
        self.validation_fraction = validation_fraction
        self.patience = patience

    def _inputs(self, p: np.ndarray) -> np.ndarray:
        groups = self.predictors_.groups()
        present = np.column_stack([~np.isnan(p[:, g]).any(axis=1) for g in groups]) \
            if groups else np.zeros((len(p), 0))
        return np.hstack([np.nan_to_num(p), present.astype(float)])

    def _fit_core(self, p, t, missing_cells):
        import torch

        seed = int(np.random.default_rng(self.random_state).integers(2 ** 31))
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        groups = [torch.as_tensor(g) for g in self.predictors_.groups()]
        x = torch.as_tensor(self._inputs(p), dtype=torch.float32)
        target = torch.as_tensor(t, dtype=torch.float32)
        observed = torch.as_tensor(~missing_cells, dtype=torch.float32)
        q, d = target.shape[1], x.shape[1]
        net = torch.nn.Sequential(torch.nn.Linear(d, self.hidden), torch.nn.GELU(),
                                  torch.nn.Linear(self.hidden, self.hidden), torch.nn.GELU(),
                                  torch.nn.Linear(self.hidden, q))
        optimiser = torch.optim.Adam(net.parameters(), lr=self.learning_rate,
                                     weight_decay=self.weight_decay)
        n_scores = d - len(groups)
        order = torch.randperm(len(x), generator=generator)
        n_val = round(self.validation_fraction * len(x))
        n_val = n_val if len(x) - n_val >= 2 and n_val >= 2 else 0
        val, fit = order[:n_val], order[n_val:]

        def error(rows, inputs):
            weight = observed[rows]
            return (((net(inputs) - target[rows]) ** 2) * weight).sum() / weight.sum()

        best, best_state, stale, trained = np.inf, None, 0, 0
        while trained < self.epochs:
            trained += 1
            inputs = x[fit].clone()
            hidden_mask = torch.rand(len(fit), len(groups), generator=generator) \
                < self.modality_dropout
            for j, cols in enumerate(groups):
                rows = hidden_mask[:, j].nonzero(as_tuple=True)[0]
                inputs[rows[:, None], cols[None, :]] = 0.0
                inputs[rows, n_scores + j] = 0.0
            optimiser.zero_grad()
            loss = error(fit, inputs)
            loss.backward()
            optimiser.step()
            if n_val == 0:
                continue
            with torch.no_grad():
                held = float(error(val, x[val]))
            if held < best - 1e-6:
                best, stale = held, 0
                best_state = [w.detach().clone() for w in net.parameters()]
            else:
                stale += 1
                if stale >= self.patience:
                    break
        if best_state is not None:
            with torch.no_grad():
                for w, saved in zip(net.parameters(), best_state, strict=True):
                    w.copy_(saved)
        self.weights_ = weights_as_arrays(net)
        self.epochs_ = trained
        self.validation_loss_ = float(best)

    def _predict_core(self, p):
        w1, b1, w2, b2, w3, b3 = self.weights_
        h = _gelu(self._inputs(p) @ w1 + b1)
        h = _gelu(h @ w2 + b2)
        return h @ w3 + b3


def weights_as_arrays(network) -> list[np.ndarray]:
    """A torch network's parameters as NumPy arrays, weight matrices transposed so that a
    linear layer is ``x @ W + b``."""
    return [w.detach().numpy().T.copy() if w.ndim == 2 else w.detach().numpy().copy()
            for w in network.parameters()]


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
