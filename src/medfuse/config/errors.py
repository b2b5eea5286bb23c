"""The errors of a study file: each names the field that is wrong."""

from __future__ import annotations


class StudyError(ValueError):
    """A study file that cannot be used; the message names the field."""


class _At(ValueError):
    """A validation error inside a field: ``where`` extends the field's location in the
    message (``params`` + ``late-mean`` -> ``params.late-mean: ...``)."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(message)
