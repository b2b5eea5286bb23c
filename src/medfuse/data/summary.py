"""The rich table that ``MultiModalData.summary`` and ``medfuse info`` show."""

from __future__ import annotations


def summary_table(data):
    """A rich Table of the modalities (kind, features, subjects, share missing), captioned
    with the outcome's classes, zero-variance features per modality and ``uns["notes"]``.

    Parameters
    ----------
    data : MultiModalData

    Returns
    -------
    rich.table.Table
    """
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"MultiModalData: {len(data)} subjects x "
                        f"{len(data.modality_names)} modalities")
    for col in ("modality", "kind", "features", "subjects", "missing"):
        table.add_column(col, justify="left" if col in ("modality", "kind") else "right")
    frame = data.summary_frame()
    for name, row in frame.iterrows():
        table.add_row(Text(str(name)), Text(str(row["kind"])), str(row["features"]),
                      str(row["subjects"]), f"{row['missing']:.1%}")
    lines = []
    if data.outcome is not None:
        counts = data.y.value_counts(dropna=False).sort_index()
        lines.append(f"outcome {data.outcome!r}: " + ", ".join(
            f"{k}={v}" for k, v in counts.items()))
    constant = frame["constant"].dropna()
    constant = constant[constant > 0]
    if len(constant):
        lines.append("zero-variance features: " + "; ".join(
            f"{m} {int(n)} ({data.modalities[m].kind_object.constant_features})"
            for m, n in constant.items()))
    lines += [str(note) for note in data.uns.get("notes", ())]
    if lines:
        table.caption = Text("\n".join(lines))  # names from files: never markup
    return table
