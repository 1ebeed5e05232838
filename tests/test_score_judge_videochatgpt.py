"""The Video-ChatGPT judge protocol against the judge tests' real OpenAI-compatible server on
127.0.0.1: its five per-dimension system prompts and user templates as sent, 0-5 integer
parsing (out-of-range answers rejected and retried), the paper judge's cache and retries
reused (a rerun sends nothing; the two protocols never share verdicts), and the two-question
consistency pair."""

from __future__ import annotations

import re

import pytest

from hawk_core.errors import ConfigError
from hawk_core.scoring import DIMENSIONS, Judge, JudgeConfig, ScoreItem, ScoreParseError
from hawk_core.scoring.judge_videochatgpt import (
    SCORE_NAMES, VCG_DIMENSIONS, VideoChatGPTJudge, VideoChatGPTTemplates, make_judge, parse_vcg_score,
    protocol_dimensions, summarize_verdicts,
)
from tests.fake_openai import FakeOpenAI
from tests.scoring_data import build_pairs

VCG_SCORES = {"factual accuracy": 4, "detail orientation": 3, "contextual understanding": 5, "temporal accuracy": 2, "consistency": 1}
MARKERS = ["good", "fractional", "prose", "outofrange", "flaky", "err500"]
REQUESTS = {"good": 1, "fractional": 1, "prose": 1, "outofrange": 3, "flaky": 2, "err500": 3}  # retries=2


class FakeVCG(FakeOpenAI):
    """The judge tests' server, answering Video-ChatGPT prompts too (HAWK prompts as before)."""

    def respond(self, path, auth, body):
        user = body["messages"][-1]["content"]
        if "Ours:" in user:
            return super().respond(path, auth, body)
        with self._lock:
            self.requests.append(body)
        if auth != f"Bearer {self.api_key}":
            return 401, {"error": {"message": "bad key"}}, {}
        name = re.search(r"only as a (.+?) score,", user).group(1)
        pred = re.search(r"Predicted (?:Answer(?: to Question 1)?|Description): (.*)", user).group(1)
        marker = (re.search(r"\[(\w+)\]", pred) or [None, "good"])[1]
        with self._lock:
            n = self.calls[(pred, name)] = self.calls.get((pred, name), 0) + 1
        score = VCG_SCORES[name]
        if marker == "good":
            return self._answer(body, f"{{'score': {score}}}")
        if marker == "fractional":  # Video-ChatGPT's own example answer is {''score': 4.8}
            return self._answer(body, f"{{'score': {score}.8}}" if score < 5 else "{'score': 5}")
        if marker == "prose":
            return self._answer(body, f"The {name} score: {score}")
        if marker == "outofrange":
            return self._answer(body, "{'score': 7}")
        if marker == "flaky":
            return self._answer(body, "Hmm." if n == 1 else f"{{'score': {score}}}")
        if marker == "err500":
            return (500, {"error": {"message": "boom"}}, {}) if n <= 2 else self._answer(body, f"{{'score': {score}}}")
        raise AssertionError(marker)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture(scope="module")
def real(hivau_jsonl):
    return build_pairs(hivau_jsonl, limit=8)


@pytest.fixture
def server():
    with FakeVCG() as s:
        yield s


def _items(real, markers):
    refs, preds = real
    by_video = {r["video"]: r for r in refs}
    out = []
    for p, marker in zip(preds, markers, strict=False):
        ref = by_video[p["video"]]
        answer = ref["description"] if p["task"] == "description" else ref["QA"][0]["a"]
        out.append(ScoreItem(id=p["id"], task=p["task"], prediction=f"{p['prediction']} [{marker}]", references=(answer,),
                             question=p.get("question"), video=p["video"]))
    return out


def _config(server, tmp_path, **kw):
    base = {"model": "judge-x", "base_url": server.base_url, "api_key": "test-key", "retries": 2, "backoff": 0.0,
            "cache_path": tmp_path / "cache.jsonl", "workers": 3}
    return JudgeConfig(**(base | kw))


@pytest.mark.parametrize(("text", "score"), [
    ("{'score': 4}", 4.0), ('{"score": 0}', 0.0), ("{'score': 5}", 5.0), ("{'score': 4.8}", 4.0), ("{'score': '3'}", 3.0),
    ("```python\n{'score': 2}\n```", 2.0), ("The score: 3", 3.0), ("1", 1.0), ("{\u2018score\u2019: 4}", 4.0),
])
def test_parse_accepts_integers_0_to_5(text, score):
    assert parse_vcg_score(text) == score


@pytest.mark.parametrize("text", ["{'score': 7}", "{'score': -1}", "{'score': 5.01}", "{'score': True}", "{'score': 'high'}", "", "Good.", "score: nan"])
def test_parse_rejects_out_of_range_and_junk(text):
    with pytest.raises(ScoreParseError):
        parse_vcg_score(text)


