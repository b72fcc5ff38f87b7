"""The training label of an item several annotators labeled (issue 19)."""

from __future__ import annotations

import random

import pytest

from alapp.al.consensus import How, Reliability, Rule, annotator_reliability, resolve

VOTES = {
    1: {"a": "x", "b": "x", "c": "y"},
    2: {"a": "x", "b": "y"},
    3: {"a": "y"},
    4: {"a": "x", "b": "y", "c": "y"},
    5: {"a": "x", "b": "y"},
    6: {"a": "x", "b": "x", "c": "x"},
}
ADJUDICATED = {5: "y", 7: "z"}  # item 7: decided by a reviewer, nobody else's label kept


def test_reliability_on_adjudicated_items_is_smoothed_agreement_with_the_reviewer() -> None:
    votes = {i: {"a": "x", "b": "x" if i < 3 else "y"} for i in range(5)}
    votes[9] = {"c": "x"}  # nobody to compare c with
    reliability = annotator_reliability(votes, {i: "x" for i in range(5)} | {0: "y"})
    # a agrees with the reviewer on items 1-4 (4 of 5), b on items 1-2 (2 of 5)
    assert reliability == {"a": Reliability(pytest.approx(5 / 7), 5),
                           "b": Reliability(pytest.approx(3 / 7), 5),
                           "c": Reliability(0.5, 0)}


def test_dawid_skene_trusts_the_pair_that_agrees() -> None:
    # a and b always agree, c always differs: a leave-one-out majority ties on every item
    # (each annotator sees one x and one y among the others); the model does not
    record: dict[int | str, dict[str, str]] = {
        i: {"a": "x", "b": "x", "c": "y"} for i in range(10)}
    record[10] = {"a": "x", "c": "y", "d": "y"}
    reliability = annotator_reliability(record)
    assert reliability["a"].score > 0.9 and reliability["b"].score > 0.9
    assert reliability["c"].score < 0.1
    assert reliability["d"].score == pytest.approx(1 / 3, abs=1e-6)  # wrong on its one item
    assert resolve(record, rule=Rule.RELIABLE).labels[10] == "x"  # a, outvoted, is trusted
    assert resolve(record, rule=Rule.MAJORITY).labels[10] == "y"
    # two annotators agreeing on ten items: the EM fixed point q = (10 p(q) + 1) / 12, where
    # p(q) = q^2 / (q^2 + (1 - q)^2) is each item's posterior (equal class priors), found here
    # by bisection where it is stable
    same = annotator_reliability({i: {"a": "xy"[i % 2], "b": "xy"[i % 2]} for i in range(10)})
    low, high = 0.6, 1.0 - 1e-9
    for _ in range(100):
        q = (low + high) / 2
        p = q**2 / (q**2 + (1 - q) ** 2)
        low, high = (q, high) if (10 * p + 1) / 12 > q else (low, q)
    assert same["a"] == same["b"] == Reliability(pytest.approx(q, abs=1e-8), 10)
    assert q == pytest.approx(0.9082, abs=1e-4)


def test_majority_rule() -> None:
    result = resolve(VOTES, ADJUDICATED, Rule.MAJORITY)
    assert result.labels == {1: "x", 3: "y", 4: "y", 5: "y", 6: "x", 7: "z"}
    assert result.how == {1: How.MAJORITY, 2: How.TIE, 3: How.SINGLE, 4: How.MAJORITY,
                          5: How.ADJUDICATED, 6: How.UNANIMOUS, 7: How.ADJUDICATED}
    assert result.ties == [2]


def test_most_reliable_annotator_rule() -> None:
    result = resolve(VOTES, ADJUDICATED, "reliable")
    score = {a: r.score for a, r in result.reliability.items()}
    decided = [item for item in VOTES if result.how[item] is How.RELIABLE]
    assert decided == [1, 2, 4]
    for item in decided:
        best = max(VOTES[item], key=score.__getitem__)
        assert result.labels[item] == VOTES[item][best]
    assert result.how[3] is How.SINGLE and result.how[6] is How.UNANIMOUS
    assert result.labels[5] == "y" and result.labels[7] == "z"
    # equally reliable annotators who disagree: no label, reported
    tied = resolve({1: {"a": "x", "b": "y"}, 2: {"a": "x"}}, rule=Rule.RELIABLE)
    assert tied.labels == {2: "x"} and tied.ties == [1] and tied.how[1] is How.TIE


def test_adjudication_overrides_every_rule_and_order_does_not_matter() -> None:
    for rule in Rule:
        result = resolve({1: {"a": "x", "b": "x"}}, {1: "y"}, rule)
        assert result.labels == {1: "y"} and result.how[1] is How.ADJUDICATED
    shuffled_items = list(VOTES.items())
    random.Random(3).shuffle(shuffled_items)
    shuffled = {item: dict(reversed(list(given.items()))) for item, given in shuffled_items}
    for rule in Rule:
        a, b = resolve(VOTES, ADJUDICATED, rule), resolve(shuffled, ADJUDICATED, rule)
        assert (a.labels, a.how, a.ties, a.reliability) == (b.labels, b.how, b.ties,
                                                              b.reliability)


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="'loudest'"):
        resolve(VOTES, rule="loudest")


def test_dawid_skene_recovers_simulated_accuracies() -> None:
    # three annotators who give the true label with probability q + (1 - q) / 5 (otherwise a
    # random one of the five), each labeling 70% of 3,000 items
    rng = random.Random(0)
    truth = {i: rng.choice("abcde") for i in range(3000)}
    skill = {"p": 0.9, "q": 0.8, "r": 0.6}
    votes = {i: {a: t if rng.random() < s else rng.choice("abcde")
                 for a, s in skill.items() if rng.random() < 0.7}
             for i, t in truth.items()}
    reliability = annotator_reliability(votes)
    for annotator, s in skill.items():
        assert reliability[annotator].score == pytest.approx(s + (1 - s) / 5, abs=0.02)
    reliable = resolve(votes, rule=Rule.RELIABLE)
    majority = resolve(votes, rule=Rule.MAJORITY)
    # majority ties (two annotators who disagree, mostly) go to review; the reliable rule
    # decides them, by trusting the better annotator, far above chance (1/5)
    assert len(majority.ties) > 300 and reliable.ties == []
    tied_right = sum(reliable.labels[i] == truth[i] for i in majority.ties)
    assert tied_right / len(majority.ties) > 0.7
