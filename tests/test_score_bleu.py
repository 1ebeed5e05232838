"""hawk score: BLEU against sacrebleu (an independent implementation) and nltk on real
pairs, records and references, the CLI's tables, JSON and error paths."""

from __future__ import annotations

import json

import pytest

from hawk_core.errors import ConfigError, DataError
from hawk_core.scoring import BleuConfig, ReferenceIndex, bleu_scores, corpus_bleu, load_predictions, sentence_bleu, tokenize
from tests.helpers import invoke
from tests.scoring_data import build_pairs, write_jsonl


@pytest.fixture(scope="module")
def pairs(hivau_jsonl):
    refs, preds = build_pairs(hivau_jsonl, limit=40)
    by_video = {r["video"]: r for r in refs}
    hyps, references = [], []
    for p in preds:
        ref = by_video[p["video"]]
        references.append([ref["description"] if p["task"] == "description" else ref["QA"][0]["a"]])
        hyps.append(p["prediction"])
    return refs, preds, hyps, references


def _sacre(hyps, refs, n, smooth="none", sentence=False):
    from sacrebleu.metrics import BLEU

    kw = {"smooth_value": 0.1} if smooth == "floor" else {}
    bleu = BLEU(tokenize="none", smooth_method=smooth, max_ngram_order=n, effective_order=False, **kw)
    join = lambda t: " ".join(tokenize(t))  # noqa: E731
    if sentence:
        return bleu.sentence_score(join(hyps), [join(r) for r in refs]).score / 100
    return bleu.corpus_score([join(h) for h in hyps], [[join(r[0]) for r in refs]]).score / 100


def test_tokenizer_splits_words_and_punctuation_without_nltk_data():
    assert tokenize("The man's car, HIT-and-run!") == ["the", "man", "'", "s", "car", ",", "hit", "-", "and", "-", "run", "!"]
    assert tokenize("  ") == []


def test_corpus_bleu_matches_sacrebleu_on_real_pairs(pairs):
    _, _, hyps, refs = pairs
    ours = corpus_bleu(hyps, refs, smoothing=0)
    for n in range(1, 5):
        assert ours[n - 1] == pytest.approx(_sacre(hyps, refs, n), abs=1e-9), f"BLEU-{n}"
    # cumulative BLEU decreases with n on real text, and smoothing 1 changes nothing when
    # every order has matches (the documented property of the default)
    assert ours[0] > ours[1] > ours[2] > ours[3] > 0
    assert corpus_bleu(hyps, refs, smoothing=1) == pytest.approx(ours, abs=1e-12)


def test_sentence_bleu_matches_sacrebleu_floor_smoothing(pairs):
    _, _, hyps, refs = pairs
    for h, r in list(zip(hyps, refs))[:12]:
        ours = sentence_bleu(h, r, smoothing=1)
        for n in range(1, 5):
            assert ours[n - 1] == pytest.approx(_sacre(h, r, n, smooth="floor", sentence=True), abs=1e-9)
    mean = bleu_scores(hyps, refs, BleuConfig(mode="sentence"))
    per = [sentence_bleu(h, r) for h, r in zip(hyps, refs)]
    assert mean[3] == pytest.approx(sum(p[3] for p in per) / len(per))
    assert mean[3] != pytest.approx(corpus_bleu(hyps, refs)[3])  # the two conventions differ


def test_bleu_against_nltk_directly_and_multi_reference():
    from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu

    hyps = ["the man hits a car with a bat.", "two people fight on the street"]
    refs = [["The man hits a car with a baseball bat.", "A man smashes the car."], ["Two men fight in the street."]]
    ours = corpus_bleu(hyps, refs, smoothing=0)
    direct = nltk_corpus_bleu([[tokenize(r) for r in rs] for rs in refs], [tokenize(h) for h in hyps], weights=(0.25,) * 4)
    assert ours[3] == pytest.approx(direct) and ours[3] > 0
    assert corpus_bleu(hyps, [[rs[0]] for rs in refs], smoothing=0)[0] <= ours[0]