def test_templates_follow_the_video_chatgpt_structure(real):
    t = VideoChatGPTTemplates.load()
    items = _items(real, ["good"] * 4)
    qa = next(i for i in items if i.task == "qa")
    desc = next(i for i in items if i.task == "description")
    systems = set()
    for dim in VCG_DIMENSIONS:
        sys_msg, user = t.messages(qa, dim)
        assert sys_msg["role"] == "system" and "##INSTRUCTIONS:" in sys_msg["content"]
        systems.add(sys_msg["content"])
        assert f"Question: {qa.question}\nCorrect Answer: {qa.references[0]}\nPredicted Answer: {qa.prediction}" in user["content"]
        assert f"only as a {SCORE_NAMES[dim]} score, where the {SCORE_NAMES[dim]} score is an integer from 0 to 5" in user["content"]
        assert "{'score': 4}" in user["content"] and "<" not in user["content"].replace(qa.prediction, "")
    assert len(systems) == 5  # one system prompt per dimension
    user = t.messages(desc, "temporal")[1]["content"]
    assert f"Correct Description: {desc.references[0]}\nPredicted Description: {desc.prediction}" in user
    tricky = ScoreItem(id="t", task="qa", prediction="see <ANSWER_GT>", references=("ref",), question="q?")
    assert "Predicted Answer: see <ANSWER_GT>" in t.messages(tricky, "detail")[1]["content"]


def test_templates_are_validated(tmp_path):
    src = VideoChatGPTTemplates.load().source
    for f in src.glob("videochatgpt_*.txt"):
        (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "videochatgpt_qa.txt").write_text("Rate <DIMENSION>: <ANSWER_Ours>")
    with pytest.raises(ConfigError, match="lacks the placeholder.*<QUESTION>"):
        VideoChatGPTTemplates.load(tmp_path)
    (tmp_path / "videochatgpt_system_temporal.txt").unlink()
    with pytest.raises(ConfigError, match="videochatgpt_system_temporal.txt"):
        VideoChatGPTTemplates.load(tmp_path)


def test_judge_scores_retries_and_caches_with_the_shared_machinery(server, tmp_path, real):
    items = _items(real, MARKERS) + [ScoreItem(id="empty", task="description", prediction=" ", references=("a man runs",))]
    judge = make_judge("videochatgpt", _config(server, tmp_path))
    assert isinstance(judge, VideoChatGPTJudge)
    results, usage = judge.run(items)
    for i, item in enumerate(items[:-1]):
        marker = MARKERS[i]
        for dim in VCG_DIMENSIONS:
            o = results[(i, dim)]
            assert o.attempts == REQUESTS[marker], (marker, dim)
            if marker == "outofrange":
                assert o.status == "failed" and o.failure == "invalid" and "outside 0..5" in o.error
            else:
                assert o.status == "ok" and o.score == float(VCG_SCORES[SCORE_NAMES[dim]])  # 4.8 -> 4
    assert all(results[(len(items) - 1, d)].status == "empty" and results[(len(items) - 1, d)].score == 0.0 for d in VCG_DIMENSIONS)
    assert len(server.requests) == usage.requests == 5 * sum(REQUESTS.values()) and usage.failed == 5
    # the system prompt sent is the dimension's
    sent = {b["messages"][0]["content"].split(" generated")[0] for b in server.requests}
    assert len(sent) == 5
    summary = summarize_verdicts(results, range(len(items)), VCG_DIMENSIONS)
    n_ok = len(MARKERS) - 1 + 1  # failures left out, the empty prediction counted as 0
    assert summary["correctness"] == {"mean": pytest.approx(4 * (len(MARKERS) - 1) / n_ok), "scored": n_ok, "failed": 1}

    # a rerun sends nothing; the paper judge on the same cache file asks for its own verdicts
    server.reset()
    again, usage2 = VideoChatGPTJudge(_config(server, tmp_path)).run(items)
    assert server.requests == [] and usage2.cached == 5 * len(MARKERS)
    assert {k: (o.status, o.score) for k, o in again.items()} == {k: (o.status, o.score) for k, o in results.items()}
    good = [items[0]]
    hawk_results, hawk_usage = Judge(_config(server, tmp_path)).run(good)
    assert hawk_usage.cached == 0 and len(server.requests) == 3 and set(d for _, d in hawk_results) == set(DIMENSIONS)


def test_consistency_pair_uses_both_answers(server, tmp_path, real):
    base = next(i for i in _items(real, ["good"] * 4) if i.task == "qa")
    paired = ScoreItem(id="p", task="qa", prediction=base.prediction, references=base.references, question=base.question,
                       fields={"question2": "Put differently, what happened?", "prediction2": "Someone got hurt. [good]"})
    results, _ = VideoChatGPTJudge(_config(server, tmp_path)).run([base, paired], dimensions=("consistency", "detail"))
    users = [b["messages"][1]["content"] for b in server.requests]
    pair_msgs = [u for u in users if "Question 2:" in u]
    assert len(pair_msgs) == 1 and "Predicted Answer to Question 2: Someone got hurt. [good]" in pair_msgs[0]
    # the paired item's detail is judged on its one answer: the same request as the plain item's, sent once
    assert len(users) == 3 and results[(1, "detail")].score == results[(0, "detail")].score == 3.0
    assert results[(1, "consistency")].score == 1.0


def test_protocol_choice_is_checked(server, tmp_path):
    assert protocol_dimensions("hawk") == DIMENSIONS and protocol_dimensions("videochatgpt") == VCG_DIMENSIONS
    assert type(make_judge("hawk", _config(server, tmp_path))) is Judge
    with pytest.raises(ConfigError, match="protocol"):
        make_judge("gpt4v", _config(server, tmp_path))
    with pytest.raises(ConfigError, match="unknown Video-ChatGPT dimension"):
        VideoChatGPTJudge(_config(server, tmp_path)).run([], dimensions=("reasonability",))
