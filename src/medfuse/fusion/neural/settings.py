"""One settings object for the neural strategies.

:class:`NeuralSettings` holds every parameter the neural strategies share, with its default;
each strategy class lists only its own defaults and extra parameters, and
:func:`settings_init` gives it an explicit keyword-only ``__init__`` signature built from
them, so scikit-learn's ``get_params``/``set_params``/``clone`` see every parameter (no
``**kwargs`` in the signature) without the signature being pasted three times.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class NeuralSettings:
    """The parameters shared by the neural strategies (see
    :class:`~medfuse.fusion.neural.base.NeuralFusion` for their meaning)."""

    latent_dim: int = 32
    hidden: tuple[int, ...] = ()
    head_hidden: int = 0
    dropout: float = 0.5
    lr: float = 1e-3
    weight_decay: float = 1e-2
    max_epochs: int = 200
    patience: int = 20
    batch_size: int = 32
    modality_dropout: float = 0.2
    class_weight: Any = "balanced"
    validation_fraction: float = 0.2
    preprocessors: Any = None
    conv_width: int = 8
    series_encoder: str = "conv"
    encoders: Any = None
    objectives: Any = None
    pretrain_epochs: int = 0
    pretrain_objectives: Any = None
    device: str = "cpu"
    reconstruction: float = 1.0
    auxiliary: float = 0.0
    refit: bool = True
    n_ensemble: int = 5
    n_threads: int | None = None
    random_state: Any = None
    verbose: bool = False

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Field name -> default, in declaration order."""
        return {f.name: f.default for f in dataclasses.fields(cls)}

    @classmethod
    def of(cls, estimator) -> NeuralSettings:
        """The settings of an estimator (its shared parameters)."""
        return cls(**{name: getattr(estimator, name) for name in cls.defaults()})


def settings_init(defaults: Mapping[str, Any], extra: Mapping[str, Any]):
    """An ``__init__`` that stores each parameter unchanged (scikit-learn's rule), with an
    explicit keyword-only signature: the shared settings (``defaults`` overrides some of
    their defaults) followed by the class's ``extra`` parameters."""
    values = {**NeuralSettings.defaults(), **dict(defaults), **dict(extra)}

    def __init__(self, **params) -> None:
        unknown = sorted(set(params) - set(values))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected parameter(s) "
                            f"{', '.join(unknown)}; its parameters are "
                            f"{', '.join(sorted(values))}.")
        for name, default in values.items():
            setattr(self, name, params.get(name, default))

    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
                   for name, default in values.items()]
    __init__.__signature__ = inspect.Signature(parameters)
    return __init__
