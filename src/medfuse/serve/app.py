"""The prediction service: :func:`create_app` puts a loaded model, its schema, the gates and
the access log together.

Routes: ``POST /predict`` and ``POST /explain`` (a batch of subjects, each with any subset
of the model's modalities), ``GET /model`` (what the model reads and where it came from),
``GET /openapi.json`` (the model's own request and response schema) and ``GET /health``
(the only route without the token). There is no interactive documentation page: it would
fetch the schema without the token.

The endpoints are plain functions, which FastAPI runs in its thread pool; the model is
shared, read-only (:class:`~medfuse.predictor.Predictor` is safe to call from several
threads), and every call builds its own data.
"""

# no ``from __future__ import annotations`` here: the endpoints' body type is the model's
# own request class, made at run time, and FastAPI reads annotations as objects

import logging
import math

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException

import medfuse
from medfuse.data.multimodal import DataValidationError
from medfuse.predictor import Predictor
from medfuse.serve import problems as _problems
from medfuse.serve.access import AccessLog
from medfuse.serve.answers import Health, ModalityInfo, ModelInfo, Problem
from medfuse.serve.schema import ModelSchema, build_schema, value_rule
from medfuse.serve.security import BodyLimit, TokenGate
from medfuse.serve.subjects import InputProblem, dumps, to_data, to_records

#: the default request body limit (bytes)
MAX_BODY_BYTES = 1 << 20
#: the default number of requests per minute and token
RATE_LIMIT = 600

_ERRORS = {
    400: "The body cannot be read as JSON text (it must be UTF-8).",
    401: "Missing or wrong token.",
    413: "The body is longer than the service's limit.",
    422: "The request cannot be predicted as sent; each problem names the subject, "
         "modality and feature.",
    429: "Too many requests; retry after Retry-After seconds.",
    500: "Unexpected error; the answer carries only the request ID.",
}


def _json(payload, status: int = 200) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json")


def _problem(request: Request, status: int, items: list[dict]) -> Response:
    listed = items[:_problems.MAX_LISTED]
    return _json({"detail": _problems.summary(items), "errors": listed,
                  "request_id": request.state.request_id
                  if hasattr(request.state, "request_id") else None}, status)


def model_info(predictor: Predictor, schema: ModelSchema) -> dict:
    """What ``GET /model`` answers: strategy, task, classes, modalities with kinds and
    features, versions and the manifest's file digests.

    Parameters
    ----------
    predictor : Predictor
        The loaded model.
    schema : ModelSchema
        Its request schema.

    Returns
    -------
    dict
        A :class:`~medfuse.serve.answers.ModelInfo` as plain data.
    """
    manifest = predictor.manifest
    modalities = []
    for m in predictor.modalities:
        rule = value_rule(predictor.kinds[m]) if m in schema.modalities else None
        features = predictor.model.feature_names_.get(m)
        modalities.append(ModalityInfo(
            name=m, kind=predictor.kinds[m], accepted=rule is not None,
            features=None if features is None else [str(f) for f in features],
            nullable=bool(rule and rule[2]),
            values=rule[1] if rule else "not accepted as JSON").model_dump())
    saved_with = {"medfuse": str(manifest.get("medfuse_version", "unknown"))}
    versions = manifest.get("versions")
    if isinstance(versions, dict):
        saved_with.update({str(k): str(v) for k, v in versions.items()})
    files = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    study = {k: manifest[k] for k in ("study", "select", "primary_metric", "cv_score")
             if isinstance(manifest.get(k), str)
             or (isinstance(manifest.get(k), int | float) and math.isfinite(manifest[k]))}
    classes = [c.item() if hasattr(c, "item") else c
               for c in getattr(predictor.model, "classes_", [])]
    return ModelInfo(
        strategy=predictor.strategy, task=predictor.task, classes=classes,
        conformal=hasattr(predictor.model, "set_table"), modalities=modalities,
        obs_columns=list(schema.obs_columns), medfuse_version=medfuse.__version__,
        saved_with=saved_with, files={str(k): str(v) for k, v in files.items()},
        study=study).model_dump()


