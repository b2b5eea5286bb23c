"""Audit of ``estimator.skops`` before skops builds, imports or calls anything from it.

A skops file is a zip archive: ``schema.json`` describes the object tree (each entry names its
skops loader, its ``module.class`` and its children) and ``.npy`` members hold the arrays.
:func:`audit_skops_file` reads that description as plain JSON and walks every entry, with the
attribute path where it sits, against the pinned allowlist of :mod:`medfuse.persist.trusted`:

- objects (``ObjectNode``) only of the exact classes medfuse saves, or named in ``trust``;
- functions (``FunctionNode``) only from the explicit function list (or ``trust``): a stored
  function runs whenever the model is used, as in a ``FunctionTransformer(func=...)``;
- types stored as values (dict key types, ``dtype=``; skops calls them while loading) only
  plain data types, so ``builtins.eval``/``exec``/``getattr``/``__import__``/``open`` and other
  callables (``os.system`` is ``posix.system``) are refused;
- containers only as the built-in dict/list/tuple/slice, arrays only as ``numpy.ndarray`` or
  numpy scalars whose ``.npy`` header declares a dtype without Python objects; object arrays
  (which skops rebuilds from a list of arbitrary entries) are refused;
- skops constructs that reach attributes or call stored callables are refused whatever their
  type, following the published skops advisories: bound methods (``MethodNode``: attribute
  access on a trusted object), ``operator.attrgetter``/``itemgetter``/``methodcaller``
  (``OperatorFuncNode``), ``functools.partial``, ``defaultdict`` factories, objects rebuilt by
  calling their type, references to other entries; a stored ``numpy.random.Generator``
  (gradient boosting keeps one) only with numpy's default bit generator, ``PCG64``, since
  skops calls the bit generator it names;
- only the skops protocols the audit knows (an older protocol selects older, laxer loaders),
  only the keys each loader reads, and every referenced archive member must exist.

The walk collects every problem; the error lists them with their paths. ``trust=True``
(removed from skops after CVE-2024-37065) has no equivalent: trust is a list of exact names.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from medfuse import limits
from medfuse.archives import ObjectArrayError, check_zip, npy_header
from medfuse.limits import SizeLimitError
from medfuse.persist import trusted as pinned
from medfuse.persist.errors import UntrustedModelError
from medfuse.persist.skops_values import json_value, plain, whole_numbers
from medfuse.persist.trust import _denied

_BASE_KEYS = frozenset({"__class__", "__module__", "__loader__", "__id__"})
#: loader -> the further keys of its entry (the keys skops reads for it)
_LAYOUT: dict[str, frozenset[str]] = {
    "ObjectNode": frozenset({"content"}),
    "DictNode": frozenset({"content", "key_types"}),
    "ListNode": frozenset({"content"}),
    "TupleNode": frozenset({"content"}),
    "JsonNode": frozenset({"content", "is_json"}),
    "NdArrayNode": frozenset({"type", "file", "content", "shape"}),
    "FunctionNode": frozenset(),
    "TypeNode": frozenset(),
    "SliceNode": frozenset({"content"}),
    # only for classes named in trust= (scikit-learn trees, losses, sparse matrices)
    "TreeNode": frozenset({"__reduce__", "content"}),
    "LossNode": frozenset({"__reduce__", "content"}),
    "SparseMatrixNode": frozenset({"type", "file"}),
    # a numpy Generator (gradient boosting keeps one): only numpy's default bit generator
    "RandomGeneratorNode": frozenset({"content"}),
}
#: The bit generator a stored ``numpy.random.Generator`` may name (skops calls
#: ``numpy.random.<name>()``): numpy's default, the one ``default_rng`` builds.
_BIT_GENERATORS = frozenset({"PCG64"})
#: skops loaders refused whatever the type they name, and why
_REFUSED_LOADERS: dict[str, str] = {
    "MethodNode": "the bound method {name}: loading it looks up an arbitrary attribute of an "
                  "object (skops advisory on method access)",
    "OperatorFuncNode": "{name}: operator attrgetter/itemgetter/methodcaller objects reach "
                        "arbitrary attributes or call arbitrary methods when used (skops "
                        "advisory on operator functions)",
    "PartialNode": "{name}: a functools.partial is a stored call with stored arguments",
    "DefaultDictNode": "{name}: a defaultdict's default factory is a stored callable",
    "ConstructorFromReduceNode": "{name} rebuilt by calling it with stored arguments",
    "ReduceNode": "{name} rebuilt by calling a constructor with stored arguments",
    "RandomStateNode": "{name}: medfuse models store seeds, not random generators",
    "CachedNode": "a reference to another entry of the file ({name}; skops never writes these)",
}
_MAX_DEPTH = 200
_MAX_SHOWN = 12


class _Walk:
    """One walk over the entries of ``schema.json``."""

    def __init__(self, archive: zipfile.ZipFile, trust: frozenset[str]) -> None:
        self.archive = archive
        self.members = set(archive.namelist())
        self.trust = trust
        self.approved: set[str] = set()
        self.problems: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ helpers
    def refuse(self, what: str, path: str) -> None:
        self.problems.setdefault(what, []).append(path)

    def approve(self, name: str) -> None:
        self.approved.add(name)

    def trusted_class(self, name: str) -> bool:
        return not _denied(name) and (name in pinned.ESTIMATOR_TYPES or name in self.trust)

    # ------------------------------------------------------------------ entries
    def entry(self, state, path: str, ancestors: tuple, extra_keys=frozenset(),
              attributes: bool = False) -> None:
        if len(ancestors) > _MAX_DEPTH:
            self.refuse(f"entries nested deeper than {_MAX_DEPTH} levels", path)
            return
        if not (isinstance(state, dict) and all(
                isinstance(state.get(k), str) for k in ("__loader__", "__module__", "__class__"))):
            self.refuse("a malformed entry (not a skops node)", path)
            return
        loader = state["__loader__"]
        name = f"{state['__module__']}.{state['__class__']}"
        if loader in _REFUSED_LOADERS:
            content = state.get("content")
            method = content.get("func") if isinstance(content, dict) else None
            shown = f"{name}.{method}" if isinstance(method, str) else name
            self.refuse(_REFUSED_LOADERS[loader].format(name=shown), path)
            return
        if loader not in _LAYOUT:
            self.refuse(f"the skops loader {loader!r} ({name}), which medfuse models do not use",
                        path)
            return
        unknown = set(state) - _BASE_KEYS - _LAYOUT[loader] - extra_keys
        if unknown:
            self.refuse(f"a skops {loader} entry with unexpected keys {sorted(unknown)}", path)
            return
        node_id = state.get("__id__")
        if node_id is not None and (not isinstance(node_id, int) or isinstance(node_id, bool)):
            self.refuse("an entry whose __id__ is not an integer", path)
            return
        if node_id is not None and node_id in ancestors:
            self.refuse("an entry that contains itself (a reference cycle)", path)
            return
        inner = (*ancestors, node_id)
        if loader == "DictNode":
            self._DictNode(state, name, path, inner, attributes)
        else:
            getattr(self, f"_{loader}")(state, name, path, inner)

    def _children(self, items, path_of, ancestors) -> None:
        for key, child in items:
            self.entry(child, path_of(key), ancestors)

    def _ObjectNode(self, state, name, path, ancestors) -> None:
        if self.trusted_class(name):
            self.approve(name)
        else:
            self.refuse(f"the type {name}, which is not trusted", path)
        content = state.get("content")
        if name in pinned.PARAMETER_VALUES and isinstance(content, dict):
            self._parameter_values(name, content.get("content"), path)
        if name in pinned.SIZE_PARAMETERS and isinstance(content, dict):
            self._sizes(name, content.get("content"), path)
        if isinstance(content, dict) and content.get("__loader__") == "DictNode":
            self.entry(content, path, ancestors, attributes=True)
        elif content is not None:
            self.entry(content, f"{path}.<state>", ancestors)

    def _parameter_values(self, name, attributes, path) -> None:
        """Refuse a text parameter of an allowlisted class set to a value the library itself
        would not use (see ``PARAMETER_VALUES``)."""
        if not isinstance(attributes, dict):
            return
        for key, allowed in pinned.PARAMETER_VALUES[name].items():
            if key not in attributes:
                continue
            value, ok = json_value(attributes[key])
            if not ok or value not in allowed:
                shown = repr(value) if ok else "a stored object"
                self.refuse(f"{name} with {key}={shown[:80]}: a value the library itself "
                            f"never uses there (allowed: "
                            f"{', '.join(sorted(map(repr, allowed)))})", f"{path}.{key}")

    def _sizes(self, name, attributes, path) -> None:
        """Refuse a network size above its cap (see ``SIZE_PARAMETERS``): every whole number
        under the attribute (a width, a tuple of widths, a dict of input shapes)."""
        if not isinstance(attributes, dict):
            return
        for key, cap_name in pinned.SIZE_PARAMETERS[name].items():
            cap = getattr(limits, cap_name)
            for value in whole_numbers(attributes.get(key)):
                try:
                    cap.check(value, f"{name}.{key}")
                except SizeLimitError as err:
                    self.refuse(str(err).rstrip("."), f"{path}.{key}")
                    break

    def _DictNode(self, state, name, path, ancestors, attributes=False) -> None:
        if name != "builtins.dict":
            self.refuse(f"a mapping of type {name} (only dict is loaded)", path)
            return
        content, key_types = state.get("content"), state.get("key_types")
        if not isinstance(content, dict) or not isinstance(key_types, dict):
            self.refuse("a dict entry without content or key types", path)
            return
        keys_path = f"{path}<key types>"
        self.entry(key_types, keys_path, ancestors)
        if key_types.get("__loader__") != "ListNode" or len(
                key_types.get("content") or []) != len(content):
            self.refuse("dict key types that do not list one type per key", keys_path)
        if attributes:
            self._children(content.items(), lambda k: f"{path}.{k}", ancestors)
        else:
            self._children(content.items(), lambda k: f"{path}[{k!r}]", ancestors)

    def _ListNode(self, state, name, path, ancestors, expected="builtins.list") -> None:
        if name != expected:
            self.refuse(f"a sequence of type {name} (expected {expected})", path)
            return
        content = state.get("content")
        if not isinstance(content, list):
            self.refuse("a sequence entry without a list of items", path)
            return
        self._children(enumerate(content), lambda i: f"{path}[{i}]", ancestors)

    def _TupleNode(self, state, name, path, ancestors) -> None:
        self._ListNode(state, name, path, ancestors, expected="builtins.tuple")

    def _JsonNode(self, state, name, path, ancestors) -> None:
        content = state.get("content")
        if name != "builtins.str" or not isinstance(content, str) or not isinstance(
                state.get("is_json", True), bool):
            self.refuse(f"a malformed JSON value ({name})", path)
            return
        try:
            json.loads(content)
        except (ValueError, RecursionError):
            self.refuse("a JSON value that does not parse", path)

    def _NdArrayNode(self, state, name, path, ancestors) -> None:
        if name != "numpy.ndarray" and name not in pinned.NUMPY_SCALAR_TYPES:
            self.refuse(f"an array of type {name} (skops calls that type on the array)", path)
            return
        if state.get("type") == "json":
            self._object_array(state, name, path, ancestors)
            return
        if state.get("type") != "numpy" or "content" in state or "shape" in state:
            self.refuse("a malformed array entry", path)
            return
        self._npy_member(state.get("file"), path)

    def _object_array(self, state, name, path, ancestors) -> None:
        """skops writes an object array as the list of its items (each an entry of its own).
        scikit-learn keeps column names that way (``feature_names_in_``), so arrays of plain
        JSON values (strings, numbers, None; nested lists for more dimensions) are loaded;
        an object array holding anything else is refused."""
        items, shape = state.get("content"), state.get("shape")
        if name != "numpy.ndarray" or "file" in state or not isinstance(items, list):
            self.refuse("a malformed object array", path)
            return
        if not all(plain(item) for item in items):
            self.refuse("an object-dtype numpy array holding objects other than plain strings "
                        "and numbers", path)
            return
        if not (isinstance(shape, dict) and shape.get("__loader__") == "TupleNode"
                and isinstance(shape.get("content"), list)
                and all(plain(s, leaf=int) for s in shape["content"])):
            self.refuse("an object array whose shape is not a tuple of integers", path)
            return
        self.entry(shape, f"{path}<shape>", ancestors)
        self._children(enumerate(items), lambda i: f"{path}[{i}]", ancestors)

    def _npy_member(self, member, path) -> None:
        if not isinstance(member, str) or member not in self.members:
            self.refuse(f"an array whose data member {member!r} is not in the archive", path)
            return
        try:
            with self.archive.open(member) as f:
                shape, dtype, offset = npy_header(f, f"member {member!r}")
        except SizeLimitError as err:
            self.refuse(f"an array too large to load: {err}", path)
            return
        except ObjectArrayError:
            self.refuse("an object-dtype numpy array (dtype object, loaded through pickle)",
                        path)
            return
        except (ValueError, OSError, EOFError, zipfile.BadZipFile):
            self.refuse(f"an array whose member {member!r} is not a valid .npy file", path)
            return
        size = self.archive.getinfo(member).file_size - offset
        if size != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            self.refuse(f"an array whose member {member!r} holds {size} data bytes, not what "
                        f"its header declares ({dtype}, shape {shape})", path)

    def _FunctionNode(self, state, name, path, ancestors) -> None:
        if not _denied(name) and (name in pinned.FUNCTIONS or name in self.trust):
            self.approve(name)
        else:
            self.refuse(f"the function {name}: a stored function runs whenever the model is "
                        "used, and only medfuse's own listed functions are trusted", path)

    def _TypeNode(self, state, name, path, ancestors) -> None:
        if name in pinned.TYPE_VALUES:
            self.approve(name)
        elif name.startswith("builtins."):
            self.refuse(f"the built-in callable {name} stored as a value (eval, exec, "
                        "getattr, __import__, open and the like run code)", path)
        else:
            self.refuse(f"the type or callable {name} stored as a value (skops imports it "
                        "and may call it while loading)", path)

    def _SliceNode(self, state, name, path, ancestors) -> None:
        bounds = state.get("content")
        if name != "builtins.slice" or not isinstance(bounds, dict) or set(bounds) != {
                "start", "stop", "step"} or not all(
                v is None or (isinstance(v, int) and not isinstance(v, bool))
                for v in bounds.values()):
            self.refuse("a malformed slice", path)

    def _reduced(self, state, name, path, ancestors) -> None:
        if self.trusted_class(name):
            self.approve(name)
        else:
            self.refuse(f"the type {name}, which is not trusted", path)
        reduce = state.get("__reduce__")
        if not isinstance(reduce, dict) or set(reduce) != {"args"} or "content" not in state:
            self.refuse(f"a malformed {state['__loader__']} entry", path)
            return
        self.entry(reduce["args"], f"{path}.<constructor arguments>", ancestors)
        self.entry(state["content"], f"{path}.<state>", ancestors)

    def _TreeNode(self, state, name, path, ancestors) -> None:
        if name != "sklearn.tree._tree.Tree":
            self.refuse(f"a tree entry naming {name} (skops builds sklearn.tree._tree.Tree)",
                        path)
            return
        self._reduced(state, name, path, ancestors)

    def _LossNode(self, state, name, path, ancestors) -> None:
        self._reduced(state, name, path, ancestors)

    def _RandomGeneratorNode(self, state, name, path, ancestors) -> None:
        content = state.get("content")
        if name not in pinned.RANDOM_GENERATORS or not isinstance(content, dict) or (
                set(content) not in ({"bit_generator"}, {"bit_generator", "seed_seq"})):
            self.refuse(f"a random generator entry naming {name} or with unexpected parts",
                        path)
            return
        bit_state = content["bit_generator"]
        try:
            named = json.loads(bit_state["content"]["bit_generator"]["content"])
        except (KeyError, TypeError, ValueError):
            named = None
        if named not in _BIT_GENERATORS:
            self.refuse(f"a random generator whose bit generator is {named!r} (skops calls "
                        f"numpy.random.<name>; only {', '.join(sorted(_BIT_GENERATORS))} "
                        "is trusted)", path)
            return
        self.approve(name)
        self._children(content.items(), lambda k: f"{path}.<{k}>", ancestors)

    def _SparseMatrixNode(self, state, name, path, ancestors) -> None:
        if self.trusted_class(name):
            self.approve(name)
        else:
            self.refuse(f"the type {name}, which is not trusted", path)
        member = state.get("file")
        if state.get("type") != "scipy" or not isinstance(member, str) or (
                member not in self.members):
            self.refuse("a malformed sparse matrix entry", path)

    # ------------------------------------------------------------------ report
    def message(self, file: Path) -> str:
        lines = []
        for what, paths in list(self.problems.items())[:_MAX_SHOWN]:
            n = len(paths) - 1
            more = f" (and {n} more place{'s' if n > 1 else ''})" if n else ""
            lines.append(f"- {what}, at {paths[0]}{more}")
        if len(self.problems) > _MAX_SHOWN:
            lines.append(f"- ... and {len(self.problems) - _MAX_SHOWN} more problems")
        return (f"{file} is refused; nothing in it was loaded:\n" + "\n".join(lines) + "\n"
                "medfuse loads only the exact classes and functions its own models hold "
                "(medfuse.persist.trusted). To load a class of your own, name it exactly: "
                "load_model(path, trust=('package.module.Class',)) or "
                "--trust package.module.Class.")


def _open(file: Path, data: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise UntrustedModelError(f"{file} is not a readable skops archive: it is truncated or "
                                  f"corrupt ({err}). Save the model again.") from None
    try:
        check_zip(archive, str(file))
    except ValueError as err:
        archive.close()
        raise UntrustedModelError(str(err)) from None
    try:
        damaged = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError,
            NotImplementedError) as err:
        archive.close()
        raise UntrustedModelError(f"{file} is a damaged skops archive ({err}). Save the model "
                                  "again.") from None
    if damaged is not None:
        archive.close()
        raise UntrustedModelError(f"{file} is a damaged skops archive: member {damaged!r} "
                                  "fails its checksum. Save the model again.")
    return archive


def _schema(file: Path, archive: zipfile.ZipFile) -> dict:
    try:
        info = archive.getinfo("schema.json")
    except KeyError:
        raise UntrustedModelError(f"{file} is not a skops file (no schema.json).") from None
    try:
        limits.JSON.check(info.file_size, f"{file}, member 'schema.json',")
    except ValueError as err:
        raise UntrustedModelError(str(err)) from None
    try:
        schema = json.loads(archive.read(info).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise UntrustedModelError(f"{file}: schema.json is not valid JSON.") from None
    if not isinstance(schema, dict):
        raise UntrustedModelError(f"{file}: schema.json does not describe an object.")
    protocol = schema.get("protocol")
    if isinstance(protocol, bool) or protocol not in pinned.SKOPS_PROTOCOLS:
        raise UntrustedModelError(
            f"{file} was written with skops protocol {protocol!r}; medfuse audits protocol(s) "
            f"{sorted(pinned.SKOPS_PROTOCOLS)} only (older protocols select laxer loaders).")
    return schema


def audit_skops_file(file: str | Path, trust: frozenset[str] = frozenset(),
                     data: bytes | None = None) -> list[str]:
    """Check a skops file against the allowlist without building anything from it.

    Parameters
    ----------
    file : str or Path
        The ``.skops`` archive (named in messages).
    trust : frozenset of str
        Exact fully qualified class or function names trusted on top of
        :mod:`medfuse.persist.trusted` (already validated by :func:`check_trust`).
    data : bytes, optional
        The archive's bytes, when already read (load exactly the bytes that were audited:
        :func:`skops.io.loads`); read from ``file`` otherwise.

    Returns
    -------
    list of str
        The type and function names the file uses, all approved: the ``trusted=`` list for
        :func:`skops.io.load`.

    Raises
    ------
    UntrustedModelError
        Listing every refused entry with its attribute path
        (``estimator.preprocessors_['rna'].steps[0][1].func``), or saying why the archive
        cannot be read.
    """
    file = Path(file)
    with _open(file, file.read_bytes() if data is None else data) as archive:
        schema = _schema(file, archive)
        walk = _Walk(archive, frozenset(trust))
        if schema.get("__loader__") not in ("ObjectNode", "TreeNode", "LossNode"):
            walk.refuse("a file whose top entry is not an estimator", "estimator")
        else:
            walk.entry(schema, "estimator", (), extra_keys=frozenset({"protocol",
                                                                     "_skops_version"}))
    if walk.problems:
        raise UntrustedModelError(walk.message(file))
    return sorted(walk.approved)
