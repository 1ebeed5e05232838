"""hawk score's peer metrics through the CLI: METEOR / ROUGE-L / CIDEr per task (and per --by
group, CIDEr's IDF over each scored set) equal to the library's on the same items, METEOR
reported as unavailable without Java (never 0), and the Video-ChatGPT judge protocol's five
columns against the judge tests' local server."""

from __future__ import annotations

import json

import pytest

from hawk_core.scoring.captions import CaptionConfig, caption_scores
from tests.helpers import invoke
from tests.scoring_data import build_pairs, write_jsonl


@pytest.fixture(scope="module")
def real(hivau_jsonl):
    return build_pairs(hivau_jsonl, limit=10)


@pytest.fixture
def files(tmp_path, real):
    refs, preds = real
    refs_path = tmp_path / "refs.json"
    refs_path.write_text(json.dumps(refs))
    return write_jsonl(tmp_path / "hawk.jsonl", preds), refs_path


def _expected(real, task, source=None):
    refs, preds = real
    by_video = {r["video"]: r for r in refs}
    chosen = [p for p in preds if p["task"] == task and (source is None or by_video[p["video"]]["source"] == source)]
    hyps = [p["prediction"] for p in chosen]
    references = [[by_video[p["video"]]["description"] if task == "description" else by_video[p["video"]]["QA"][0]["a"]] for p in chosen]
    return hyps, references


def test_rouge_and_cider_per_task_and_group_equal_the_library(files, real):
    preds_path, refs_path = files
    r = invoke("score", preds_path, "--refs", refs_path, "--no-semantic", "--no-meteor", "--by", "source", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    run = data["runs"][0]
    for task in ("description", "qa"):
        want = caption_scores(*_expected(real, task), CaptionConfig(meteor=False))
        got = run["tasks"][task]
        assert got["rouge_l"] == pytest.approx(want.rouge_l, abs=1e-12) and got["cider"] == pytest.approx(want.cider, abs=1e-12)
        assert got["meteor"] is None and got["meteor_unavailable"] == "not requested"
    # a group is its own scored set: CIDEr's IDF is over that group's references
    group = run["groups"]["ucf-crime"]["description"]
    want = caption_scores(*_expected(real, "description", "ucf-crime"), CaptionConfig(meteor=False))
    assert group["cider"] == pytest.approx(want.cider, abs=1e-12) and group["cider"] != run["tasks"]["description"]["cider"]
    assert data["settings"]["captions"]["tokens"] == "coco" and data["settings"]["captions"]["meteor_unavailable"] == "not requested"
    # whitespace tokens give other figures
    r = invoke("score", preds_path, "--refs", refs_path, "--no-semantic", "--no-meteor", "--caption-tokenizer", "whitespace", "--json")
    ws = json.loads(r.stdout)["runs"][0]["tasks"]["description"]
    assert ws["rouge_l"] == pytest.approx(caption_scores(*_expected(real, "description"), CaptionConfig(tokenizer="whitespace", meteor=False)).rouge_l)
    assert ws["rouge_l"] != run["tasks"]["description"]["rouge_l"]


def test_table_columns_and_meteor_without_java_is_not_zero(files, tmp_path, monkeypatch):
    preds_path, refs_path = files
    r = invoke("score", preds_path, "--refs", refs_path, "--no-semantic", "--no-meteor")
    assert r.exit_code == 0, r.output
    assert "ROUGE-L" in r.stdout and "CIDEr" in r.stdout and "METEOR" not in r.stdout  # not requested: no column
    empty = tmp_path / "no-java"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    r = invoke("score", preds_path, "--refs", refs_path, "--no-semantic")
    assert r.exit_code == 0, r.output
    assert "METEOR" in r.stdout and " n/a " in r.stdout and "needs Java" in " ".join(r.stdout.split())
    r = invoke("score", preds_path, "--refs", refs_path, "--no-semantic", "--json")
    desc = json.loads(r.stdout)["runs"][0]["tasks"]["description"]
    assert desc["meteor"] is None and desc["meteor_unavailable"].startswith("needs Java")
    assert desc["rouge_l"] is not None and desc["cider"] is not None
    r = invoke("score", preds_path, "--refs", refs_path, "--no-semantic", "--caption-tokenizer", "ptb")
    assert r.exit_code == 2 and "caption tokenizer must be one of coco, coco-java, whitespace" in r.output


@pytest.mark.slow
def test_meteor_in_the_report_equals_pycocoevalcaps(files, real):
    from hawk_core.scoring.captions import meteor_unavailable

    if meteor_unavailable():
        pytest.skip(f"METEOR: {meteor_unavailable()}")
    preds_path, refs_path = files
    r = invoke("score", preds_path, "--refs", refs_path, "--no-semantic", "--json")
    assert r.exit_code == 0, r.output
    tasks = json.loads(r.stdout)["runs"][0]["tasks"]
    for task in ("description", "qa"):
        want = caption_scores(*_expected(real, task))
        assert tasks[task]["meteor"] == pytest.approx(want.meteor, abs=1e-9) and tasks[task]["meteor_unavailable"] is None


def test_video_chatgpt_judge_protocol_columns_and_json(files, tmp_path, monkeypatch):
    from tests.test_score_judge_videochatgpt import FakeVCG

    preds_path, refs_path = files
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeVCG() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        args = ["score", preds_path, "--refs", refs_path, "--no-semantic", "--no-meteor", "--judge", "--judge-protocol", "videochatgpt",
                "--judge-model", "judge-x", "--judge-backoff", "0", "--judge-cache", tmp_path / "c.jsonl"]
        r = invoke(*args, "--json")
        assert r.exit_code == 0, r.output
        data = json.loads(r.stdout)
        desc = data["runs"][0]["tasks"]["description"]
        # the fake judge answers correctness 4, detail 3, context 5, temporal 2, consistency 1
        assert {k: desc[k] for k in ("correctness", "detail", "context", "temporal", "consistency")} == \
            {"correctness": 4.0, "detail": 3.0, "context": 5.0, "temporal": 2.0, "consistency": 1.0}
        assert "reasonability" not in desc and data["settings"]["judge_protocol"] == "videochatgpt"
        r = invoke(*args)
        assert r.exit_code == 0, r.output
        for head in ("Corr.", "Detail", "Ctx.", "Temp.", "Cons."):
            assert head in r.stdout
        assert "Video-ChatGPT, 0-5" in " ".join(r.stdout.split()) and "Reas." not in r.stdout
    r = invoke("score", preds_path, "--refs", refs_path, "--no-semantic", "--judge", "--judge-protocol", "gpt5")
    assert r.exit_code == 2 and "judge protocol must be one of hawk, videochatgpt" in r.output
