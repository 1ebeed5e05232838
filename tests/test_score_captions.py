"""METEOR / ROUGE-L / CIDEr against pycocoevalcap's own scorers on the same tokens, the PTB
tokeniser against the Stanford jar pycocoevalcap ships, hand-checkable cases, and METEOR
reported unavailable (never 0) without Java."""

from __future__ import annotations

import json

import pytest

from hawk_core.errors import ConfigError, DependencyError, InputError
from hawk_core.scoring.captions import (
    CaptionConfig, caption_scores, cider, find_java, meteor, meteor_unavailable, rouge_l, rouge_l_corpus, tokenize_all,
)
from hawk_core.scoring.ptb import coco_tokenize, coco_tokenize_java, ptb_tokens
from tests.scoring_data import build_pairs

needs_java = pytest.mark.skipif(find_java() is None, reason="Java is not installed")


@pytest.fixture(scope="module")
def real(hivau_jsonl):
    refs, preds = build_pairs(hivau_jsonl, limit=40)
    by_video = {r["video"]: r for r in refs}
    hyps, references = [], []
    for p in preds:
        ref = by_video[p["video"]]
        references.append([ref["description"] if p["task"] == "description" else ref["QA"][0]["a"]])
        hyps.append(p["prediction"])
    # a few items with two references (the second is another item's), so max-over-references
    # and the reference count in CIDEr's denominator are exercised
    for i in range(0, len(references), 7):
        references[i] = references[i] + references[(i + 3) % len(references)]
    return hyps, references


def _coco(hyp_toks, ref_toks):
    gts = {i: [" ".join(t) for t in rs] for i, rs in enumerate(ref_toks)}
    res = {i: [" ".join(t)] for i, t in enumerate(hyp_toks)}
    return gts, res


# ---- the tokeniser -------------------------------------------------------------------------

# expected tokens as the Stanford PTBTokenizer 3.4.1 jar (-preserveLines -lowerCase) gives them
PTB_CASES = [
    ("The postman's dog didn't bark, and they can't/won't go (really) [maybe] {ok} -- fine...",
     "the postman 's dog did n't bark , and they ca n't / wo n't go -lrb- really -rrb- -lsb- maybe -rsb- -lcb- ok -rcb- -- fine ..."),
    ("Mr. Smith paid $5.50 at 3:00 p.m. in the U.S. on 12/05/2020; it cost 1,000 dollars & more!",
     "mr. smith paid $ 5.50 at 3:00 p.m. in the u.s. on 12/05/2020 ; it cost 1,000 dollars & more !"),
    ("A well-known man - aged 30 - cannot gonna wanna gimme lemme 'tis 'em o'clock rock'n'roll.",
     "a well-known man - aged 30 - can not gon na wan na gim me lem me 't is 'em o'clock rock 'n' roll ."),
    ("He said \u201chello\u201d and it\u2019s the dogs' bones\u2026 AT&T \u00a35 \u20ac3 50% #1 @home a*b x+y=z <tag> ~ ^ _ under_score",
     "he said `` hello '' and it 's the dogs ' bones ... at&t # 5 $ 3 50 % # 1 @home a * b x + y = z <tag> ~ ^ _ under_score"),
    ("Is it ok? Yes!! No?! e.g. i.e. etc. The car's speed was 60km/h . End .",
     "is it ok ? yes !! no ?! e.g. i.e. etc. . the car 's speed was 60km/h . end ."),
    ("at 1.0s-2.3s, and 26.666s-28.958s, Inc. The C++ video?Briefly mid-'90s",
     "at 1.0s-2 .3 s , and 26.666s-28 .958 s , inc. . the c++ video?briefly mid - '90s"),
    ("The \"man\" said 'hi' \u2019tis \u041c\u0435\u0433\u0430\u0431\u0430\u043d\u043a \"\u043c\u0435\u0433\u0430\u0431\u0430\u043d\u043a.\" c'est l'homme caf\u00e9",
     "the `` man '' said ` hi ' ' tis \u043c\u0435\u0433\u0430\u0431\u0430\u043d\u043a '' \u043c\u0435\u0433\u0430\u0431\u0430\u043d\u043a . '' c'est l'homme caf\u00e9"),
]


