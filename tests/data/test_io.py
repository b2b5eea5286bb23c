"""Round trips dict <-> MuData <-> folder, and the MOGONET reader."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from medfuse.data import (
    MultiModalData,
    from_mudata,
    load_mogonet,
    make_cohort,
    read_data,
    read_folder,
    to_mudata,
    write_folder,
)


def assert_same(a: MultiModalData, b: MultiModalData) -> None:
    assert list(a.subjects) == list(b.subjects)
    assert a.modality_names == b.modality_names
    assert a.kinds == b.kinds
    assert a.available.equals(b.available)
    assert a.outcome == b.outcome
    for m in a.modality_names:
        x, y = a.block(m), b.block(m)
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x, y, check_dtype=False, check_categorical=True,
                                          check_names=False)
        else:
            np.testing.assert_allclose(x, y)
    pd.testing.assert_series_equal(a.y, b.y, check_dtype=False, check_names=False)


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(60, missing={"imaging": 0.3, "rna": 0.2}, image_shape=(8, 8),
                       random_state=5)


def test_mudata_round_trip(cohort):
    back = from_mudata(to_mudata(cohort))
    assert_same(cohort, back)
    assert back.modalities["clinical"].scales == cohort.modalities["clinical"].scales


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_folder_round_trip(cohort, tmp_path, fmt):
    write_folder(cohort, tmp_path, fmt=fmt)
    assert_same(cohort, read_folder(tmp_path))


def test_mudata_file_round_trip(cohort, tmp_path):
    file = tmp_path / "cohort.h5mu"
    to_mudata(cohort.select(["rna", "imaging", "clinical"])).write(file)
    assert_same(cohort.select(["rna", "imaging", "clinical"]), read_data(file))


def test_folder_without_manifest_shuffled_rows(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"id{i}" for i in range(5)]
    a = pd.DataFrame(rng.normal(size=(5, 2)), index=ids, columns=["g1", "g2"])
    a.iloc[::-1].to_csv(tmp_path / "mrna.csv")
    a.iloc[[2, 0]].rename(columns={"g1": "m1", "g2": "m2"}).to_csv(tmp_path / "meth.csv")
    pd.DataFrame({"label": [0, 1, 0, 1, 1]}, index=ids).to_csv(tmp_path / "obs.csv")
    data = read_folder(tmp_path, outcome="label")
    assert data.available["meth"].sum() == 2
    np.testing.assert_allclose(data.block("mrna").loc["id3"].to_numpy(), a.loc["id3"])
    assert data.y.loc["id4"] == 1


def test_load_mogonet(rosmap_path):
    train, test = load_mogonet(rosmap_path)
    assert train.shape == (245, 3) and test.shape == (106, 3)
    assert train.modality_names == ["mrna", "methylation", "mirna"]
    assert train.y.value_counts().to_dict() == {1: 127, 0: 118}
    assert test.y.value_counts().to_dict() == {1: 55, 0: 51}
    assert train.feature_names("mrna")[0].startswith("ENSG")
    raw = np.loadtxt(rosmap_path / "2_te.csv", delimiter=",")
    np.testing.assert_allclose(test.block("methylation").to_numpy(), raw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        both = read_data(rosmap_path)
    assert both.shape == (351, 3)
