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


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_read_table_refuses_a_header_that_names_a_column_twice(tmp_path, suffix):
    from medfuse.data import DataValidationError, read_table

    sep = "\t" if suffix == ".tsv" else ","
    path = tmp_path / f"clinical{suffix}"
    path.write_text(sep.join(["id", "age", "sex", "age", "bmi", "sex"]) + "\n"
                    + sep.join(["s1", "60", "f", "61", "22", "m"]) + "\n")
    with pytest.raises(DataValidationError) as err:
        read_table(path)
    assert str(err.value) == (f"{path}: duplicate column name(s) 'age', 'sex' in the header row "
                              "(pandas would rename them 'age.1', ...); give every column its "
                              "own name.")
    path.write_text(sep.join(["id", "age", "sex"]) + "\n" + sep.join(["s1", "60", "f"]) + "\n")
    assert list(read_table(path).columns) == ["age", "sex"]


def test_read_table_checks_parquet_headers(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from medfuse.data import DataValidationError, read_table

    path = tmp_path / "rna.parquet"
    pq.write_table(pa.table([pa.array(["s1", "s2"]), pa.array([1.0, 2.0]),
                             pa.array([3.0, 4.0])], names=["id", "g1", "g1"]), path)
    with pytest.raises(DataValidationError, match=r"duplicate column name\(s\) 'g1'"):
        read_table(path)
    frame = pd.DataFrame({"g1": [1.0, 2.0], "g2": [3.0, 4.0]},
                         index=pd.Index(["s1", "s2"], name="subject"))
    frame.to_parquet(path)
    assert list(read_table(path).columns) == ["g1", "g2"]


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int64-with-null"])
def test_parquet_in_row_groups_reads_as_pandas_does(tmp_path, dtype):
    """A Parquet file written in row groups is read one group at a time (when its features
    share one numeric type) to the same frame pandas reads whole."""
    from medfuse.data.tables import read_parquet

    rng = np.random.default_rng(1)
    values = rng.normal(size=(50, 7)) * 100
    frame = pd.DataFrame(values.astype(dtype.split("-")[0]),
                         columns=[f"f{i}" for i in range(7)])
    if dtype == "float64":
        frame.iloc[3, 2] = np.nan
    if dtype == "int64-with-null":
        frame["f6"] = frame["f6"].astype("Int64")
        frame.loc[4, "f6"] = pd.NA
    frame.insert(0, "id", [f"S{i}" for i in range(50)])
    path = tmp_path / "rna.parquet"
    frame.to_parquet(path, index=False, row_group_size=8)
    with open(path, "rb") as handle:
        got = read_parquet(handle)
    with open(path, "rb") as handle:
        expected = pd.read_parquet(handle).set_index("id")
    pd.testing.assert_frame_equal(got, expected)
    assert got.shape == (50, 7) and got.index[-1] == "S49"
