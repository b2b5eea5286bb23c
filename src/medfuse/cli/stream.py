"""``medfuse stream replay``: a saved detector fed a night's samples in time order, writing
the alerts as they would have fired."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from medfuse.cli._common import console, fail, shown
from medfuse.cli._flag_help import FlagHelpGroup

app = typer.Typer(help="Sensor streams: replay a saved detector sample by sample.",
                  no_args_is_help=True, cls=FlagHelpGroup)

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def seconds(text: str) -> float:
    """A duration such as ``60s``, ``1m``, ``0.5h`` or ``60`` in seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(s|m|min|h)?\s*", text)
    if not match:
        raise ValueError(f"--budget {text!r}: give a duration such as 60s, 1m or 60.")
    return float(match.group(1)) * _UNITS[match.group(2) or ""]


@app.command("replay")
def replay_command(
    model: Annotated[Path, typer.Argument(help="A saved detector (a folder written by "
                                               "medfuse.persist.save_model).")],
    data: Annotated[Path, typer.Argument(help="Long table (CSV, TSV or Parquet): night, "
                                              "time, channel, value[, unit]; channels "
                                              "glucose, hr and acc.")],
    budget: Annotated[str, typer.Option(help="Latency budget the model was fitted for "
                                             "(60s, 1m, ...).")] = "60s",
    time_unit: Annotated[str | None, typer.Option(help="Unit of numeric times: s or ms "
                                                       "since 1970-01-01 UTC.")] = None,
    out: Annotated[Path, typer.Option(help="CSV file of the alerts.")] = Path("alerts.csv"),
) -> None:
    """Replay every night of DATA through MODEL in time order; write the alerts."""
    import pandas as pd

    from medfuse.data import DataValidationError
    from medfuse.files import csv_text, write_file
    from medfuse.persist import UntrustedModelError, load_model
    from medfuse.streams import StreamSpec, read_streams, replay, seconds_to_iso

    specs = {"cgm": StreamSpec(("glucose",)), "hr": StreamSpec(("hr",)),
             "acc": StreamSpec(("acc",))}
    try:
        detector = load_model(model)
        streams = read_streams(data, specs, time_unit=time_unit, others="ignore")
        rows = [{"night": night, "time": seconds_to_iso(a.time), "seconds": a.time,
                 "kind": a.kind, "score": a.score}
                for night in streams.nights
                for a in replay(detector, streams, night, budget=seconds(budget))]
    except (DataValidationError, UntrustedModelError, FileNotFoundError, ValueError,
            OSError) as err:
        fail(err)
    table = pd.DataFrame(rows, columns=["night", "time", "seconds", "kind", "score"])
    write_file(out, csv_text(table.set_index("night"), raw=True))
    console.print(f"{len(table)} alerts over {len(streams.nights)} night(s) written to "
                  f"{shown(out)}")
