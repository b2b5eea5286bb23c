
import numpy as np
import pandas as pd
import pytest

from medfuse.persist import (
    MODULE_FILE,
    UntrustedModelError,
    load_model,
    read_manifest,
    save_model,
)
from tests import reference_strategies as ref

# exact names: trust takes no prefixes
TRUST = ("tests.reference_strategies.MeanLogistic", "tests.reference_strategies.TinyNet")


@pytest.fixture(scope="module")
def cohort():
    return ref.tiny_cohort(40, seed=2, missing=0.25)


def test_round_trip_sklearn_parts(cohort, tmp_path):
    model = ref.MeanLogistic().fit(cohort)
    save_model(model, tmp_path / "m", strategy="late-mean-ref")
    manifest = read_manifest(tmp_path / "m")
    assert manifest["strategy"] == "late-mean-ref"
    assert manifest["modalities"] == ["rna", "imaging", "clinical"]
    assert manifest["kinds"]["clinical"] == "clinical"
    assert manifest["feature_names"]["imaging"] == [f"r{k}" for k in range(8)]
    assert manifest["classes"] == [0, 1]
    assert not (tmp_path / "m" / MODULE_FILE).exists()
    loaded = load_model(tmp_path / "m", trust=TRUST)
    np.testing.assert_array_equal(loaded.predict_proba(cohort), model.predict_proba(cohort))
    # pandas attributes survive (skops itself cannot store them)
    pd.testing.assert_series_equal(loaded.modality_weights_, model.modality_weights_)
    pd.testing.assert_frame_equal(loaded.coef_["clinical"], model.coef_["clinical"])
    assert isinstance(model.coef_["rna"], pd.DataFrame)  # the fitted model is left intact
    # no pickle anywhere in the folder
    for f in (tmp_path / "m").iterdir():
        assert f.suffix in (".skops", ".json", ".safetensors")


def test_untrusted_types_are_refused(cohort, tmp_path):
    save_model(ref.MeanLogistic().fit(cohort), tmp_path / "m")
    with pytest.raises(UntrustedModelError, match=r"tests\.reference_strategies\.MeanLogistic"):
        load_model(tmp_path / "m")


def test_round_trip_torch_module(cohort, tmp_path):
    model = ref.TinyNet(epochs=30).fit(cohort)
    save_model(model, tmp_path / "net", strategy="tiny-net")
    assert (tmp_path / "net" / MODULE_FILE).exists()
    assert read_manifest(tmp_path / "net")["torch_module"] is True
    assert hasattr(model, "module_")  # saving leaves the fitted model intact
    loaded = load_model(tmp_path / "net", trust=TRUST)
    np.testing.assert_allclose(loaded.predict_proba(cohort), model.predict_proba(cohort),
                               rtol=0, atol=1e-7)


def test_not_a_model_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not a saved medfuse model"):
        load_model(tmp_path)
