"""benchmarks/imaging.py in ``--quick`` mode without mirp: the synthetic CT, the radiomics and
registration tables, the files written, and the matching of mirp's feature names."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("SimpleITK")
pytest.importorskip("nibabel")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "imaging.py"
_spec = importlib.util.spec_from_file_location("imaging_bench", SCRIPT)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_synthetic_ct_is_seeded_hu_with_one_lumpy_roi_in_its_box():
    image, mask, spacing = bench.synthetic_ct((32, 64, 64), 16, seed=3)
    again, _, _ = bench.synthetic_ct((32, 64, 64), 16, seed=3)
    assert np.array_equal(image, again)
    assert image.dtype == np.int16 and spacing == (1.0, 1.0, 1.0)
    assert image.min() >= -1024 and (image < -900).mean() > 0.2      # air around the body
    inside = np.argwhere(mask)
    assert (np.ptp(inside, axis=0) < 16).all()                       # within the 16^3 box
    assert 0.3 < mask.sum() / 16**3 < 0.7                           # sphere-like, not the box
    from scipy.ndimage import label

    assert label(mask)[1] == 1


def test_quick_run_prints_both_tables_and_writes_results(tmp_path, capsys):
    results = bench.main(["--quick", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    lines = text.splitlines()

    def row(start: str) -> list[str]:
        """The words of the first table row (indented line) starting with ``start``."""
        found = [line.split() for line in lines if line.startswith("  " + start)]
        assert found, f"no row starting with {start!r} in\n{text}"
        return found[0]

    medfuse = row("medfuse ")
    assert int(medfuse[1]) > 150 and float(medfuse[2]) > 0        # features, min seconds
    assert "skipped" in row("mirp ")
    for name in ("medfuse register (defaults)", "medfuse register, sampling 1 %",
                 "SimpleITK example, 1 thread(s)", "SimpleITK example, default"):
        assert row(name)
    default = results["registration"]["medfuse register (defaults)"]
    assert len(default["seconds"]) == 1 and default["tre_mm"][0] < 1.0
    assert results["registration"]["tre_before_mm"][0] > 2.0
    assert (tmp_path / "report.txt").read_text().splitlines()[0] == lines[0]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["radiomics"]["medfuse"]["n_features"] == int(medfuse[1])


def test_mirp_names_map_to_medfuse_tags():
    assert bench.mirp_tag("cm_joint_max_d1_3d_avg_fbs_w25.0") == "cm_joint_max_3D_avg"
    assert bench.mirp_tag("cm_joint_max_d1_3d_v_mrg") == "cm_joint_max_3D_comb"
    assert bench.mirp_tag("rlm_sre_3d_v_mrg_fbn_n32") == "rlm_sre_3D_comb"
    assert bench.mirp_tag("ngl_lde_d1_a0.0_3d_fbs_w25.0") == "ngl_lde_3D"
    assert bench.mirp_tag("szm_sze_3d") == "szm_sze_3D"
    assert bench.mirp_tag("cm_joint_max_d1_2d_avg_fbs_w25.0") == "cm_joint_max_2D_avg"
    assert bench.mirp_tag("cm_joint_max_d1_2d_s_mrg") == "cm_joint_max_2D_comb"
    assert bench.mirp_tag("rlm_sre_2.5d_d_mrg_fbn_n32") == "rlm_sre_2_5D_avg"
    assert bench.mirp_tag("rlm_sre_2.5d_v_mrg") == "rlm_sre_2_5D_comb"
    assert bench.mirp_tag("ngl_lde_d1_a0.0_2.5d") == "ngl_lde_2_5D"
    assert bench.mirp_tag("szm_sze_2d_fbn_n32") == "szm_sze_2D"
    assert bench.mirp_tag("morph_volume") == "morph_volume"
    assert bench.mirp_tag("ivh_diff_v10_v90") == "ivh_diff_v10_v90"


def test_comparison_counts_per_family_and_lists_disagreements():
    ours = {"morph_volume": 100.0, "stat_mean": 1.0, "stat_var": 2.0, "cm_energy_3D_avg": 0.5}
    theirs = {"morph_volume": 100.05, "stat_mean": 1.1, "stat_var": 2.0,
              "cm_energy_d1_3d_avg_fbs_w25.0": 0.5, "stat_total_energy": 3.0,
              "image_voxel_size_x": 1.0}
    result = bench.compare(ours, theirs, rtol=1e-3)
    assert result["families"]["morph"] == {"compared": 1, "agree": 1, "only_medfuse": [],
                                           "only_mirp": []}
    assert result["families"]["stat"]["agree"] == 1
    assert result["families"]["stat"]["only_mirp"] == ["stat_total_energy"]
    assert result["families"]["cm"]["agree"] == 1
    assert result["disagree"] == [("stat_mean", 1.0, 1.1)]
    lines = bench.agreement_lines(result, 1e-3, "toy")
    assert any(line.split()[:3] == ["stat", "2", "1"] for line in lines)
    assert bench.known_cause("morph_area_dens_ombb").startswith("mirp returns")
    assert bench.known_cause("ivh_v90") and not bench.known_cause("stat_mean")
