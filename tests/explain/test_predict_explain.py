"""``medfuse predict --explain``: per-subject modality attributions in the predictions file."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.data.io import write_folder
from medfuse.explain import modality_shapley
from medfuse.fusion import make
from medfuse.persist import save_model


def test_predict_explain_adds_shapley_columns(split, tmp_path):
    train, test = split
    model = make("additive", random_state=0).fit(train)
    save_model(model, tmp_path / "model", strategy="additive")
    write_folder(test, tmp_path / "new")
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "model"), str(tmp_path / "new"),
                                      "--out", str(out), "--explain"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, index_col="subject")
    mods = [f"shapley_{m}" for m in model.modalities_]
    assert {"explained_class", "shapley_base", *mods} <= set(table.columns)
    # base + modality values = probability of the explained (second) class
    np.testing.assert_allclose(table[["shapley_base", *mods]].sum(axis=1), table["proba_1"],
                               atol=1e-9)
    lacking = ~test.available.reindex(index=table.index.astype(str)).to_numpy()
    assert lacking.any()
    assert (table[mods].to_numpy()[lacking] == 0).all()
    expected = modality_shapley(model, test).per_prediction()
    np.testing.assert_allclose(table[mods].to_numpy(), expected[mods].to_numpy(), atol=1e-9)
    plain = CliRunner().invoke(app, ["predict", str(tmp_path / "model"), str(tmp_path / "new"),
                                     "--out", str(tmp_path / "plain.csv")])
    assert plain.exit_code == 0
    assert "shapley_base" not in pd.read_csv(tmp_path / "plain.csv").columns
