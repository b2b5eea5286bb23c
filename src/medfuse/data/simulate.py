"""A seeded simulator of multi-modal cohorts with known answers.

Each subject has one latent factor per modality, ``u_m ~ N(0, 1)``. Features are generated
from it by each modality's own data-generating process, and the outcome depends on every
modality alone (``effects``) and on a cross-modal interaction (``interaction`` times
``u_a * u_b`` for ``interaction_pair``), which additive (late) fusion cannot represent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.special import expit, ndtr

from medfuse.data.modality import MeasurementScale, Modality
from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.data.ragged import RaggedBlock
from medfuse.data.simulate_images import simulate_lesion_images

TABULAR = ("rna", "imaging", "clinical")
IMAGE_MODELS = ("pattern", "lesion")
#: volume shape (z, y, x) of ``image_model="lesion"`` when ``image_shape`` is not given
LESION_SHAPE = (24, 24, 24)
#: voxel size (mm, z, y, x) of the lesion images
LESION_SPACING = (2.0, 1.0, 1.0)
DEFAULT_EFFECTS = {"rna": 1.0, "imaging": 1.0, "clinical": 0.5, "image": 1.0,
                   "timeseries": 1.0}


def make_cohort(
    n_subjects: int = 300,
    *,
    task: str = "binary",
    n_classes: int = 3,
    effects: Mapping[str, float] | None = None,
    interaction: float = 1.0,
    interaction_pair: Sequence[str] = ("rna", "imaging"),
    n_genes: int = 200,
    n_informative_genes: int = 20,
    dispersion: float = 0.1,
    library_size: float = 2e5,
    n_imaging: int = 60,
    n_informative_imaging: int = 10,
    spatial_correlation: float = 0.6,
    n_noise_modalities: int = 0,
    n_noise_features: int = 50,
    image_shape: Sequence[int] | None = None,
    image_model: str = "pattern",
    series_shape: Sequence[int] | None = None,
    n_batches: int = 2,
    batch_effect: float = 1.0,
    confounding: float = 0.0,
    missing: Mapping[str, float] | None = None,
    missing_mechanism: str = "MCAR",
    missing_strength: float = 2.0,
    latent_correlation: float = 0.0,
    random_state: int | None = None,
) -> MultiModalData:
    """Simulate a cohort whose answers are known.

    Parameters
    ----------
    n_subjects : int
        Number of subjects (IDs ``S0000`` ...).
    task : {"binary", "multiclass", "survival"}
        Binary: ``P(label = 1) = sigmoid(eta)``. Multiclass: ``n_classes`` classes drawn from a
        softmax over class-specific mixtures of the latent factors. Survival: exponential event
        times with hazard ``0.1 * exp(eta)`` per year and uniform censoring; obs columns
        ``time`` (years) and ``event``.
    n_classes : int
        Number of classes for ``multiclass``.
    effects : mapping modality -> float
        Log-odds per standard deviation of each modality's latent factor (0 makes the modality
        uninformative). Defaults: rna 1.0, imaging 1.0, clinical 0.5, image 1.0,
        timeseries 1.0. Unlisted modalities keep the default.
    interaction : float
        Log-odds coefficient of ``u_a * u_b`` for the two modalities of ``interaction_pair``.
    interaction_pair : pair of modality names
        Which modalities interact.
    n_genes, n_informative_genes : int
        RNA-seq genes; the informative ones have log-mean ``mu_g + l_g * u_rna`` with
        ``|l_g|`` in [0.5, 1].
    dispersion : float
        Median negative-binomial dispersion ``phi`` (Var = mean + phi * mean^2); gene-wise
        dispersions are log-normal around it.
    library_size : float
        Median total counts per subject; per-subject size factors are log-normal (sd 0.3).
    n_imaging, n_informative_imaging : int
        Radiomics-like continuous features; noise is spatially correlated, AR(1) along the
        feature order with correlation ``spatial_correlation`` between neighbours.
    spatial_correlation : float
        Correlation of neighbouring imaging features' noise, in [0, 1).
    n_noise_modalities, n_noise_features : int
        Extra ``continuous`` modalities ``noise1``, ``noise2`` ... of pure N(0, 1) noise.
    image_shape : (H, W) or (H, W, D), optional
        Adds an ``image`` modality of this shape (see ``image_model``).
    image_model : {"pattern", "lesion"}
        What the ``image`` modality holds. ``"pattern"`` (default; only with
        ``image_shape``): a dense N x 1 x H x W [x D] array of a smooth Gaussian random field
        plus a central blob whose intensity is ``u_image``. ``"lesion"`` (always adds the
        modality; ``image_shape`` is then a 3D (Z, Y, X) shape, default (24, 24, 24)): a
        :class:`~medfuse.data.RaggedBlock` of 1 x Z x Y x X volumes of 2 x 1 x 1 mm voxels
        with a ``mask`` field (the lesion) and metadata ``spacing``, ``fwhm`` and ``site``,
        drawn by :func:`medfuse.data.simulate_images.simulate_lesion_images` with the grade
        ``Phi(u_image)`` (the normal CDF of the latent factor, in (0, 1)) in place of the
        outcome: lesions of subjects with a high ``u_image`` are more heterogeneous. The
        sites are the ``batch`` sites; with ``b = batch_effect`` each site draws an isotropic
        point-spread FWHM of ``2 exp(N(0, 0.3 b))`` mm, an intensity scale ``exp(N(0,
        0.2 b))``, an offset ``N(0, 0.2 b)`` and a noise sd ``0.05 exp(N(0, 0.5 b))``
        (``uns["truth"]["sites"]``).
    series_shape : (C, T), optional
        Adds a ``timeseries`` modality (N x C x T): sinusoids whose amplitude follows
        ``u_timeseries``, plus AR(1) noise.
    n_batches : int
        Number of sites/scanners (obs column ``batch``: ``site0`` ...).
    batch_effect : float
        Strength of site effects: per-gene multiplicative count factors
        ``exp(N(0, 0.3 b))``; per-feature imaging location ``N(0, b)`` and scale
        ``exp(N(0, 0.3 b))``; the acquisition of lesion images (``image_model``). 0 gives no
        batch effect.
    confounding : float in [0, 1]
        Share of subjects whose batch is set by their outcome (``label mod n_batches``)
        instead of at random; 1 confounds batch with outcome completely.
    missing : mapping modality -> rate
        Target fraction of subjects missing each modality.
    missing_mechanism : {"MCAR", "MAR", "MNAR"}
        MCAR: missing at random with the given rate. MAR: ``logit P(missing) = a + s *
        z(age)``, where age is the observed clinical variable (clinical cannot then be
        missing). MNAR: ``logit P(missing) = a + s * u_m``, the modality's own unobserved
        latent value. ``a`` is solved so that the expected rate is the target; ``s`` is
        ``missing_strength``. A subject left with no modality gets one back at random.
    missing_strength : float
        ``s`` of the MAR and MNAR mechanisms: the change in log-odds of being missing per
        standard deviation of age (MAR) or of the modality's latent value (MNAR).
    latent_correlation : float in [0, 1)
        Correlation ``rho`` of every pair of modalities' latent factors: each is
        ``sqrt(1 - rho) e_m + sqrt(rho) s`` with one shared factor ``s`` (all N(0, 1)), so
        what one modality measures can be partly predicted from another (the setting in
        which imputation from other modalities and cross-modal learning can help). 0, the
        default, draws independent factors exactly as before.
    random_state : int, optional
        Seed; the same seed gives the same cohort.

    Returns
    -------
    MultiModalData
        Modalities ``rna`` (counts), ``imaging`` (continuous), ``clinical`` (clinical: age,
        bmi [ratio], temperature [interval], stage [ordinal], sex and smoking [nominal]) and any
        optional ones (``image``, ``timeseries``, ``noise1`` ...); obs with ``label`` (or
        ``time``/``event``), ``batch`` and ``age``; ``uns["truth"]`` with the latent factors,
        informative features, per-modality missing probabilities, the settings and, for
        lesion images, the site parameters (``sites``: one row per site, columns
        ``fwhm_mm``, ``scale``, ``offset``, ``noise_sd``).
    """
    if task not in ("binary", "multiclass", "survival"):
        raise ValueError(f"task must be 'binary', 'multiclass' or 'survival', got {task!r}")
    if missing_mechanism not in ("MCAR", "MAR", "MNAR"):
        raise ValueError(f"missing_mechanism must be MCAR, MAR or MNAR, got "
                         f"{missing_mechanism!r}")
    if not 0 <= confounding <= 1:
        raise ValueError("confounding must be in [0, 1]")
    if image_model not in IMAGE_MODELS:
        raise ValueError(f"image_model must be 'pattern' or 'lesion', got {image_model!r}")
    if image_model == "lesion":
        image_shape = LESION_SHAPE if image_shape is None else tuple(image_shape)
        if len(image_shape) != 3:
            raise ValueError(f"image_model='lesion' needs a 3D image_shape (Z, Y, X), got "
                             f"{image_shape}")
    rng = np.random.default_rng(random_state)
    n = n_subjects
    ids = pd.Index([f"S{i:04d}" for i in range(n)], name="subject")

    names = list(TABULAR) + [f"noise{k + 1}" for k in range(n_noise_modalities)]
    if image_shape is not None:
        names.append("image")
    if series_shape is not None:
        names.append("timeseries")
    for m in interaction_pair:
        if m not in names:
            raise ValueError(f"interaction_pair names {m!r}, which is not simulated ({names}).")
    eff = {m: float(DEFAULT_EFFECTS.get(m, 0.0)) for m in names}
    for m, v in (effects or {}).items():
        if m not in eff:
            raise ValueError(f"effects names {m!r}, which is not simulated ({names}).")
        eff[m] = float(v)
    latent = pd.DataFrame(rng.standard_normal((n, len(names))), index=ids, columns=names)
    if not 0.0 <= latent_correlation < 1.0:
        raise ValueError(f"latent_correlation must be in [0, 1), got {latent_correlation}")
    if latent_correlation > 0:
        shared = rng.standard_normal((n, 1))
        latent = np.sqrt(1 - latent_correlation) * latent + np.sqrt(latent_correlation) * shared
    a, b = interaction_pair
    inter = latent[a].to_numpy() * latent[b].to_numpy()

    obs = pd.DataFrame(index=ids)
    if task == "multiclass":
        directions = rng.standard_normal((n_classes, len(names)))
        directions /= np.linalg.norm(directions, axis=0, keepdims=True)
        weights = np.array([eff[m] for m in names])
        scores = (latent.to_numpy() * weights) @ directions.T * np.sqrt(n_classes)
        scores += interaction * inter[:, None] * np.linspace(-1, 1, n_classes)
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        label = np.array([rng.choice(n_classes, p=row) for row in p])
        obs["label"] = label
    else:
        eta = sum(eff[m] * latent[m].to_numpy() for m in names) + interaction * inter
        if task == "binary":
            label = rng.binomial(1, expit(eta))
            obs["label"] = label
        else:
            event_time = rng.exponential(1.0 / (0.1 * np.exp(eta)))
            censor_time = rng.uniform(2.0, 15.0, size=n)
            obs["time"] = np.minimum(event_time, censor_time)
            obs["event"] = event_time <= censor_time
            label = obs["event"].to_numpy().astype(int)

    random_batch = rng.integers(0, n_batches, size=n)
    confounded = rng.random(n) < confounding
    batch = np.where(confounded, label % n_batches, random_batch)
    obs["batch"] = pd.Categorical([f"site{k}" for k in batch],
                                  categories=[f"site{k}" for k in range(n_batches)])

    blocks: dict = {}
    specs: dict = {}
    truth_features: dict[str, list[str]] = {}

    # RNA-seq counts: negative binomial with size factors and gene-wise dispersion.
    genes = [f"gene{g:04d}" for g in range(n_genes)]
    log_mu = rng.normal(np.log(library_size / n_genes), 1.2, size=n_genes)
    loadings = np.zeros(n_genes)
    inf_genes = rng.choice(n_genes, size=min(n_informative_genes, n_genes), replace=False)
    loadings[inf_genes] = rng.choice([-1, 1], size=len(inf_genes)) * rng.uniform(0.5, 1.0,
                                                                             len(inf_genes))
    phi = dispersion * np.exp(rng.normal(0, 0.5, size=n_genes))
    size_factor = np.exp(rng.normal(0, 0.3, size=n))
    gene_batch = np.exp(rng.normal(0, 0.3 * batch_effect, size=(n_batches, n_genes)))
    mean = (size_factor[:, None] * np.exp(log_mu + np.outer(latent["rna"], loadings))
            * gene_batch[batch])
    r = 1.0 / phi
    counts = rng.negative_binomial(r, r / (r + mean))
    blocks["rna"] = pd.DataFrame(counts, index=ids, columns=genes)
    specs["rna"] = Modality("counts")
    truth_features["rna"] = [genes[g] for g in sorted(inf_genes)]

    # Imaging/radiomics: signal + spatially correlated noise, site location/scale effects.
    feats = [f"radiomic{j:03d}" for j in range(n_imaging)]
    img_load = np.zeros(n_imaging)
    inf_img = rng.choice(n_imaging, size=min(n_informative_imaging, n_imaging), replace=False)
    img_load[inf_img] = rng.choice([-1, 1], size=len(inf_img)) * rng.uniform(0.7, 1.2,
                                                                            len(inf_img))
    noise = np.empty((n, n_imaging))
    noise[:, 0] = rng.standard_normal(n)
    innov = np.sqrt(1 - spatial_correlation**2)
    for j in range(1, n_imaging):
        noise[:, j] = spatial_correlation * noise[:, j - 1] + innov * rng.standard_normal(n)
    loc = rng.normal(0, batch_effect, size=(n_batches, n_imaging))
    scale = np.exp(rng.normal(0, 0.3 * batch_effect, size=(n_batches, n_imaging)))
    imaging = np.outer(latent["imaging"], img_load) + noise
    imaging = loc[batch] + scale[batch] * imaging
    blocks["imaging"] = pd.DataFrame(imaging, index=ids, columns=feats)
    specs["imaging"] = Modality("continuous")
    truth_features["imaging"] = [feats[j] for j in sorted(inf_img)]

    # Clinical variables on all four measurement scales.
    u = latent["clinical"].to_numpy()
    age = np.round(60 + 6 * u + rng.normal(0, 6, n), 1)
    bmi = np.round(np.exp(np.log(26) + 0.08 * u + rng.normal(0, 0.1, n)), 1)
    temperature = np.round(rng.normal(36.8, 0.3, n), 1)
    stage_score = u + rng.normal(0, 0.6, n)
    stage = pd.Categorical(np.array(["I", "II", "III", "IV"])[
        np.digitize(stage_score, [-0.8, 0.2, 1.0])], categories=["I", "II", "III", "IV"],
        ordered=True)
    sex = pd.Categorical(rng.choice(["female", "male"], size=n))
    smoking = pd.Categorical(np.where(rng.random(n) < expit(u - 0.5), "current",
                                      rng.choice(["never", "former"], size=n)),
                             categories=["never", "former", "current"])
    blocks["clinical"] = pd.DataFrame({"age": age, "bmi": bmi, "temperature": temperature,
                                       "stage": stage, "sex": sex, "smoking": smoking},
                                      index=ids)
    specs["clinical"] = Modality("clinical", scales={
        "age": MeasurementScale.RATIO, "bmi": MeasurementScale.RATIO,
        "temperature": MeasurementScale.INTERVAL, "stage": MeasurementScale.ORDINAL,
        "sex": MeasurementScale.NOMINAL, "smoking": MeasurementScale.NOMINAL})
    truth_features["clinical"] = ["age", "bmi", "stage", "smoking"]
    obs["age"] = age

    for k in range(n_noise_modalities):
        name = f"noise{k + 1}"
        blocks[name] = pd.DataFrame(rng.standard_normal((n, n_noise_features)), index=ids,
                                    columns=[f"{name}_{j:03d}" for j in range(n_noise_features)])
        specs[name] = Modality("continuous")
        truth_features[name] = []

    sites = None
    if image_shape is not None and image_model == "lesion":
        blocks["image"], sites = _lesion_images(ids, latent["image"].to_numpy(), batch,
                                                n_batches, batch_effect,
                                                tuple(image_shape), rng)
        specs["image"] = Modality("image")
    elif image_shape is not None:
        blocks["image"] = (list(ids), _simulate_images(latent["image"].to_numpy(),
                                                       tuple(image_shape), rng))
        specs["image"] = Modality("image")
    if series_shape is not None:
        blocks["timeseries"] = (list(ids), _simulate_series(latent["timeseries"].to_numpy(),
                                                            tuple(series_shape), rng))
        specs["timeseries"] = Modality("timeseries")

    missing_prob = _missingness(missing or {}, missing_mechanism, missing_strength, names,
                                latent, age, rng)
    present = pd.DataFrame(True, index=ids, columns=names)
    for m, prob in missing_prob.items():
        present[m] = rng.random(n) >= prob
    empty = ~present.any(axis=1)
    for i in np.flatnonzero(empty.to_numpy()):
        present.iloc[i, rng.integers(len(names))] = True
    for m in names:
        keep = present[m].to_numpy()
        if isinstance(blocks[m], tuple):
            blocks[m] = (list(ids[keep]), blocks[m][1][keep])
        elif isinstance(blocks[m], RaggedBlock):
            blocks[m] = blocks[m].take(keep)
        else:
            blocks[m] = blocks[m].loc[keep]

    obs.attrs = {}
    truth = {
        "latent": latent,
        "informative_features": truth_features,
        "effects": eff,
        "interaction": float(interaction),
        "interaction_pair": (a, b),
        "missing_probability": pd.DataFrame(missing_prob, index=ids),
        "missing_mechanism": missing_mechanism,
        "batch_confounded": confounded,
        "task": task,
    }
    if sites is not None:
        truth["sites"] = sites
    outcome = None if task == "survival" else "label"
    return MultiModalData(blocks, obs=obs, modalities=specs, outcome=outcome,
                          uns={"truth": truth})


def _missingness(rates: Mapping[str, float], mechanism: str, strength: float,
                 names: list[str], latent: pd.DataFrame, age: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-subject probability of missing each modality, calibrated to the target rates."""
    out: dict[str, np.ndarray] = {}
    z_age = (age - age.mean()) / age.std()
    for m, rate in rates.items():
        if m not in names:
            raise DataValidationError(f"missing names {m!r}, which is not simulated ({names}).")
        if not 0 <= rate < 1:
            raise ValueError(f"missing rate for {m!r} must be in [0, 1), got {rate}")
        if mechanism == "MCAR" or rate == 0:
            out[m] = np.full(len(age), float(rate))
            continue
        if mechanism == "MAR":
            if m == "clinical":
                raise ValueError("Under MAR the clinical modality drives missingness and "
                                 "cannot itself be missing.")
            driver = z_age
        else:
            driver = latent[m].to_numpy()
        out[m] = expit(_solve_intercept(strength * driver, rate) + strength * driver)
    return out


