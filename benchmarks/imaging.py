"""Speed and agreement of medfuse's imaging: IBSI-1 radiomics against mirp, and rigid
registration against SimpleITK's own example settings.

**Radiomics per subject.** A seeded synthetic CT of 256 x 256 x 128 voxels (x, y, z) at
1 mm isotropic spacing, in HU (air, a body with a fat rim, two lungs, a spine and a
heterogeneous soft-tissue lesion with a necrotic core and calcifications), and a lumpy
sphere-like region of interest filling a 64^3-voxel box around the lesion. Both
implementations compute the full IBSI-1 set in 3D from the same image and mask:

* no interpolation (the image is already 1 mm isotropic);
* re-segmentation of the intensity mask to [-1000, 400] HU;
* fixed bin size 25 HU from -1000 HU (IBSI configuration C without its interpolation);
* intensity-volume histogram with fixed bin size 2.5 HU;
* texture in 3D: GLCM and GLRLM both averaged over the 13 directions (``_3D_avg``) and
  from the merged matrix (``_3D_comb``); GLCM and NGLDM at Chebyshev distance 1, NGLDM
  coarseness 0; GLSZM, GLDZM and NGTDM from one 3D matrix;
* intensity statistics with the 10th and 90th percentiles, no intensity shift.

medfuse runs in this process (``medfuse.imaging.radiomics.features.extract``). mirp runs in
its own interpreter (it needs pandas 3, so it lives in its own virtual environment) on the
same image and mask written to NIfTI files: the child process imports mirp, extracts once
from a small crop to load what mirp loads lazily (untimed, like the untimed warm-up of
medfuse here), then times ``mirp.extract_features`` alone, so interpreter start-up and
imports are not counted (its time includes reading the two NIfTI files, a fraction of a
second; medfuse is handed the arrays). mirp is asked for every feature it has
(``ibsi_compliant=False``), as medfuse computes the features without IBSI reference values
too (oriented bounding box, enclosing ellipsoid, area under the IVH curve). Printed: per
family, how many features of both agree within ``--rtol`` (relative to the larger
magnitude; default 1e-3), the ones that do not with both values, and the minimum and median
seconds of ``--repeats`` extractions with the ratio mirp / medfuse (target: at least 3).

Known differences, listed as disagreements rather than hidden (:data:`KNOWN_CAUSES` names
the cause next to each): mirp estimates Moran's I and Geary's C from random subsets of 1000
voxels on an ROI this size (medfuse computes them exactly); the oriented minimum bounding box
and minimum-volume enclosing ellipsoid (no IBSI reference values) are approximated by
different algorithms; mirp 2.7 reports the bounding box's volume density as its area
density; and with a fixed-bin-size IVH mirp runs the intensity range one bin past the
re-segmentation upper bound where medfuse ends it, as the reference manual does, at the
centre of the last bin below it, which moves ``ivh_auc`` (and ``ivh_v90`` when only that
extra bin is above 90 % of the range). medfuse computes every texture
aggregation (2D, 2.5D, 3D) and keeps the 3D ones, so its time includes work mirp is not
asked for.

**Registration per pair.** The same synthetic CT (or ``--reg-shape``) is the fixed image; the
moving image is the fixed one resampled by a random rigid transform (each rotation uniform in
+-10 degrees about the image centre, each translation uniform in +-10 mm, seeded) with fresh
noise. Timed: ``medfuse.imaging.register.register`` with its defaults (Mattes MI 50 bins,
random sampling 25 % with at least 5000 points per level, regular-step gradient descent, up
to 200 iterations per level, 4/2/1 shrink with 2/1/0 voxel smoothing, moments initialiser,
one thread), and the settings of SimpleITK's registration introduction
(SimpleITK-Notebooks ``Python/60_Registration_Introduction.ipynb``): Euler 3D transform
centred by ``CenteredTransformInitializer`` on the volumes' geometry, Mattes MI 50 bins,
random sampling 1 % (with a fixed seed here, for repeatability), linear interpolation,
gradient descent with learning rate 1.0, 100 iterations, convergence minimum 1e-6 over a
window of 10, scales from physical shift, shrink factors 4/2/1 with smoothing sigmas 2/1/0
mm. The example leaves threading at the library default (every core); it is also run with
``--threads`` (default 1, medfuse's default) for a like-for-like row, and medfuse is also
run with the example's 1 % sampling. Printed: seconds per pair (mean and median), the
target registration error over the 8 corner voxels of the fixed image (mean and maximum
over pairs of the per-pair mean, mm) and each row's time over that of medfuse's defaults.

**Set-up of mirp** (once, in any folder outside the project)::

    python3 -m venv mirp-env && mirp-env/bin/pip install mirp

**Usage**::

    python benchmarks/imaging.py --mirp-python mirp-env/bin/python [--repeats 3] [--pairs 3]
    python benchmarks/imaging.py --quick            # smoke run: small image, 1 repeat, 1 pair
    python benchmarks/imaging.py --mirp-python mirp-env/bin/python --phantom DIR
        # DIR holds the IBSI-1 digital phantom as image/phantom.nii.gz and mask/mask.nii.gz:
        # medfuse against mirp on it (grey levels as they are, no timing)

Without ``--mirp-python`` the mirp rows are skipped. The report is printed and written to
``benchmarks/results/imaging-<date>/report.txt`` with the raw numbers in ``results.json``
(``--out`` to choose the folder; ``--quick`` writes nothing unless ``--out`` is given).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
RESULTS = HERE.parent / "results"

FAMILIES = ("morph", "loc", "stat", "ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl")

#: mirp's settings for the synthetic CT (keyword arguments of ``mirp.extract_features``).
MIRP_CT = {
    "image_modality": "ct",
    "by_slice": False,
    "ibsi_compliant": False,
    "resegmentation_intensity_range": [-1000.0, 400.0],
    "base_discretisation_method": "fixed_bin_size",
    "base_discretisation_bin_width": 25.0,
    "ivh_discretisation_method": "fixed_bin_size",
    "ivh_discretisation_bin_width": 2.5,
    "glcm_distance": 1.0,
    "glcm_spatial_method": ["3d_average", "3d_volume_merge"],
    "glrlm_spatial_method": ["3d_average", "3d_volume_merge"],
    "glszm_spatial_method": "3d",
    "gldzm_spatial_method": "3d",
    "ngtdm_spatial_method": "3d",
    "ngldm_distance": 1.0,
    "ngldm_difference_level": 0.0,
    "ngldm_spatial_method": "3d",
}
#: mirp's settings for the IBSI digital phantom: grey levels as they are.
MIRP_PHANTOM = {**{k: v for k, v in MIRP_CT.items() if not k.startswith(
    ("resegmentation", "base_discretisation", "ivh_discretisation"))},
    "base_discretisation_method": "none", "ivh_discretisation_method": "none"}


#: Causes of disagreements found when this benchmark was written (mirp 2.7), by tag pattern;
#: printed next to a disagreeing tag so that a reader can tell them from new ones.
KNOWN_CAUSES = {
    r"morph_(moran_i|geary_c)$": "mirp estimates it from random 1000-voxel subsets once the "
                                 "ROI has 1000 voxels; medfuse is exact",
    r"morph_area_dens_ombb$": "mirp returns the OMBB volume density under this name",
    r"morph_(vol|area)_dens_(ombb|mvee)$": "no IBSI reference value; the two approximate the "
                                           "box / ellipsoid differently",
    r"ivh_(v\d+|diff_v10_v90|auc)$": "mirp's fixed-bin-size IVH range runs one bin past the "
                                     "re-segmentation upper bound; medfuse (and the "
                                     "reference manual) end it at the last bin centre below",
}


def known_cause(tag: str) -> str:
    """The cause of a disagreement found before (:data:`KNOWN_CAUSES`), or ``""``."""
    for pattern, cause in KNOWN_CAUSES.items():
        if re.search(pattern, tag):
            return cause
    return ""


def ct_settings():
    """medfuse's settings matching :data:`MIRP_CT`."""
    from medfuse.imaging.radiomics.settings import RadiomicsSettings

    return RadiomicsSettings(resegment=(-1000.0, 400.0), discretisation="fixed_bin_size",
                             n_bins=None, bin_size=25.0, ivh=("fixed_bin_size", 2.5),
                             aggregation=("3D",))


