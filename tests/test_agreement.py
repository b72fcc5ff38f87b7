"""Agreement statistics (issue 19) against published worked examples, the `krippendorff`
package (a reference only, never an app dependency) and their own definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alapp.al import agreement as ag
from alapp.al.agreement import Level, Ratings

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
# 12 units, values 1-5, blanks missing (unit 12 has one value, so it is not pairable).
K2011 = [
    "1 2 3 3 2 1 4 1 2 . . .",
    "1 2 3 3 2 2 4 1 2 5 . 3",
    ". 3 3 3 2 3 4 2 2 5 1 .",
    "1 2 3 3 2 4 4 1 2 5 1 .",
]

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters each, 5 categories.
WIKI_FLEISS = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
               [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
               [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]

# Fleiss (1971), Table 1: 30 patients, 6 psychiatrists each, 5 diagnoses (1 depression,
# 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other).
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5]]
DIAGNOSES = ["depression", "personality", "schizophrenia", "neurosis", "other"]


def k2011_triples() -> list[tuple[int, str, str]]:
    return [(unit + 1, "ABCD"[row], value)
            for row, line in enumerate(K2011)
            for unit, value in enumerate(line.split()) if value != "."]


def k2011() -> Ratings:
    return ag.ratings_from_triples(k2011_triples(), labels=["1", "2", "3", "4", "5"])


# -- published values -------------------------------------------------------------------------

def test_krippendorff_2011_worked_example_all_levels() -> None:
    ratings = k2011()
    assert ratings.annotators == ("A", "B", "C", "D")
    assert ratings.items == tuple(range(1, 13))
    published = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
    for level, alpha in published.items():
        result = ag.krippendorff_alpha(ratings, level=level, values=[1, 2, 3, 4, 5], boot=0)
        assert round(result.overall.value, 3) == alpha, level
        assert result.overall.n_items == 11  # unit 12 has a single value
    # exactly as the paper computes it: n = 40 pairable values (9, 13, 10, 5, 3 of values
    # 1..5), off-diagonal coincidences summing to 8: alpha = 1 - (n - 1) * 8 / (n^2 - sum n_c^2)
    nominal = ag.krippendorff_alpha(ratings, boot=0).overall.value
    assert nominal == pytest.approx(1 - 39 * 8 / (40**2 - (9**2 + 13**2 + 10**2 + 5**2 + 3**2)),
                                    abs=1e-12)


def test_fleiss_wikipedia_example() -> None:
    result = ag.fleiss_kappa_counts(WIKI_FLEISS, list("abcde"), boot=0)
    assert round(result.overall.value, 3) == 0.210
    assert result.overall.n_items == 10


def test_fleiss_1971_diagnoses_overall_and_per_category() -> None:
    codes = np.array(FLEISS_1971).T - 1  # raters x patients
    result = ag.fleiss_kappa(Ratings.from_codes(codes, DIAGNOSES), boot=0)
    # Fleiss (1971): kappa = 0.430 and the per-category kappas; the z statistics (kappa over
    # its standard error under no agreement, Fleiss, Nee & Landis 1979) as R's
    # irr::kappam.fleiss(diagnoses, detail = TRUE) prints them.
    assert result.overall.value == pytest.approx(0.4302445, abs=1e-7)
    assert result.overall.value / result.overall.se0 == pytest.approx(17.65183, abs=1e-4)
    expected = {"depression": (0.245, 5.192), "personality": (0.245, 5.192),
                "schizophrenia": (0.520, 11.031), "neurosis": (0.471, 9.994),
                "other": (0.566, 12.009)}
    for label, (kappa, z) in expected.items():
        got = result.per_label[label]
        assert round(got.value, 3) == kappa, label
        assert got.value / got.se0 == pytest.approx(z, abs=1e-3), label


def test_cohen_wikipedia_example() -> None:
    # 50 grant proposals, two readers: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no.
    result = ag.cohen_kappa_table([[20, 5], [10, 15]], ["yes", "no"], boot=0)
    assert result.overall.value == pytest.approx(0.4, abs=1e-12)
    assert result.overall.n_items == 50
    # two labels: each label against the other is the same 2 x 2 table
    assert result.per_label["yes"].value == pytest.approx(0.4, abs=1e-12)
    assert result.per_label["no"].value == pytest.approx(0.4, abs=1e-12)


def test_cohen_analytic_standard_errors_match_sas() -> None:
    # SAS PROC FREQ (AGREE) example as checked by statsmodels: kappa 0.4842, ASE 0.1380,
    # 95% limits 0.2137 .. 0.7547, ASE under H0 0.1484.
    result = ag.cohen_kappa_table([[0, 4, 1], [0, 8, 0], [0, 1, 5]], ["a", "b", "c"], boot=0)
    overall = result.overall
    assert overall.value == pytest.approx(0.4842, abs=5e-5)
    assert overall.se == pytest.approx(0.1380, abs=5e-5)
    assert overall.se0 == pytest.approx(0.1484, abs=5e-5)
    low, high = overall.analytic_interval() or (math.nan, math.nan)
    assert (low, high) == (pytest.approx(0.2137, abs=5e-5), pytest.approx(0.7547, abs=5e-5))


# -- the reference package ----------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_krippendorff_matches_the_reference_package_on_random_data() -> None:
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(7)
    defined = 0
    for trial in range(12):
        annotators, items, k = rng.integers(2, 6), rng.integers(5, 60), rng.integers(2, 6)
        codes = rng.integers(0, k, size=(annotators, items))
        codes[rng.random(codes.shape) < 0.3] = -1
        ratings = Ratings.from_codes(codes, [str(v) for v in range(k)])
        data = np.where(codes >= 0, codes, np.nan).astype(float)
        for level in ("nominal", "ordinal", "interval", "ratio"):
            values = np.arange(1, k + 1, dtype=float)  # ratio needs values > 0
            ours = ag.krippendorff_alpha(ratings, level=level, values=values, boot=0)
            ref_data = np.where(codes >= 0, codes + 1.0, np.nan)
            reference = krippendorff.alpha(reliability_data=ref_data, level_of_measurement=level,
                                           value_domain=list(values))
            assert ours.overall.value == pytest.approx(reference, abs=1e-9, nan_ok=True), \
                (trial, level)
            defined += not math.isnan(reference)
        # per label: the package on the data recoded "this label" / "another label"
        for j in range(k):
            binary = np.where(np.isnan(data), np.nan, (data == j).astype(float))
            if len(np.unique(binary[~np.isnan(binary)])) < 2:
                continue
            reference = krippendorff.alpha(reliability_data=binary, value_domain=[0.0, 1.0],
                                           level_of_measurement="nominal")
            ours = ag.krippendorff_alpha(ratings, boot=0).per_label[str(j)]
            # both nan where the label only occurs on items nobody else rated
            assert ours.value == pytest.approx(reference, abs=1e-9, nan_ok=True), (trial, j)
    assert defined >= 40  # of 48: the comparison is not between nans


# -- definitions and consistency --------------------------------------------------------------

def test_per_label_figures_are_the_statistic_on_the_recoded_data() -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, size=(3, 80))
    labels = ["w", "x", "y", "z"]
    ratings = Ratings.from_codes(codes, labels)
    cohen = ag.cohen_kappa(ratings, 0, 2, boot=0)
    fleiss = ag.fleiss_kappa(ratings, boot=0)
    for j, name in enumerate(labels):
        binary = Ratings.from_codes((codes != j).astype(int), ["this", "other"])
        assert cohen.per_label[name].value == pytest.approx(
            ag.cohen_kappa(binary, 0, 2, boot=0).overall.value, abs=1e-12)
        assert fleiss.per_label[name].value == pytest.approx(
            ag.fleiss_kappa(binary, boot=0).overall.value, abs=1e-12)
        se = ag.cohen_kappa(binary, 0, 2, boot=0).overall.se
        assert cohen.per_label[name].se == pytest.approx(se, abs=1e-12)


def test_two_complete_annotators_cohen_and_fleiss_definitions() -> None:
    # perfect agreement is 1 for every statistic; a fixed offset (always the next label) is
    # below chance for all of them
    codes = np.array([[0, 1, 2, 0, 1, 2, 0, 1], [0, 1, 2, 0, 1, 2, 0, 1]])
    ratings = Ratings.from_codes(codes, ["a", "b", "c"])
    assert ag.cohen_kappa(ratings, boot=0).overall.value == pytest.approx(1.0)
    assert ag.fleiss_kappa(ratings, boot=0).overall.value == pytest.approx(1.0)
    assert ag.krippendorff_alpha(ratings, boot=0).overall.value == pytest.approx(1.0)
    shifted = Ratings.from_codes(np.array([codes[0], (codes[0] + 1) % 3]), ["a", "b", "c"])
    assert ag.cohen_kappa(shifted, boot=0).overall.value < 0
    assert ag.fleiss_kappa(shifted, boot=0).overall.value < 0
    assert ag.krippendorff_alpha(shifted, boot=0).overall.value < 0


def test_undefined_figures_are_nan_not_made_up() -> None:
    same = Ratings.from_codes([[0, 0, 0], [0, 0, 0]], ["a", "b"])
    assert math.isnan(ag.cohen_kappa(same).overall.value)  # chance agreement is already 1
    assert math.isnan(ag.krippendorff_alpha(same).overall.value)
    assert math.isnan(ag.fleiss_kappa(same).overall.value)
    assert not ag.cohen_kappa(same).overall.defined
    assert ag.cohen_kappa(same).overall.analytic_interval() is None
    unused = Ratings.from_codes([[0, 1, 0], [0, 1, 1]], ["a", "b", "never"])
    assert math.isnan(ag.krippendorff_alpha(unused).per_label["never"].value)
    assert math.isnan(ag.cohen_kappa(unused).per_label["never"].value)
    disjoint = Ratings.from_codes([[0, 1, -1, -1], [-1, -1, 0, 1]], ["a", "b"])
    result = ag.cohen_kappa(disjoint)
    assert result.overall.n_items == 0 and math.isnan(result.overall.value)
    assert math.isnan(result.overall.low) and math.isnan(result.overall.high)
    assert ag.krippendorff_alpha(disjoint).overall.n_items == 0


def test_fleiss_uses_items_with_the_full_number_of_ratings() -> None:
    codes = np.array([[0, 1, 1, 0, -1], [0, 1, 0, 0, 1], [0, 1, 1, -1, 1]])
    ratings = Ratings.from_codes(codes, ["a", "b"])
    full = ag.fleiss_kappa(ratings, boot=0)
    assert full.overall.n_items == 3
    assert full.overall.value == pytest.approx(
        ag.fleiss_kappa(Ratings.from_codes(codes[:, :3], ["a", "b"]), boot=0).overall.value)
    assert ag.fleiss_kappa(ratings, ratings_per_item=2, boot=0).overall.n_items == 2
    with pytest.raises(ValueError, match="same number of ratings"):
        ag.fleiss_kappa_counts([[2, 0], [1, 2]], ["a", "b"])
    with pytest.raises(ValueError, match="at least 2 ratings"):
        ag.fleiss_kappa_counts([[1, 0], [0, 1]], ["a", "b"])


# -- the bootstrap ------------------------------------------------------------------------------

def test_bootstrap_interval_is_seeded_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 3, size=200)
    codes = np.where(rng.random((3, 200)) < 0.8, truth, rng.integers(0, 3, size=(3, 200)))
    ratings = Ratings.from_codes(codes, ["a", "b", "c"])
    for compute in (lambda s: ag.cohen_kappa(ratings, seed=s),
                    lambda s: ag.fleiss_kappa(ratings, seed=s),
                    lambda s: ag.krippendorff_alpha(ratings, seed=s)):
        first, again, other = compute(1), compute(1), compute(2)
        assert first == again
        assert first.overall != other.overall
        assert first.overall.low < first.overall.value < first.overall.high
        for estimate in first.per_label.values():
            assert estimate.low < estimate.value < estimate.high


def test_bootstrap_matches_resampling_items_explicitly() -> None:
    # The pattern-count bootstrap must have the distribution of the textbook one (draw n item
    # indices with replacement, recompute): compare the two 95% intervals.
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, size=120)
    codes = np.where(rng.random((3, 120)) < 0.7, truth, rng.integers(0, 3, size=(3, 120)))
    codes[rng.random(codes.shape) < 0.2] = -1
    ratings = Ratings.from_codes(codes, ["a", "b", "c"])
    fast = ag.krippendorff_alpha(ratings, boot=4000, seed=0).overall
    draws = np.random.default_rng(1)
    slow = [ag.krippendorff_alpha(Ratings.from_codes(codes[:, draws.integers(0, 120, 120)],
                                                     ["a", "b", "c"]), boot=0).overall.value
            for _ in range(1500)]
    low, high = np.percentile(slow, [2.5, 97.5])
    assert fast.low == pytest.approx(low, abs=0.02)
    assert fast.high == pytest.approx(high, abs=0.02)


def test_more_items_narrow_the_interval_and_order_does_not_matter() -> None:
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 2, size=40)
    codes = np.where(rng.random((2, 40)) < 0.8, truth, 1 - truth)
    small = ag.cohen_kappa(Ratings.from_codes(codes, ["a", "b"]))
    large = ag.cohen_kappa(Ratings.from_codes(np.tile(codes, 4), ["a", "b"]))
    assert large.overall.value == pytest.approx(small.overall.value)
    assert large.overall.high - large.overall.low < small.overall.high - small.overall.low
    assert large.overall.se is not None and small.overall.se is not None
    assert large.overall.se == pytest.approx(small.overall.se / 2)
    # the same ratings in another item and annotator order give the same figures
    triples = k2011_triples()
    shuffled = [triples[i] for i in rng.permutation(len(triples))]
    labels = ["1", "2", "3", "4", "5"]
    assert ag.krippendorff_alpha(ag.ratings_from_triples(shuffled, labels)) == \
        ag.krippendorff_alpha(k2011())


def test_pairwise_cohen_covers_pairs_with_shared_items() -> None:
    ratings = k2011()
    pairs = ag.pairwise_cohen(ratings, boot=0)
    assert sorted(pairs) == [("A", "B"), ("A", "C"), ("A", "D"), ("B", "C"), ("B", "D"),
                             ("C", "D")]
    assert pairs["A", "B"].overall.n_items == 9
    assert pairs["A", "B"].annotators == ("A", "B")
    assert ag.pairwise_cohen(ratings, min_items=10, boot=0).keys() == {("B", "D"), ("C", "D")}


# -- input --------------------------------------------------------------------------------------

def test_triples_adapter_refuses_bad_input_in_one_line() -> None:
    with pytest.raises(ValueError, match="annotator 'ann' gave item 3 two labels"):
        ag.ratings_from_triples([(3, "ann", "x"), (3, "ann", "y")])
    with pytest.raises(ValueError, match="label 'z' is not one of the labels"):
        ag.ratings_from_triples([(1, "ann", "z")], labels=["x", "y"])
    same_twice = ag.ratings_from_triples([(1, "ann", "x"), (1, "ann", "x"), ("b", "bo", "y")])
    assert same_twice.items == (1, "b") and same_twice.labels == ("x", "y")
    assert same_twice.codes.tolist() == [[0, -1], [-1, 1]]
    with pytest.raises(ValueError, match=r"outside -1\.\.1"):
        Ratings.from_codes([[0, 2]], ["x", "y"])
    with pytest.raises(ValueError, match="confidence level"):
        ag.cohen_kappa(Ratings.from_codes([[0, 1], [0, 1]], ["x", "y"]), level=1.5)
    with pytest.raises(ValueError, match="one value per label"):
        ag.krippendorff_alpha(k2011(), level=Level.INTERVAL, values=[1, 2])
