"""Negative binomial GLM pieces behind ComBat-seq (the edgeR steps sva::ComBat_seq uses).

Vectorised over genes; arrays are genes x samples. Implements the NB GLM fit (Newton per
group for one-way layouts, Fisher scoring otherwise), the Cox-Reid adjusted profile
likelihood, the common dispersion by Brent's minimiser over ``dispersion^(1/4)`` (as R's
``optimize``) and the tagwise dispersion by spline maximisation over a log2 grid.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import gammaln

_GOLD = (3.0 - np.sqrt(5.0)) * 0.5


def oneway_groups(X: np.ndarray) -> np.ndarray | None:
    """Group index of each row when the design is a one-way layout, else None."""
    _, first, groups = np.unique(X, axis=0, return_index=True, return_inverse=True)
    if len(first) != X.shape[1]:
        return None
    order = np.argsort(first)                 # number groups by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[groups.ravel()]


def _one_group(y, offset, disp, tol=1e-10, maxit=50, start=None, lib=None):
    """NB MLE of a single log-mean per gene (edgeR's one-group Newton iteration).

    Each gene stops at its own first step below ``tol``; ``disp`` is (G, 1) or (G, n);
    ``lib = exp(offset)`` may be passed precomputed.
    """
    lib = np.exp(offset) if lib is None else lib
    total = y.sum(axis=1)
    zero = total == 0
    if start is None:
        beta = np.log(np.where(zero, 1.0, total) / lib.sum(axis=1))
    else:
        beta = np.where(zero, 0.0, start)
    active = np.flatnonzero(~zero)
    for _ in range(maxit):
        if active.size == 0:
            break
        if active.size == y.shape[0]:
            ya, la, da = y, lib, disp
        else:
            ya, la, da = y[active], lib[active], disp[active]
        mu = np.exp(beta[active])[:, None] * la
        denom = mu * da
        denom += 1.0
        ratio = np.divide(mu, denom, out=mu)
        info = ratio.sum(axis=1)
        step = (np.divide(ya, denom, out=denom).sum(axis=1) - info) / info
        beta[active] += step
        active = active[np.abs(step) >= tol]
    return np.where(zero, -1e8, beta)


def nb_fit(y: np.ndarray, X: np.ndarray, offset: np.ndarray, disp: np.ndarray,
           tol: float = 1e-10, maxit: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """NB GLM with log link, per gene.

    Parameters
    ----------
    y : ndarray (G, n)
    X : ndarray (n, p)
    offset, disp : ndarray broadcastable to (G, n)

    Returns
    -------
    beta : ndarray (G, p)
    mu : ndarray (G, n)
    """
    G, n = y.shape
    offset = np.broadcast_to(offset, (G, n))
    disp = np.broadcast_to(disp, (G, n))
    groups = oneway_groups(X)
    if groups is not None:
        k = X.shape[1]
        gbeta = np.empty((G, k))
        for g in range(k):
            cols = groups == g
            gbeta[:, g] = _one_group(y[:, cols], offset[:, cols], disp[:, cols])
        first = np.array([np.flatnonzero(groups == g)[0] for g in range(k)])
        beta = np.linalg.solve(X[first], gbeta.T).T
        mu = np.exp(gbeta[:, groups] + offset)
        return beta, mu
    # Fisher scoring from a log-linear least-squares start, with step halving
    z0 = np.log((y + 0.5) / np.exp(offset))
    beta = np.linalg.lstsq(X, z0.T, rcond=None)[0].T
    dev = _deviance(y, np.exp(beta @ X.T + offset), disp)
    for _ in range(maxit):
        mu = np.exp(beta @ X.T + offset)
        w = mu / (1.0 + disp * mu)
        score = ((y - mu) / (1.0 + disp * mu)) @ X
        info = np.einsum("gn,np,nq->gpq", w, X, X)
        step = np.linalg.solve(info, score[..., None])[..., 0]
        new = beta + step
        new_dev = _deviance(y, np.exp(new @ X.T + offset), disp)
        for _ in range(30):
            worse = new_dev > dev + 1e-12 * (np.abs(dev) + 1)
            if not worse.any():
                break
            step[worse] /= 2
            new[worse] = beta[worse] + step[worse]
            new_dev[worse] = _deviance(y[worse], np.exp(new[worse] @ X.T + offset[worse]),
                                       disp[worse])
        beta, dev = new, new_dev
        if np.max(np.abs(step)) < tol:
            break
    return beta, np.exp(beta @ X.T + offset)


def _deviance(y, mu, disp):
    with np.errstate(divide="ignore", invalid="ignore"):
        pois = np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)
        r = 1.0 / disp
        nb = np.where(y > 0, y * np.log(y / mu), 0.0) - (y + r) * np.log((1 + disp * y)
                                                                          / (1 + disp * mu))
    return 2.0 * np.where(disp > 0, nb, pois).sum(axis=1)


class ProfileLikelihood:
    """Cox-Reid adjusted profile log-likelihood of one batch (edgeR's ``adjustedProfileLik``).

    Built once per count matrix and design; ``__call__(disp)`` takes one dispersion per gene
    and returns one value per gene. Count-only terms are computed once, ``lgamma`` once per
    distinct non-zero count of a gene, one-way designs reuse the previous fit as the Newton
    start and are evaluated in blocks of genes small enough to stay in cache (every quantity
    is per gene, so the blocks give the same numbers as one pass over all genes).

    Parameters
    ----------
    y : ndarray (G, n)
    X : ndarray (n, p)
    offset : ndarray broadcastable to (G, n)
    block_bytes : int
        Size of one (block, n) float64 array in the one-way case.
    """

    def __init__(self, y: np.ndarray, X: np.ndarray, offset: np.ndarray,
                 block_bytes: int = 1 << 18) -> None:
        offset = np.broadcast_to(offset, y.shape)
        self.groups = oneway_groups(X)
        G = y.shape[0]
        if self.groups is not None:                # samples grouped into contiguous slices
            order = np.argsort(self.groups, kind="stable")
            y, offset, X = y[:, order], offset[:, order], X[order]
            groups = self.groups[order]
            first = [np.flatnonzero(groups == g)[0] for g in range(X.shape[1])]
            self.logdet_design = 2.0 * np.linalg.slogdet(X[first])[1]
            bounds = np.r_[first, groups.size]
            self.slices = [slice(bounds[g], bounds[g + 1]) for g in range(X.shape[1])]
            rows = max(64, block_bytes // (8 * max(y.shape[1], 1)))
            edges = [*range(0, G, rows), G]
        else:                                      # Fisher scoring stops on all genes jointly
            edges = [0, G]
        self.blocks = [slice(a, b) for a, b in itertools.pairwise(edges)]
        self.start: dict = {}
        self.y = np.ascontiguousarray(y)
        self.X = X
        self.offset = np.ascontiguousarray(offset)
        self.lib = np.exp(self.offset)
        self.y_offset = np.einsum("ij,ij->i", self.y, self.offset)
        # lgamma(y + 1/disp) once per distinct non-zero (gene, count), sorted by gene then
        # count, weighted by its multiplicity
        ys = np.sort(self.y, axis=1)
        run = ys > 0
        run[:, 1:] &= ys[:, 1:] != ys[:, :-1]
        rows, cols = np.nonzero(run)
        n = ys.shape[1]
        flat = rows * n + cols
        self.pos_mult = np.minimum(np.r_[flat[1:], G * n], (rows + 1) * n) - flat
        self.pos_rows, self.pos_y = rows, ys[rows, cols]
        self.n_pos = np.bincount(rows, weights=self.pos_mult, minlength=G).astype(float)
        self.pos_edges = np.searchsorted(self.pos_rows, edges)
        self.const = -gammaln(self.y + 1).sum(axis=1)

    def _fit(self, disp: np.ndarray, b: slice) -> tuple[np.ndarray, np.ndarray]:
        """Fitted means (B, n) and ``sum_j y_j log mu_j`` per gene of block ``b``."""
        y, offset, lib = self.y[b], self.offset[b], self.lib[b]
        if self.groups is None:
            _, mu = nb_fit(y, self.X, offset, disp[:, None])
            with np.errstate(divide="ignore", invalid="ignore"):
                ylogmu = np.where(y > 0, y * np.log(mu), 0.0).sum(axis=1)
            return mu, ylogmu
        betas = []
        mu = np.empty_like(offset)
        ylogmu = self.y_offset[b].copy()
        previous = self.start.get(b.start)
        for g, cols in enumerate(self.slices):
            yg = y[:, cols]
            beta = _one_group(yg, offset[:, cols], disp[:, None],
                              start=None if previous is None else previous[g],
                              lib=lib[:, cols])
            betas.append(beta)
            np.multiply(lib[:, cols], np.exp(beta)[:, None], out=mu[:, cols])
            ylogmu += beta * yg.sum(axis=1)
        self.start[b.start] = betas
        return mu, ylogmu

    def __call__(self, disp: np.ndarray) -> np.ndarray:
        disp = np.broadcast_to(np.asarray(disp, dtype=float), (self.y.shape[0],)).copy()
        out = np.empty(self.y.shape[0])
        for k, b in enumerate(self.blocks):
            out[b] = self._block(disp[b], b, slice(self.pos_edges[k], self.pos_edges[k + 1]))
        return out

    def _block(self, disp: np.ndarray, b: slice, pos: slice) -> np.ndarray:
        y = self.y[b]
        mu, ll = self._fit(disp, b)
        r = 1.0 / disp
        log_mur = np.add(mu, r[:, None])
        np.log(log_mur, out=log_mur)
        ll -= np.einsum("ij,ij->i", y, log_mur) + r * log_mur.sum(axis=1)
        ll += y.shape[1] * r * np.log(r)
        rows = self.pos_rows[pos] - b.start
        lg = gammaln(self.pos_y[pos] + r[rows])
        lg *= self.pos_mult[pos]
        ll += np.bincount(rows, weights=lg, minlength=y.shape[0])
        ll -= self.n_pos[b] * gammaln(r)
        ll += self.const[b]
        denom = np.multiply(mu, disp[:, None], out=log_mur)
        denom += 1.0
        w = np.divide(mu, denom, out=mu)                        # working weights
        if self.groups is not None:
            logdet = self.logdet_design + sum(np.log(w[:, cols].sum(axis=1))
                                              for cols in self.slices)
        else:
            info = np.einsum("gn,np,nq->gpq", w, self.X, self.X)
            logdet = np.linalg.slogdet(info)[1]
        return ll - 0.5 * logdet


def brent_minimize(f, lower: float, upper: float, tol: float) -> float:
    """Brent's golden-section / parabolic minimiser (the algorithm of R's ``optimize``)."""
    eps = np.sqrt(np.finfo(float).eps)
    a, b = lower, upper
    v = w = x = a + _GOLD * (b - a)
    d = e = 0.0
    fv = fw = fx = f(x)
    tol3 = tol / 3.0
    while True:
        xm = (a + b) * 0.5
        tol1 = eps * abs(x) + tol3
        t2 = tol1 * 2.0
        if abs(x - xm) <= t2 - (b - a) * 0.5:
            return x
        p = q = r = 0.0
        if abs(e) > tol1:
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = (q - r) * 2.0
            if q > 0.0:
                p = -p
            else:
                q = -q
            r, e = e, d
        if abs(p) >= abs(q * 0.5 * r) or p <= q * (a - x) or p >= q * (b - x):
            e = (b - x) if x < xm else (a - x)
            d = _GOLD * e
        else:
            d = p / q
            u = x + d
            if u - a < t2 or b - u < t2:
                d = tol1 if x < xm else -tol1
        if abs(d) >= tol1:
            u = x + d
        else:
            u = x + tol1 if d > 0.0 else x - tol1
        fu = f(u)
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, w, x = w, x, u
            fv, fw, fx = fw, fx, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu


def common_dispersion(y, X, offset, min_row_sum: float = 5.0, tol: float = 1e-5) -> float:
    """Common dispersion maximising the summed adjusted profile likelihood (``dispCoxReid``)."""
    keep = y.sum(axis=1) >= min_row_sum
    if not keep.any():
        raise ValueError("No gene has enough counts to estimate a dispersion.")
    apl = ProfileLikelihood(y[keep], X, np.broadcast_to(offset, y.shape)[keep])

    def neg(par):
        return -float(apl(np.full(apl.y.shape[0], par**4)).sum())

    return brent_minimize(neg, 0.0, 4.0**0.25, tol) ** 4


def _fmm_spline(x: np.ndarray, Y: np.ndarray):
    """Cubic spline coefficients with Forsythe-Malcolm-Moler end conditions (rows of Y)."""
    n = x.size
    h = np.diff(x)
    A = np.zeros((n, n))
    rhs = np.zeros((Y.shape[0], n))
    slope = np.diff(Y, axis=1) / h
    for i in range(1, n - 1):
        A[i, i - 1], A[i, i], A[i, i + 1] = h[i - 1], 2 * (h[i - 1] + h[i]), h[i]
        rhs[:, i] = slope[:, i] - slope[:, i - 1]
    A[0, 0], A[0, 1] = -h[0], h[0]
    A[-1, -2], A[-1, -1] = h[-1], -h[-1]
    if n > 3:
        dd = np.diff(slope, axis=1)              # c[i] of the interior equations
        c0 = dd[:, 1] / (x[3] - x[1]) - dd[:, 0] / (x[2] - x[0])
        cn = dd[:, -1] / (x[-1] - x[-3]) - dd[:, -2] / (x[-2] - x[-4])
        rhs[:, 0] = c0 * h[0] ** 2 / (x[3] - x[0])
        rhs[:, -1] = -cn * h[-1] ** 2 / (x[-1] - x[-4])
    sigma = np.linalg.solve(A, rhs.T).T
    b = slope - h * (sigma[:, 1:] + 2 * sigma[:, :-1])
    d = np.diff(sigma, axis=1) / h
    return b, 3 * sigma[:, :-1], d


def maximize_interpolant(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per row, the maximiser of the spline through ``(x, Y[row])`` near its grid maximum."""
    b, c, d = _fmm_spline(x, Y)
    rows = np.arange(Y.shape[0])
    at = np.argmax(Y, axis=1)
    best = Y[rows, at].copy()
    x_best = x[at].copy()
    for seg, valid in ((at - 1, at > 0), (at, at < x.size - 1)):
        s = np.clip(seg, 0, x.size - 2)
        a3, a2, a1 = 3 * d[rows, s], 2 * c[rows, s], b[rows, s]
        with np.errstate(divide="ignore", invalid="ignore"):
            disc = a2**2 - 4 * a3 * a1
            t = -a2 / (2 * a3) - np.sqrt(disc) / (2 * a3)
            val = ((d[rows, s] * t + c[rows, s]) * t + b[rows, s]) * t + Y[rows, s]
        ok = valid & (disc >= 0) & (t > 0) & (t < np.diff(x)[s]) & (val > best)
        best = np.where(ok, val, best)
        x_best = np.where(ok, x[s] + t, x_best)
    return x_best


def tagwise_dispersion(y, X, offset, common: float, min_row_sum: float = 5.0,
                       grid=(-6.0, 6.0, 11)) -> np.ndarray:
    """Gene-wise dispersions without a prior (``estimateGLMTagwiseDisp(prior.df = 0)``)."""
    disp = np.full(y.shape[0], common)
    keep = y.sum(axis=1) >= min_row_sum
    if not keep.any():
        return disp
    lo, hi, npts = grid
    pts = np.r_[lo + np.arange(npts - 1) * ((hi - lo) / (npts - 1)), hi]
    profile = ProfileLikelihood(y[keep], X, np.broadcast_to(offset, y.shape)[keep])
    apl = np.column_stack([profile(np.full(keep.sum(), common * 2.0**p)) for p in pts])
    disp[keep] = common * 2.0 ** maximize_interpolant(pts, apl)
    return disp