def test_empty_hypothesis_scores_zero_and_shortens_the_corpus():
    assert sentence_bleu("", ["a man runs"]) == [0.0] * 4
    full = corpus_bleu(["a man runs away fast"], [["a man runs away fast"]])
    with_empty = corpus_bleu(["a man runs away fast", ""], [["a man runs away fast"], ["the car stops"]])
    assert full[0] == pytest.approx(1.0) and with_empty[0] < full[0]


def test_bleu_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="mode"):
        BleuConfig(mode="doc")
    with pytest.raises(ConfigError, match="smoothing"):
        BleuConfig(smoothing=9)



# no 2-gram of the hypothesis is in the reference: unsmoothed BLEU-2..4 are (about) 0, smoothed are not
_NO_BIGRAM = (["man car bat street"], [["the car hit a man with a bat in the street"]])


def _nltk(hyps, refs, k, sentence=False):
    from nltk.translate.bleu_score import SmoothingFunction
    from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu
    from nltk.translate.bleu_score import sentence_bleu as nltk_sentence_bleu

    weights = [(1.0,), (0.5, 0.5), (1 / 3,) * 3, (0.25,) * 4]
    fn = getattr(SmoothingFunction(), f"method{k}")
    if sentence:
        per = [nltk_sentence_bleu([tokenize(r) for r in rs], tokenize(h), weights=weights, smoothing_function=fn) for h, rs in zip(hyps, refs)]
        return [sum(col) / len(per) for col in zip(*per)]
    return nltk_corpus_bleu([[tokenize(r) for r in rs] for rs in refs], [tokenize(h) for h in hyps], weights=weights, smoothing_function=fn)


@pytest.mark.parametrize("mode", ["corpus", "sentence"])
def test_configured_smoothing_is_honoured_in_both_modes(mode):
    hyps, refs = _NO_BIGRAM
    off = bleu_scores(hyps, refs, BleuConfig(mode=mode, smoothing=0))
    on = bleu_scores(hyps, refs, BleuConfig(mode=mode, smoothing=1))
    assert off[0] == pytest.approx(on[0]) and off[0] > 0
    assert max(off[1:]) < 1e-100 and min(on[1:]) > 1e-3  # nltk's unsmoothed 0 is exp(log(float min))
    for k in (0, 1, 2, 3, 4, 5, 7):  # nltk's method6 asserts a 2-gram match, which this pair lacks
        ours = bleu_scores(hyps, refs, BleuConfig(mode=mode, smoothing=k))
        assert ours == pytest.approx(_nltk(hyps, refs, k, sentence=mode == "sentence"), abs=1e-12), f"method{k}"


def test_smoothing_methods_differ_on_a_corpus_with_a_missing_order():
    hyps = ["man car bat street", "two men fight in the street at night"]
    refs = [["the car hit a man with a bat in the street"], ["two men fight in the street"]]
    scores = {k: bleu_scores(hyps, refs, BleuConfig(smoothing=k))[3] for k in range(8)}
    for k, v in scores.items():
        assert v == pytest.approx(_nltk(hyps, refs, k)[3], abs=1e-12)
    assert len({round(v, 9) for v in scores.values()}) >= 4  # the method number reaches nltk


def test_empty_sets_score_zero_and_lengths_must_agree():
    assert bleu_scores([], [], BleuConfig(mode="corpus")) == [0.0] * 4
    assert bleu_scores([], [], BleuConfig(mode="sentence")) == [0.0] * 4
    with pytest.raises(ValueError, match="hypotheses: 2, references: 1"):
        corpus_bleu(["a", "b"], [["a"]])
    with pytest.raises(ValueError):
        bleu_scores(["a", "b"], [["a"]], BleuConfig(mode="sentence"))
    assert BleuConfig(mode="sentence", smoothing=0).describe() == {
        "mode": "sentence", "smoothing": "nltk method0", "tokenizer": "lowercase + nltk wordpunct_tokenize"}


