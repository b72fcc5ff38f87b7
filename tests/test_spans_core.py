"""Span values without a store: tokenizers, offsets, Qt's UTF-16 positions, tag schemes,
span checks, entity metrics and the spans task (issue 18)."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from alapp.al.entities import entity_metrics
from alapp.al.task import Spans, task_for
from alapp.core.settings import ProjectSettings
from alapp.core.spans import (
    Span,
    Utf16Map,
    check_spans,
    check_tokens,
    decode_spans,
    detect_language,
    encode_spans,
    spans_to_tags,
    tags_to_spans,
    token_at,
    tokenize,
)

HARD_TEXTS = [
    "Hello, world!",
    "  leading and trailing whitespace \t\n",
    "CRLF line\r\nends\r\nhere\r\n",
    "tabs\tbetween\twords",
    "combining: e\u0301te\u0301 and Zürich (NFD: Zu\u0308rich)",
    "RTL marks: \u200fשלום\u200f and \u200eEnglish\u200e",
    "emoji 😀 with skin tone 👍🏽, family 👨\u200d👩\u200d👧, flag 🇫🇷🇩🇪, keycap 1\ufe0f\u20e3",
    "我爱北京天安门，iPhone15发布了。",
    "Путин посетил Санкт-Петербург 3,14 раза, т.е. часто 😀",
    "\ufeffBOM at the start",
    "𝐁𝐨𝐥𝐝 math letters outside the BMP 𠀀",
]


def surfaces(text: str, language: str | None = None) -> list[str]:
    return [text[a:b] for a, b in tokenize(text, language)]


def test_english_and_other_texts_split_into_runs_and_single_characters() -> None:
    assert surfaces("EU rejects German call, doesn't it?", "en") == [
        "EU", "rejects", "German", "call", ",", "doesn", "'", "t", "it", "?"]
    assert surfaces("emoji 👍🏽 👨\u200d👩\u200d👧 🇫🇷🇩🇪 1\ufe0f\u20e3 e\u0301", "en") == [
        "emoji", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "🇩🇪", "1\ufe0f\u20e3", "e\u0301"]
    assert surfaces("\u200fשלום\u200f world", "en") == ["שלום", "world"]  # marks separate


def test_chinese_is_one_token_per_character_with_latin_runs_whole() -> None:
    assert surfaces("我爱北京，iPhone15发布了。") == [
        "我", "爱", "北", "京", "，", "iPhone15", "发", "布", "了", "。"]


def test_russian_uses_razdel_and_splits_off_emoji() -> None:
    assert surfaces("Кое-что стоит 3,14 руб.😀 тест👍🏽", "ru") == [
        "Кое-что", "стоит", "3,14", "руб", ".", "😀", "тест", "👍🏽"]


@pytest.mark.parametrize("text", HARD_TEXTS)
@pytest.mark.parametrize("language", [None, "en", "ru", "zh"])
def test_tokens_are_valid_and_cover_every_visible_character(text: str, language: str) -> None:
    tokens = tokenize(text, language)
    check_tokens(text, tokens)
    inside = {i for a, b in tokens for i in range(a, b)}
    for i, ch in enumerate(text):
        visible = not ch.isspace() and unicodedata.category(ch) != "Cf"
        assert (i in inside) == visible or ch == "\u200d", (i, ch)
    for a, _ in tokens:  # no token starts with a mark: no span cuts a character in half
        assert unicodedata.category(text[a])[0] != "M"


def test_language_detection() -> None:
    assert detect_language(["Привет, мир", "и ещё немного текста", "ok"]) == "ru"
    assert detect_language(["我爱北京天安门 with some English words"]) == "zh"
    assert detect_language(["Hello world", "Привет"]) == "en"
    assert detect_language(["", "123 !!!"]) == "en"


@pytest.mark.parametrize("text", HARD_TEXTS)
def test_spans_round_trip_through_their_stored_text(text: str) -> None:
    tokens = tokenize(text)
    spans = [Span(tokens[0][0], tokens[0][1], "A"), Span(tokens[-2][0], tokens[-1][1], "B")]
    check_spans(text, tokens, spans, ["A", "B"])
    stored = encode_spans(spans)
    assert decode_spans(stored) == sorted(spans)
    assert encode_spans(decode_spans(stored)) == stored
    assert [text[s.start:s.end] for s in decode_spans(stored)] == [
        text[tokens[0][0]:tokens[0][1]], text[tokens[-2][0]:tokens[-1][1]]]
    tags = spans_to_tags(tokens, spans, "bioes")
    assert tags_to_spans(tokens, tags, "bioes") == sorted(spans)


@pytest.mark.parametrize("text", [*HARD_TEXTS, "", "a😀b", "😀😀", "x\U0001f600"])
def test_utf16_positions_match_what_utf16_counts(text: str) -> None:
    m = Utf16Map(text)
    assert m.utf16_length == len(text.encode("utf-16-le")) // 2
    for i in range(len(text) + 1):
        u = len(text[:i].encode("utf-16-le")) // 2
        assert m.to_utf16(i) == u
        assert m.from_utf16(u) == i


def test_utf16_inside_a_surrogate_pair_and_out_of_range() -> None:
    m = Utf16Map("a😀b")  # units: a=0, 😀=1..2, b=3
    assert [m.from_utf16(u) for u in range(5)] == [0, 1, 1, 2, 3]
    assert [m.to_utf16(i) for i in range(4)] == [0, 1, 3, 4]
    with pytest.raises(ValueError, match="outside"):
        m.from_utf16(5)
    with pytest.raises(ValueError, match="outside"):
        m.to_utf16(4)


def test_token_at() -> None:
    tokens = [(0, 2), (3, 5), (5, 6)]
    assert [token_at(tokens, p) for p in range(7)] == [0, 0, None, 1, 1, 2, None]


# -- tag schemes: worked examples --------------------------------------------------------------

WORDS = "Alex Smith met Anna in New York".split()
TEXT = " ".join(WORDS)
TOKENS = tokenize(TEXT, "en")
PEOPLE = [Span(0, 10, "PER"), Span(15, 19, "PER"), Span(23, 31, "LOC")]


def test_worked_example_in_every_scheme() -> None:
    assert TEXT[0:10] == "Alex Smith" and TEXT[23:31] == "New York"
    bio = "B-PER I-PER O B-PER O B-LOC I-LOC".split()
    bioes = "B-PER E-PER O S-PER O B-LOC E-LOC".split()
    iob1 = "I-PER I-PER O I-PER O I-LOC I-LOC".split()
    for scheme, tags in (("bio", bio), ("bioes", bioes), ("iob1", iob1)):
        assert spans_to_tags(TOKENS, PEOPLE, scheme) == tags
        assert tags_to_spans(TOKENS, tags, scheme) == PEOPLE


def test_iob1_uses_b_only_right_after_an_entity_of_the_same_type() -> None:
    text = "Anna Bob Paris Rome"
    tokens = tokenize(text)
    spans = [Span(0, 4, "PER"), Span(5, 8, "PER"), Span(9, 14, "LOC"), Span(15, 19, "LOC")]
    assert spans_to_tags(tokens, spans, "iob1") == ["I-PER", "B-PER", "I-LOC", "B-LOC"]
    assert spans_to_tags(tokens, spans, "bio") == ["B-PER", "B-PER", "B-LOC", "B-LOC"]
    # a type change needs no B-: I-LOC after I-PER begins a new entity
    assert tags_to_spans(tokens, ["I-PER", "I-PER", "I-LOC", "I-LOC"], "iob1") == [
        Span(0, 8, "PER"), Span(9, 19, "LOC")]
    assert tags_to_spans(tokens, ["I-PER", "B-PER", "I-LOC", "B-LOC"], "iob1") == spans
    assert spans_to_tags(tokens, [Span(0, 4, "PER"), Span(9, 14, "PER")], "iob1") == [
        "I-PER", "O", "I-PER", "O"]  # not adjacent: no B-


def test_bio_i_without_b_names_the_token() -> None:
    with pytest.raises(ValueError, match=r"token 3: I-PER without B-PER.*IOB1"):
        tags_to_spans(TOKENS, "B-PER I-PER O I-PER O O O".split(), "bio")
    with pytest.raises(ValueError, match=r"token 1: I-LOC without B-LOC"):
        tags_to_spans(TOKENS, "B-PER I-LOC O O O O O".split(), "bio")


def test_bioes_errors_and_tags_outside_the_scheme() -> None:
    with pytest.raises(ValueError, match=r"token 2: O before the PER entity begun at token 0"):
        tags_to_spans(TOKENS, "B-PER I-PER O S-PER O B-LOC E-LOC".split(), "bioes")
    with pytest.raises(ValueError, match=r"token 6: the LOC entity begun at token 5 has no"):
        tags_to_spans(TOKENS, "B-PER E-PER O S-PER O B-LOC I-LOC".split(), "bioes")
    with pytest.raises(ValueError, match=r"token 1: E-LOC does not continue"):
        tags_to_spans(TOKENS, "B-PER E-LOC O O O O O".split(), "bioes")
    with pytest.raises(ValueError, match=r"token 1: tag 'E-PER' is not a BIO tag"):
        tags_to_spans(TOKENS, "B-PER E-PER O O O O O".split(), "bio")
    with pytest.raises(ValueError, match=r"token 0: tag 'PER' is not a IOB1 tag"):
        tags_to_spans(TOKENS, "PER O O O O O O".split(), "iob1")
    with pytest.raises(ValueError, match="6 tags for 7 tokens"):
        tags_to_spans(TOKENS, ["O"] * 6, "bio")
    with pytest.raises(ValueError, match="unknown tag scheme"):
        tags_to_spans(TOKENS, ["O"] * 7, "bilou")


def test_lenient_reading_of_model_guesses() -> None:
    assert tags_to_spans(TOKENS, "I-PER I-PER O I-PER O B-LOC I-LOC".split(), "bio",
                         strict=False) == PEOPLE
    assert tags_to_spans(TOKENS, "B-PER I-PER O E-PER O B-LOC I-LOC".split(), "bioes",
                         strict=False) == PEOPLE


def test_type_names_may_hold_hyphens() -> None:
    tokens = tokenize("Star Wars rocks")
    assert tags_to_spans(tokens, ["B-creative-work", "I-creative-work", "O"]) == [
        Span(0, 9, "creative-work")]


def test_check_spans_says_why() -> None:
    labels = ["PER", "LOC"]
    check_spans(TEXT, TOKENS, PEOPLE, labels)
    cases = [
        ([Span(0, 10, "ORG")], "unknown label 'ORG'"),
        ([Span(0, 99, "PER")], "out of range"),
        ([Span(1, 10, "PER")], "does not start at a token boundary"),
        ([Span(0, 9, "PER")], "does not end at a token boundary"),
        ([Span(0, 10, "PER"), Span(5, 10, "LOC")], "overlap"),
    ]
    for spans, why in cases:
        with pytest.raises(ValueError, match=why):
            check_spans(TEXT, TOKENS, spans, labels)
    with pytest.raises(ValueError, match="does not start"):
        spans_to_tags(TOKENS, [Span(1, 10, "PER")])
    with pytest.raises(ValueError, match="overlaps"):
        spans_to_tags(TOKENS, [Span(0, 10, "PER"), Span(5, 19, "PER")])
    with pytest.raises(ValueError, match="overlaps"):
        check_tokens("abc", [(0, 2), (1, 3)])
    with pytest.raises(ValueError, match="not inside"):
        check_tokens("abc", [(0, 4)])


# -- entity metrics: a hand-computed example ---------------------------------------------------

def test_entity_metrics_by_hand() -> None:
    truth = [[Span(0, 5, "PER"), Span(10, 15, "LOC")], [Span(0, 3, "ORG")], [], []]
    guess = [[Span(0, 5, "PER"), Span(10, 14, "LOC")], [Span(0, 3, "ORG"), Span(5, 8, "PER")],
             [Span(1, 2, "LOC")], []]
    m = entity_metrics(["PER", "ORG", "LOC"], truth, guess)
    # PER tp 1 fp 1 fn 0; ORG tp 1; LOC tp 0 fp 2 fn 1 -> micro tp 2 fp 3 fn 1
    assert m["precision"] == pytest.approx(2 / 5)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["micro_f1"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert m["sentence_accuracy"] == pytest.approx(1 / 4)
    table = m["per_label"]
    assert table["labels"] == ["PER", "ORG", "LOC"]
    assert table["tp"] == [1, 1, 0] and table["fp"] == [1, 0, 2] and table["fn"] == [0, 0, 1]
    assert table["support"] == [1, 1, 1]
    assert table["precision"] == pytest.approx([0.5, 1.0, 0.0])
    assert table["recall"] == pytest.approx([1.0, 1.0, 0.0])
    assert m["entities"] == 3 and m["guessed"] == 5 and m["test_items"] == 4


def test_the_spans_task() -> None:
    task = task_for(ProjectSettings(task="spans"))
    assert isinstance(task, Spans) and task.kind == "spans"
    assert task.check_label('[[15,19,"PER"],[0,10,"PER"],[23,31,"LOC"]]',
                            ["LOC", "PER"]) == ["LOC", "PER"]
    assert task.check_label("[]", ["PER"]) == []
    for bad, why in (("PER", "not a span list"), ('[[0,4,"ORG"]]', "unknown label 'ORG'"),
                     ('[[0,4,"PER"],[2,6,"PER"]]', "overlap"), ('[[4,4,"PER"]]', "before end")):
        with pytest.raises(ValueError, match=why):
            task.check_label(bad, ["PER"])
    classes = task.classes(["PER", "LOC"], [])
    assert classes == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    tags, confidence = task.decode(classes, np.array([[0.1, 0.7, 0.1, 0.1, 0.0],
                                                      [0.2, 0.1, 0.6, 0.1, 0.0]]))
    assert tags == ["B-PER", "I-PER"] and confidence.tolist() == [0.7, 0.6]
    m = task.metrics(classes, ['[[0,5,"PER"]]', "[]"], ['[[0,5,"PER"],[6,8,"LOC"]]', "[]"])
    assert m["accuracy"] == m["micro_f1"] == pytest.approx(2 / 3)
    assert m["per_label"]["labels"] == ["PER", "LOC"]
