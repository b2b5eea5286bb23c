"""Detection of nocturnal hypoglycaemia under a latency budget: the four fusion designs of
:mod:`medfuse.streams.designs` on simulated nights, and the replay latency per update.

Part 1, per seed: ``--nights`` simulated nights of ``--hours`` hours (the simulator's
documented defaults otherwise; half the nights with an event), each night its own subject,
``--folds``-fold cross-validation split by subject (:func:`cross_validate_detection`).
Printed: per design, the pooled event metrics of each seed (sensitivity within the budget,
median and p90 latency, missed events, false alarms per night, time in alarm), then the
mean and SD over seeds. The claim checked: hybrid detects at least 90 % of events within
the budget with at most 1 false alarm per night; early fusion misses the budget for most.

Part 2: a hybrid fitted on the nights of the first seed replays a 24-hour night (86,400
heart-rate samples, 864,000 accelerometer samples, 288 CGM readings) one sample at a time;
printed: p50 and p99 of the time per update (every sample) and per decision update (a
sample that released a fast decision), in ms. ``--replay-hours`` replays only the first
hours of the 24-hour night (the windows are full after 30 minutes, so the per-update
distribution is that of the whole night).

Part 3: an alert timeline figure for a few held-out nights (``--figure``).

    python benchmarks/streams.py [--seeds 0,1,2] [--nights 18] [--hours 8] [--folds 3]
        [--budget 60] [--inner-folds 0] [--replay-hours 24] [--figure out.png]

Fits and replay run with one thread (``threadpoolctl``) so that a shared machine does not
skew them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from medfuse.streams import (
    Stream,
    StreamSet,
    cross_validate_detection,
    events_from_glucose,
    latency_summary,
    make_detector,
    replay,
    simulate_nights,
)

DESIGNS = ("early", "fast-only", "slow-only", "hybrid")


def pooled(latencies: pd.DataFrame, table: pd.DataFrame, budget: float) -> pd.DataFrame:
    """Event metrics per design, pooled over folds (events and nights)."""
    rows = []
    for design, lat in latencies.groupby("design", sort=False):
        s = latency_summary(lat["latency"].to_numpy(float), budget)
        t = table[table["design"] == design]
        rows.append({"design": design, "events": s["events"],
                     "sensitivity": s["sensitivity"], "median_s": s["median"],
                     "p90_s": s["p90"], "missed": s["missed"],
                     "fa_per_night": np.nan, "time_in_alarm": t["time_in_alarm"].mean(),
                     "_t": t})
    return pd.DataFrame(rows)


def part1(args) -> tuple[pd.DataFrame, dict]:
    per_seed, keep = [], {}
    for seed in args.seeds:
        sim = simulate_nights(args.nights, duration=args.hours * 3600.0, random_state=seed)
        events = events_from_glucose(sim.onsets, sim.glucose)
        t0 = time.perf_counter()
        table, latencies = cross_validate_detection(sim.streams, events, DESIGNS,
                                                    folds=args.folds, seed=seed,
                                                    budget=args.budget,
                                                    inner_folds=args.inner_folds)
        took = time.perf_counter() - t0
        res = pooled(latencies, table, args.budget)
        for k, row in res.iterrows():  # pooled over folds: false alarms / nights
            res.loc[k, "fa_per_night"] = row["_t"]["false_alarms"].sum() / row["_t"][
                "nights"].sum()
        res = res.drop(columns="_t").assign(seed=seed)
        print(f"\nseed {seed}: {args.nights} nights of {args.hours:g} h, "
              f"{int(events['onset'].notna().sum())} events, {args.folds} folds "
              f"by subject ({took:.0f} s)")
        print(res.drop(columns="seed").round(3).to_string(index=False))
        per_seed.append(res)
        keep[seed] = (sim, events)
    return pd.concat(per_seed, ignore_index=True), keep


def summary(all_seeds: pd.DataFrame, budget: float) -> None:
    cols = ["sensitivity", "median_s", "p90_s", "missed", "fa_per_night", "time_in_alarm"]
    grouped = all_seeds.groupby("design", sort=False)[cols]
    mean, sd = grouped.mean(), grouped.std(ddof=1)
    print(f"\nmean (sd) over {all_seeds['seed'].nunique()} seeds; budget {budget:g} s")
    out = pd.DataFrame({c: [f"{mean.loc[d, c]:.3g} ({sd.loc[d, c]:.2g})" for d in mean.index]
                        for c in cols}, index=mean.index)
    print(out.to_string())
    h, e = mean.loc["hybrid"], mean.loc["early"]
    ok = h["sensitivity"] >= 0.9 and h["fa_per_night"] <= 1.0
    print(f"\nhybrid: {h['sensitivity']:.1%} of events within {budget:g} s, "
          f"{h['fa_per_night']:.2f} false alarms per night -> claim "
          f"(>= 90 %, <= 1) {'MET' if ok else 'NOT MET'}")
    print(f"early fusion: misses the budget for {1 - e['sensitivity']:.1%} of events -> "
          f"claim (most) {'MET' if e['sensitivity'] < 0.5 else 'NOT MET'}")


def day_night(seed: int, hours: float) -> tuple[StreamSet, str]:
    """A 24-hour simulated night, cut to its first ``hours``."""
    sim = simulate_nights(1, duration=86400.0, hypo_fraction=1.0, random_state=seed)
    night = sim.streams.nights[0]
    stop = sim.streams["hr"][night].times[0] + hours * 3600.0
    cut = {}
    for name in sim.streams.names:
        s = sim.streams[name][night]
        keep = s.times < stop
        cut[name] = {night: Stream(s.times[keep], s.values[:, keep], s.channels, s.units,
                                   s.zone, s.interval)}
    return StreamSet(cut, [night]), night


def part2(args, sim, events) -> None:
    model = make_detector("hybrid", budget=args.budget, inner_folds=args.inner_folds,
                          random_state=0)
    model.fit(sim.streams, events)
    streams, night = day_night(99, args.replay_hours)
    n = {k: len(streams[k][night]) for k in streams.names}
    timings: list[float] = []
    t0 = time.perf_counter()
    alerts = replay(model, streams, night, budget=args.budget, timings=timings)
    took = time.perf_counter() - t0
    ms = np.array(timings) * 1e3
    decision = ms[ms > np.quantile(ms, 0.85)]  # decision updates: about 1 in 11 samples
    print(f"\nreplay of {args.replay_hours:g} h of a 24-hour night: {n} samples, "
          f"{len(alerts)} alerts, {took:.1f} s")
    print(f"per update:          p50 {np.percentile(ms, 50):.3f} ms, "
          f"p99 {np.percentile(ms, 99):.3f} ms, max {ms.max():.1f} ms")
    print(f"per decision update: p50 {np.percentile(decision, 50):.3f} ms, "
          f"p99 {np.percentile(decision, 99):.3f} ms (slowest 15 % of updates)")
    print(f"goal p99 < 20 ms: {'MET' if np.percentile(ms, 99) < 20 else 'NOT MET'}")


def figure(args, sim, events, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nights = list(events["onset"].dropna().index[:3])
    train = [n for n in sim.streams.nights if n not in nights]
    models = {d: make_detector(d, budget=args.budget, inner_folds=args.inner_folds)
              .fit(sim.streams, events, train)
              for d in DESIGNS}
    fig, axes = plt.subplots(len(nights), 1, figsize=(9, 2.6 * len(nights)), squeeze=False)
    for ax, night in zip(axes[:, 0], nights, strict=True):
        onset = events.loc[night, "onset"]
        cgm = sim.streams["cgm"][night]
        t, g = sim.glucose[night]
        ax.plot((t - onset) / 60, g, color="0.6", lw=1, label="true glucose")
        ax.plot((cgm.times - onset) / 60, cgm.values[0], "k.", ms=3, label="CGM")
        ax.axvspan(0, (events.loc[night, "end"] - onset) / 60, color="0.92")
        ax.set_ylabel("mg/dL")
        for k, d in enumerate(DESIGNS):
            for a, b in models[d].alarms(sim.streams, night):
                ax.plot([(a - onset) / 60, (b - onset) / 60], [20 + 8 * k] * 2, lw=4,
                        color=f"C{k}", label=d if a == models[d].alarms(sim.streams,
                                                                         night)[0, 0] else None)
        ax.set_xlim(-60, 60)
        ax.set_title(f"{night}: alarms by design (minutes from onset)", fontsize=9)
    axes[0, 0].legend(fontsize=7, ncol=3, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\ntimeline figure: {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--nights", type=int, default=18)
    p.add_argument("--hours", type=float, default=8.0)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--replay-hours", type=float, default=24.0)
    p.add_argument("--inner-folds", type=int, default=0)
    p.add_argument("--figure", default=None)
    args = p.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    with threadpool_limits(1):
        all_seeds, keep = part1(args)
        summary(all_seeds, args.budget)
        sim, events = keep[args.seeds[0]]
        part2(args, sim, events)
        if args.figure:
            figure(args, sim, events, args.figure)


if __name__ == "__main__":
    main()
