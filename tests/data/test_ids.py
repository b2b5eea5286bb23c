"""Subject IDs that differ between files: named, with their near matches."""

import pytest

from medfuse.data.ids import id_mismatch_message, near_matches


@pytest.mark.parametrize(("mine", "other", "reason"), [
    ("s001", "S001", "same after lower-casing"),
    (" S001", "S001", "same after stripping whitespace"),
    ("S001 ", "S001", "same after stripping whitespace"),
    ("1", "001", "same after dropping leading zeros"),
    ("p-01", "p-1", "same after dropping leading zeros"),
    (" s001", "S1", "same after lower-casing, stripping whitespace and dropping leading zeros"),
    ("S001", "1", "same number"),
])
def test_near_matches(mine, other, reason):
    assert near_matches([mine], [other, "X9"]) == [(mine, other, reason)]


def test_first_rule_wins_and_ambiguous_or_unrelated_ids_are_not_paired():
    assert near_matches(["s001"], ["S001", "s001 "]) == [("s001", "s001 ",
                                                          "same after stripping whitespace")]
    assert near_matches(["a1"], ["A1", "a1 ", "B2"])[0][1] == "a1 "
    assert near_matches(["S1"], ["s1", "S1 "]) == [("S1", "S1 ",
                                                    "same after stripping whitespace")]
    assert near_matches(["1"], ["S1", "T1"]) == []            # two candidates
    assert near_matches(["A1"], ["B1"]) == []                 # letters differ, no pure number
    assert near_matches(["Q7"], ["R8"]) == []


def test_message_names_both_sides_counts_and_near_matches():
    labels = [f"S{i:03d}" for i in range(8)]
    rna = [i.lower() for i in labels[:7]]
    message = id_mismatch_message("labels.csv", labels, {"rna.csv": rna,
                                                         "clinical.csv": labels})
    assert message == (
        "Subject IDs differ between files: 7 subject(s) of rna.csv have no outcome in "
        "labels.csv: 's000', 's001', 's002', 's003', 's004' ... (7 in all). Near matches: "
        "'s000' in rna.csv looks like 'S000' in labels.csv (same after lower-casing); 's001' "
        "in rna.csv looks like 'S001' in labels.csv (same after lower-casing); 's002' in "
        "rna.csv looks like 'S002' in labels.csv (same after lower-casing) ... (7 in all). "
        "Make the IDs in the first column of every file identical.")
    # every modality subject has an outcome: nothing to say (orphans are a warning elsewhere)
    assert id_mismatch_message("labels.csv", labels, {"rna.csv": labels[:3]}) is None
