"""Simulated nights of a wearer with and without nocturnal hypoglycaemia.

Three streams per night: ``cgm`` (interstitial glucose, mg/dL, every ``cgm_interval``
seconds), ``hr`` (heart rate, beats per minute, at ``hr_rate`` Hz) and ``acc``
(accelerometer magnitude without gravity, g, at ``acc_rate`` Hz).

The true (plasma) glucose is built at 1 s resolution: a per-night level plus an
Ornstein-Uhlenbeck wander, held at or above ``glucose_floor``; on an event night it is the
lower of that and a V-shaped dip that falls at ``fall_rate`` to ``nadir``, stays there
``hold`` seconds and recovers at ``rise_rate``. **Hypoglycaemia** is true glucose below
``threshold`` (70 mg/dL = 3.9 mmol/L, level 1 of the international consensus); its
**onset** is the first second at which true glucose is below the threshold. Nights
without an event never go below ``glucose_floor`` (> threshold).

The CGM reads interstitial glucose, a first-order lag of plasma glucose
(``dI/dt = (G - I) / cgm_lag``), plus Gaussian noise, at a random phase of its interval.
Heart rate is a per-night baseline plus noise, rising by ``hr_rise`` with a first-order
response (time constant ``hr_tau``) while glucose is below the threshold. The
accelerometer shows sensor noise, restlessness bouts (a Poisson number per hour) and, during
hypoglycaemia, a tremor at ``tremor_hz``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from medfuse.streams.data import Stream, StreamSet


@dataclass(frozen=True)
class NightParams:
    """Every parameter of :func:`simulate_nights` (units in the names' descriptions).

    Parameters
    ----------
    duration : float
        Length of a night in seconds (default 2 h, short for tests; 8 h is ``28800``).
    start : str
        ISO 8601 start of the first night, with offset; night ``k`` starts ``k`` days later.
    zone : str
        Zone recorded on the streams.
    hypo_fraction : float
        Fraction of nights with an event (rounded to a whole number of nights).
    glucose_mean, glucose_between_sd : float
        Mean and between-night SD of the night's glucose level, mg/dL.
    glucose_wander_sd, glucose_wander_tau : float
        Stationary SD (mg/dL) and time constant (s) of the within-night wander.
    glucose_floor : float
        Outside events glucose is held at or above this, mg/dL.
    threshold : float
        Hypoglycaemia threshold, mg/dL.
    nadir_range : tuple of float
        The event's nadir is drawn uniformly in this range, mg/dL.
    fall_rate, rise_rate : float
        Fall into and recovery from the event, mg/dL per minute.
    hold : float
        Seconds at the nadir.
    event_window : tuple of float
        The nadir starts uniformly within this fraction of the night.
    cgm_interval, cgm_lag, cgm_noise_sd : float
        CGM sampling interval (s), interstitial lag time constant (s), noise SD (mg/dL).
    hr_rate, hr_mean, hr_between_sd, hr_noise_sd, hr_rise, hr_tau : float
        Heart-rate sampling rate (Hz), mean and between-night SD of the baseline (bpm),
        per-sample noise SD (bpm), rise during events (bpm) and its time constant (s).
    acc_rate, acc_noise_sd : float
        Accelerometer sampling rate (Hz) and noise SD (g).
    tremor_hz, tremor_amplitude : float
        Tremor frequency (Hz, below ``acc_rate / 2``) and amplitude (g) during events.
    restless_per_hour, restless_seconds, restless_amplitude : float or tuple
        Restlessness bouts: mean number per hour, duration range (s), amplitude SD (g).
    """

    duration: float = 7200.0
    start: str = "2024-01-01T23:00:00+00:00"
    zone: str = "UTC"
    hypo_fraction: float = 0.5
    glucose_mean: float = 120.0
    glucose_between_sd: float = 12.0
    glucose_wander_sd: float = 8.0
    glucose_wander_tau: float = 3600.0
    glucose_floor: float = 80.0
    threshold: float = 70.0
    nadir_range: tuple[float, float] = (45.0, 60.0)
    fall_rate: float = 2.0
    rise_rate: float = 3.0
    hold: float = 900.0
    event_window: tuple[float, float] = (0.35, 0.65)
    cgm_interval: float = 300.0
    cgm_lag: float = 600.0
    cgm_noise_sd: float = 4.0
    hr_rate: float = 1.0
    hr_mean: float = 60.0
    hr_between_sd: float = 5.0
    hr_noise_sd: float = 2.0
    hr_rise: float = 20.0
    hr_tau: float = 120.0
    acc_rate: float = 10.0
    acc_noise_sd: float = 0.01
    tremor_hz: float = 4.0
    tremor_amplitude: float = 0.05
    restless_per_hour: float = 3.0
    restless_seconds: tuple[float, float] = (10.0, 60.0)
    restless_amplitude: float = 0.3


@dataclass
class SimulatedNights:
    """What :func:`simulate_nights` returns.

    Parameters
    ----------
    streams : StreamSet
        ``cgm``, ``hr`` and ``acc`` for every night.
    onsets : Series
        Night -> onset in seconds since the epoch (NaN: no event).
    glucose : dict of str to tuple of ndarray
        Night -> (times, true plasma glucose in mg/dL), at 1 s.
    params : NightParams
        The parameters used.
    """

    streams: StreamSet
    onsets: pd.Series
    glucose: dict = field(default_factory=dict)
    params: NightParams = field(default_factory=NightParams)


def _ar1(rng: np.random.Generator, n: int, sd: float, tau: float) -> np.ndarray:
    """A stationary first-order autoregression at 1 s steps (an OU process)."""
    phi = np.exp(-1.0 / tau)
    e = rng.normal(0.0, sd * np.sqrt(1 - phi ** 2), n)
    return lfilter([1.0], [1.0, -phi], e, zi=[phi * rng.normal(0.0, sd)])[0]


def _lag(x: np.ndarray, tau: float) -> np.ndarray:
    """First-order lag ``dy/dt = (x - y) / tau`` at 1 s steps, starting at ``x[0]``."""
    a = np.exp(-1.0 / tau)
    return lfilter([1 - a], [1.0, -a], x, zi=[a * x[0]])[0]


def _night(rng: np.random.Generator, p: NightParams, t0: float, event: bool):
    n = int(p.duration)
    sec = np.arange(n, dtype=float)
    level = rng.normal(p.glucose_mean, p.glucose_between_sd)
    glucose = np.maximum(level + _ar1(rng, n, p.glucose_wander_sd, p.glucose_wander_tau),
                         p.glucose_floor)
    onset = np.nan
    if event:
        t_n = rng.uniform(*p.event_window) * p.duration
        nadir = rng.uniform(*p.nadir_range)
        dip = np.where(sec < t_n, nadir + p.fall_rate / 60 * (t_n - sec),
                       np.where(sec < t_n + p.hold, nadir,
                                nadir + p.rise_rate / 60 * (sec - t_n - p.hold)))
        glucose = np.minimum(glucose, dip)
        onset = t0 + float(np.flatnonzero(glucose < p.threshold)[0])
    low = (glucose < p.threshold).astype(float)
    interstitial = _lag(glucose, p.cgm_lag)

    phase = rng.uniform(0, p.cgm_interval)
    t_cgm = np.arange(phase, p.duration - 1, p.cgm_interval)
    cgm = np.interp(t_cgm, sec, interstitial) + rng.normal(0, p.cgm_noise_sd, len(t_cgm))

    t_hr = np.arange(0.0, p.duration - 1, 1.0 / p.hr_rate)
    rise = p.hr_rise * np.interp(t_hr, sec, _lag(low, p.hr_tau))
    hr = (rng.normal(p.hr_mean, p.hr_between_sd) + rise
          + rng.normal(0, p.hr_noise_sd, len(t_hr)))

    t_acc = np.arange(0.0, p.duration - 1, 1.0 / p.acc_rate)
    motion = rng.normal(0, p.acc_noise_sd, len(t_acc))
    motion += (np.interp(t_acc, sec, low) * p.tremor_amplitude
               * np.sin(2 * np.pi * p.tremor_hz * t_acc + rng.uniform(0, 2 * np.pi)))
    for _ in range(rng.poisson(p.restless_per_hour * p.duration / 3600)):
        begin = rng.uniform(0, p.duration)
        inside = (t_acc >= begin) & (t_acc < begin + rng.uniform(*p.restless_seconds))
        motion[inside] += rng.normal(0, p.restless_amplitude, int(inside.sum()))
    streams = {
        "cgm": Stream(t0 + t_cgm, cgm, ("glucose",), ("mg/dL",), p.zone, p.cgm_interval),
        "hr": Stream(t0 + t_hr, hr, ("hr",), ("bpm",), p.zone, 1.0 / p.hr_rate),
        "acc": Stream(t0 + t_acc, np.abs(motion), ("acc",), ("g",), p.zone, 1.0 / p.acc_rate),
    }
    return streams, onset, (t0 + sec, glucose)


def simulate_nights(n_nights: int = 4, params: NightParams | None = None,
                    random_state: int | None = 0, **overrides) -> SimulatedNights:
    """Simulate nights with and without hypoglycaemia (see the module doc).

    Parameters
    ----------
    n_nights : int
        Number of nights (``night0``, ``night1`` ...).
    params : NightParams, optional
        All parameters (default :class:`NightParams`).
    random_state : int, optional
        Seed; the same seed gives the same nights.
    **overrides
        Fields of :class:`NightParams` to change (e.g. ``duration=28800``).

    Returns
    -------
    SimulatedNights
    """
    p = NightParams(**{**asdict(params or NightParams()), **overrides})
    if not 0 < p.tremor_hz < p.acc_rate / 2:
        raise ValueError(f"tremor_hz ({p.tremor_hz}) must be below half of acc_rate "
                         f"({p.acc_rate}).")
    rng = np.random.default_rng(random_state)
    n_events = round(n_nights * p.hypo_fraction)
    events = np.zeros(n_nights, dtype=bool)
    events[rng.permutation(n_nights)[:n_events]] = True
    first = pd.Timestamp(p.start).tz_convert("UTC").value / 1e9
    nights = [f"night{k}" for k in range(n_nights)]
    out: dict[str, dict[str, Stream]] = {"cgm": {}, "hr": {}, "acc": {}}
    onsets, truth = {}, {}
    for k, night in enumerate(nights):
        streams, onsets[night], truth[night] = _night(rng, p, first + 86400.0 * k,
                                                      bool(events[k]))
        for name, s in streams.items():
            out[name][night] = s
    return SimulatedNights(StreamSet(out, nights), pd.Series(onsets, name="onset"), truth, p)
