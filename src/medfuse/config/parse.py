"""Reading a study file: YAML -> validated :class:`~medfuse.config.study.Study`, with one
message naming every invalid field, and the subjects a study file describes."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from medfuse import limits
from medfuse.config.errors import StudyError, _At
from medfuse.config.study import Study
from medfuse.data.multimodal import MultiModalData
from medfuse.files import read_bytes

_MOVED = {key: "batch harmonization is requested in the harmonize: section (method: ComBat or "
               "ComBat-seq)" for key in ("preprocessors", "preprocessing", "combat")}

_UNION_TAGS = ("ColumnRef", "SurvivalRef", "str", "list[str]", "dict[str,ModalitySpec]")


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        parts = [str(p) for p in e["loc"]
                 if str(p) not in _UNION_TAGS and not str(p).startswith(("function-", "literal["))]
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, _At):
            parts.append(cause.where)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden" and parts and parts[-1] in _MOVED:
            msg += f"; {_MOVED[parts[-1]]}"
        lines.append(f"{'.'.join(parts) or 'study'}: {msg}")
    return "; ".join(dict.fromkeys(lines))


def parse_study(raw: dict, base_dir: str | Path = ".", strategies: bool = True) -> Study:
    """Validate a study given as a dict (what the YAML holds).

    Parameters
    ----------
    raw : dict
        The study's sections.
    base_dir : str or Path
        The folder relative paths are resolved against.
    strategies : bool
        Check the strategy names and their parameters against the registry; False skips
        it (reading a study's data for prediction needs none of them).

    Returns
    -------
    Study

    Raises
    ------
    StudyError
        Naming every invalid field.
    """
    if not isinstance(raw, dict):
        raise StudyError("study: the file must hold a mapping (name: ..., modalities: ...)")
    try:
        return Study.model_validate({**raw, "base_dir": Path(base_dir).resolve()},
                                    context={"strategies": strategies})
    except ValidationError as err:
        raise StudyError(f"Invalid study file: {_format_errors(err)}") from None
    except TypeError as err:
        raise StudyError(f"Invalid study file: {err}") from None


def load_study(path: str | Path, strategies: bool = True) -> Study:
    """Read and validate a study YAML file.

    Parameters
    ----------
    path : str or Path
        The YAML file; relative paths in it are relative to its folder.
    strategies : bool
        Check the strategy names and their parameters (see :func:`parse_study`).

    Returns
    -------
    Study

    Raises
    ------
    StudyError
        When the file is missing, is not a regular file, is larger than its cap, is not
        valid YAML, expands (through YAML aliases) beyond its cap of nodes, or has an
        invalid field.
    """
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        raise StudyError(f"No such study file: {path}")
    try:
        text = read_bytes(path, limits.STUDY_BYTES).decode("utf-8")
        raw = safe_yaml(text, str(path))
    except UnicodeDecodeError as err:
        raise StudyError(f"{path} is not UTF-8 text (byte {err.start}).") from None
    except (OSError, ValueError) as err:
        raise StudyError(str(err)) from None
    return parse_study(raw, base_dir=path.parent, strategies=strategies)


def safe_yaml(text: str, name: str):
    """A YAML document read safely: plain data only (``yaml.SafeLoader``), and refused before
    it is built when its nodes, counted with every alias expanded (a "billion laughs" study
    builds millions from a few lines), exceed ``MEDFUSE_MAX_STUDY_NODES``.

    Parameters
    ----------
    text : str
        The document.
    name : str
        The file, as messages name it.

    Returns
    -------
    object
        The document's data.

    Raises
    ------
    StudyError
        When it is not valid YAML or nests too deeply.
    SizeLimitError
        When it expands beyond the cap.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        limits.STUDY_NODES.check(_expanded_nodes(node, {}), name)
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise StudyError(f"{name} is not valid YAML: {err}") from None
    except RecursionError:
        raise StudyError(f"{name} nests too deeply to read.") from None
    finally:
        loader.dispose()


def _expanded_nodes(node, memo: dict[int, int]) -> int:
    """Nodes of ``node`` with every alias expanded (aliases share node objects, so the count
    is memoised per object: fast even when it is astronomically large)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a node that contains itself counts once (the loader refuses it)
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_nodes(k, memo) + _expanded_nodes(v, memo)
                        for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_nodes(v, memo) for v in node.value)
    else:
        total = 1
    memo[id(node)] = total
    return total


def read_study_data(path: str | Path) -> MultiModalData:
    """Every subject a study file describes (its training subjects and, when it has one,
    its external test set), e.g. new subjects to predict or a cohort to summarise.

    Parameters
    ----------
    path : str or Path
        The study YAML file.

    Returns
    -------
    MultiModalData
        The columns the study uses as outcome, batch, groups or covariates are obs
        columns, not features.

    Raises
    ------
    StudyError
        When the file or its data cannot be read (naming the field or file).
    """
    train, test = load_study(path, strategies=False).load()
    return train if test is None else MultiModalData.concat([train, test])
