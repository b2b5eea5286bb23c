"""Reading long tables into streams; every bad input is named by night, channel and time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medfuse.data import DataValidationError
from medfuse.streams import StreamSet, StreamSpec, StreamWarning, read_streams

T0 = pd.Timestamp("2024-03-01T23:00:00+01:00")


def table(cgm_steps=4, hr_steps=6) -> pd.DataFrame:
    rows = []
    for night in ("n1", "n2"):
        for k in range(cgm_steps):
            rows.append((night, (T0 + pd.Timedelta(seconds=300 * k)).isoformat(), "glucose",
                         100 + k, "mg/dL"))
        for k in range(hr_steps):
            rows.append((night, (T0 + pd.Timedelta(seconds=k)).isoformat(), "hr", 60 + k,
                         "bpm"))
    return pd.DataFrame(rows, columns=["night", "time", "channel", "value", "unit"])


SPECS = {"cgm": StreamSpec(("glucose",), interval=300), "hr": "hr"}


@pytest.mark.parametrize("ending", ["csv", "parquet"])
def test_reads_a_file_into_streams(tmp_path, ending):
    path = tmp_path / f"long.{ending}"
    frame = table().set_index("night")
    frame.to_csv(path) if ending == "csv" else frame.to_parquet(path)
    streams = read_streams(path, SPECS)
    cgm = streams["cgm"]["n2"]
    assert streams.nights == ["n1", "n2"] and cgm.units == ("mg/dL",)
    assert cgm.times[0] == T0.timestamp() and cgm.interval == 300
    np.testing.assert_array_equal(np.diff(cgm.times), 300.0)
    assert cgm.values.tolist() == [[100, 101, 102, 103]]
    data = streams.to_data()
    assert data.kinds == {"cgm": "timeseries", "hr": "timeseries"}
    back = StreamSet.from_block("hr", streams.to_block("hr"))["hr"]["n1"]
    np.testing.assert_array_equal(back.values, streams["hr"]["n1"].values)
    long = streams.to_long()
    assert read_streams(long, time_unit="s")["glucose"]["n1"].values.tolist() == [
        [100, 101, 102, 103]]


def test_duplicates_are_refused_or_dropped():
    frame = table()
    frame = pd.concat([frame.iloc[:3], frame.iloc[[2]], frame.iloc[3:]], ignore_index=True)
    with pytest.raises(DataValidationError,
                       match=r"duplicated.*night 'n1', channel 'glucose', time "
                             r"2024-03-01T22:10:00\+00:00"):
        read_streams(frame, SPECS)
    with pytest.warns(StreamWarning, match="duplicated.*dropped"):
        streams = read_streams(frame, SPECS, repair=True)
    assert len(streams["cgm"]["n1"]) == 4


def test_out_of_order_is_refused_or_sorted():
    frame = table()
    frame.iloc[[1, 2]] = frame.iloc[[2, 1]].to_numpy()
    with pytest.raises(DataValidationError,
                       match=r"out of order.*night 'n1', channel 'glucose', time "
                             r"2024-03-01T22:05:00"):
        read_streams(frame, SPECS)
    with pytest.warns(StreamWarning, match="sorted"):
        streams = read_streams(frame, SPECS, repair=True)
    assert streams["cgm"]["n1"].values.tolist() == [[100, 101, 102, 103]]


def test_a_long_gap_is_named():
    frame = table()
    frame = frame.drop(index=[1, 2])  # n1 glucose: 0 s, then 900 s
    with pytest.warns(StreamWarning, match=r"gap.*night 'n1', channel 'glucose', from "
                                           r"2024-03-01T22:00:00\+00:00 for 900 s"):
        read_streams(frame, {"cgm": StreamSpec(("glucose",), 300, max_gap=600), "hr": "hr"})


def test_a_channel_that_never_reports():
    with pytest.raises(DataValidationError, match=r"'spo2'.* never report"):
        read_streams(table(), {**SPECS, "spo2": "spo2"})


def test_a_night_without_a_declared_stream():
    frame = table()
    frame = frame[~((frame["night"] == "n2") & (frame["channel"] == "hr"))]
    with pytest.warns(StreamWarning, match=r"'hr'.*no sample in night\(s\) 'n2'"):
        streams = read_streams(frame, SPECS)
    assert "n2" not in streams["hr"] and streams.to_data().available.to_numpy().sum() == 3
    with pytest.raises(DataValidationError, match="no sample in night"):
        read_streams(frame, SPECS, missing="raise")


def test_mixed_units_are_named():
    frame = table()
    frame.loc[frame.index[-1] - 6, "unit"] = "mmol/L"  # n2's last glucose row
    with pytest.raises(DataValidationError, match=r"'glucose' has mixed units.*'mmol/L' at "
                                                  r"night 'n2', time 2024-03-01T22:15"):
        read_streams(frame, SPECS)


def test_times_need_their_zone_or_unit():
    frame = table()
    frame["time"] = frame["time"].str[:19]  # no offset
    with pytest.raises(DataValidationError, match=r"without a zone.*night 'n1', channel "
                                                  r"'glucose', time '2024-03-01T23:00:00'"):
        read_streams(frame, SPECS)
    paris = read_streams(frame, SPECS, zone="Europe/Paris")
    assert paris["cgm"]["n1"].times[0] == T0.timestamp()
    assert paris["cgm"]["n1"].zone == "Europe/Paris"
    since = pd.to_datetime(frame["time"]) - pd.Timestamp(0)
    frame["time"] = (since.dt.total_seconds() * 1000).astype("int64")
    with pytest.raises(DataValidationError, match="time_unit='s' or 'ms'"):
        read_streams(frame, SPECS)
    assert read_streams(frame, SPECS, time_unit="ms")["hr"]["n1"].times[1] == pytest.approx(
        pd.Timestamp("2024-03-01T23:00:01").timestamp())


def test_mixed_offsets_and_bad_values_are_named():
    frame = table()
    frame.loc[3, "time"] = frame.loc[3, "time"][:19]
    with pytest.raises(DataValidationError, match=r"mix.*night 'n1', channel 'glucose'"):
        read_streams(frame, SPECS)
    frame = table().astype({"value": object})
    frame.loc[5, "value"] = "high"
    with pytest.raises(DataValidationError, match=r"not numbers.*night 'n1', channel 'hr', "
                                                  r"time '2024-03-01T23:00:01\+01:00'"):
        read_streams(frame, SPECS)


def test_channels_of_one_stream_must_report_together():
    frame = table()
    acc = frame[frame["channel"] == "hr"].assign(channel="y")
    frame = pd.concat([frame, acc.iloc[:-1]], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"report together: night 'n2', channel "
                                                  r"'y' has no sample at time"):
        read_streams(frame, {"cgm": "glucose", "motion": ["hr", "y"]})
    with pytest.warns(StreamWarning, match="'glucose' belong to no declared stream"):
        ok = read_streams(pd.concat([table(), table().query("channel == 'hr'").assign(
            channel="y")]), {"motion": ["hr", "y"]})
    assert ok["motion"]["n1"].values.shape == (2, 6)
