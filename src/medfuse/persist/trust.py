"""What ``trust=`` (``medfuse predict --trust``) may add to the allowlist for one load.

A positive rule: only a **class** (a stored function runs whenever the model is used),
named exactly as it is defined (no prefix, wildcard or alias), that is a registered medfuse
extension or is defined in an installed plugin package (the ``medfuse.plugins`` entry points,
``MEDFUSE_PLUGINS``). Names from modules that run code are refused whatever the rule says
(``trusted.NEVER_TRUSTED_MODULES``). Nothing outside the plugin packages is imported to decide.
"""

from __future__ import annotations

from medfuse.persist import trusted as pinned


def _denied(name: str) -> bool:
    """Names refused even when a caller trusts them (see ``NEVER_TRUSTED_MODULES``)."""
    return (name.split(".", 1)[0] in pinned.NEVER_TRUSTED_MODULES
            or name.startswith(pinned.NEVER_TRUSTED_PREFIXES))


def check_trust(trust) -> frozenset[str]:
    """Validate ``trust=`` names: exact dotted names (``package.module.Class``) of classes
    (never functions) that are registered medfuse extensions (a strategy, kind,
    representation, loss term ... of yours) or defined in an installed plugin package (the
    ``medfuse.plugins`` entry points, ``MEDFUSE_PLUGINS``); no prefixes, wildcards, aliases
    or names from modules that run code.

    Parameters
    ----------
    trust : str or iterable of str
        The names given to ``trust=`` (one string counts as one name).

    Returns
    -------
    frozenset of str
        The names, validated.

    Raises
    ------
    ValueError
        Naming the first invalid entry and what to give instead.
    """
    if isinstance(trust, str):
        trust = (trust,)
    out = set()
    for name in trust or ():
        parts = name.split(".") if isinstance(name, str) else []
        if len(parts) < 2 or not all(p.isidentifier() for p in parts):
            raise ValueError(
                f"trust takes exact fully qualified names such as 'mylab.models.MyStrategy'; "
                f"{name!r} is not one (module prefixes and wildcards are not accepted).")
        if _denied(name):
            raise ValueError(f"{name!r} cannot be trusted: {parts[0]} holds functions that run "
                             "code or reach the operating system.")
        problem = _trust_problem(name)
        if problem:
            raise ValueError(f"{name!r} cannot be trusted: {problem}.")
        out.add(name)
    return frozenset(out)


def _trust_problem(name: str) -> str | None:
    """Why ``name`` may not be trusted (None when it may): trust takes the classes of
    registered extensions, and classes defined in installed plugin packages."""
    import importlib

    from medfuse.plugins import plugin_packages, registered_classes

    if name in registered_classes():
        return None
    if name.split(".")[0] not in plugin_packages():
        return ("trust takes only a class registered as a medfuse extension (a strategy, "
                "kind, representation, loss term ...) or a class of an installed plugin "
                "package (the medfuse.plugins entry points, MEDFUSE_PLUGINS)")
    parts = name.split(".")
    obj = None
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            obj = None
        break
    if obj is None:
        return "it names no class of the plugin package"
    if not isinstance(obj, type):
        return (f"it is a {type(obj).__name__}, not a class; a stored function runs when "
                "the model is used, so only classes can be trusted")
    real = f"{obj.__module__}.{obj.__qualname__}"
    if real != name:
        return f"it is another name for {real}; trust the class by the name it is defined under"
    return None