def _solve_intercept(linear: np.ndarray, rate: float) -> float:
    """Intercept a with mean(sigmoid(a + linear)) == rate (bisection)."""
    lo, hi = -30.0, 30.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if expit(mid + linear).mean() < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _simulate_images(u: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator
                     ) -> np.ndarray:
    """N x 1 x shape images: smooth random background plus a central Gaussian blob of
    intensity ``u``."""
    if len(shape) not in (2, 3):
        raise ValueError(f"image_shape must be (H, W) or (H, W, D), got {shape}")
    grids = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    blob = np.exp(-sum(g**2 for g in grids) / (2 * 0.25**2)).astype(np.float32)
    out = np.empty((len(u), 1, *shape), dtype=np.float32)
    sigma = max(1.0, min(shape) / 8)
    for i in range(len(u)):
        field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
        field /= field.std() + 1e-8
        out[i, 0] = 0.5 * field + 1.5 * u[i] * blob
    return out


def _lesion_images(ids: pd.Index, u: np.ndarray, batch: np.ndarray, n_batches: int,
                   batch_effect: float, shape: tuple[int, ...], rng: np.random.Generator
                   ) -> tuple[RaggedBlock, pd.DataFrame]:
    """Lesion volumes whose texture grade is ``Phi(u)``, acquired at each subject's batch
    site, and the drawn site parameters (one row per site)."""
    b = batch_effect
    labels = [f"site{k}" for k in range(n_batches)]
    sites = pd.DataFrame({
        "fwhm_mm": 2.0 * np.exp(rng.normal(0, 0.3 * b, n_batches)),
        "scale": np.exp(rng.normal(0, 0.2 * b, n_batches)),
        "offset": rng.normal(0, 0.2 * b, n_batches),
        "noise_sd": 0.05 * np.exp(rng.normal(0, 0.5 * b, n_batches)),
    }, index=pd.Index(labels, name="site"))
    block = simulate_lesion_images(
        ndtr(u), batch, shape=shape, spacing=LESION_SPACING,
        site_fwhm_mm=sites["fwhm_mm"].tolist(), site_scale=sites["scale"].tolist(),
        site_offset=sites["offset"].tolist(), site_noise=sites["noise_sd"].tolist(),
        ids=list(ids), site_labels=labels, random_state=rng)
    return block, sites


def _simulate_series(u: np.ndarray, shape: tuple[int, int], rng: np.random.Generator
                     ) -> np.ndarray:
    """N x C x T series: channel sinusoids with amplitude ``1 + 0.5 u`` plus AR(1) noise."""
    n_channels, length = shape
    t = np.linspace(0, 4 * np.pi, length)
    phase = rng.uniform(0, 2 * np.pi, size=n_channels)
    base = np.sin(t[None, :] + phase[:, None])
    out = np.empty((len(u), n_channels, length))
    noise = rng.standard_normal((len(u), n_channels, length))
    for k in range(1, length):
        noise[:, :, k] = 0.7 * noise[:, :, k - 1] + 0.71 * noise[:, :, k]
    out[:] = (1 + 0.5 * u)[:, None, None] * base[None] + 0.5 * noise
    return out
