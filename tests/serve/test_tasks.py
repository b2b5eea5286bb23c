"""A survival model (risk), a model with conformal calibration (prediction sets,
abstentions) and a harmonized model (a batch per subject) answer what ``medfuse predict``
writes, to the last bit; an unexpected error answers 500 with nothing of it. In process,
through the ASGI application with its gates."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from medfuse.cli import app as cli
from medfuse.data import make_cohort
from medfuse.data.tables import read_table
from medfuse.fusion import make
from medfuse.fusion.conformal import ConformalClassifier
from medfuse.persist import save_model
from medfuse.predictor import Predictor
from medfuse.serve import create_app, load_predictor
from tests.serve.conftest import AUTH, TOKEN, subject_json
from tests.test_predictor import _harmonized_model

runner = CliRunner()


def _call(application, path: str, body: dict) -> httpx.Response:
    async def go():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
            return await client.post(path, json=body, headers=AUTH)

    return asyncio.run(go())


def _request(folder, modalities) -> dict:
    tables = {m: read_table(folder / f"{m}.csv") for m in modalities}
    ids = list(dict.fromkeys(i for t in tables.values() for i in t.index))
    return {"subjects": [{"id": i, "modalities": {
        m: {c: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v)
            for c, v in t.loc[i].items()} for m, t in tables.items() if i in t.index}}
        for i in ids]}


def _predicted(model_dir, folder, tmp_path, *options) -> pd.DataFrame:
    out = tmp_path / "p.csv"
    result = runner.invoke(cli, ["predict", str(model_dir), str(folder), "--out", str(out),
                                 "--raw-csv", *options])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out, index_col=0, float_precision="round_trip", keep_default_na=False,
                       na_values=[""])


def _compare(expected: pd.DataFrame, records: list[dict]) -> None:
    assert [r["subject"] for r in records] == list(expected.index.astype(str))
    for record, (_, row) in zip(records, expected.iterrows(), strict=True):
        for column, value in row.items():
            if isinstance(value, float) and np.isnan(value):
                assert record[column] is None, column
            elif isinstance(value, np.bool_ | bool):
                assert record[column] is bool(value), column
            else:
                assert record[column] == value, (column, record[column], value)


def test_a_survival_model_answers_risks_and_their_attributions(tmp_path):
    data = make_cohort(60, task="survival", n_genes=6, n_imaging=4, random_state=0)
    imaging = data.select(["imaging"])
    model_dir = save_model(make("cox-early").fit(imaging[:48]), tmp_path / "cox",
                           strategy="cox-early")
    imaging[48:].block("imaging").to_csv(tmp_path / "imaging.csv")
    body = _request(tmp_path, ["imaging"])
    application = create_app(load_predictor(model_dir), TOKEN)
    answer = _call(application, "/explain", body)
    assert answer.status_code == 200
    records = answer.json()["predictions"]
    _compare(_predicted(model_dir, tmp_path, tmp_path, "--explain"), records)
    assert {"risk", "shapley_imaging"} <= set(records[0]) and "prediction" not in records[0]
    refused = _call(application, "/predict", {**body, "abstain": True})
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("abstain: This is a survival model")


def test_a_conformal_model_answers_prediction_sets_and_abstentions(tmp_path):
    data = make_cohort(80, n_genes=5, n_imaging=4, random_state=1)
    model = ConformalClassifier(make("late-mean", cv=2), alpha=0.1, mondrian=None,
                                random_state=0).fit(data[:64])
    model_dir = save_model(model, tmp_path / "model", strategy="late-mean")
    new = data[64:]
    new.block("rna").iloc[:10].to_csv(tmp_path / "rna.csv")
    new.block("clinical").to_csv(tmp_path / "clinical.csv")
    body = {**_request(tmp_path, ["rna", "clinical"]), "alpha": 0.2, "abstain": True}
    answer = _call(create_app(load_predictor(model_dir), TOKEN), "/predict", body)
    assert answer.status_code == 200, answer.text
    records = answer.json()["predictions"]
    _compare(_predicted(model_dir, tmp_path, tmp_path, "--alpha", "0.2", "--abstain"),
             records)
    assert {"in_set_0", "in_set_1", "set_size", "set_category", "abstain"} <= set(records[0])
    assert json.dumps(records)  # plain JSON: no NaN


def test_an_unexpected_error_answers_500_with_nothing_of_it(tmp_path, caplog):
    data = make_cohort(40, n_genes=5, n_imaging=4, random_state=2)
    model_dir = save_model(make("late-mean", cv=2).fit(data[:30]), tmp_path / "m")
    predictor = load_predictor(model_dir)

    def broken(*args, **kwargs):
        raise RuntimeError("secret S0031 value 4.2")

    predictor.predict = broken
    body = {"subjects": [{"id": "S0031", "modalities": {"imaging": {
        c: float(v) for c, v in data.block("imaging").loc["S0031"].items()}}}]}
    with caplog.at_level("INFO", logger="medfuse.serve"):
        answer = _call(create_app(predictor, TOKEN), "/predict", body)
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal error; quote the request ID to the service's "
                                       "operator", "request_id": answer.headers["x-request-id"],
                             "errors": []}
    assert "error=RuntimeError" in caplog.text and answer.headers["x-request-id"] in caplog.text
    assert "secret" not in caplog.text and "S0031" not in caplog.text


def test_a_harmonized_model_reads_each_subjects_batch_from_obs():
    model, data = _harmonized_model()
    predictor = Predictor(model)
    application = create_app(predictor, TOKEN)
    new = data[:6]
    subjects = [{**subject_json(new, s), "obs": {"site": str(new.obs.loc[s, "site"])}}
                for s in new.subjects]
    answer = _call(application, "/predict", {"subjects": subjects})
    assert answer.status_code == 200, answer.text
    expected = predictor.predict(new)
    assert [r["proba_1"] for r in answer.json()["predictions"]] == expected["proba_1"].tolist()
    lacking = _call(application, "/predict", {"subjects": [subject_json(new, new.subjects[0])]})
    assert lacking.status_code == 422
    assert ("obs must be an object with the columns the model's harmonizers read (site)"
            in lacking.json()["detail"])
    unseen = _call(application, "/predict",
                   {"subjects": [{**subjects[0], "obs": {"site": "Z"}}]})
    assert unseen.status_code == 422 and "Batch(es) ['Z']" in unseen.json()["detail"]


def test_an_image_modality_cannot_be_sent_as_json():
    data = make_cohort(40, n_genes=5, n_imaging=4, image_shape=(6, 6), random_state=0)
    predictor = Predictor(make("late-mean", cv=2).fit(data[:30]))
    application = create_app(predictor, TOKEN)
    subject = subject_json(data.select(["imaging"]), data.subjects[35])
    assert _call(application, "/predict", {"subjects": [subject]}).status_code == 200
    subject["modalities"]["image"] = {"pixel0": 0.5}
    refused = _call(application, "/predict", {"subjects": [subject]})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["modality"] == "image"
    assert (f"subject 0 (ID '{data.subjects[35]}'): modality 'image' is of kind image, which "
            "cannot be sent as JSON; this service takes table kinds only"
            in refused.json()["detail"])
    with pytest.raises(ValueError, match="none of the model's modalities can be sent as JSON"):
        create_app(Predictor(make("late-mean", cv=2).fit(data[:30].select(["image"]))), TOKEN)
