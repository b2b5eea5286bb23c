"""Time and peak memory of ``medfuse predict`` (or ``benchmark``) on each input that
declares more than it holds, under a 2 GB address-space limit.

Every bomb of the security corpus (``tests/security/bombs.py``) is crafted afresh from a
small saved model, and the command is run in its own process under ``RLIMIT_AS`` = 2 GiB;
the table gives its exit status, wall seconds, peak resident memory and the start of what
it printed. The target of the security issue: each is refused (exit 2, one ``error:`` line)
in under 2 s. The first row is a control: a genuine neural model predicting five subjects
(what loading a network costs by itself: torch and the libraries).

    python benchmarks/security_bombs.py [--source DIR] [--data-command info]

``--source DIR`` runs the commands with another checkout's ``DIR/src`` first on the path
(e.g. the code before the confinement work, to show what each bomb did there).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medfuse.data import MultiModalData, make_cohort, write_folder
from medfuse.fusion import make
from medfuse.persist import save_model
from tests.security import bombs


def models(root: Path) -> dict[str, Path]:
    """The saved models the bombs start from: classical, neural and a dense image model."""
    cohort = make_cohort(30, n_genes=8, n_imaging=5, random_state=0)
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(30)]
    y = np.arange(30) % 2
    images = MultiModalData({"scan": (ids, rng.normal(size=(30, 1, 4, 4))
                                      + y[:, None, None, None])},
                            obs=pd.DataFrame({"y": y}, index=ids), outcome="y",
                            modalities={"scan": "image"})
    write_folder(cohort[:5], root / "subjects")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "subjects": root / "subjects",
            "classical": save_model(make("unimodal:rna").fit(cohort), root / "classical"),
            "neural": save_model(make("intermediate", max_epochs=2, n_ensemble=1,
                                      random_state=0).fit(cohort.select(["rna", "imaging"])),
                                 root / "neural"),
            "image": save_model(make("unimodal:scan").fit(images), root / "image"),
        }


def cases(root: Path, saved: dict[str, Path], data_command: str = "predict"
          ) -> list[tuple[str, list[str]]]:
    """(bomb, command line) for every bomb, each in a fresh copy of its model; the data
    bombs go to ``predict`` with the image model, or to ``info`` (no model: for code that
    cannot load a model saved by this one)."""

    def copy(name: str, label: str) -> Path:
        return Path(shutil.copytree(saved[name], root / label / "model"))

    def folder(label: str) -> Path:
        path = root / label / "new"
        path.mkdir(parents=True)
        return path

    out = [("control: a genuine neural model", ["predict", str(saved["neural"]),
                                                str(saved["subjects"]), "--out",
                                                str(root / "control.csv")])]
    for label, craft in (("npz header bomb (16 GiB declared)", bombs.craft_npz_header_bomb),
                         ("npz zip bomb (1 GiB from 1 MiB)", bombs.craft_npz_zip_bomb),
                         ("npz overlapping entries", bombs.craft_overlapping_zip)):
        new = folder(label)
        craft(new / "scan.npz")
        out.append((label, ["predict", str(saved["image"]), str(new), "--out",
                            str(root / label / "p.csv")] if data_command == "predict"
                    else ["info", str(new)]))
    subjects = str(saved["subjects"])
    model = bombs.craft_skops_member_bomb(copy("classical", "member"))
    out.append(("skops member of 1 GiB", ["predict", str(model), subjects, "--out",
                                          str(model.parent / "p.csv")]))
    model = bombs.craft_big_schema(copy("classical", "schema"))
    out.append(("schema.json of 100 MiB", ["predict", str(model), subjects, "--out",
                                           str(model.parent / "p.csv")]))
    for label, settings in (("network n_ensemble 1e9", {"n_ensemble": 10**9}),
                            ("network input width 1e6", {"input_shapes_": {"rna": (10**6,)}})):
        model = bombs.craft_network_settings(copy("neural", label), **settings)
        out.append((label, ["predict", str(model), subjects, "--out",
                            str(model.parent / "p.csv")]))
    new = folder("wide")
    bombs.craft_wide_csv(new / "rna.csv")
    out.append(("CSV of a million columns", ["predict", str(saved["classical"]), str(new),
                                             "--out", str(root / "wide" / "p.csv")]
                if data_command == "predict" else ["info", str(new)]))
    study = bombs.craft_laughs(folder("laughs") / "study.yaml")
    out.append(("study file, billion laughs", ["benchmark", str(study), "--out",
                                               str(root / "laughs" / "out")]))
    return out


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="a checkout whose src/ to run instead")
    parser.add_argument("--data-command", choices=("predict", "info"), default="predict",
                        help="what reads the data bombs (info: no model is loaded)")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(args.source.resolve() / "src"),
                                             env.get("PYTHONPATH", "")])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for label, command in cases(root, models(root / "models"), args.data_command):
            try:
                result, seconds, peak = bombs.run_limited(command, timeout=300, env=env)
                said = (result.stdout.strip().splitlines() or [""])[-1]
                if result.returncode not in (0, 2):
                    said = (result.stderr.strip().splitlines() or [said])[-1]
                status = result.returncode
            except Exception as err:  # a bomb that hangs past the bound is a result too
                status, seconds, peak, said = "timeout", float("nan"), float("nan"), str(err)
            rows.append({"bomb": label, "exit": status, "seconds": round(seconds, 2),
                         "peak MiB": round(peak), "said": said[:110]})
            print(f"{label:<32} exit {status!s:>7}  {seconds:6.2f} s  {peak:7.0f} MiB  "
                  f"{said[:110]}", flush=True)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
