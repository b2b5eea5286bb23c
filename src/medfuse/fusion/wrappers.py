"""Strategies around a strategy: composites in the way of scikit-learn's ``Pipeline``.

A wrapper (:class:`~medfuse.fusion.represented.RepresentedClassifier`,
:class:`~medfuse.fusion.conformal.ConformalClassifier`, or one of your own) takes the
unfitted strategy as its ``estimator`` parameter and fits clones of it. What every wrapper
guarantees, and :func:`medfuse.testing.check_strategy` checks:

- **nested parameters**: ``get_params(deep=True)`` lists the strategy's parameters as
  ``estimator__<name>`` and ``set_params(estimator__<name>=...)`` sets them;
- **seeds**: a wrapper has a ``random_state``; when it is set, the strategy it fits gets a
  seed from it (:meth:`StrategyWrapper._inner_seed`), so the benchmark's seeds reach every
  fit, however deep;
- **no attribute forwarding**: the fitted strategies are ``estimator_`` (and
  ``estimators_`` when there are several); explanations reach them through
  :func:`final_estimator`, and a saved model stores their torch modules by path
  (:mod:`medfuse.persist.modules`).
"""

from __future__ import annotations

from sklearn.base import clone

from medfuse.data.multimodal import MultiModalData


class StrategyWrapper:
    """Mixin of a strategy that wraps another (see the module docstring).

    Subclasses have the parameters ``estimator`` and ``random_state`` and set
    ``estimator_`` when fitted; :meth:`_inner_view` says what the inner strategy sees of
    new subjects.
    """

    def _inner_seed(self):
        """The ``random_state`` given to the strategy's clone (default: the wrapper's own)."""
        return self.random_state

    def _clone_inner(self):
        """An unfitted clone of ``estimator``, seeded from ``random_state`` when it is set
        and the strategy takes a seed."""
        if self.estimator is None:
            raise ValueError(f"{type(self).__name__} needs an estimator (a strategy).")
        model = clone(self.estimator)
        if self.random_state is not None and "random_state" in model.get_params(deep=False):
            model.set_params(random_state=self._inner_seed())
        return model

    def _uses_unlabelled(self) -> bool:
        return bool(getattr(self.estimator, "_uses_unlabelled", lambda: False)())

    def _inner_view(self, data: MultiModalData) -> tuple[object, MultiModalData]:
        """The fitted inner strategy and what it sees of ``data`` (default: the data as
        they are)."""
        return self.estimator_, data


def final_estimator(model, data: MultiModalData | None = None):
    """The innermost fitted strategy of a model (the model itself when it wraps nothing),
    and what it sees of ``data``.

    Parameters
    ----------
    model : fitted strategy
        A strategy or a wrapper of one (nested wrappers are unwrapped to the end).
    data : MultiModalData, optional
        Subjects to pass through the wrappers (e.g. represented into feature blocks).

    Returns
    -------
    estimator or (estimator, MultiModalData)
        The innermost strategy; with ``data``, the pair.
    """
    current = data
    while isinstance(model, StrategyWrapper) and "estimator_" in vars(model):
        model, current = model._inner_view(current) if current is not None else (
            model.estimator_, None)
    return model if data is None else (model, current)