# ---- records and references ---------------------------------------------------------------


def test_join_by_video_and_question_counts_unjoined(tmp_path, pairs):
    refs, preds, _, _ = pairs
    extra = [
        {"id": "x1", "video": "nowhere/unknown.mp4", "task": "description", "prediction": "a man"},
        {"id": "x2", "video": preds[1]["video"], "task": "qa", "question": "Who is there?", "prediction": "a man"},
        {"id": "x3", "task": "description", "prediction": "no video, no reference"},
        # file-name join and question matching ignoring case and trailing punctuation
        {"id": "x4", "video": "/data/" + preds[1]["video"].rsplit("/", 1)[-1], "task": "qa",
         "question": preds[1]["question"].upper().rstrip("?"), "prediction": "because it is cruel"},
        {"id": "x5", "task": "qa", "question": "What?", "prediction": "inline", "reference": ["r1", "r2"]},
    ]
    path = write_jsonl(tmp_path / "p.jsonl", preds + extra)
    index = ReferenceIndex(refs)
    lp = load_predictions(path, index)
    assert lp.unjoined == 3 and lp.unjoined_examples == ["x1", "x2", "x3"]
    assert len(lp.items) == len(preds) + 2
    x4 = next(i for i in lp.items if i.id == "x4")
    assert x4.references == (refs[0]["QA"][0]["a"],) and x4.fields["source"] == "ucf-crime"
    assert next(i for i in lp.items if i.id == "x5").references == ("r1", "r2")
    assert lp.counts()["records"] == len(preds) + 5


def test_ambiguous_file_name_is_not_joined():
    index = ReferenceIndex([{"video": "a/v.mp4", "description": "one"}, {"video": "b/v.mp4", "description": "two"}])
    assert index.lookup("description", "c/v.mp4", None) == ([], {})
    assert index.lookup("description", "b/v.mp4", None)[0] == ["two"]


def test_reference_file_errors_name_the_record():
    with pytest.raises(DataError, match="record 2: 'video' must be a non-empty string"):
        ReferenceIndex([{"video": "a.mp4", "description": "x"}, {"description": "y"}])
    with pytest.raises(DataError, match=r"QA item 1"):
        ReferenceIndex([{"video": "a.mp4", "QA": [{"q": "why"}]}])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"task": "qa", "question": "q", "prediction": "p", "reference": "r"}', "no 'id'"),
        ('{"id": 1, "task": "caption", "prediction": "p", "reference": "r"}', "task must be one of"),
        ('{"id": 1, "task": "qa", "prediction": "p", "reference": "r"}', "needs its 'question'"),
        ('{"id": 1, "task": "description", "reference": "r"}', "'prediction' is missing"),
        ('{"id": 1, "task": "description", "prediction": "p", "reference": 3}', "'reference' must be"),
        ('{"id": 1, "task": "description", "prediction": "p"', "invalid JSON"),
        ('[1, 2]', "not a JSON object"),
    ],
)
def test_invalid_records_stop_with_the_line_or_are_counted(tmp_path, line, message):
    good = '{"id": 0, "task": "description", "prediction": "a man runs", "reference": "a man runs"}'
    path = tmp_path / "p.jsonl"
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"line 2: .*{message}"):
        load_predictions(path)
    lp = load_predictions(path, skip_invalid=True)
    assert len(lp.items) == 1 and len(lp.invalid) == 1 and message.split()[0] in lp.invalid[0].reason


def test_task_names_are_read_with_the_alias(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"id": 1, "task": "describe", "prediction": "a man runs", "reference": "a man runs"},
        {"id": 2, "task": " QA ", "question": "Who?", "prediction": "a man", "reference": "a man"},
    ])
    assert [i.task for i in load_predictions(path).items] == ["description", "qa"]


