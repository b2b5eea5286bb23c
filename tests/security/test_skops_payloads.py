"""Crafted ``estimator.skops`` payloads: each is refused, naming what and where, before any
of its code runs.

Every payload writes a sentinel file when it runs. A control loads the folder the unsafe way
(trusting every name skops reports, which is what the old prefix rule did for names under
numpy/scipy/pandas/sklearn/medfuse) and shows the payload is live; ``load_model`` must then
refuse the same folder and the sentinel must not exist.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import io
import json
import operator
import os
import zipfile

import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from medfuse.fusion import make
from medfuse.persist import UntrustedModelError, load_model, save_model
from tests.security.crafting import (
    ExecOnUnpickle,
    attribute,
    code_writing,
    entries,
    forget_module,
    json_value,
    naive_load,
    numpy_exec_chain,
    rewrite_archive,
    sentinel_module,
    set_attribute,
)


def refusal(folder, **kw) -> str:
    with pytest.raises(UntrustedModelError) as err:
        load_model(folder, **kw)
    return str(err.value)


def run_quietly(call) -> None:
    """Run a control; it may fail after its payload ran (the model is broken by then)."""
    with contextlib.suppress(Exception):
        call()


def test_reported_numpy_exec_chain(poisoned, cohort, tmp_path):
    sentinel = tmp_path / "ran"
    folder = poisoned(preprocessors_={"rna": numpy_exec_chain(code_writing(sentinel))})
    run_quietly(lambda: naive_load(folder).predict_proba(cohort))
    assert sentinel.exists(), "control: the payload runs when the model is used"
    sentinel.unlink()
    message = refusal(folder)
    assert ("the function numpy.testing._private.utils.runstring: a stored function runs "
            "whenever the model is used") in message
    assert "at estimator.preprocessors_['rna'].steps[3][1].func" in message
    for helper in ("numpy.full_like", "numpy.ravel", "numpy.take"):
        assert f"the function {helper}" in message
    assert ("the type sklearn.preprocessing._function_transformer.FunctionTransformer, which "
            "is not trusted, at estimator.preprocessors_['rna'].steps[0][1] (and 3 more places)"
            ) in message
    assert not sentinel.exists()


BUILTINS = [builtins.exec, builtins.eval, builtins.getattr, builtins.__import__,
            builtins.compile, builtins.open]


@pytest.mark.parametrize("target", BUILTINS, ids=[f.__name__ for f in BUILTINS])
def test_function_transformer_with_a_builtin(poisoned, target):
    folder = poisoned(preprocessors_={"rna": FunctionTransformer(target)})
    assert naive_load(folder).preprocessors_["rna"].func is target  # control: live
    message = refusal(folder)
    if target.__module__ == "builtins":
        expected = (f"the built-in callable builtins.{target.__name__} stored as a value "
                    "(eval, exec, getattr, __import__, open and the like run code)")
    else:  # open is io.open
        expected = (f"the type or callable {target.__module__}.{target.__name__} stored as a "
                    "value (skops imports it and may call it while loading)")
    assert f"{expected}, at estimator.preprocessors_['rna'].func" in message


def test_function_transformer_with_exec_never_runs(poisoned, tmp_path):
    sentinel = tmp_path / "ran"
    folder = poisoned(preprocessors_={"rna": FunctionTransformer(builtins.exec)})
    naive_load(folder).preprocessors_["rna"].transform(code_writing(sentinel))
    assert sentinel.exists()
    sentinel.unlink()
    assert "builtins.exec" in refusal(folder)
    assert not sentinel.exists()


def test_function_transformer_with_os_system(poisoned, tmp_path):
    sentinel = tmp_path / "ran"
    folder = poisoned(preprocessors_={"rna": FunctionTransformer(os.system)})
    naive_load(folder).preprocessors_["rna"].transform(f"touch '{sentinel}'")
    assert sentinel.exists()
    sentinel.unlink()
    message = refusal(folder)
    assert (f"the type or callable {os.system.__module__}.system stored as a value (skops "
            "imports it and may call it while loading), at estimator.preprocessors_['rna']"
            ".func") in message
    assert not sentinel.exists()


def test_operator_methodcaller(poisoned, cohort, tmp_path):
    """``methodcaller('to_csv', path)`` writes any file when the model transforms data."""
    sentinel = tmp_path / "written.csv"
    folder = poisoned(preprocessors_={"rna": FunctionTransformer(
        operator.methodcaller("to_csv", str(sentinel)))})
    run_quietly(lambda: naive_load(folder).predict_proba(cohort))
    assert sentinel.exists()
    sentinel.unlink()
    message = refusal(folder)
    assert ("operator.methodcaller: operator attrgetter/itemgetter/methodcaller objects reach "
            "arbitrary attributes or call arbitrary methods when used (skops advisory on "
            "operator functions), at estimator.preprocessors_['rna'].func") in message
    assert not sentinel.exists()


def test_operator_attrgetter_chain(poisoned, cohort, tmp_path):
    sentinel = tmp_path / "written.csv"
    chain = Pipeline([
        ("get", FunctionTransformer(operator.attrgetter("to_csv"))),
        ("call", FunctionTransformer(operator.methodcaller("__call__", str(sentinel)))),
    ])
    folder = poisoned(preprocessors_={"rna": chain})
    run_quietly(lambda: naive_load(folder).predict_proba(cohort))
    assert sentinel.exists()
    sentinel.unlink()
    message = refusal(folder)
    assert "operator.attrgetter: " in message
    assert "at estimator.preprocessors_['rna'].steps[0][1].func" in message
    assert "at estimator.preprocessors_['rna'].steps[1][1].func" in message
    assert not sentinel.exists()


def test_bound_method(poisoned):
    scaler = StandardScaler().fit(np.zeros((3, 2)))
    folder = poisoned(preprocessors_={"rna": FunctionTransformer(scaler.inverse_transform)})
    assert callable(naive_load(folder).preprocessors_["rna"].func)
    assert ("the bound method sklearn.preprocessing._data.StandardScaler.inverse_transform: "
            "loading it looks up an arbitrary attribute of an object (skops advisory on method "
            "access), at estimator.preprocessors_['rna'].func") in refusal(folder)


def test_functools_partial(poisoned, tmp_path):
    sentinel = tmp_path / "ran"
    folder = poisoned(preprocessors_={"rna": FunctionTransformer(
        functools.partial(builtins.exec, code_writing(sentinel)))})
    naive_load(folder).preprocessors_["rna"].func()
    assert sentinel.exists()
    sentinel.unlink()
    assert ("functools.partial: a functools.partial is a stored call with stored arguments, "
            "at estimator.preprocessors_['rna'].func") in refusal(folder)
    assert not sentinel.exists()


def test_eval_as_a_dict_key_type_runs_at_load(saved, tmp_path):
    """skops converts each dict key with its stored key type: ``eval`` runs while loading."""
    sentinel = tmp_path / "ran"

    def edit(schema):
        prep = attribute(schema, "preprocessors_")
        prep["content"] = {code_writing(sentinel): prep["content"]["rna"]}
        key_type = prep["key_types"]["content"][0]
        key_type.update(__module__="builtins", __class__="eval")
        del key_type["__id__"]  # a fresh entry, not skops' memo of builtins.str

    rewrite_archive(saved, edit)
    run_quietly(lambda: naive_load(saved))
    assert sentinel.exists(), "control: the key is evaluated while loading"
    sentinel.unlink()
    assert ("the built-in callable builtins.eval stored as a value (eval, exec, getattr, "
            "__import__, open and the like run code), at estimator.preprocessors_<key types>[0]"
            ) in refusal(saved)
    assert not sentinel.exists()


def test_exec_as_a_constructor_runs_at_load(saved, tmp_path):
    sentinel = tmp_path / "ran"

    def edit(schema):
        set_attribute(schema, "random_state", {
            "__class__": "exec", "__module__": "builtins",
            "__loader__": "ConstructorFromReduceNode",
            "content": {"__class__": "tuple", "__module__": "builtins",
                        "__loader__": "TupleNode", "content": [json_value(code_writing(
                            sentinel))]}})

    rewrite_archive(saved, edit)
    run_quietly(lambda: naive_load(saved))
    assert sentinel.exists()
    sentinel.unlink()
    assert ("builtins.exec rebuilt by calling it with stored arguments, at "
            "estimator.random_state") in refusal(saved)
    assert not sentinel.exists()


def test_object_array_holding_a_callable(poisoned):
    folder = poisoned(extra_=np.array([builtins.exec, "x"], dtype=object))
    assert naive_load(folder).extra_[0] is builtins.exec
    assert ("an object-dtype numpy array holding objects other than plain strings and numbers, "
            "at estimator.extra_") in refusal(folder)


def test_object_dtype_npy_member_carrying_a_pickle(saved, tmp_path):
    sentinel = tmp_path / "ran"
    buffer = io.BytesIO()
    np.save(buffer, np.array([ExecOnUnpickle(code_writing(sentinel))], dtype=object),
            allow_pickle=True)
    payload = buffer.getvalue()
    np.load(io.BytesIO(payload), allow_pickle=True)
    assert sentinel.exists(), "control: unpickling the member runs the payload"
    sentinel.unlink()
    member = {}
    rewrite_archive(saved, lambda schema: member.setdefault(
        "name", attribute(schema, "prior_")["file"]))
    rewrite_archive(saved, members={member["name"]: payload})
    assert ("an object-dtype numpy array (dtype object, loaded through pickle), at "
            "estimator.prior_") in refusal(saved)
    assert not sentinel.exists()


LOOK_ALIKES = {
    # stem of the module, where it is placed, the class or function name it claims
    "medfuse_evil": ((), "Unimodal"),
    "sklearnx": (("preprocessors_", "rna"), "Pipeline"),
    "numpy_evil": (("estimator_", "scoring"), "neg_log_loss"),
}


@pytest.mark.parametrize("stem", list(LOOK_ALIKES))
def test_look_alike_package(saved, tmp_path, monkeypatch, stem):
    """A module named like a trusted package runs code when imported; it never is."""
    sentinel = tmp_path / "imported"
    where, claimed = LOOK_ALIKES[stem]
    module = sentinel_module(tmp_path, stem, sentinel, claimed)
    monkeypatch.syspath_prepend(str(tmp_path))
    rewrite_archive(saved, lambda schema: attribute(schema, *where).update(__module__=module))
    try:
        run_quietly(lambda: naive_load(saved))
        assert sentinel.exists(), "control: loading imports the look-alike module"
        sentinel.unlink()
        forget_module(module)
        message = refusal(saved)
        kind = "function" if stem == "numpy_evil" else "type"
        path = "".join(f".{w}" if i == 0 or where[0] != "preprocessors_" else f"[{w!r}]"
                       for i, w in enumerate(where))
        assert f"the {kind} {module}.{claimed}" in message
        assert f"at estimator{path}" in message
        assert not sentinel.exists()
    finally:
        forget_module(module)


def test_older_skops_protocol_is_refused(saved):
    rewrite_archive(saved, lambda schema: schema.update(protocol=0))
    assert ("was written with skops protocol 0; medfuse audits protocol(s) [2] only (older "
            "protocols select laxer loaders)") in refusal(saved)


def test_references_to_other_entries_are_refused(saved):
    rewrite_archive(saved, lambda schema: set_attribute(schema, "extra_", {
        "__class__": "Unimodal", "__module__": "medfuse.fusion.unimodal",
        "__loader__": "CachedNode", "__id__": schema["__id__"]}))
    assert ("a reference to another entry of the file (medfuse.fusion.unimodal.Unimodal; "
            "skops never writes these), at estimator.extra_") in refusal(saved)


def test_reference_cycles_are_refused(saved):
    """An entry whose id is that of an ancestor makes skops rebuild it inside itself."""
    rewrite_archive(saved, lambda schema: attribute(schema, "estimator_").update(
        __id__=schema["__id__"]))
    assert ("an entry that contains itself (a reference cycle), at estimator.estimator_"
            ) in refusal(saved)


def test_unexpected_keys_are_refused(saved):
    """An entry carrying keys its loader does not read is not what skops wrote."""
    def edit(schema):
        node = next(e for e in entries(schema) if e["__loader__"] == "ObjectNode"
                    and e["__class__"] == "ZScore")
        node["__reduce__"] = {"args": json_value(1)}

    rewrite_archive(saved, edit)
    assert "a skops ObjectNode entry with unexpected keys ['__reduce__']" in refusal(saved)


REFUSED_CONSTRUCTS = {
    "DefaultDictNode": ("collections", "defaultdict",
                        "a defaultdict's default factory is a stored callable"),
    "RandomGeneratorNode": ("numpy.random._generator", "Generator",
                            "a random generator entry naming numpy.random._generator.Generator "
                            "or with unexpected parts"),
    "ReduceNode": ("builtins", "exec", "rebuilt by calling a constructor with stored arguments"),
    "RandomStateNode": ("numpy.random.mtrand", "RandomState",
                        "medfuse models store seeds, not random generators"),
    "SetNode": ("builtins", "set", "the skops loader 'SetNode' (builtins.set), which medfuse "
                                   "models do not use"),
    "BytesNode": ("builtins", "bytes", "the skops loader 'BytesNode'"),
}


@pytest.mark.parametrize("loader", list(REFUSED_CONSTRUCTS))
def test_other_skops_constructs_are_refused(saved, loader):
    module, cls, expected = REFUSED_CONSTRUCTS[loader]
    rewrite_archive(saved, lambda schema: set_attribute(schema, "extra_", {
        "__class__": cls, "__module__": module, "__loader__": loader, "content": {}}))
    message = refusal(saved)
    assert expected in message and "at estimator.extra_" in message


def test_array_entry_naming_a_callable_as_its_type(saved):
    """skops calls a non-ndarray array type on the loaded array."""
    rewrite_archive(saved, lambda schema: attribute(schema, "prior_").update(
        __module__="posix", __class__="system"))
    assert ("an array of type posix.system (skops calls that type on the array), at "
            "estimator.prior_") in refusal(saved)


@pytest.fixture
def boosted(cohort, tmp_path):
    """A genuine saved gradient-boosting model: it holds a numpy Generator."""
    return save_model(make("unimodal-gb:rna", random_state=0).fit(cohort), tmp_path / "gb")


def _generators(schema: dict) -> list[dict]:
    return [e for e in entries(schema) if e.get("__loader__") == "RandomGeneratorNode"]


def test_a_genuine_generator_loads(boosted, cohort):
    with zipfile.ZipFile(boosted / "estimator.skops") as archive:
        assert _generators(json.loads(archive.read("schema.json")))
    assert np.isfinite(load_model(boosted).predict_proba(cohort)).all()


@pytest.mark.parametrize("named", ["set_bit_generator", "seed", "MT19937", 0])
def test_a_generator_naming_another_bit_generator_is_refused(boosted, named):
    """skops calls ``numpy.random.<name>()``: only numpy's default bit generator passes."""
    def rename(schema):
        for gen in _generators(schema):
            gen["content"]["bit_generator"]["content"]["bit_generator"]["content"] = (
                json.dumps(named))

    rewrite_archive(boosted, rename)
    message = refusal(boosted)
    assert f"a random generator whose bit generator is {named!r}" in message
    assert "_feature_subsample_rng" in message