def phantom_settings():
    """medfuse's settings matching :data:`MIRP_PHANTOM`."""
    import dataclasses

    from medfuse.imaging.radiomics.settings import preset

    return dataclasses.replace(preset("ibsi1-phantom"), aggregation=("3D",))


# ------------------------------------------------------------------------------- data
def _smooth_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    """Gaussian-smoothed white noise scaled to unit standard deviation (float32)."""
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    return field / max(float(field.std()), 1e-12)


def synthetic_ct(shape=(128, 256, 256), roi: int = 64, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """A CT-like volume in HU and a lumpy ROI filling a ``roi``-voxel cube.

    Parameters
    ----------
    shape : tuple of int
        Voxels along ``(z, y, x)``.
    roi : int
        Edge of the box the region fills, voxels.
    seed : int

    Returns
    -------
    image : ndarray of int16, shape ``shape``
        Intensities in HU, ``(z, y, x)``.
    mask : ndarray of uint8
        1 inside the region (one connected piece without holes).
    spacing : tuple of float
        ``(1.0, 1.0, 1.0)`` mm.
    """
    from scipy.ndimage import binary_fill_holes, label

    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    if min(shape) < roi + 4:
        raise ValueError(f"an image of {shape} voxels cannot hold a {roi}^3 ROI.")
    z, y, x = np.meshgrid(np.arange(nz, dtype=np.float32), np.arange(ny, dtype=np.float32),
                          np.arange(nx, dtype=np.float32), indexing="ij")
    cy, cx = (ny - 1) / 2, (nx - 1) / 2
    body = ((x - cx) / (0.45 * nx)) ** 2 + ((y - cy) / (0.36 * ny)) ** 2
    image = np.full(shape, -1000.0, np.float32)
    image[body < 1.0] = -90.0                                     # fat rim
    image[body < 0.82] = 40.0                                     # soft tissue
    for side in (-1, 1):                                          # lungs
        lung = (((x - cx - side * 0.2 * nx) / (0.15 * nx)) ** 2
                + ((y - cy + 0.04 * ny) / (0.22 * ny)) ** 2
                + ((z - (nz - 1) / 2) / (0.6 * nz)) ** 2)
        image[lung < 1.0] = -850.0
    spine = ((x - cx) / (0.05 * nx)) ** 2 + ((y - cy - 0.24 * ny) / (0.05 * ny)) ** 2
    image[spine < 1.0] = 700.0
    image += 25.0 * _smooth_noise(rng, shape, 2.0)                # soft anatomical texture

    # the lesion: a lumpy sphere in a roi^3 box centred on the image, heterogeneous inside
    lo = [(n - roi) // 2 for n in shape]
    box = tuple(slice(a, a + roi) for a in lo)
    r = (roi - 1) / 2
    bz, by, bx = np.meshgrid(*(np.arange(roi, dtype=np.float32) - r for _ in range(3)),
                             indexing="ij")
    radius = np.sqrt(bz**2 + by**2 + bx**2) / (r + 0.5)
    lumpy = radius + 0.12 * _smooth_noise(rng, (roi,) * 3, roi / 10)
    inside = lumpy < 0.98
    pieces, n = label(inside)
    if n > 1:
        sizes = np.bincount(pieces.ravel())[1:]
        inside = pieces == 1 + int(np.argmax(sizes))
    inside = binary_fill_holes(inside)
    texture = _smooth_noise(rng, (roi,) * 3, 1.5)
    lesion = 45.0 + 60.0 * texture
    lesion[radius < 0.3] = -15.0 + 10.0 * texture[radius < 0.3]  # necrotic core
    lesion[texture > 2.4] = 550.0                                 # calcifications (> 400 HU)
    image[box][inside] = lesion[inside]
    image += rng.normal(0.0, 12.0, size=shape).astype(np.float32)  # quantum noise
    image = np.clip(np.round(image), -1024, 3071).astype(np.int16)
    mask = np.zeros(shape, np.uint8)
    mask[box][inside] = 1
    return image, mask, (1.0, 1.0, 1.0)


def write_nifti(path: Path, array: np.ndarray, spacing) -> None:
    """Write a ``(z, y, x)`` array with spacing ``(z, y, x)`` mm as NIfTI (x, y, z)."""
    import nibabel as nib

    affine = np.diag([float(spacing[2]), float(spacing[1]), float(spacing[0]), 1.0])
    nib.save(nib.Nifti1Image(np.ascontiguousarray(np.transpose(array, (2, 1, 0))), affine),
             str(path))


def read_nifti(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """A NIfTI file as a ``(z, y, x)`` array and its spacing ``(z, y, x)``, mm."""
    import nibabel as nib

    img = nib.load(str(path))
    zooms = [float(s) for s in img.header.get_zooms()[:3]]
    return np.transpose(np.asarray(img.dataobj), (2, 1, 0)), (zooms[2], zooms[1], zooms[0])


def warmup_crop(image: np.ndarray, mask: np.ndarray, edge: int = 12
                ) -> tuple[np.ndarray, np.ndarray]:
    """A small cube around the ROI's centre with a ball as mask, for the untimed warm-ups."""
    centre = np.round(np.argwhere(mask).mean(axis=0)).astype(int)
    lo = [int(np.clip(c - edge // 2, 0, n - edge)) for c, n in zip(centre, image.shape,
                                                                   strict=True)]
    crop = tuple(slice(a, a + edge) for a in lo)
    g = np.indices((edge,) * 3) - (edge - 1) / 2
    ball = (np.sqrt((g**2).sum(axis=0)) <= edge / 2 - 1).astype(np.uint8)
    return np.ascontiguousarray(image[crop]), ball


# --------------------------------------------------------------------------- radiomics
def time_medfuse(image, mask, spacing, settings, repeats: int, warmup=None
                 ) -> tuple[list[float], dict[str, float]]:
    """Seconds of each of ``repeats`` extractions and the features of the last one."""
    from medfuse.imaging.radiomics.features import extract

    if warmup is not None:
        extract(warmup[0], warmup[1], spacing, settings)
    seconds, features = [], {}
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        features = extract(image, mask, spacing, settings)
        seconds.append(time.perf_counter() - t0)
    return seconds, features


def mirp_worker(job_file: Path) -> None:
    """Run inside mirp's interpreter: extract ``repeats`` times, write times and features."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.INFO)
    job = json.loads(Path(job_file).read_text())
    from importlib.metadata import version

    from mirp import extract_features

    def run(image: str, mask: str) -> dict[str, float]:
        table = extract_features(image=image, mask=mask, export_features=True,
                                 write_features=False, **job["settings"])[0]
        row = table.iloc[0].to_dict()
        out = {}
        for name, value in row.items():
            if str(name).split("_")[0] in FAMILIES:
                try:
                    out[str(name)] = float(value)
                except (TypeError, ValueError):
                    continue
        return out

    if job.get("warmup"):
        run(*job["warmup"])
    seconds, features = [], {}
    for _ in range(max(1, int(job["repeats"]))):
        t0 = time.perf_counter()
        features = run(job["image"], job["mask"])
        seconds.append(time.perf_counter() - t0)
    Path(job["out"]).write_text(json.dumps({"seconds": seconds, "features": features,
                                            "version": version("mirp")}))


def run_mirp(mirp_python: str, image: Path, mask: Path, settings: dict, repeats: int,
             folder: Path, warmup: tuple[Path, Path] | None = None) -> dict:
    """Run :func:`mirp_worker` in ``mirp_python``; its result, or ``{"error": ...}``."""
    job = {"image": str(image), "mask": str(mask), "settings": settings, "repeats": repeats,
           "warmup": [str(p) for p in warmup] if warmup else None,
           "out": str(folder / "mirp_out.json")}
    job_file = folder / "mirp_job.json"
    job_file.write_text(json.dumps(job))
    res = subprocess.run([mirp_python, str(HERE), "--mirp-worker", str(job_file)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0 or not Path(job["out"]).exists():
        lines = (res.stderr or res.stdout or "failed").strip().splitlines()
        return {"error": lines[-1] if lines else "failed"}
    return json.loads(Path(job["out"]).read_text())


#: mirp's texture aggregation suffixes and medfuse's: features averaged over directions
#: (``avg``; per slice, then over slices, in 2D; 2.5D merges each direction's slices first)
#: or from the direction-merged matrices (``comb``: per slice in 2D, all at once otherwise).
_MIRP_AGGREGATIONS = (("_3d_v_mrg", "_3D_comb"), ("_3d_avg", "_3D_avg"), ("_3d", "_3D"),
                      ("_2d_s_mrg", "_2D_comb"), ("_2d_avg", "_2D_avg"), ("_2d", "_2D"),
                      ("_2.5d_v_mrg", "_2_5D_comb"), ("_2.5d_d_mrg", "_2_5D_avg"),
                      ("_2.5d", "_2_5D"))


def mirp_tag(name: str) -> str:
    """mirp's feature name as medfuse's IBSI tag (``cm_joint_max_d1_3d_avg`` ->
    ``cm_joint_max_3D_avg``, ``rlm_sre_3d_v_mrg`` -> ``rlm_sre_3D_comb``,
    ``cm_energy_d1_2d_s_mrg`` -> ``cm_energy_2D_comb``, ``rlm_sre_2.5d_d_mrg`` ->
    ``rlm_sre_2_5D_avg``, ``ngl_lde_d1_a0.0_3d_fbs_w25.0`` -> ``ngl_lde_3D``: the distance,
    the NGLDM coarseness and the discretisation are dropped as they are fixed here); other
    names are unchanged."""
    tag = re.sub(r"_(fbs|fbn|fbsp)_[a-z]+[0-9.]+$", "", name)  # discretisation suffix
    tag = re.sub(r"_d1(?=_)", "", tag)
    tag = re.sub(r"_a0\.0(?=_)", "", tag)
    for theirs, ours in _MIRP_AGGREGATIONS:
        if tag.endswith(theirs):
            return tag[: -len(theirs)] + ours
    return tag


def agree(a: float, b: float, rtol: float, atol: float = 1e-9) -> bool:
    """Whether two values agree within ``rtol`` of the larger magnitude (or ``atol``)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(rtol * max(abs(a), abs(b)), atol)


def compare(ours: dict[str, float], theirs: dict[str, float], rtol: float) -> dict:
    """Per family: features compared, agreeing, only in one; and the disagreements.

    ``theirs`` is keyed by mirp's names; only features of :data:`FAMILIES` count.
    """
    mapped = {mirp_tag(k): v for k, v in theirs.items()}
    rows, wrong = {}, []
    for family in FAMILIES:
        mine = {k for k in ours if k.startswith(family + "_")}
        other = {k for k in mapped if k.startswith(family + "_")}
        both = sorted(mine & other)
        ok = [t for t in both if agree(ours[t], mapped[t], rtol)]
        wrong += [(t, ours[t], mapped[t]) for t in both if t not in ok]
        rows[family] = {"compared": len(both), "agree": len(ok),
                        "only_medfuse": sorted(mine - other), "only_mirp": sorted(other - mine)}
    return {"families": rows, "disagree": wrong}


def agreement_lines(result: dict, rtol: float, title: str) -> list[str]:
    """The per-family agreement table and the list of disagreements."""
    lines = [f"{title}: features agreeing within a relative tolerance of {rtol:g} "
             "(of the larger magnitude; 1e-9 absolute near zero)",
             f"  {'family':8s} {'compared':>9s} {'agree':>7s} {'only medfuse':>13s} "
             f"{'only mirp':>10s}"]
    total = [0, 0]
    for family, row in result["families"].items():
        total[0] += row["compared"]
        total[1] += row["agree"]
        lines.append(f"  {family:8s} {row['compared']:9d} {row['agree']:7d} "
                     f"{len(row['only_medfuse']):13d} {len(row['only_mirp']):10d}")
    lines.append(f"  {'all':8s} {total[0]:9d} {total[1]:7d}")
    if result["disagree"]:
        lines.append(f"  disagreeing ({len(result['disagree'])}): tag, medfuse, mirp, "
                     "relative difference, cause found before")
        for tag, a, b in result["disagree"]:
            rel = abs(a - b) / max(abs(a), abs(b), 1e-300)
            lines.append(f"    {tag:26s} {a:15.8g} {b:15.8g} {rel:9.2e}  {known_cause(tag)}")
    only = sorted({t for r in result["families"].values() for t in r["only_medfuse"]})
    if only:
        lines.append(f"  computed by medfuse only: {', '.join(only)}")
    only = sorted({t for r in result["families"].values() for t in r["only_mirp"]})
    if only:
        lines.append(f"  computed by mirp only: {', '.join(only)}")
    return lines


def _stats(seconds: list[float]) -> tuple[float, float]:
    return min(seconds), statistics.median(seconds)


def radiomics_part(args, folder: Path, say) -> dict:
    """Time and compare the radiomics extraction; return the raw numbers."""
    shape = tuple(args.shape)
    t0 = time.perf_counter()
    image, mask, spacing = synthetic_ct(shape, args.roi, args.seed)
    say(f"Radiomics: synthetic CT {shape[2]} x {shape[1]} x {shape[0]} voxels (x, y, z) at "
        f"1 mm, ROI of {int(mask.sum())} voxels in a {args.roi}^3 box "
        f"(made in {time.perf_counter() - t0:.1f} s); re-segmentation [-1000, 400] HU, fixed "
        "bin size 25 HU, IVH bin size 2.5 HU, no interpolation, 3D texture; "
        f"{args.repeats} repeat(s)")
    warm = warmup_crop(image, mask)
    med_s, ours = time_medfuse(image, mask, spacing, ct_settings(), args.repeats, warm)
    out = {"medfuse": {"seconds": med_s, "n_features": len(ours)}, "mirp": None}
    theirs = None
    if args.mirp_python:
        paths = {name: folder / f"{name}.nii.gz" for name in ("image", "mask", "warm_image",
                                                             "warm_mask")}
        write_nifti(paths["image"], image, spacing)
        write_nifti(paths["mask"], mask, spacing)
        write_nifti(paths["warm_image"], warm[0], spacing)
        write_nifti(paths["warm_mask"], warm[1], spacing)
        res = run_mirp(args.mirp_python, paths["image"], paths["mask"], MIRP_CT,
                       args.repeats, folder, (paths["warm_image"], paths["warm_mask"]))
        out["mirp"] = res
        if "error" not in res:
            theirs = res["features"]
    base = _stats(med_s)
    say(f"\n  {'implementation':22s} {'features':>8s} {'min s':>9s} {'median s':>9s} "
        f"{'mirp/medfuse min':>17s} {'median':>7s}")
    say(f"  {'medfuse':22s} {len(ours):8d} {base[0]:9.2f} {base[1]:9.2f}")
    if theirs is None:
        why = (out["mirp"] or {}).get("error", "no --mirp-python given")
        say(f"  {'mirp':22s} {'skipped':>8s} ({why})")
    else:
        lo, mid = _stats(out["mirp"]["seconds"])
        name = f"mirp {out['mirp'].get('version', '')}".strip()
        say(f"  {name:22s} {len(theirs):8d} {lo:9.2f} {mid:9.2f} {lo / base[0]:16.1f}x "
            f"{mid / base[1]:6.1f}x")
        ratio = lo / base[0]
        say(f"  target: mirp / medfuse >= 3x; {'met' if ratio >= 3 else 'NOT met'} on the "
            f"minimum ({ratio:.1f}x)")
        result = compare(ours, theirs, args.rtol)
        out["agreement"] = result
        say("")
        for line in agreement_lines(result, args.rtol, "Agreement on the synthetic CT"):
            say(line)
    return out


def phantom_part(args, folder: Path, say) -> dict:
    """medfuse against mirp on the IBSI digital phantom (no timing)."""
    root = Path(args.phantom)
    image_path = root / "image" / "phantom.nii.gz"
    mask_path = root / "mask" / "mask.nii.gz"
    image, spacing = read_nifti(image_path)
    mask, _ = read_nifti(mask_path)
    from medfuse.imaging.radiomics.features import extract

    ours = extract(image.astype(float), mask, spacing, phantom_settings())
    res = run_mirp(args.mirp_python, image_path, mask_path, MIRP_PHANTOM, 1, folder)
    if "error" in res:
        say(f"IBSI digital phantom: mirp failed ({res['error']})")
        return {"error": res["error"]}
    result = compare(ours, res["features"], args.rtol)
    say("")
    for line in agreement_lines(result, args.rtol,
                                "Agreement on the IBSI digital phantom (grey levels as they are)"):
        say(line)
    return result


# ------------------------------------------------------------------------ registration
def random_rigid(rng: np.random.Generator, centre, max_degrees: float = 10.0,
                 max_mm: float = 10.0):
    """A rigid transform about ``centre`` (mm): rotations and shifts uniform in +- the
    limits."""
    import SimpleITK as sitk

    t = sitk.Euler3DTransform()
    t.SetCenter([float(c) for c in centre])
    angles = np.deg2rad(rng.uniform(-max_degrees, max_degrees, 3))
    t.SetRotation(*(float(a) for a in angles))
    t.SetTranslation([float(s) for s in rng.uniform(-max_mm, max_mm, 3)])
    return t


def make_pair(fixed, rng: np.random.Generator):
    """A moving image (the fixed one resampled by a random rigid transform, with fresh
    noise) and the true fixed-to-moving transform."""
    import SimpleITK as sitk

    size = np.asarray(fixed.GetSize(), dtype=float)
    centre = fixed.TransformContinuousIndexToPhysicalPoint([float(c) for c in (size - 1) / 2])
    warp = random_rigid(rng, centre)
    moving = sitk.Resample(fixed, fixed, warp, sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
    noise = rng.normal(0.0, 10.0, size=sitk.GetArrayViewFromImage(moving).shape)
    arr = sitk.GetArrayFromImage(moving) + noise.astype(np.float32)
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(moving)
    # moving(p) = fixed(warp(p)): the fixed-to-moving transform is warp's inverse
    return out, warp.GetInverse()


def corner_tre(fixed, estimate, truth) -> float:
    """Mean distance (mm) between the estimated and true images of the fixed image's 8
    corner-voxel centres."""
    size = fixed.GetSize()
    errors = []
    for corner in np.ndindex(2, 2, 2):
        index = [float(c * (n - 1)) for c, n in zip(corner, size, strict=True)]
        p = fixed.TransformContinuousIndexToPhysicalPoint(index)
        errors.append(np.linalg.norm(np.subtract(estimate.TransformPoint(p),
                                                 truth.TransformPoint(p))))
    return float(np.mean(errors))


def sitk_example(fixed, moving, seed: int, threads: int | None):
    """SimpleITK's registration-introduction settings (see the module docstring)."""
    import SimpleITK as sitk

    initial = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(),
        sitk.CenteredTransformInitializerFilter.GEOMETRY)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.01, seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsGradientDescent(learningRate=1.0, numberOfIterations=100,
                                         convergenceMinimumValue=1e-6,
                                         convergenceWindowSize=10)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(shrinkFactors=[4, 2, 1])
    method.SetSmoothingSigmasPerLevel(smoothingSigmas=[2, 1, 0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    if threads is not None:
        method.SetNumberOfThreads(threads)
    method.SetInitialTransform(initial, inPlace=False)
    return method.Execute(fixed, moving)


def registration_part(args, say) -> dict:
    """Time medfuse's ``register`` and the SimpleITK example on random rigid pairs."""
    import SimpleITK as sitk

    from medfuse.imaging.register import register

    shape = tuple(args.reg_shape or args.shape)
    image, _, spacing = synthetic_ct(shape, min(args.roi, min(shape) - 4), args.seed + 1)
    fixed = sitk.GetImageFromArray(image.astype(np.float32))
    fixed.SetSpacing([float(s) for s in spacing[::-1]])
    cores = os.cpu_count() or 1
    runs = {
        "medfuse register (defaults)":
            lambda f, m, s: register(f, m, seed=s, threads=args.threads).to_sitk(),
        "medfuse register, sampling 1 %":
            lambda f, m, s: register(f, m, seed=s, threads=args.threads,
                                     sampling=0.01).to_sitk(),
        f"SimpleITK example, {args.threads} thread(s)":
            lambda f, m, s: sitk_example(f, m, s, args.threads),
        f"SimpleITK example, default ({cores} threads)":
            lambda f, m, s: sitk_example(f, m, s, None),
    }
    rng = np.random.default_rng(args.seed + 2)
    pairs = [make_pair(fixed, rng) for _ in range(args.pairs)]
    say(f"\nRegistration: synthetic CT {shape[2]} x {shape[1]} x {shape[0]} voxels at 1 mm, "
        f"{args.pairs} pair(s) with random rigid transforms (+-10 degrees, +-10 mm); "
        f"medfuse with threads={args.threads}")
    out = {}
    for name, fn in runs.items():
        seconds, tre = [], []
        for k, (moving, truth) in enumerate(pairs):
            t0 = time.perf_counter()
            estimate = fn(fixed, moving, k + 1)
            seconds.append(time.perf_counter() - t0)
            tre.append(corner_tre(fixed, estimate, truth))
        out[name] = {"seconds": seconds, "tre_mm": tre}
    before = [corner_tre(fixed, sitk.Euler3DTransform(), truth) for _, truth in pairs]
    base = statistics.mean(out["medfuse register (defaults)"]["seconds"])
    say(f"  {'method':40s} {'mean s/pair':>11s} {'median s':>9s} {'mean TRE mm':>11s} "
        f"{'max TRE mm':>10s} {'time / medfuse defaults':>23s}")
    for name, res in out.items():
        mean = statistics.mean(res["seconds"])
        say(f"  {name:40s} {mean:11.2f} {statistics.median(res['seconds']):9.2f} "
            f"{statistics.mean(res['tre_mm']):11.3f} {max(res['tre_mm']):10.3f} "
            f"{mean / base:22.2f}x")
    say(f"  (corner TRE before registration, identity: mean {statistics.mean(before):.1f} mm)")
    out["tre_before_mm"] = before
    return out


# --------------------------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirp-python", help="python of a virtual environment with mirp")
    ap.add_argument("--repeats", type=int, default=3, help="timed radiomics extractions")
    ap.add_argument("--pairs", type=int, default=3, help="registration pairs")
    ap.add_argument("--shape", type=int, nargs=3, default=[128, 256, 256],
                    metavar=("Z", "Y", "X"), help="synthetic CT voxels (z, y, x)")
    ap.add_argument("--roi", type=int, default=64, help="edge of the ROI's box, voxels")
    ap.add_argument("--reg-shape", type=int, nargs=3, metavar=("Z", "Y", "X"),
                    help="registration volume (default: --shape)")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads of medfuse's register and of the like-for-like peer row")
    ap.add_argument("--rtol", type=float, default=1e-3, help="relative agreement tolerance")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--phantom", help="folder of the IBSI digital phantom's NIfTI files "
                    "(image/phantom.nii.gz, mask/mask.nii.gz): compare on it too (needs mirp)")
    ap.add_argument("--skip", choices=["radiomics", "registration"], action="append",
                    default=[], help="leave a part out")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 64 x 64 x 32 image, 16^3 ROI, 1 repeat, 1 pair")
    ap.add_argument("--out", type=Path, help="results folder (default "
                    "benchmarks/results/imaging-<date>; none with --quick)")
    ap.add_argument("--mirp-worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.shape, args.roi, args.repeats, args.pairs = [32, 64, 64], 16, 1, 1
        args.reg_shape = args.reg_shape or [32, 64, 64]
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.mirp_worker:
        mirp_worker(args.mirp_worker)
        return {}
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    say(f"medfuse imaging benchmark, {datetime.date.today()}; {os.cpu_count()} CPU cores, load "
        f"average {load:.1f} at the start{'; --quick' if args.quick else ''}\n")
    results: dict = {"args": {k: (str(v) if isinstance(v, Path) else v)
                              for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="imaging_bench_") as tmp:
        folder = Path(tmp)
        if "radiomics" not in args.skip:
            results["radiomics"] = radiomics_part(args, folder, say)
        if args.phantom and args.mirp_python:
            results["phantom"] = phantom_part(args, folder, say)
        elif args.phantom:
            say("\nIBSI digital phantom: skipped (needs --mirp-python)")
    if "registration" not in args.skip:
        results["registration"] = registration_part(args, say)
    out = args.out or (None if args.quick else
                       RESULTS / f"imaging-{datetime.date.today().isoformat()}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.txt").write_text("\n".join(lines) + "\n")
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
        print(f"\nwritten to {out}")
    return results


if __name__ == "__main__":
    main()
