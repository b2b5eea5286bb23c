"""Every public class and function has a numpydoc docstring that documents its parameters,
and the API reference lists every name of the public ``__all__`` lists."""

from __future__ import annotations

import enum

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

from tests.docs.api_pages import documented_names, public_objects, resolve  # noqa: E402

#: The numpydoc checks every documented name must pass.
CHECKS = {
    "GL06": "unknown section",
    "GL07": "sections in the wrong order",
    "GL08": "no docstring",
    "SS01": "no summary",
    "PR01": "a parameter is not documented",
    "PR02": "a documented parameter does not exist",
    "PR03": "parameters documented in another order than the signature",
    "PR07": "a parameter has no description",
    "RT01": "a function that returns something has no Returns section",
    "YD01": "a generator has no Yields section",
}

DOCUMENTED = documented_names()


def test_the_api_reference_lists_every_public_name():
    listed = {id(resolve(name)) for name in DOCUMENTED}
    missing = [name for name, obj in public_objects().items() if id(obj) not in listed]
    assert not missing, f"add these to a page of docs/api: {missing}"
    assert len(DOCUMENTED) == len(set(DOCUMENTED)), "a name is listed twice in docs/api"


@pytest.mark.parametrize("name", DOCUMENTED)
def test_numpydoc_docstring(name):
    obj = resolve(name)
    result = numpydoc_validate.validate(name)
    errors = [(code, message) for code, message in result["errors"] if code in CHECKS]
    if isinstance(obj, type) and issubclass(obj, enum.Enum):
        # An enum's "parameters" are those of Enum's functional API, not the constants'.
        errors = [(c, m) for c, m in errors if c not in ("PR01", "PR02", "PR03", "PR07")]
    assert not errors, "\n".join(f"{name}: {code} {message}" for code, message in errors)
