"""``medfuse stream replay``: a saved detector replayed over a long table writes the alerts
the offline path fires."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.cli.stream import seconds
from medfuse.persist import save_model
from medfuse.streams import events_from_glucose, make_detector, simulate_nights

runner = CliRunner()


def test_replay_writes_the_offline_alerts(tmp_path):
    sim = simulate_nights(6, duration=1800.0, random_state=2)
    events = events_from_glucose(sim.onsets, sim.glucose)
    model = make_detector("early", inner_folds=0).fit(sim.streams, events)
    folder = save_model(model, tmp_path / "model", strategy="early")
    night = next(n for n in sim.streams.nights if model.alerts(sim.streams, n))
    table = tmp_path / "night.csv"
    sim.streams.to_long().loc[[night]].to_csv(table)
    out = tmp_path / "alerts.csv"
    args = ["stream", "replay", str(folder), str(table), "--budget", "1m", "--time-unit",
            "s", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out)
    expected = model.alerts(sim.streams, night)
    assert expected
    assert got["seconds"].tolist() == [a.time for a in expected]
    assert got["kind"].tolist() == [a.kind for a in expected]
    refused = runner.invoke(app, [*args[:4], "--budget", "2m", *args[6:]])
    assert refused.exit_code == 2 and "refit" in refused.output


def test_budget_durations():
    assert seconds("60s") == seconds("1m") == seconds("60") == 60.0
    with pytest.raises(ValueError, match="duration"):
        seconds("soon")
