"""Sequence active learning (issue 18): strategy scores on hand-computed marginals, the CRF on
a toy pattern, the span round end to end on a tiny CoNLL-like set."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alapp.al.registry import STRATEGIES, strategies_for
from alapp.al.sequence import (
    SEQUENCE_STRATEGIES,
    SequencePool,
    get_sequence_strategy,
    least_confident_sequence,
    mean_token_entropy,
    mnlp,
    seconds_per_token,
    sequence_bald,
    total_token_entropy,
)
from alapp.core.errors import AlappError
from alapp.core.settings import ProjectSettings
from alapp.core.spans import encode_spans

# Sentence A: one token, 50/50. Sentence B: two tokens, 0.9/0.1 and 0.8/0.2; the CRF says the
# best path of A has probability 0.5 and of B 0.6.
MARG = np.array([[0.5, 0.5], [0.9, 0.1], [0.8, 0.2]])
H = {0.5: math.log(2), 0.9: -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)),
     0.8: -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))}


def _pool(**kw: object) -> SequencePool:
    base: dict[str, object] = {"ids": np.array([10, 11]), "lengths": np.array([1, 2]),
                               "marginals": MARG, "n_labeled": 5}
    base.update(kw)
    return SequencePool(**base)  # type: ignore[arg-type]


def test_mnlp_and_least_confident_use_the_best_path() -> None:
    pool = _pool(best_logprob=np.log([0.5, 0.6]))
    got = mnlp(pool)
    assert got.sentence == pytest.approx([math.log(2), -math.log(0.6) / 2])  # 0.6931, 0.2554
    assert got.token == pytest.approx([0.5, 0.1, 0.2])  # 1 - max marginal
    assert least_confident_sequence(pool).sentence == pytest.approx([0.5, 0.4])


def test_mnlp_without_a_path_multiplies_the_token_maxima() -> None:
    got = mnlp(_pool())  # a token head: tags independent given the text
    assert got.sentence == pytest.approx([math.log(2), -(math.log(0.9) + math.log(0.8)) / 2])


def test_token_entropy_total_prefers_the_long_sentence_mean_does_not() -> None:
    total, mean = total_token_entropy(_pool()), mean_token_entropy(_pool())
    assert total.sentence == pytest.approx([H[0.5], H[0.9] + H[0.8]])  # 0.6931 < 0.8255
    assert mean.sentence == pytest.approx([H[0.5], (H[0.9] + H[0.8]) / 2])
    assert total.token == pytest.approx([H[0.5], H[0.9], H[0.8]])
    rng = np.random.default_rng(0)
    assert get_sequence_strategy("total-token-entropy").select(
        _pool(), 1, rng)[0].indices.tolist() == [1]
    assert get_sequence_strategy("mean-token-entropy").select(
        _pool(), 1, rng)[0].indices.tolist() == [0]


def test_bald_is_the_disagreement_of_the_passes() -> None:
    # A's token: one pass says tag 0 for sure, the other tag 1: BALD = ln 2 - 0. B's tokens:
    # both passes agree: BALD 0.
    mc = np.array([[[1.0, 0.0], [0.9, 0.1], [0.8, 0.2]],
                   [[0.0, 1.0], [0.9, 0.1], [0.8, 0.2]]])
    got = sequence_bald(_pool(mc_marginals=mc))
    assert got.sentence == pytest.approx([math.log(2), 0.0], abs=1e-9)
    assert got.token == pytest.approx([math.log(2), 0.0, 0.0], abs=1e-9)
    with pytest.raises(ValueError, match="Monte-Carlo"):
        sequence_bald(_pool())


def test_pool_refuses_marginals_that_do_not_match_the_tokens() -> None:
    with pytest.raises(ValueError, match="2 token rows"):
        _pool(marginals=MARG[:2])


def test_every_strategy_picks_unique_unlabeled_sentences_reproducibly() -> None:
    rng = np.random.default_rng(3)
    n = 40
    lengths = rng.integers(1, 6, n)
    marg = rng.dirichlet([1, 1, 1], int(lengths.sum()))
    mc = rng.dirichlet([1, 1, 1], (4, int(lengths.sum())))
    pool = SequencePool(ids=np.arange(100, 100 + n), lengths=lengths, marginals=marg,
                        best_logprob=np.log(rng.uniform(0.1, 1, n)), mc_marginals=mc,
                        embeddings=rng.normal(size=(n, 8)), n_labeled=3)
    for name, spec in SEQUENCE_STRATEGIES.items():
        a, scored = spec.select(pool, 7, np.random.default_rng(1), candidate_factor=3)
        b, _ = spec.select(pool, 7, np.random.default_rng(1), candidate_factor=3)
        assert len(set(a.indices.tolist())) == 7, name
        assert a.indices.tolist() == b.indices.tolist(), name
        assert len(scored.token) == lengths.sum(), name
        big, _ = spec.select(pool, 100, np.random.default_rng(1))
        assert sorted(big.indices.tolist()) == list(range(n)), name


def test_span_projects_take_sequence_strategies_only() -> None:
    assert set(strategies_for("spans")) == set(SEQUENCE_STRATEGIES)
    assert not set(SEQUENCE_STRATEGIES) & set(strategies_for("classification"))
    assert set(strategies_for("classification")) == set(STRATEGIES)
    with pytest.raises(AlappError, match=r"strategy='margin' is not allowed.*mnlp"):
        ProjectSettings(task="spans", strategy="margin").validate(
            strategies=strategies_for("spans"))
    with pytest.raises(AlappError, match="strategy='mnlp' is not allowed"):
        ProjectSettings(strategy="mnlp").validate(strategies=strategies_for("classification"))
    ProjectSettings(task="spans", strategy="mnlp").validate(strategies=strategies_for("spans"))
    with pytest.raises(ValueError, match="not a sequence strategy"):
        get_sequence_strategy("margin")


def test_seconds_per_token_is_the_median_rate() -> None:
    assert seconds_per_token(np.array([10, 20, 5]), np.array([5.0, 30.0, 5.0])) == 1.0
    assert seconds_per_token(np.array([], dtype=int), np.array([])) == 0.6


# -- the CRF ----------------------------------------------------------------------------------

NAMES = ["Anna", "Boris", "Clara", "Dmitri", "Elena", "Fyodor", "Galina", "Hugo"]
CITIES = ["Paris", "Kazan", "Lima", "Oslo", "Quito", "Riga", "Sofia", "Tomsk"]


def _toy(names: list[str], cities: list[str]) -> tuple[list[list[str]], list[list[str]]]:
    words, tags = [], []
    for name, city in zip(names, cities, strict=True):
        words.append(["yesterday", "mr", name, "flew", "to", city, "."])
        tags.append(["O", "O", "B-PER", "O", "O", "B-LOC", "O"])
        words.append(["we", "met", "in", city, "with", "mr", name])
        tags.append(["O", "O", "O", "B-LOC", "O", "O", "B-PER"])
    return words, tags


def test_crf_learns_a_toy_pattern_and_gives_marginals() -> None:
    from alapp.ml.base import load_arrays
    from alapp.ml.crf import CrfTagger, sentence_features, word_shape

    assert word_shape("McDonald's") == "XxXx'x"
    assert word_shape("1996-08-22") == "d-d-d"
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    crf = CrfTagger(tags, max_iterations=50)
    words, gold = _toy(NAMES[:6], CITIES[:6])
    crf.fit([sentence_features(w) for w in words], gold)
    test_words, test_gold = _toy(NAMES[6:], CITIES[6:])  # unseen names and cities
    out = crf.tag([sentence_features(w) for w in test_words])
    assert out.best == test_gold
    assert out.marginals.shape == (sum(map(len, test_words)), len(tags))
    assert out.marginals.sum(axis=1) == pytest.approx(1.0)
    # the best path is at most as likely as its least likely token
    first = out.marginals[: len(test_words[0])]
    picked = [first[k, tags.index(t)] for k, t in enumerate(out.best[0])]
    assert math.exp(out.best_logprob[0]) <= min(picked) + 1e-9
    stored = load_arrays(crf.weights() or b"")
    assert bytes(stored["crfsuite_model"])[:4] == b"lCRF"  # crfsuite's own file format
    with pytest.raises(ValueError, match="not one of"):
        crf.fit([sentence_features(["x"])], [["B-ORG"]])


# -- the span round ---------------------------------------------------------------------------

def _sentence(words: list[str], tags: list[str]) -> tuple[str, list[tuple[int, int]], str]:
    from alapp.core.spans import tags_to_spans

    text, tokens = "", []
    for w in words:
        if text:
            text += " "
        tokens.append((len(text), len(text) + len(w)))
        text += w
    return text, tokens, encode_spans(tags_to_spans(tokens, tags))


def _snapshot(strategy: str, labeled: int):
    from alapp.core.types import ItemId
    from alapp.loop.embedding import MemoryVectors
    from alapp.loop.round import Snapshot

    words, tags = _toy(NAMES, CITIES)
    rows = [_sentence(w, t) for w, t in zip(words, tags, strict=True)]
    ids = [ItemId(k) for k in range(len(rows))]
    splits = ["test"] * 4 + ["pool"] * (len(rows) - 4)
    current = {ids[k]: rows[k][2] for k in range(4 + labeled)}
    settings = ProjectSettings(task="spans", strategy=strategy, batch_size=3,
                               random_share=0.34, featurizer="tfidf", stop_set_size=5,
                               target_accuracy=0.9, cost_model="equal")
    return Snapshot(MemoryVectors(), ["PER", "LOC"], settings, ids, [r[0] for r in rows],
                    splits, current, set(), 1, measured=[(ids[4], "a", 7000)],
                    tokens=[r[1] for r in rows]), rows


@pytest.mark.parametrize("strategy", ["mnlp", "mnlp-diverse", "seq-random"])
def test_span_round_end_to_end(strategy: str) -> None:
    from alapp.loop.round import RoundRunner

    snap, rows = _snapshot(strategy, labeled=6)
    result = RoundRunner().run(snap)
    labeled = set(snap.current)
    assert len(result.picks) == 3 and sum(p.is_random for p in result.picks) == 1
    assert not {p.item_id for p in result.picks} & labeled
    assert result.n_labeled == 6 and result.model_kind == "CrfSpanModel"
    assert result.metrics["micro_f1"] == 1.0 and result.metrics["test_items"] == 4
    pool = [k for k in range(len(rows)) if k not in labeled]
    assert set(result.predicted) == set(pool)
    value, confidence = result.predicted[pool[0]]
    assert value == rows[pool[0]][2] and 0 < confidence <= 1  # the suggestion is right
    assert len(result.token_uncertainty[pool[0]]) == len(rows[pool[0]][1])
    assert {s.name for s in result.signals} >= {"target", "stabilizing"}
    assert result.cost is not None and result.cost.model == "tokens"
    # 7 tokens took 7 s: one second per token
    assert result.picks[0].predicted_cost == len(rows[result.picks[0].item_id][1])


def test_span_round_without_labels_is_random_and_without_tokens_refused() -> None:
    from dataclasses import replace

    from alapp.loop.round import RoundRunner

    snap, _ = _snapshot("mnlp", labeled=0)
    snap = replace(snap, current={})
    result = RoundRunner().run(snap)
    assert len(result.picks) == 3 and result.model_kind == "" and result.predicted == {}
    with pytest.raises(AlappError, match="tokens"):
        RoundRunner().run(replace(snap, tokens=None))


# -- the token head ---------------------------------------------------------------------------

def test_alignment_first_subword_carries_the_tag() -> None:
    from alapp.ml.token_head import IGNORE, align_labels, first_subwords

    # [CLS] при ##вет hello wor ##ld [SEP]: word 0 = при+##вет, word 2 = wor+##ld
    word_ids = [None, 0, 0, 1, 2, 2, None]
    assert align_labels(word_ids, [3, 0, 1]) == [IGNORE, 3, IGNORE, 0, 1, IGNORE, IGNORE]
    assert first_subwords(word_ids, 3) == [1, 3, 4]
    assert first_subwords([None, 0, None], 2) == [1, None]  # word 1 cut off


@pytest.fixture(scope="module")
def wordpiece_bert(tiny_bert, tmp_path_factory):
    """The tiny BERT with a real WordPiece tokenizer built from its vocabulary (so "привет"
    splits into "при" + "##вет"), saved as tokenizer.json: a fast tokenizer."""
    import shutil

    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("wordpiece-bert")
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_bert / name, folder / name)
    vocab = (tiny_bert / "vocab.txt").read_text(encoding="utf-8").split("\n")
    wp = tokenizers.Tokenizer(tokenizers.models.WordPiece(
        {w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    wp.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    wp.post_processor = tokenizers.processors.BertProcessing(
        ("[SEP]", vocab.index("[SEP]")), ("[CLS]", vocab.index("[CLS]")))
    transformers.PreTrainedTokenizerFast(
        tokenizer_object=wp, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]").save_pretrained(folder)
    return folder


def test_token_head_aligns_with_the_real_tokenizer_and_trains(wordpiece_bert) -> None:
    from alapp.ml.token_head import IGNORE, TokenHead, align_labels

    head = TokenHead(["O", "B-PER", "I-PER"], wordpiece_bert, epochs=2, lr=1e-3, batch_size=2,
                     device="cpu")
    batch = head.encode([["привет", "hello", "world"]])
    assert head._tokenizer.convert_ids_to_tokens(batch["input_ids"][0]) == \
        ["[CLS]", "при", "##вет", "hello", "world", "[SEP]"]
    assert align_labels(batch.word_ids(0), [1, 0, 2]) == [IGNORE, 1, IGNORE, 0, 2, IGNORE]
    words = [["hello", "world"], ["привет", "a", "b", "c"], ["world"]]
    tags = [["B-PER", "I-PER"], ["O", "O", "B-PER", "O"], ["O"]]
    head.fit_words(words, tags)
    out = head.tag_words(words, mc_samples=3)
    assert out.marginals.shape == (7, 3) and out.marginals.sum(axis=1) == pytest.approx(1.0)
    assert [len(b) for b in out.best] == [2, 4, 1]
    assert out.best_logprob[0] == pytest.approx(np.log(out.marginals[:2].max(axis=1)).sum(),
                                                rel=1e-5)
    assert out.mc_marginals is not None and out.mc_marginals.shape == (3, 7, 3)
    assert not np.allclose(out.mc_marginals[0], out.mc_marginals[1])  # dropout is on
    assert head.weights()


def test_span_round_with_the_token_head_and_bald(wordpiece_bert) -> None:
    from dataclasses import replace

    from alapp.loop.round import RoundRunner

    snap, _ = _snapshot("seq-bald", labeled=4)
    snap = replace(snap, settings=replace(snap.settings, span_model="token-head",
                                          model_folder=str(wordpiece_bert), finetune_epochs=1,
                                          mc_samples=2, device="cpu"))
    result = RoundRunner().run(snap)
    assert result.model_kind == "TokenHead" and len(result.picks) == 3
    assert "micro_f1" in result.metrics
    assert result.picks[0].strategy == "seq-bald" and result.picks[0].score is not None


# -- natasha ----------------------------------------------------------------------------------

def test_natasha_types_map_by_name_and_spans_snap_to_tokens() -> None:
    from alapp.ml.natasha_ner import snap_spans, snap_to_tokens, type_map

    assert type_map(["Person", "ORG", "Product"]) == {"PER": "Person", "ORG": "ORG"}
    assert type_map(["персона", "место"]) == {"PER": "персона", "LOC": "место"}
    text = "В «Газпром-нефти»  работает Иван"
    tokens = [(0, 1), (2, 3), (3, 16), (16, 17), (19, 27), (28, 32)]
    assert [text[a:b] for a, b in tokens] == ["В", "«", "Газпром-нефти", "»", "работает",
                                              "Иван"]
    # natasha cut inside a token ("Газпром" of "Газпром-нефти") and took the quote mark
    assert snap_to_tokens(2, 10, tokens) == (2, 16)
    assert snap_to_tokens(17, 19, tokens) is None  # only the spaces
    spans = snap_spans([(3, 10, "ORG"), (28, 32, "PER"), (2, 17, "ORG"), (0, 1, "LOC")],
                       tokens, {"PER": "P", "ORG": "O"})
    # LOC has no project type; the second ORG overlaps the first: dropped
    assert [(text[s.start:s.end], s.label) for s in spans] == [("«Газпром-нефти»", "O"),
                                                              ("Иван", "P")]


def test_natasha_suggests_at_cold_start_on_our_tokens() -> None:
    pytest.importorskip("natasha")
    from alapp.core.spans import decode_spans, tokenize
    from alapp.core.types import ItemId
    from alapp.loop.embedding import MemoryVectors
    from alapp.loop.round import RoundRunner, Snapshot
    from alapp.ml.natasha_ner import NatashaAnnotator

    texts = ["Алексей Миллер прилетел в Москву.", "Газпром открыл офис в Казани."]
    tokens = [tokenize(t, "ru") for t in texts]
    settings = ProjectSettings(task="spans", strategy="mnlp", batch_size=2, random_share=0.0,
                               natasha_suggestions=True, stop_set_size=0)
    snap = Snapshot(MemoryVectors(), ["персона", "место"], settings, [ItemId(0), ItemId(1)],
                    texts, ["pool", "pool"], {}, set(), 0, measured=[], tokens=tokens)
    result = RoundRunner().run(snap)
    first = decode_spans(result.predicted[ItemId(0)][0])
    assert [(texts[0][s.start:s.end], s.label) for s in first] == [("Алексей Миллер", "персона"),
                                                                   ("Москву", "место")]
    starts, ends = {a for a, _ in tokens[0]}, {b for _, b in tokens[0]}
    assert all(s.start in starts and s.end in ends for s in first)
    second = decode_spans(result.predicted[ItemId(1)][0])
    assert [texts[1][s.start:s.end] for s in second] == ["Казани"]  # ORG has no project type
    assert any("natasha" in n for n in result.notes)
    with pytest.raises(AlappError, match="matches natasha"):
        NatashaAnnotator(["Product"])


def test_natasha_missing_is_one_clear_line(monkeypatch) -> None:
    import builtins

    from alapp.ml.natasha_ner import MISSING, NatashaAnnotator

    real = builtins.__import__

    def no_natasha(name, *args, **kwargs):
        if name.partition(".")[0] == "natasha":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_natasha)
    with pytest.raises(AlappError) as e:
        NatashaAnnotator(["PER"])
    assert str(e.value) == MISSING and "alapp[russian]" in MISSING and "\n" not in MISSING


# -- simulation -------------------------------------------------------------------------------

def test_span_simulation_runs_every_strategy_against_random() -> None:
    from alapp.loop.span_simulate import SpanSimConfig, corpus_from_tags, simulate_spans

    words, tags = _toy(NAMES, CITIES)
    pool = corpus_from_tags(list(zip(words[:12], tags[:12], strict=True)))
    test = corpus_from_tags(list(zip(words[12:], tags[12:], strict=True)), pool.types)
    assert pool.types == ["LOC", "PER"]
    out = simulate_spans(pool, test, SpanSimConfig(["mnlp"], grid=[2, 4, 6], seeds=2))
    assert set(out["strategies"]) == {"mnlp", "seq-random"}
    mnlp_ = out["strategies"]["mnlp"]
    assert mnlp_["sentences"] == [2, 4, 6] and len(mnlp_["f1_ci95"]) == 3
    assert mnlp_["tokens_mean"][-1] == 42  # every toy sentence has 7 tokens
    assert out["full_training"]["f1"] == 1.0 and out["full_training"]["tokens"] == 84
    assert out["recommendation"]["strategy"] in {"mnlp", "seq-random"}
    with pytest.raises(AlappError, match="unknown sequence strategy"):
        simulate_spans(pool, test, SpanSimConfig(["margin"], grid=[2]))


def _conll_file(path, sentences) -> None:
    path.write_text("-DOCSTART- O\n\n" + "\n\n".join(
        "\n".join(f"{w} {t}" for w, t in zip(words, tags, strict=True))
        for words, tags in sentences) + "\n", encoding="utf-8")


def test_cli_simulate_spans_on_conll_files(tmp_path, capsys) -> None:
    import json

    from alapp.cli import main

    words, tags = _toy(NAMES, CITIES)
    _conll_file(tmp_path / "train.conll", list(zip(words[:12], tags[:12], strict=True)))
    _conll_file(tmp_path / "test.conll", list(zip(words[12:], tags[12:], strict=True)))
    out = tmp_path / "sim.json"
    assert main(["simulate", str(tmp_path / "train.conll"), "--spans", "--test-file",
                 str(tmp_path / "test.conll"), "--strategies", "mnlp", "--batch", "3",
                 "--budget", "9", "--seeds", "2", "--json", str(out),
                 "--plot", str(tmp_path / "sim.svg")]) == 0
    result = json.loads(out.read_text("utf-8"))
    assert result["grid"] == [3, 6, 9] and set(result["strategies"]) == {"mnlp", "seq-random"}
    assert result["full_training"]["f1"] == 1.0
    assert "<svg" in (tmp_path / "sim.svg").read_text("utf-8")
    assert "full training (12 sentences) entity F1 1.000" in capsys.readouterr().out
    (tmp_path / "bad.conll").write_text("Anna B-PER\nflew O\nto\n", encoding="utf-8")
    assert main(["simulate", str(tmp_path / "bad.conll"), "--spans"]) != 0
    err = capsys.readouterr().err
    assert "bad.conll" in err and "line 3" in err


def test_span_project_round_reaches_the_queue(tmp_path) -> None:
    """A span project made, labeled from CoNLL, unlabeled text added; the application's round
    trains the CRF on the stored spans and the queue entries carry suggestions and token
    uncertainty on the stored tokens."""
    from alapp.app.rounds import snapshot_of
    from alapp.app.session import LabelingSession
    from alapp.core.spans import decode_spans
    from alapp.loop.round import RoundRunner
    from alapp.store.importer import ImportSpec, import_file
    from alapp.store.project import Project

    words, tags = _toy(NAMES[:6], CITIES[:6])
    _conll_file(tmp_path / "labeled.conll", list(zip(words, tags, strict=True)))
    unlabeled = tmp_path / "new.txt"
    unlabeled.write_text("yesterday mr Hugo flew to Tomsk .\nwe met in Riga with mr Galina\n",
                         encoding="utf-8")
    with Project.create(tmp_path / "p.alapp", ["PER", "LOC"], task="spans",
                        batch_size=2, random_share=0.0, featurizer="tfidf") as project:
        assert project.settings().strategy == "mnlp"  # a span project's default
        import_file(project, tmp_path / "labeled.conll", ImportSpec())
        import_file(project, unlabeled, ImportSpec())
        session = LabelingSession.inline(project, "tester")
        result = RoundRunner().run(snapshot_of(project))
        session.finish_round(result)
        entries = session.queue()
        assert len(entries) == 2 and result.model_kind == "CrfSpanModel"
        texts = {e.text: e for e in entries}
        entry = texts["yesterday mr Hugo flew to Tomsk ."]
        assert entry.tokens is not None and len(entry.token_uncertainty or []) == 7
        assert entry.predicted is not None
        spans = decode_spans(entry.predicted[0])
        assert [(entry.text[s.start:s.end], s.label) for s in spans] == [("Hugo", "PER"),
                                                                        ("Tomsk", "LOC")]


def test_cost_aware_span_round_ranks_by_score_per_token_second() -> None:
    from dataclasses import replace

    from alapp.loop.round import RoundRunner

    snap, _ = _snapshot("mnlp", labeled=6)
    plain = RoundRunner().run(replace(snap, settings=replace(snap.settings, random_share=0.0)))
    costly = RoundRunner().run(replace(snap, settings=replace(
        snap.settings, random_share=0.0, cost_aware=True)))
    assert {p.strategy for p in costly.picks} == {"mnlp / cost"}
    # every toy sentence has 7 tokens: the same cost, so the same sentences as plain MNLP
    assert [p.item_id for p in costly.picks] == [p.item_id for p in plain.picks]
