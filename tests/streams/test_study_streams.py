"""A study file declares a stream: a long table read into a ``timeseries`` modality, its
problems named by field, subject, channel and time."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from medfuse.config import read_study_data
from medfuse.config.errors import StudyError
from medfuse.streams import StreamWarning, simulate_nights


def _study(folder, stream):
    sim = simulate_nights(4, duration=1800, random_state=2)
    long = sim.streams.to_long(["cgm", "hr"])
    long.index.name = "subject"
    long.to_csv(folder / "wearables.csv")
    pd.DataFrame({"subject": sim.streams.nights, "y": sim.onsets.notna().astype(int)}).to_csv(
        folder / "outcome.csv", index=False)
    study = {"name": "nights", "outcome": {"file": "outcome.csv", "column": "y"},
             "modalities": {"cgm": {"file": "wearables.csv", "kind": "timeseries",
                                    "stream": stream}}}
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path, sim


def test_a_declared_stream_is_read_as_a_timeseries_modality(tmp_path):
    path, sim = _study(tmp_path, {"channels": ["glucose"], "interval": 300,
                                  "time_unit": "s"})
    data = read_study_data(path)
    assert data.kinds == {"cgm": "timeseries"}
    block = data.block("cgm")
    assert list(block.ids) == sim.streams.nights
    assert block.meta["interval"].iloc[0] == 300.0
    assert block.field("timestamps")[1].tolist() == sim.streams["cgm"]["night1"].times.tolist()


def test_stream_problems_are_named_by_field(tmp_path):
    path, _ = _study(tmp_path, {"channels": ["spo2"], "time_unit": "s"})
    with pytest.raises(StudyError, match=r"modalities\.cgm: .*'spo2'.* never report"):
        read_study_data(path)
    path, _ = _study(tmp_path, {"channels": ["glucose"]})
    with pytest.raises(StudyError, match=r"modalities\.cgm: Numeric times need their unit.*"
                                         r"subject 'night0', channel 'glucose'"):
        read_study_data(path)
    path, _ = _study(tmp_path, {"channels": ["glucose"], "time_unit": "s", "max_gap": 200})
    with pytest.warns(StreamWarning, match=r"modalities\.cgm: .*gap.*subject 'night0'"):
        read_study_data(path)


def test_stream_is_for_timeseries_only(tmp_path):
    path, _ = _study(tmp_path, {"channels": ["glucose"], "time_unit": "s"})
    study = yaml.safe_load(path.read_text())
    study["modalities"]["cgm"]["kind"] = "continuous"
    path.write_text(yaml.safe_dump(study))
    with pytest.raises(StudyError, match="stream: is for kind: timeseries"):
        read_study_data(path)