def test_duplicates_non_utf8_and_empty_predictions(tmp_path):
    rec = lambda i, p: json.dumps({"id": i, "task": "description", "prediction": p, "reference": "a man runs"}).encode()  # noqa: E731
    raw = b"\n".join([rec(1, "a man runs"), rec(1, "again"), b'{"id": 2, "task": "description", "prediction": "caf\xe9", "reference": "r"}', rec(3, "  "), rec(4, "a dog")]) + b"\n"
    path = tmp_path / "p.jsonl"
    path.write_bytes(raw)
    with pytest.raises(DataError, match=r"line 2: duplicate id '1' \(first on line 1\)"):
        load_predictions(path)
    lp = load_predictions(path, skip_invalid=True)
    assert lp.duplicates == 1 and [b.line for b in lp.invalid] == [2, 3] and "not UTF-8" in lp.invalid[1].reason
    assert lp.empty == 1 and [i.id for i in lp.items] == ["1", "3", "4"]
    lp = load_predictions(path, skip_invalid=True, skip_empty=True)
    assert lp.skipped_empty == 1 and [i.id for i in lp.items] == ["1", "4"]


def test_nothing_scorable_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"id": 1, "video": "v.mp4", "task": "description", "prediction": "p"}])
    with pytest.raises(DataError, match="no record can be scored: 1 without a reference .*--refs"):
        load_predictions(path)


# ---- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path, pairs):
    refs, preds, _, _ = pairs
    refs_path = tmp_path / "refs.json"
    refs_path.write_text(json.dumps(refs), encoding="utf-8")
    extra = [{"id": "lost", "video": "elsewhere/none.mp4", "task": "description", "prediction": "x"}]
    return write_jsonl(tmp_path / "hawk.jsonl", preds + extra), refs_path


def test_cli_json_report(files, pairs):
    preds_path, refs_path = files
    _, _, hyps, refs = pairs
    r = invoke("score", preds_path, "--refs", refs_path, "--no-semantic", "--no-meteor", "--json", "--by", "source")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    run = data["runs"][0]
    assert run["counts"]["unjoined"] == 1 and run["unjoined_examples"] == ["lost"]
    desc, qa = run["tasks"]["description"], run["tasks"]["qa"]
    assert set(desc) == {"bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rouge_l", "cider", "meteor_unavailable", "semantic",
                         "reasonability", "detail", "consistency", "counts"}
    assert desc["meteor"] is None and desc["meteor_unavailable"] == "not requested" and 0 < desc["rouge_l"] < 1
    assert desc["counts"]["n"] + qa["counts"]["n"] == len(hyps)
    d_idx = [i for i, p in enumerate(pairs[1]) if p["task"] == "description"]
    expected = corpus_bleu([hyps[i] for i in d_idx], [refs[i] for i in d_idx])
    assert [desc[f"bleu{n}"] for n in range(1, 5)] == pytest.approx(expected)
    assert desc["semantic"] is None and desc["reasonability"] is None
    groups = run["groups"]
    assert set(groups) == {"ucf-crime", "xd-violence"}
    assert sum(g["qa"]["counts"]["n"] for g in groups.values()) == qa["counts"]["n"]
    assert groups["ucf-crime"]["description"]["bleu4"] != desc["bleu4"]
    assert "1 without a reference" in r.stderr


def test_cli_table_several_files_out_and_items(tmp_path, files):
    preds_path, refs_path = files
    lines = preds_path.read_text().splitlines()
    other = tmp_path / "baseline.jsonl"
    other.write_text("\n".join(lines[:6]) + "\n")
    out, items = tmp_path / "rep" / "scores.json", tmp_path / "items.jsonl"
    r = invoke("score", preds_path, other, "--refs", refs_path, "--no-semantic", "--no-meteor", "--sentence-bleu", "--out", out, "--items", items)
    assert r.exit_code == 0, r.output
    assert "(A) Anomaly video description generation" in r.output and "(B) Anomaly video question-answering" in r.output
    assert "\n hawk " in r.output and "\n baseline " in r.output and "BLEU: sentence" in r.output
    assert "Reas." not in r.output and "Sem." not in r.output  # metrics not computed have no column
    report = json.loads(out.read_text())
    assert [run["label"] for run in report["runs"]] == ["hawk", "baseline"]
    rows = [json.loads(x) for x in items.read_text().splitlines()]
    assert len(rows) == report["runs"][0]["counts"]["scored"] + report["runs"][1]["counts"]["scored"]
    first = [row for row in rows if row["file"] == str(preds_path) and row["task"] == "description"]
    mean = sum(row["bleu4"] for row in first) / len(first)
    assert report["runs"][0]["tasks"]["description"]["bleu4"] == pytest.approx(mean)


