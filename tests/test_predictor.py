"""The prediction core: load once, read new subjects with the model's kinds, predict and
explain from any subset of modalities, from several threads at once."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from medfuse.data import make_cohort
from medfuse.fusion import make
from medfuse.persist import save_model
from medfuse.predictor import Predictor


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    data = make_cohort(150, n_genes=30, n_imaging=12, missing={"imaging": 0.3},
                       random_state=5)
    model = make("stacking", random_state=0).fit(data[:110])
    folder = tmp_path_factory.mktemp("model")
    save_model(model, folder, strategy="stacking")
    return folder, data[110:], model


def test_load_once_predict_and_explain(saved):
    folder, test, model = saved
    predictor = Predictor.load(folder)
    assert predictor.strategy == "stacking" and predictor.task == "classification"
    table = predictor.predict(test)
    np.testing.assert_allclose(table[["proba_0", "proba_1"]], model.predict_proba(test))
    explained = predictor.explain(test.hide("clinical"), table=None)
    shap = explained[[f"shapley_{m}" for m in predictor.modalities]].sum(axis=1)
    np.testing.assert_allclose(explained["shapley_base"] + shap, explained["proba_1"],
                               atol=1e-8)
    assert (explained["shapley_clinical"] == 0).all()


def test_a_folder_without_manifest_is_read_with_the_model_kinds(saved, tmp_path):
    folder, test, _ = saved
    predictor = Predictor.load(folder)
    test.block("clinical").to_csv(tmp_path / "clinical.csv")  # ordinal stage as text
    test.block("rna").to_csv(tmp_path / "rna.csv")
    test.block("imaging").to_csv(tmp_path / "radiomics.csv")  # renamed: matches nothing
    with pytest.warns(UserWarning, match="'radiomics.csv' match no modality"):
        data = predictor.read(tmp_path)
    assert data.kinds["clinical"] == "clinical" and data.kinds["rna"] == "counts"
    table = predictor.predict(data)
    assert set(table["modalities_used"]) == {"rna+clinical"}
    expected = predictor.predict(test.hide("imaging"))
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)


def test_concurrent_predictions_equal_serial_ones(saved):
    folder, test, _ = saved
    predictor = Predictor.load(folder)
    parts = [test[np.arange(i, len(test), 5)] for i in range(5)]
    serial = [predictor.predict(p) for p in parts]
    with ThreadPoolExecutor(5) as pool, warnings.catch_warnings():
        warnings.simplefilter("error")
        tables = list(pool.map(predictor.predict, parts * 4))
    for i, t in enumerate(tables):
        pd.testing.assert_frame_equal(t, serial[i % 5])


def _harmonized_model(ref_batch="A"):
    from sklearn.preprocessing import StandardScaler

    from medfuse.preprocess import ComBat
    from medfuse.preprocess.chain import ObsChain
    from tests import reference_strategies as ref

    data = ref.tiny_cohort(60, seed=2)
    chain = ObsChain([ComBat(batch_col="site", ref_batch=ref_batch),
                      StandardScaler().set_output(transform="pandas")])
    model = make("late-mean", preprocessors={"rna": chain, "imaging": chain},
                 random_state=0).fit(data)
    return model, data


def test_set_unseen_batch_reaches_every_fitted_harmonizer():
    from medfuse.predictor import fitted_harmonizers, set_unseen_batch

    model, data = _harmonized_model()
    found = fitted_harmonizers(model)
    assert len(found) == 2 and all(h.unseen_batch == "error" for h in found)
    assert {id(h) for h in found} == {id(model.preprocessors_[m].steps_[0])
                                      for m in ("rna", "imaging")}
    predictor = Predictor(model)
    new = data[:6]._replace(obs=data[:6].obs.assign(site="Z"))
    with pytest.raises(ValueError, match=r"Batch\(es\) \['Z'\]"):
        predictor.predict(new)
    for policy in ("fit-new", "reference"):
        assert predictor.set_unseen_batch(policy) == 2
        assert all(h.unseen_batch == policy for h in found)
        assert np.isfinite(predictor.predict(new).filter(like="proba_").to_numpy()).all()
    with pytest.raises(ValueError, match="'nearest' is not a policy; choose error, reference "
                                         "or fit-new"):
        set_unseen_batch(model, "nearest")
    no_reference, _ = _harmonized_model(ref_batch=None)
    with pytest.raises(ValueError, match="harmonized without one"):
        set_unseen_batch(no_reference, "reference")
    assert set_unseen_batch(make("late-mean").fit(data), "fit-new") == 0


def test_predict_needs_the_obs_columns_the_harmonizer_reads():
    model, data = _harmonized_model()
    new = data[:4]._replace(obs=data[:4].obs.drop(columns="site"))
    with pytest.raises(ValueError, match=r"The model harmonizes its input by batch \(obs "
                                         r"column 'site'\), which the new subjects lack"):
        Predictor(model).predict(new)