def create_app(predictor: Predictor, token: str, *, max_body_bytes: int = MAX_BODY_BYTES,
               rate_limit: float = RATE_LIMIT, logger: logging.Logger | None = None
               ) -> FastAPI:
    """The prediction service of a loaded model, as an ASGI application.

    Parameters
    ----------
    predictor : Predictor
        The model (see :func:`medfuse.serve.load_predictor`).
    token : str
        The bearer token every route but ``/health`` requires
        (:func:`medfuse.serve.read_token`).
    max_body_bytes : int
        The longest request body accepted; longer ones are answered 413.
    rate_limit : float
        Requests per minute for the token (0: no limit); more are answered 429.
    logger : logging.Logger, optional
        Where the access log goes (default: ``medfuse.serve``).

    Returns
    -------
    FastAPI
        The application; serve it with uvicorn (``medfuse serve`` does).
    """
    if not token:
        raise ValueError("the service needs a token")
    schema = build_schema(predictor)
    info = model_info(predictor, schema)
    app = FastAPI(
        title=f"medfuse prediction service: {predictor.strategy}",
        version=medfuse.__version__, docs_url=None, redoc_url=None,
        description=f"Predictions of a saved {predictor.task} model ({predictor.strategy}) "
                    f"for subjects with any subset of its modalities "
                    f"({', '.join(predictor.modalities)}).")
    bearer = [Depends(HTTPBearer(auto_error=False, description="The service's token."))]
    errors = {code: {"model": Problem, "description": text} for code, text in _ERRORS.items()}
    body_model = schema.request

    def run(body, request: Request, explain: bool):
        subjects = [s.model_dump(by_alias=True) for s in body.subjects]
        request.state.n_subjects = len(subjects)
        try:
            if body.alpha is not None or body.abstain:
                try:
                    predictor.check_sets(body.alpha)
                except ValueError as err:
                    raise ValueError(f"{'alpha' if body.alpha is not None else 'abstain'}: "
                                     f"{err}") from None
            data = to_data(subjects, schema)
            table = predictor.predict(data, alpha=body.alpha, abstain=body.abstain)
            if explain:
                table = predictor.explain(data, table)
        except InputProblem as err:
            return _problem(request, 422, err.problems)
        except (DataValidationError, ValueError) as err:
            return _problem(request, 422, [{"subject_index": None, "subject": None,
                                            "modality": None, "feature": None,
                                            "message": str(err)}])
        ids = [s["id"] for s in subjects]
        return _json({"predictions": to_records(table, ids)})

    @app.post("/predict", response_model=schema.predict_response, responses=errors,
              dependencies=bearer, summary="Predict subjects")
    def predict(body: body_model, request: Request):
        """Predicted class and class probabilities (a survival model: risk) of each
        subject, from the modalities it sends; with ``alpha``, conformal prediction sets."""
        return run(body, request, explain=False)

    @app.post("/explain", response_model=schema.explain_response, responses=errors,
              dependencies=bearer, summary="Predict and explain subjects")
    def explain(body: body_model, request: Request):
        """The predictions with each subject's modality Shapley values (``shapley_*``,
        which add up to the probability of ``explained_class``, or the risk)."""
        return run(body, request, explain=True)

    @app.get("/model", response_model=ModelInfo, dependencies=bearer,
             responses={k: v for k, v in errors.items() if k in (401, 429, 500)},
             summary="The model served")
    def model():
        """Strategy, task, classes, modalities with their kinds and features, versions and
        the SHA-256 of each model file."""
        return _json(info)

    @app.get("/health", response_model=Health, summary="Liveness (no token needed)")
    def health():
        """``ok`` and the strategy; answered without the token."""
        return _json({"status": "ok", "strategy": predictor.strategy})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        body = exc.body
        if isinstance(body, dict) and isinstance(body.get("subjects"), list):
            request.state.n_subjects = len(body["subjects"])
        return _problem(request, 422, _problems.describe(list(exc.errors()), body, schema))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        # FastAPI answers 400 to a body it cannot decode (not UTF-8): say what to send
        text = (_ERRORS[400] if exc.status_code == 400 else str(exc.detail))
        item = {"subject_index": None, "subject": None, "modality": None, "feature": None,
                "message": text}
        response = _problem(request, exc.status_code, [item])
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        return _problem(request, 500, [{"subject_index": None, "subject": None,
                                        "modality": None, "feature": None,
                                        "message": "internal error; quote the request ID to "
                                                   "the service's operator"}])

    routes = ["/predict", "/explain", "/model", "/health", "/openapi.json"]
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(TokenGate, token=token, rate_limit=rate_limit)
    app.add_middleware(AccessLog, routes=routes, logger=logger)
    return app