def test_cli_errors_are_one_line(tmp_path, files):
    preds_path, refs_path = files
    r = invoke("score", tmp_path / "missing.jsonl")
    assert r.exit_code == 2 and "no such file" in r.output and "Traceback" not in r.output
    dup = tmp_path / "dup.jsonl"
    dup.write_text(preds_path.read_text().splitlines()[0] + "\n" + preds_path.read_text().splitlines()[0] + "\n")
    r = invoke("score", dup, "--refs", refs_path, "--no-semantic", "--no-meteor")
    assert r.exit_code == 2 and "line 2: duplicate id" in r.output and "--skip-invalid" in r.output
    r = invoke("score", dup, "--refs", refs_path, "--no-semantic", "--no-meteor", "--skip-invalid")
    assert r.exit_code == 0 and "1 invalid skipped" in r.output
    r = invoke("score", preds_path, "--no-semantic", "--no-meteor")
    assert r.exit_code == 2 and "pass --refs" in r.output
    r = invoke("score", preds_path, "--refs", refs_path, "--no-semantic", "--no-meteor", "--judge-price", "cheap", "--judge")
    assert r.exit_code == 2 and "--judge-price" in r.output
    bad_refs = tmp_path / "bad.json"
    bad_refs.write_text('[{"description": "x"}]')
    r = invoke("score", preds_path, "--refs", bad_refs, "--no-semantic", "--no-meteor")
    assert r.exit_code == 2 and "record 1: 'video' must be a non-empty string" in r.output


def test_help_documents_tokenizer_smoothing_and_policy():
    r = invoke("score", "--help")
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for needle in ("wordpunct", "method1", "--skip-invalid", "--skip-empty", "--judge-model", "--by"):
        assert needle in text


def test_cli_smoothing_reaches_the_corpus_score(tmp_path):
    refs = [{"video": "a.mp4", "description": "the car hit a man with a bat in the street", "QA": []}]
    preds = [{"id": "1", "video": "a.mp4", "task": "description", "prediction": "man car bat street"}]
    (tmp_path / "refs.json").write_text(json.dumps(refs), encoding="utf-8")
    path = write_jsonl(tmp_path / "p.jsonl", preds)
    got = {}
    for k in (0, 1):
        r = invoke("score", path, "--refs", tmp_path / "refs.json", "--no-semantic", "--json", "--smoothing", str(k))
        assert r.exit_code == 0, r.output
        got[k] = json.loads(r.stdout)["runs"][0]["tasks"]["description"]
    assert max(got[0][f"bleu{n}"] for n in (2, 3, 4)) < 1e-100
    assert [got[1][f"bleu{n}"] for n in range(1, 5)] == pytest.approx(_nltk(["man car bat street"], [[refs[0]["description"]]], 1))


def test_bleu_config_bounds_and_messages():
    with pytest.raises(ConfigError, match=r"^bleu mode must be one of corpus, sentence \(got 'doc'\)$"):
        BleuConfig(mode="doc")
    for bad in (-1, 8):
        with pytest.raises(ConfigError, match=rf"^smoothing must be an NLTK method number 0..7 \(got {bad}\)$"):
            BleuConfig(smoothing=bad)
    assert BleuConfig(smoothing=0).smoothing == 0 and BleuConfig(smoothing=7).smoothing == 7
