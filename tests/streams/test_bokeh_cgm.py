"""A real CGM trace (bokeh-sampledata's glucose: 5-minute readings over six months) through
the reader, the sampling report, alignment and window features; the report must find the
gaps, duplicates and jitter that pandas finds in the same file independently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medfuse.streams import (
    StreamSpec,
    StreamWarning,
    asof,
    read_long_table,
    read_streams,
    sampling_table,
    window_features,
)

glucose = pytest.importorskip("bokeh_sampledata.glucose")


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    raw = glucose.data
    long = pd.DataFrame({"subject": "cgm1", "time": raw.index.strftime("%Y-%m-%dT%H:%M:%S"),
                         "channel": "glucose", "value": raw["glucose"].to_numpy(),
                         "unit": "mg/dL"})
    path = tmp_path_factory.mktemp("bokeh") / "cgm.csv"
    long.to_csv(path, index=False)
    steps = raw.index.to_series().diff().dt.total_seconds().dropna().to_numpy()
    return path, steps


def test_the_report_finds_what_is_there(trace):
    path, steps = trace
    long = read_long_table(path, zone="UTC")  # the trace records no zone: stated as UTC
    report = sampling_table(long, nominal=300.0).loc[("cgm1", "glucose")]
    regular = steps[(steps > 0) & (steps <= 600)]
    assert report["n_samples"] == 52281
    assert report["n_duplicates"] == (steps == 0).sum() == 3
    assert report["n_out_of_order"] == (steps < 0).sum() == 0
    assert report["n_gaps"] == (steps > 600).sum()
    assert report["gap_seconds"] == steps[steps > 600].sum()
    assert report["longest_gap"] == steps.max()
    assert report["off_nominal"] == (regular != 300).sum()
    assert report["jitter_median"] == np.median(np.abs(regular - 300))
    assert report["jitter_p95"] == np.percentile(np.abs(regular - 300), 95)


def test_the_trace_reads_aligns_and_gives_features(trace):
    path, steps = trace
    with pytest.warns(StreamWarning) as caught:
        streams = read_streams(path, {"cgm": StreamSpec(("glucose",), 300.0, max_gap=600)},
                               zone="UTC", repair=True)
    text = " ".join(str(w.message) for w in caught)
    assert "3 sample(s) duplicated" in text and "subject 'cgm1', channel 'glucose'" in text
    assert f"{(steps > 600).sum()} gap(s) longer than 600 s" in text
    cgm = streams["cgm"]["cgm1"]
    assert len(cgm) == 52281 - 3
    grid = np.arange(cgm.times[0], cgm.times[-1], 60.0)
    _, age = asof(cgm.times, cgm.values, grid)
    assert age.max() < steps.max() and age.max() >= steps.max() - 60
    feats = window_features(cgm.times, cgm.values, grid, 1800.0, cgm.channels)
    counts = feats["glucose_count"].to_numpy()
    some = np.random.default_rng(0).choice(len(grid), 500, replace=False)
    brute = [((cgm.times > grid[k] - 1800) & (cgm.times <= grid[k])).sum() for k in some]
    np.testing.assert_array_equal(counts[some], brute)
    full = counts >= 2
    assert np.isfinite(feats["glucose_slope"].to_numpy()[full]).all()
    mean = feats["glucose_mean"].to_numpy()[counts > 0]
    assert (mean >= cgm.values.min()).all() and (mean <= cgm.values.max()).all()
