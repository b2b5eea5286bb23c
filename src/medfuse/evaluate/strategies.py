"""Which strategies a benchmark runs: registry names resolved to unfitted estimators for
the kinds of a study's modalities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from medfuse.data.multimodal import DataValidationError, MultiModalData


def resolve_strategies(data: MultiModalData, names: str | Sequence[str] = "all",
                       exclude: Sequence[str] = (), params: Mapping[str, dict] | None = None,
                       task: str = "classification",
                       representations: Mapping | None = None) -> dict[str, object]:
    """Unfitted estimators by name from the registry.

    Parameters
    ----------
    data : MultiModalData
        The study's data (its kinds decide which strategies ``"all"`` holds).
    names : str or sequence of str
        ``"all"`` (every registered strategy of the ``task`` that accepts every modality's
        kind, per-modality names such as ``unimodal:<m>`` expanded for each modality) or a
        list of names.
    exclude : sequence of str
        Names to leave out.
    params : mapping of str to dict, optional
        Strategy name -> constructor arguments.
    task : {"classification", "survival"}
    representations : mapping, optional
        Modality -> representation; every strategy is wrapped so that these
        modalities are turned into feature blocks inside its fit (their kind is then the
        representation's output kind when choosing strategies).

    Returns
    -------
    dict of str to estimator
        Name -> unfitted strategy, in the order chosen.
    """
    from medfuse.fusion.factory import make
    from medfuse.fusion.registry import info, strategy_names
    from medfuse.represent import make_representation

    params = dict(params or {})
    representations = dict(representations or {})
    kinds = dict(data.kinds)
    for m, spec in representations.items():
        kinds[m] = str(getattr(make_representation(spec), "output_kind", "continuous"))
    if names == "all":
        chosen = []
        for n in strategy_names(data.modality_names, task=task):
            tags = info(n)
            if tags.family == "ensemble":   # measured from the others' predictions
                continue
            if tags.per_modality:
                ok = tags.accepts(kinds[n.split(":", 1)[1]])
            else:
                ok = all(tags.accepts(k) for k in kinds.values())
            if ok:
                chosen.append(n)
    else:
        chosen = list(names)
    chosen = [n for n in chosen if n not in set(exclude)]
    if not chosen:
        raise DataValidationError(
            "No fusion strategy to run: none is registered for these modality kinds "
            f"({', '.join(sorted(set(kinds.values())))}), or all were excluded.")
    out = {}
    for n in chosen:
        if ":" in n and n.split(":", 1)[1] not in data.modality_names:
            raise DataValidationError(f"strategies: {n!r} names a modality the data does not "
                                      f"have ({', '.join(data.modality_names)}).")
        est = make(n, **params.get(n, {}), representations=representations)
        if info(n).task != task:
            raise DataValidationError(f"strategies: {n!r} is a {info(n).task} strategy; this "
                                      f"is a {task} study.")
        out[n] = est
    return out