@pytest.mark.parametrize(("text", "expected"), PTB_CASES)
def test_ptb_tokens_equal_the_jars_recorded_output(text, expected):
    assert ptb_tokens(text) == expected.split(" ")


def test_coco_tokenize_drops_pycocoevalcaps_punctuation_but_keeps_lowercased_brackets():
    # -LRB- is in pycocoevalcap's list, but the jar lowercases first: "-lrb-" survives
    assert coco_tokenize("A man (in red) runs, fast... \"Stop!\" he said: no.") == ["a", "man", "-lrb-", "in", "red", "-rrb-", "runs", "fast", "stop", "he", "said", "no"]
    assert coco_tokenize("What?! Wow!!") == ["what", "?!", "wow", "!!"]  # runs of ?! are not in the list
    assert coco_tokenize("") == [] and coco_tokenize(" \n ") == []


@needs_java
def test_coco_tokenize_equals_the_jar_on_real_hivau_texts(hivau_jsonl):
    pytest.importorskip("pycocoevalcap")
    texts = []
    with open(hivau_jsonl, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i % 16 == 0:
                r = json.loads(line)
                texts += [r["anwser"], r["prompt"]]
    texts += [t for t, _ in PTB_CASES] + ["", "Line one\nline two."]
    ours = [coco_tokenize(t) for t in texts]
    jar = coco_tokenize_java(texts)
    bad = [(t, o, j) for t, o, j in zip(texts, ours, jar, strict=True) if o != j]
    assert not bad, f"{len(bad)} of {len(texts)} differ, first: {bad[0]}"
    assert tokenize_all(texts[:5], "coco-java") == ours[:5]


# ---- ROUGE-L -------------------------------------------------------------------------------


def test_rouge_l_by_hand():
    hyp = "a b c d".split()
    # LCS with ref 1 = 3 (a c d): P 3/4, R 3/5; ref 2 = "a b" : LCS 2, P 2/4, R 2/2.
    # Max precision (ref 1) and max recall (ref 2) come from different references.
    p, r = 3 / 4, 1.0
    expected = (1 + 1.2**2) * p * r / (r + 1.2**2 * p)
    assert rouge_l(hyp, ["a c d e f".split(), "a b".split()]) == pytest.approx(expected, abs=1e-15)
    assert rouge_l(hyp, ["a c d e f".split()]) == pytest.approx(2.44 * 0.75 * 0.6 / (0.6 + 1.44 * 0.75), abs=1e-15)
    assert rouge_l([], ["a".split()]) == 0.0
    assert rouge_l("x y".split(), ["a b".split()]) == 0.0
    with pytest.raises(InputError):
        rouge_l(hyp, [])


def test_rouge_l_and_cider_equal_pycocoevalcap_on_real_pairs(real):
    pytest.importorskip("pycocoevalcap")
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    hyps, refs = real
    ht = tokenize_all(hyps)
    rt = [tokenize_all(r) for r in refs]
    gts, res = _coco(ht, rt)
    want, want_per = Rouge().compute_score(gts, res)
    got, per = rouge_l_corpus(ht, rt)
    assert got == pytest.approx(want, abs=1e-12)
    assert per == pytest.approx(list(want_per), abs=1e-12)
    want, want_per = Cider().compute_score(gts, res)
    got, per = cider(ht, rt)
    assert got == pytest.approx(want, abs=1e-12)
    assert per == pytest.approx(list(want_per), abs=1e-12)
    assert 0.2 < got < 5 and len(set(round(x, 9) for x in per)) > len(per) // 2  # non-degenerate


def test_cider_is_corpus_level_and_matches_pycocoevalcap_on_edge_cases():
    pytest.importorskip("pycocoevalcap")
    from pycocoevalcap.cider.cider import Cider

    hyps = [["a", "man", "runs"], ["a", "dog", "barks", "loudly"], [], ["x"]]
    refs = [[["a", "man", "is", "running"], ["a", "man", "runs", "fast"]], [["the", "dog", "barks"]], [["nothing", "happens"]], [["x", "y", "z", "w", "v"]]]
    got, per = cider(hyps, refs)
    want, want_per = Cider().compute_score(*_coco(hyps, refs))
    assert got == pytest.approx(want, abs=1e-12) and per == pytest.approx(list(want_per), abs=1e-12)
    assert per[2] == 0.0  # empty hypothesis
    # the IDF comes from the evaluated set: item 0 alone scores 0, and differently beside others
    assert cider(hyps[:1], refs[:1])[0] == 0.0
    other = (["a", "man", "walks"], [["a", "man", "walks", "slowly"]])  # shares "a man" with item 0's references
    beside = cider([hyps[0], other[0]], [refs[0], other[1]])[1][0]
    assert beside != pytest.approx(cider(hyps[:2], refs[:2])[1][0], rel=1e-3)


# ---- METEOR --------------------------------------------------------------------------------


def test_meteor_without_java_is_unavailable_not_zero(real):
    hyps, refs = real
    cfg = CaptionConfig(java="/nonexistent/java")
    out = caption_scores(hyps[:5], refs[:5], cfg)
    assert out.meteor is None and "Java" in out.meteor_unavailable
    assert out.per_item["meteor"] == [None] * 5
    assert out.to_dict()["meteor"] is None and out.rouge_l > 0 and out.cider > 0
    assert meteor_unavailable("/nonexistent/java").startswith("needs Java")
    with pytest.raises(DependencyError, match="Java"):
        meteor([["a"]], [[["a"]]], java="/nonexistent/java")
    off = caption_scores(hyps[:2], refs[:2], CaptionConfig(meteor=False))
    assert off.meteor is None and off.meteor_unavailable == "not requested"


@pytest.mark.slow
@needs_java
def test_meteor_equals_pycocoevalcap(real):
    pytest.importorskip("pycocoevalcap")
    from pycocoevalcap.meteor.meteor import Meteor

    hyps, refs = real
    hyps, refs = hyps[:24], refs[:24]
    ht = tokenize_all(hyps)
    rt = [tokenize_all(r) for r in refs]
    scorer = Meteor()
    try:
        want, want_per = scorer.compute_score(*_coco(ht, rt))
    finally:
        del scorer
    out = caption_scores(hyps, refs)  # tokenises the raw texts itself, then runs the jar
    assert out.meteor_unavailable is None
    assert out.meteor == pytest.approx(want, abs=1e-12)
    assert out.per_item["meteor"] == pytest.approx(list(want_per), abs=1e-12)
    assert out.meteor != pytest.approx(sum(want_per) / len(want_per), abs=1e-6)  # aggregate, not the mean


def test_caption_inputs_are_checked():
    with pytest.raises(ConfigError, match="tokenizer"):
        CaptionConfig(tokenizer="nltk")
    with pytest.raises(InputError, match="no reference"):
        caption_scores(["a b"], [[]], CaptionConfig(meteor=False))
    with pytest.raises(InputError, match="hypotheses: 2"):
        caption_scores(["a", "b"], [["a"]], CaptionConfig(meteor=False))
    out = caption_scores(["A man runs."], [["a man runs"]], CaptionConfig(meteor=False, tokenizer="whitespace"))
    assert out.rouge_l < 1.0  # "runs." != "runs" when the text is taken as already tokenised
    assert caption_scores(["A man runs."], [["a man runs"]], CaptionConfig(meteor=False)).rouge_l == 1.0
