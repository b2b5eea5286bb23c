"""The real service on a tiny ``late-mean`` model, over HTTP: the token, the model-specific
schema, predictions equal to ``medfuse predict`` to the last bit, a message naming the
subject, modality and feature for every bad input, concurrent calls, a log without values or
IDs, and schemathesis finding no server error."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.data.tables import read_table
from medfuse.persist import read_manifest
from tests.serve.conftest import AUTH, Service

runner = CliRunner()


@pytest.fixture(scope="module")
def service(model_dir, tmp_path_factory):
    server = Service(model_dir, tmp_path_factory.mktemp("service"), "--rate-limit", "100000")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(service):
    with service.client() as c:
        yield c


@pytest.fixture(scope="module")
def new_subjects(cohort, tmp_path_factory):
    """The twelve subjects the model did not see, as modality files (three without imaging,
    two with clinical only), and the same subjects as a request read from those files."""
    folder = tmp_path_factory.mktemp("new")
    test = cohort[36:]
    ids = list(test.subjects)
    has = {"rna": ids[2:], "imaging": ids[:7] + ids[10:], "clinical": ids}
    for m, who in has.items():
        test.block(m).loc[who].to_csv(folder / f"{m}.csv")
    # the request carries exactly the values medfuse predict reads from the files
    tables = {m: read_table(folder / f"{m}.csv") for m in has}
    subjects = []
    for sid in ids:
        modalities = {}
        for m, table in tables.items():
            if sid in table.index:
                modalities[m] = {c: (None if pd.isna(v) else v.item() if hasattr(v, "item")
                                     else v) for c, v in table.loc[sid].items()}
        subjects.append({"id": sid, "modalities": modalities})
    return folder, subjects


def _expected(model_dir, folder, tmp_path, *options) -> pd.DataFrame:
    out = tmp_path / "predictions.csv"
    result = runner.invoke(app, ["predict", str(model_dir), str(folder), "--out", str(out),
                                 "--raw-csv", *options])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out, index_col=0, float_precision="round_trip")


def _same(expected: pd.DataFrame, records: list[dict]) -> None:
    assert [r["subject"] for r in records] == [str(i) for i in expected.index]
    for record, (_, row) in zip(records, expected.iterrows(), strict=True):
        assert set(record) - {"subject"} == set(expected.columns)
        for column, value in row.items():
            got = record[column]
            if isinstance(value, float) and np.isnan(value):
                assert got is None or got == "", column
            else:
                assert got == value, (column, got, value)  # exact, floats included


def test_only_health_answers_without_the_token(service, client):
    import httpx

    health = httpx.get(service.url + "/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "strategy": "late-mean"}
    for path in ("/model", "/openapi.json", "/docs"):
        plain = httpx.get(service.url + path)
        assert plain.status_code == 401 and plain.headers["www-authenticate"].startswith(
            "Bearer")
        wrong = httpx.get(service.url + path, headers={"Authorization": "Bearer nope" * 3})
        assert wrong.status_code == 401 and "x-request-id" in wrong.headers
    missing = httpx.post(service.url + "/predict", json={"subjects": []})
    assert missing.status_code == 401 and "traceback" not in missing.text.lower()
    assert client.get("/docs").status_code == 404  # no documentation page to fetch


def test_the_openapi_document_lists_every_modality_and_feature(client, model_dir):
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    manifest = read_manifest(model_dir)
    assert set(schemas["Modalities"]["properties"]) == set(manifest["modalities"])
    for j, m in enumerate(manifest["modalities"]):
        block = schemas[f"Modality{j}_{m}"]
        assert list(block["properties"]) == manifest["feature_names"][m]
        assert block["required"] == manifest["feature_names"][m]
        assert block["additionalProperties"] is False
    assert {"401", "413", "422", "429"} <= set(doc["paths"]["/predict"]["post"]["responses"])


def test_model_describes_kinds_features_versions_and_digests(client, model_dir):
    info = client.get("/model").json()
    manifest = read_manifest(model_dir)
    assert info["strategy"] == "late-mean" and info["task"] == "classification"
    assert info["classes"] == manifest["classes"] and info["files"] == manifest["files"]
    assert info["saved_with"]["medfuse"] == manifest["medfuse_version"]
    kinds = {m["name"]: (m["kind"], m["features"], m["nullable"]) for m in info["modalities"]}
    assert kinds["rna"] == ("counts", manifest["feature_names"]["rna"], False)
    assert kinds["clinical"][2] is True


def test_predictions_equal_medfuse_predict_to_the_last_bit(client, model_dir, new_subjects,
                                                          tmp_path):
    folder, subjects = new_subjects
    expected = _expected(model_dir, folder, tmp_path)
    response = client.post("/predict", json={"subjects": subjects})
    assert response.status_code == 200, response.text
    records = response.json()["predictions"]
    _same(expected, records)
    assert {r["modalities_used"] for r in records} == {
        "rna+imaging+clinical", "rna+clinical", "imaging+clinical"}
    explained = client.post("/explain", content=json.dumps({"subjects": subjects[::-1]}),
                            headers={"Content-Type": "application/json"})
    assert explained.status_code == 200
    _same(_expected(model_dir, folder, tmp_path, "--explain").iloc[::-1],
          explained.json()["predictions"])


def test_concurrent_requests_answer_as_serial_ones(service, new_subjects):
    _, subjects = new_subjects
    bodies = [{"subjects": subjects[k::3]} for k in range(3)]
    with service.client() as c:
        serial = [c.post("/predict", json=b).json() for b in bodies]
    with ThreadPoolExecutor(8) as pool, service.client() as c:
        answers = list(pool.map(lambda b: c.post("/predict", json=b).json(), bodies * 8))
    assert answers == serial * 8


def _problem(client, body, **kwargs) -> tuple[str, list[dict]]:
    if body is not None:
        kwargs["json"] = body
    response = client.post("/predict", **kwargs)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["request_id"] == response.headers["x-request-id"]
    return answer["detail"], answer["errors"]


def test_each_bad_input_is_refused_naming_subject_modality_and_feature(client, new_subjects):
    _, subjects = new_subjects
    good = subjects[3]  # has every modality
    sid = good["id"]

    def edited(edit) -> dict:
        subject = json.loads(json.dumps(good))
        edit(subject["modalities"])
        return {"subjects": [subjects[4], subject]}

    where = f"subject 1 (ID {sid!r})"
    cases = [
        (lambda m: m["rna"].pop("gene0001"),
         f"{where}: modality 'rna' lacks feature(s) 'gene0001' (1 of 5); a subject that "
         "sends a modality sends every one of its features", ("rna", "gene0001")),
        (lambda m: m["imaging"].update(tumour=1.0),
         f"{where}: modality 'imaging' has no feature 'tumour'", ("imaging", "tumour")),
        (lambda m: m.update(proteome={"p1": 1.0}),
         f"{where}: unknown modality 'proteome'; the model's modalities are rna, imaging, "
         "clinical", ("proteome", None)),
        (lambda m: m["imaging"].update(radiomic002="high"),
         f"{where}: modality 'imaging', feature 'radiomic002' must be a finite number, got "
         "a string", ("imaging", "radiomic002")),
        (lambda m: m["imaging"].update(radiomic002=True),
         "must be a finite number, got true", ("imaging", "radiomic002")),
        (lambda m: m["imaging"].update(radiomic003=None),
         f"{where}: modality 'imaging', feature 'radiomic003' must be a finite number, got "
         "null", ("imaging", "radiomic003")),
        (lambda m: m["rna"].update(gene0002=-3),
         "feature 'gene0002' must be a count (a whole number >= 0), got a number",
         ("rna", "gene0002")),
        (lambda m: m["rna"].update(gene0002=2.5), "must be a count", ("rna", "gene0002")),
        (lambda m: m["clinical"].update(age=[1]),
         "feature 'age' must be a finite number or a string or null, got a list",
         ("clinical", "age")),
    ]
    for edit, message, (modality, feature) in cases:
        detail, errors = _problem(client, edited(edit))
        assert message in detail, detail
        assert errors[0]["subject_index"] == 1 and errors[0]["subject"] == sid
        assert (errors[0]["modality"], errors[0]["feature"]) == (modality, feature)
    # NaN is no JSON number: sent anyway, it is refused as one
    text = json.dumps(edited(lambda m: m["imaging"].update(radiomic000=float("nan"))))
    detail, _ = _problem(client, None, content=text, headers={"Content-Type":
                                                              "application/json"})
    assert "feature 'radiomic000' must be a finite number, got a number out of range" in detail


def test_bad_requests_as_a_whole_are_refused_with_a_message(client, new_subjects):
    _, subjects = new_subjects
    first = subjects[0]["id"]
    checks = [
        ({"subjects": []}, "subjects must be a list of at least one subject"),
        ({}, "subjects must be a list of at least one subject"),
        ({"subjects": [subjects[0], subjects[1], subjects[0]]},
         f"subject 2 (ID {first!r}): repeats the ID of subject 0; IDs must be unique"),
        ({"subjects": [{"id": "x1", "modalities": {}}]},
         "subject 0 (ID 'x1'): sends none of the model's modalities"),
        ({"subjects": [{"id": "nan", "modalities": subjects[0]["modalities"]}]},
         "subject 0 (ID 'nan'): the ID reads as a missing ID"),
        ({"subjects": [{"modalities": subjects[0]["modalities"]}]}, "subject 0: id is missing"),
        ({"subjects": subjects[:1], "alpha": 0.1},
         "alpha: The model (late-mean) carries no conformal calibration"),
        ({"subjects": subjects[:1], "alpha": 2}, "alpha must be a number strictly between 0"),
        ({"subjects": subjects[:1], "colour": "red"}, "unknown field 'colour'"),
    ]
    for body, message in checks:
        detail, _ = _problem(client, body)
        assert message in detail, detail
    not_text = client.post("/predict", content=b'{"subjects": "\xff\xfe"}',
                           headers={"Content-Type": "application/json"})
    assert not_text.status_code == 400 and "must be UTF-8" in not_text.json()["detail"]
    for kwargs, message in [({}, "the body must be a JSON object"),
                            ({"content": b"{not json", "headers": {
                                "Content-Type": "application/json"}},
                             "the body is not valid JSON"),
                            ({"content": b"[1, 2]", "headers": {
                                "Content-Type": "application/json"}},
                             "the body must be a JSON object")]:
        detail, _ = _problem(client, None, **kwargs)
        assert message in detail, detail


def test_the_log_holds_no_feature_value_and_no_subject_id(service, client, new_subjects):
    _, subjects = new_subjects
    secret_id, secret_value = "PATIENT-7731-XQ", 1234.56789
    subject = json.loads(json.dumps(subjects[3]))
    subject["id"] = secret_id
    subject["modalities"]["imaging"]["radiomic001"] = secret_value
    # all-missing clinical cells: medfuse warns, naming the subject
    subject["modalities"]["clinical"] = dict.fromkeys(subject["modalities"]["clinical"])
    assert client.post("/predict", json={"subjects": [subject]}).status_code == 200
    subject["modalities"]["rna"]["gene0000"] = "oops"
    assert client.post("/explain", json={"subjects": [subject]}).status_code == 422
    time.sleep(0.3)  # the log line is written after the answer
    log = service.log.read_text()
    assert secret_id not in log and str(secret_value) not in log and "oops" not in log
    assert "Traceback" not in log
    assert "method=POST path=/predict status=200" in log and "subjects=1" in log
    assert "path=/explain status=422" in log
    assert "warning category=UserWarning" in log and "(text withheld)" in log


def test_schemathesis_finds_no_server_error(service):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(service.url + "/openapi.json", headers=AUTH)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

        @given(case=schema.as_strategy(mode))
        @settings(max_examples=30, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def call(case):
            response = case.call(base_url=service.url, headers=AUTH)
            assert response.status_code < 500, response.text
            case.validate_response(response, checks=checks)

        call()
