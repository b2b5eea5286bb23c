"""Body-weight SUV of a PET series from its DICOM tags."""

from __future__ import annotations

import datetime as _dt
from typing import Any


def _seconds_of_day(text: Any) -> float | None:
    """Seconds since midnight of a DICOM TM value (HHMMSS.FFFFFF, colons tolerated)."""
    text = str(text or "").strip().replace(":", "")
    main, _, fraction = text.partition(".")
    if len(main) < 2 or not main.isdigit():
        return None
    hours = int(main[:2])
    minutes = int(main[2:4]) if len(main) >= 4 else 0
    seconds = int(main[4:6]) if len(main) >= 6 else 0
    extra = float("0." + fraction) if fraction.isdigit() else 0.0
    return hours * 3600 + minutes * 60 + seconds + extra


def _date(text: Any) -> _dt.date | None:
    try:
        return _dt.datetime.strptime(str(text or "").strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _moment(date: Any, time: Any) -> tuple[_dt.date | None, float] | None:
    seconds = _seconds_of_day(time)
    return None if seconds is None else (_date(date), seconds)


def _moment_from_datetime(text: Any) -> tuple[_dt.date | None, float] | None:
    """A DICOM DT value (YYYYMMDDHHMMSS.FFFFFF&ZZXX, time zone ignored)."""
    text = str(text or "").strip()
    if len(text) < 10:
        return None
    body = text[8:].split("+")[0].split("-")[0]
    return _moment(text[:8], body)


def _elapsed(start: tuple[_dt.date | None, float], end: tuple[_dt.date | None, float]) -> float:
    """Seconds from start to end; without both dates, end is taken within 24 h of start."""
    if start[0] is not None and end[0] is not None:
        return (end[0] - start[0]).days * 86400.0 + end[1] - start[1]
    return (end[1] - start[1]) % 86400.0


def _suv_factor(datasets: list[Any]) -> tuple[float | None, str]:
    """Multiplier turning Bq/mL into body-weight SUV (g/mL), or None and the reason.

    The injected dose is decayed from RadiopharmaceuticalStartTime to the scan start: the
    SeriesTime, or the earliest AcquisitionTime when that is earlier (a series re-created
    after the scan) or SeriesTime is absent. With DecayCorrection ADMIN the images are
    already corrected to the injection time and the dose is not decayed. Units GML are
    already body-weight SUV.
    """
    ds = datasets[0]
    units = str(ds.get("Units", "")).upper()
    if units == "GML":
        return 1.0, ""
    problems = []
    if units != "BQML":
        problems.append(f"Units is {units or 'missing'}, not BQML")
    decay = str(ds.get("DecayCorrection", "")).upper()
    if decay not in ("START", "ADMIN"):
        problems.append(f"DecayCorrection is {decay or 'missing'}, not START")
    weight = ds.get("PatientWeight")
    weight = float(weight) if weight not in (None, "") else 0.0
    if not weight > 0:
        problems.append("PatientWeight is missing")
    info = ds.get("RadiopharmaceuticalInformationSequence")
    item = info[0] if info else None
    dose = half_life = None
    start = None
    if item is None:
        problems.append("RadiopharmaceuticalInformationSequence is missing")
    else:
        dose = item.get("RadionuclideTotalDose")
        half_life = item.get("RadionuclideHalfLife")
        dose = float(dose) if dose not in (None, "") else None
        half_life = float(half_life) if half_life not in (None, "") else None
        if not dose or dose <= 0:
            problems.append("RadionuclideTotalDose is missing")
        if not half_life or half_life <= 0:
            problems.append("RadionuclideHalfLife is missing")
        if item.get("RadiopharmaceuticalStartDateTime"):
            start = _moment_from_datetime(item.RadiopharmaceuticalStartDateTime)
        if start is None:
            start = _moment(None, item.get("RadiopharmaceuticalStartTime"))
        if start is None:
            problems.append("RadiopharmaceuticalStartTime is missing")
    if problems or dose is None or half_life is None or start is None:
        return None, "; ".join(problems)
    elapsed = 0.0
    if decay == "START":
        series = _moment(ds.get("SeriesDate"), ds.get("SeriesTime"))
        acquisitions = []
        for d in datasets:
            moment = (_moment_from_datetime(d.get("AcquisitionDateTime"))
                      or _moment(d.get("AcquisitionDate"), d.get("AcquisitionTime")))
            if moment is not None:
                acquisitions.append(_elapsed(start, moment))
        candidates = [] if series is None else [_elapsed(start, series)]
        if acquisitions and (not candidates or min(acquisitions) < candidates[0]):
            candidates = [min(acquisitions)]
        if not candidates:
            return None, "SeriesTime and AcquisitionTime are missing"
        elapsed = candidates[0]
        if elapsed < 0:
            return None, "the injection is dated after the scan start"
    decayed_dose = dose * 2.0 ** (-elapsed / half_life)
    return weight * 1000.0 / decayed_dose, ""
