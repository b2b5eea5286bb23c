"""Sequences as features: the k-mer spectrum."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medfuse.represent.base import Representation


class KmerSpectrum(Representation):
    """Feature map of the k-mer spectrum kernel: counts of every length-``k`` substring of
    the one string column of a ``sequence`` block.

    Unseen k-mers are dropped at transform (they add nothing to an inner product with the
    training sequences). Rows are L2-normalised, so the linear kernel on the output is the
    cosine-normalised spectrum kernel (Leslie et al., 2002).

    Parameters
    ----------
    k : int
        Length of the substrings.
    """

    def __init__(self, k: int = 3) -> None:
        self.k = k

    def _kmers(self, s: str) -> dict[str, int]:
        out: dict[str, int] = {}
        s = str(s).upper()
        for i in range(len(s) - self.k + 1):
            w = s[i:i + self.k]
            out[w] = out.get(w, 0) + 1
        return out

    def fit(self, X: pd.DataFrame, y=None):
        """Learn the vocabulary of k-mers of the training sequences."""
        vocab: set[str] = set()
        for s in _strings(X):
            vocab.update(self._kmers(s))
        self.vocabulary_ = {w: j for j, w in enumerate(sorted(vocab))}
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """(N, vocabulary) L2-normalised k-mer counts, indexed like ``X``."""
        strings = _strings(X)
        out = np.zeros((len(strings), len(self.vocabulary_)))
        for i, s in enumerate(strings):
            for w, c in self._kmers(s).items():
                j = self.vocabulary_.get(w)
                if j is not None:
                    out[i, j] = c
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        out = out / np.where(norm > 0, norm, 1.0)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(out, index=index, columns=list(self.vocabulary_))


def _strings(X) -> list[str]:
    values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else np.asarray(X).reshape(len(X))
    return [str(v) for v in values]
