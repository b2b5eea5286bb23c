"""The multi-block latent variable solver behind block PLS and (regularised) CCA.

Per component, one weight vector ``a_b`` per block maximises
``sum_{b != c} C[b, c] * cov(X_b a_b, X_c a_c)`` subject to
``a_b' ((1 - tau_b) S_b + tau_b I) a_b = 1``, with ``S_b = X_b' X_b / n_b`` the block's
covariance (generalised canonical analysis with shrinkage, Horst scheme). ``tau_b = 1`` is
PLS (covariance); ``tau_b = 0`` is CCA (correlation); in between, the within-block
covariance is shrunk towards the identity. Every block is then deflated on its own scores,
``X_b <- X_b - t_b p_b'`` with ``p_b = X_b' t_b / t_b' t_b``.

Cost is linear in the number of features. With ``X~_b = X_b M_b^{-1/2}`` the whitened block
(``M_b`` the constraint matrix), only the whitened Gram matrix ``H_b = X~_b X~_b'`` enters
the criterion, and the solver works with an ``(n, r)`` factor ``B_b`` of it, ``B_b B_b' =
H_b``, taken from the eigendecomposition of the smaller of ``X_b X_b'`` (n x n, for blocks
at least as wide as they are long) and ``X_b' X_b`` (narrow blocks). A wide block is thus
never multiplied by anything wider than n columns: ``O(n^2 p)`` for its Gram matrix once,
``O(n p)`` per deflation and per sparse update, and ``O(n^3)`` per component.

Initial weights: the leading left singular vector of ``X~_b' [sqrt(C[b, c]) X~_c]_c``, i.e.
the leading eigenvector ``e`` of ``B_b' G_b B_b`` with ``G_b = sum_c C[b, c] H_c``, followed
by one power step. Two blocks: the second block's weight follows from the first (the
leading singular pair, exact); more blocks: Horst iterations
``a~_b <- X~_b' sum_c C[b, c] t_c`` (normalised) until no weight moves by more than ``tol``.
Blocks with sparse weights then continue from that dense solution with the update
soft-thresholded to ``keep`` non-zero entries (at most :data:`MAX_SPARSE_ITER` sweeps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh

_EPS = np.finfo(float).eps
#: Most sweeps of thresholded (sparse) updates per component, each O(n p) per sparse
#: block (sparse PLS implementations cap them likewise).
MAX_SPARSE_ITER = 100
#: Relative size below which a block's remaining sum of squares (or a cross-covariance)
#: counts as zero.
_EXHAUSTED = 1e-20


def soft_threshold(v: np.ndarray, keep: int) -> np.ndarray:
    """``v`` soft-thresholded at the ``keep + 1``-th largest magnitude, so that at most
    ``keep`` entries stay non-zero (exactly ``keep`` unless magnitudes tie); ``v`` itself
    when ``keep >= len(v)``."""
    keep = int(keep)
    if keep >= len(v):
        return v.copy()
    mag = np.abs(v)
    cut = np.partition(mag, len(v) - keep - 1)[len(v) - keep - 1]
    return np.sign(v) * np.maximum(mag - cut, 0.0)


@dataclass
class BlockInput:
    """One centred block handed to :func:`solve`.

    Give ``X`` (n, p) when the features themselves are needed (weights and loadings in
    feature space, sparse weights) and/or ``K = X X'`` (n, n), e.g. a fold's kernel taken
    from the kernel of all subjects. Held-out rows (``X_test`` or ``K_test = X_test X'``)
    are scored and deflated alongside. ``n_obs``: the divisor of the block's covariance
    (default: its number of rows).
    """

    X: np.ndarray | None = None
    K: np.ndarray | None = None
    X_test: np.ndarray | None = None
    K_test: np.ndarray | None = None
    shrinkage: float = 1.0
    keep: Sequence[int] | int | None = None
    n_obs: int | None = None


@dataclass
class BlockResult:
    """What :func:`solve` returns per block: ``scores`` (n, H), ``test_scores`` (n_test, H)
    or None, and with ``X`` given ``weights`` and ``loadings`` (p, H)."""

    scores: np.ndarray
    test_scores: np.ndarray | None = None
    weights: np.ndarray | None = None
    loadings: np.ndarray | None = None

    @property
    def rotations(self) -> np.ndarray:
        """``W (P' W)^+`` (p, H): scores of new centred rows are ``X_new @ rotations``."""
        return self.weights @ np.linalg.pinv(self.loadings.T @ self.weights)


class _Block:
    """One block during a solve: its current (deflated) training rows, held-out rows
    carried along, and the factor of its whitened Gram matrix for the current component."""

    def __init__(self, spec: BlockInput, n_components: int) -> None:
        X, K = spec.X, spec.K
        if X is None and K is None:
            raise ValueError("A block needs X or its Gram matrix K.")
        self.X = None if X is None else np.array(X, dtype=float, copy=True)
        self.n = len(self.X) if self.X is not None else len(K)
        self.p = self.X.shape[1] if self.X is not None else None
        self.wide = self.X is None or self.p >= self.n
        self.K = None
        if self.wide:
            self.K = np.array(K if K is not None else self.X @ self.X.T, dtype=float, copy=True)
        self.X_test = (None if spec.X_test is None
                       else np.array(spec.X_test, dtype=float, copy=True))
        self.K_test = None
        if self.X_test is None and spec.K_test is not None:
            self.K_test = np.array(spec.K_test, dtype=float, copy=True)
        self.has_test = self.X_test is not None or self.K_test is not None
        self.tau = float(spec.shrinkage)
        if not 0.0 <= self.tau <= 1.0:
            raise ValueError(f"shrinkage must lie in [0, 1], got {self.tau}.")
        keep = spec.keep
        if keep is not None:
            keep = [int(keep)] * n_components if np.ndim(keep) == 0 else [int(k) for k in keep]
            keep = (keep + keep[-1:] * n_components)[:n_components]
            if self.X is None:
                raise ValueError("Sparse weights (keep) need the block's features X.")
            if self.tau != 1.0:
                raise ValueError("Sparse weights (keep) are defined for PLS (shrinkage 1).")
            if min(keep) < 1:
                raise ValueError(f"keep must be at least 1 feature, got {min(keep)}.")
        self.keep = keep
        self.n_obs = float(spec.n_obs or self.n)
        self.ss0 = self._sum_of_squares()
        self.T = np.zeros((self.n, n_components))
        self.T_test = np.zeros((self._n_test(), n_components)) if self.has_test else None
        if self.X is not None:
            self.W = np.zeros((self.p, n_components))
            self.P = np.zeros((self.p, n_components))

    def _sum_of_squares(self) -> float:
        return float(np.trace(self.K)) if self.wide else float((self.X ** 2).sum())

    def _n_test(self) -> int:
        return len(self.X_test) if self.X_test is not None else len(self.K_test)

    # ------------------------------------------------------------------ per component
    def prepare(self, h: int) -> None:
        """Factor ``B`` (n, r) of the whitened Gram matrix of the current block."""
        self.h = h
        self.sparse = False      # dense updates until the dense solution is found
        # nothing left to explain (e.g. a one-hot outcome of rank K - 1 after K - 1
        # components): zero scores from here on
        self.exhausted = self._sum_of_squares() <= _EXHAUSTED * self.ss0
        if not self.wide and self.tau == 1.0:
            self.B = self.X   # any factor of X X' serves
            return
        lam, vec = eigh(self.K if self.wide else self.X.T @ self.X)
        lam = np.clip(lam, 0.0, None)
        if self.tau == 0.0:
            live = lam > lam[-1] * 100 * max(self.n, len(lam)) * _EPS
            lam, vec = lam[live], vec[:, live]
        g = 1.0 / ((1.0 - self.tau) * lam / self.n_obs + self.tau)
        self._vec, self._g = vec, g
        self.B = vec * np.sqrt(lam * g) if self.wide else self.X @ (vec * np.sqrt(g))

    def start(self) -> None:
        self.e = self.a = None
        self.zhat = None
        self.t = np.zeros(self.n)

    def update(self, z: np.ndarray) -> float:
        """One Horst step from the combined partner scores ``z`` (n,); returns how far the
        (whitened) unit weight moved."""
        if self.sparse:
            return self._set_weight(soft_threshold(self.X.T @ z, self.keep[self.h]))
        e = self.B.T @ z
        norm = math.sqrt(e @ e)
        if norm == 0:
            return 0.0
        e /= norm
        moved = 0.0 if self.e is None else _distance(e, self.e)
        self.e, self.zhat, self.t = e, z / norm, self.B @ e
        return moved

    def to_sparse(self) -> None:
        """Switch to thresholded updates, starting from the current (dense) weight
        thresholded."""
        self.sparse = True
        self.a = None
        if self.zhat is not None:
            self._set_weight(soft_threshold(self.X.T @ self.zhat, self.keep[self.h]))

    def _set_weight(self, a: np.ndarray) -> float:
        """Normalise and store a sparse weight and its scores; how far it moved."""
        norm = math.sqrt(a @ a)
        if norm == 0:
            return 0.0
        a = a / norm
        moved = 2.0 if self.a is None else _distance(a, self.a)
        live = np.flatnonzero(a)
        self.a = a
        self.t = self.X[:, live] @ a[live] if 4 * len(live) < len(a) else self.X @ a
        return moved

    def flip(self) -> None:
        """Change the sign of the current weight."""
        for name in ("e", "a", "zhat", "t"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, -value)

    def finish(self) -> None:
        """Record the component (unit weight in feature space) and deflate."""
        h = self.h
        if self.exhausted or (self.a is None and self.zhat is None):
            self.T[:, h] = 0.0
            if self.has_test:
                self.T_test[:, h] = 0.0
            if self.X is not None:   # any unit weight: it scores nothing
                self.W[0, h] = 1.0
            return
        if self.sparse and self.a is not None:
            a, c = self.a, None
        else:
            c = self.zhat if self.tau == 1.0 else None
            if self.wide:
                if c is None:
                    c = self._vec @ (self._g * (self._vec.T @ self.zhat))
                scale = np.sqrt(max(float(c @ self.K @ c), 0.0))
                c = c / scale if scale > 0 else c
                a = self.X.T @ c if self.X is not None else None
            else:
                a = self.X.T @ self.zhat
                if self.tau != 1.0:
                    a = self._vec @ (self._g * (self._vec.T @ a))
                a /= np.linalg.norm(a) if np.linalg.norm(a) > 0 else 1.0
        if a is not None:
            t = self.X @ a
        else:
            t = self.K @ c
        tt = float(t @ t)
        if self.has_test:
            self.T_test[:, h] = self.X_test @ a if self.X_test is not None else self.K_test @ c
        self.T[:, h] = t
        if tt == 0:
            return
        if self.X is not None:
            p = self.X.T @ t / tt
            self.W[:, h], self.P[:, h] = a, p
            self.X -= np.outer(t, p)
            if self.X_test is not None:
                self.X_test -= np.outer(self.T_test[:, h], p)
        if self.K is not None:
            Kt = self.K @ t
            if self.K_test is not None:
                self.K_test -= np.outer(self.T_test[:, h], Kt / tt)
                self.K_test -= np.outer(self.K_test @ t, t / tt)
            self.K += (np.outer(t, t) * (t @ Kt) / tt - np.outer(Kt, t) - np.outer(t, Kt)) / tt

    def result(self) -> BlockResult:
        if self.X is None:
            return BlockResult(self.T, self.T_test)
        return BlockResult(self.T, self.T_test, self.W, self.P)


def solve(blocks: Sequence[BlockInput], design: np.ndarray, n_components: int,
          max_iter: int = 500, tol: float = 1e-12,
          max_sparse_iter: int = MAX_SPARSE_ITER) -> list[BlockResult]:
    """Fit ``n_components`` components of the multi-block criterion (module docstring).

    Parameters
    ----------
    blocks : sequence of :class:`BlockInput`, centred, with the same rows.
    design : (B, B) non-negative symmetric connection weights (diagonal ignored).
    n_components : int
    max_iter, tol : Horst iterations per component and their convergence threshold on the
        Euclidean change of each unit (whitened) weight.
    max_sparse_iter : thresholded sweeps per component of the blocks with ``keep``.

    Returns
    -------
    list of :class:`BlockResult`, one per block. Weights have unit Euclidean norm; the sign
    of each component is that of the first block's largest weight (scores for
    held-out-only blocks are not flipped).
    """
    design = np.asarray(design, dtype=float).copy()
    np.fill_diagonal(design, 0.0)
    state = [_Block(b, n_components) for b in blocks]
    n_b = len(state)
    for h in range(n_components):
        for blk in state:
            blk.prepare(h)
            blk.start()
        if n_b == 2:
            _initialise(state, design, 0)
            if not state[1].exhausted:
                state[1].update(state[0].t)
            if state[1].zhat is None:   # no covariance left with the first block
                _initialise(state, design, 1)
        else:
            for b in range(n_b):
                _initialise(state, design, b)
            _orient(state, design)
            _horst(state, design, max_iter, tol)
        sparse = [blk for blk in state if blk.keep is not None and not blk.exhausted]
        if sparse:
            # from the dense solution, thresholded updates of the sparse blocks
            for blk in sparse:
                blk.to_sparse()
            _horst(state, design, min(max_iter, max_sparse_iter), tol)
        for blk in state:
            blk.finish()
    out = [blk.result() for blk in state]
    if out[0].weights is not None:
        _flip_signs(out)
    return out


def _horst(state: list[_Block], design: np.ndarray, max_iter: int, tol: float) -> None:
    """Horst iterations (each block in turn, from the latest scores of the others)."""
    S = np.column_stack([blk.t for blk in state])
    active = [b for b, blk in enumerate(state) if not blk.exhausted]
    for _ in range(max_iter):
        moved = 0.0
        for b in active:
            moved = max(moved, state[b].update(S @ design[:, b]))
            S[:, b] = state[b].t
        if moved < tol:
            break


def _distance(u: np.ndarray, v: np.ndarray) -> float:
    d = u - v
    return math.sqrt(d @ d)


def _initialise(state: list[_Block], design: np.ndarray, b: int) -> None:
    """Leading left singular vector of ``X~_b' [sqrt(C[b, c]) X~_c]_c``, then one power
    step (which also gives a sparse block its first thresholded weight). A block with no
    covariance left with its partners (the criterion is 0 whatever it takes) takes its
    first principal axis instead."""
    blk = state[b]
    if blk.exhausted:
        return
    Bb = blk.B
    if not (design[b] > 0).any():
        raise ValueError(f"Block {b} is connected to no other block (design row is 0).")
    partners = [c for c in range(len(state)) if design[b, c] > 0 and not state[c].exhausted]
    crosses = [(design[b, c], Bb.T @ state[c].B) for c in partners]
    r = Bb.shape[1]
    A = sum((d * (cross @ cross.T) for d, cross in crosses), np.zeros((r, r)))
    scale = (Bb ** 2).sum() * sum(design[b, c] * (state[c].B ** 2).sum() for c in partners)
    w, e = eigh((A + A.T) / 2, subset_by_index=[r - 1, r - 1])
    if not partners or w[0] <= _EXHAUSTED * scale or w[0] <= 0:
        own = Bb.T @ Bb
        _, e = eigh((own + own.T) / 2, subset_by_index=[r - 1, r - 1])
        t = Bb @ e[:, 0]
        blk.update(Bb @ (Bb.T @ t))
        return
    t = Bb @ e[:, 0]
    blk.update(sum(design[b, c] * (state[c].B @ (state[c].B.T @ t)) for c in partners))


def _orient(state: list[_Block], design: np.ndarray) -> None:
    """Give the initial weights consistent signs: each block's scores get a non-negative
    covariance with the connected blocks before it. (The singular vectors' signs are
    arbitrary; a Horst ascent started from opposed signs can stall at a stationary point
    where connected scores covary negatively.)"""
    for b in range(1, len(state)):
        z = sum(design[b, c] * state[c].t for c in range(b))
        if np.ndim(z) and state[b].t @ z < 0:
            state[b].flip()


def _flip_signs(out: list[BlockResult]) -> None:
    """Per component, make the first block's largest-magnitude weight positive (all blocks
    flipped together, as scikit-learn's PLS does for its two blocks)."""
    W = out[0].weights
    idx = np.argmax(np.abs(W), axis=0)
    sign = np.sign(W[idx, np.arange(W.shape[1])])
    sign[sign == 0] = 1.0
    for res in out:
        for name in ("weights", "loadings", "scores", "test_scores"):
            value = getattr(res, name)
            if value is not None:
                setattr(res, name, value * sign)
