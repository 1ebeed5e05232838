"""The LLM judge against a real OpenAI-compatible HTTP server on 127.0.0.1: the prompts
sent, retries, failure accounting, the cache (a rerun sends nothing), concurrency, and the
answer parser."""

from __future__ import annotations

import json
import math

import pytest

from hawk_core.errors import ConfigError, RemoteError
from hawk_core.scoring import DIMENSIONS, Judge, JudgeConfig, JudgeTemplates, ScoreItem, ScoreParseError, parse_score
from hawk_core.scoring.judge import prompts_dir
from tests.fake_openai import DIM_SCORES, FakeOpenAI
from tests.helpers import free_port, invoke
from tests.scoring_data import build_pairs, write_jsonl

MARKERS = ["good", "fenced", "prose", "flaky", "bad", "err500", "ratelimited"]
# HTTP requests per dimension with retries=2: flaky 2, bad 1+2, err500 3, ratelimited 2
REQUESTS_PER_DIM = {"good": 1, "fenced": 1, "prose": 1, "flaky": 2, "bad": 3, "err500": 3, "ratelimited": 2}


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
    with FakeOpenAI() as s:
        yield s


def _items(real, markers=MARKERS, empty=True) -> list[ScoreItem]:
    refs, preds = real
    by_video = {r["video"]: r for r in refs}
    items = []
    for p, marker in zip(preds, markers, strict=False):
        ref = by_video[p["video"]]
        answer = ref["description"] if p["task"] == "description" else ref["QA"][0]["a"]
        items.append(ScoreItem(id=p["id"], task=p["task"], prediction=f"{p['prediction']} [{marker}]", references=(answer,), question=p.get("question"), video=p["video"]))
    if empty:
        items.append(ScoreItem(id="empty", task="description", prediction="  ", references=("a man runs",)))
    return items


def _config(server, tmp_path, **kw) -> JudgeConfig:
    base = {"model": "judge-x", "base_url": server.base_url, "api_key": "test-key", "retries": 2, "backoff": 0.0, "cache_path": tmp_path / "cache.jsonl", "workers": 3}
    return JudgeConfig(**(base | kw))


# ---- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("{'score': 0.675}", 0.675),
        ('{"score": 0.675}', 0.675),
        ("{ \u2019 score \u2019 : 0.675}", 0.675),  # the paper's own typeset example
        ("```python\n{'score': 0.5}\n```", 0.5),
        ('```\n{"score": 0.25, "reason": "ok"}\n```', 0.25),
        ("Here is my evaluation: {'score': 0.3} as requested.", 0.3),
        ("Reasonability score: 0.9", 0.9),
        ("I would give it a score of 0.35.", 0.35),
        ("0.45", 0.45),
        ("{'score': '0.6'}", 0.6),
        ("{'Score': 1}", 1.0),
        ("{'score': 1.004}", 1.0),
        ("{'score': -0.001}", 0.0),
    ],
)
def test_parse_score_accepts(text, score):
    assert parse_score(text) == pytest.approx(score)


@pytest.mark.parametrize("text", ["", None, "Great answer!", "{'score': 7}", "{'score': -0.5}", "{'score': 'high'}", "{'score': None}", "{'score': True}", "{'grade': 0.5}", "score: nan"])
def test_parse_score_rejects(text):
    with pytest.raises(ScoreParseError):
        parse_score(text)



@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("{'score': 1.01}", 1.0),  # the clamping band ends exactly at 0.01 outside [0, 1]
        ("{'score': -0.01}", 0.0),
        ("{'score': 1.0}", 1.0),
        ("{'score': 0}", 0.0),
        ("{'score': .5}", 0.5),  # Python literal, not JSON
        ("{'reason': 'fine', ' SCORE ': 0.4}", 0.4),
        ("{'reason': 'no score here'} and then {'score': 0.7}", 0.7),
        ("{not a dict} {'score': 0.2}", 0.2),
        ("{not a dict} {' score ': 0.2}", 0.2),  # found as a dict only (the prose pattern does not match it)
        ("```json\n{\"score\": 0.2}\n```\nor maybe {'score': 0.9}", 0.2),  # a fenced answer comes first
        ("An example: {'score': 0.9}. My verdict:\n```python\n{'score': 0.2}\n```", 0.2),  # even when it is not first
        ("`score`: 0.65", 0.65),  # backticks count as quotes
        ("{0.4, 0.5} is a set; score: 0.5", 0.5),  # not a mapping: skipped
        ("score = 0.8", 0.8),
        ("The SCORE is 0.15", 0.15),
        ('"score": "0.55"', 0.55),
        ("  0.45.  ", 0.45),
        ("1e-1", 0.1),
        ("{'score': ' 0.3 '}", 0.3),
    ],
)
def test_parse_score_boundaries_and_forms(text, score):
    assert parse_score(text) == score


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{'score': 1.0100001}", r"score 1.0100001 outside \[0, 1\]"),
        ("{'score': -0.0100001}", r"score -0.0100001 outside \[0, 1\]"),
        ("{'score': inf}", "no score found"),  # not a literal: the dict is skipped
        ('{"score": Infinity}', r"not a finite number \(inf\)"),
        ('{"score": NaN}', r"not a finite number \(nan\)"),
        ("{'score': [0.5]}", r"not a finite number \(\[0.5\]\)"),
        ("{'score': False}", r"score is a boolean \(False\)"),
        ("{'score': 'n/a'}", r"score is not a number \('n/a'\)"),
        ("   ", "^empty answer$"),
        ("0.45 points", "^no score found$"),
        ("scores: 0.5", "^no score found$"),
    ],
)
def test_parse_score_rejections_say_why(text, message):
    with pytest.raises(ScoreParseError, match=message):
        parse_score(text)


# ---- templates -----------------------------------------------------------------------------


def test_templates_are_the_papers_and_validated(tmp_path, real):
    t = JudgeTemplates.load()
    assert t.source == prompts_dir() / "judge"
    assert "does not mean that the reference GT is the only answer" in t.system
    item = _items(real, ["good"], empty=False)[0]
    msgs = t.messages(item, "detail")
    assert msgs[0] == {"role": "system", "content": t.system}
    assert f"Reference: {item.references[0]}\nOurs: {item.prediction}" in msgs[1]["content"]
    assert "only as a Detail score" in msgs[1]["content"] and "<DIMENSION>" not in msgs[1]["content"]
    # a placeholder inside a prediction is not substituted (one pass)
    tricky = ScoreItem(id="t", task="description", prediction="see <DESCRIPTION_GT>", references=("ref",))
    assert "Ours: see <DESCRIPTION_GT>" in t.messages(tricky, "detail")[1]["content"]
    # broken template: named placeholder missing
    (tmp_path / "judge").mkdir()
    for name in ("system.txt", "qa.txt"):
        (tmp_path / "judge" / name).write_text((t.source / name).read_text())
    (tmp_path / "judge" / "description.txt").write_text("Rate <DIMENSION>: <DESCRIPTION_Ours>")
    with pytest.raises(ConfigError, match="lacks the placeholder.*<DESCRIPTION_GT>"):
        JudgeTemplates.load(tmp_path)
    # a per-dimension override changes that dimension's template hash only
    (tmp_path / "judge" / "description.txt").write_text((t.source / "description.txt").read_text())
    (tmp_path / "judge" / "description_detail.txt").write_text("Detail please. <DIMENSION> <DESCRIPTION_GT> <DESCRIPTION_Ours>")
    t2 = JudgeTemplates.load(tmp_path)
    assert t2.template_hash("description", "detail") != t.template_hash("description", "detail")
    assert t2.template_hash("description", "consistency") == t.template_hash("description", "consistency")


def test_config_validation():
    with pytest.raises(ConfigError, match="workers"):
        JudgeConfig(workers=0)
    with pytest.raises(ConfigError, match="retries"):
        JudgeConfig(retries=-1)


# ---- against the server --------------------------------------------------------------------


def test_judge_prompts_retries_failures_and_cache(server, tmp_path, real):
    items = _items(real)
    judge = Judge(_config(server, tmp_path))
    outcomes, usage = judge.run(items)

    # what was sent
    templates = JudgeTemplates.load()
    qa_item = next(i for i in items if i.task == "qa")
    body = next(b for b in server.requests if f"Ours: {qa_item.prediction}" in b["messages"][1]["content"])
    assert body["model"] == "judge-x" and body["temperature"] == 0 and body["messages"][0]["content"] == templates.system
    assert f"Question: {qa_item.question}\nReference: {qa_item.references[0]}\nOurs: {qa_item.prediction}" in body["messages"][1]["content"]
    assert {b["messages"][1]["content"].split("only as a ")[1].split()[0] for b in server.requests} == {"Reasonability", "Detail", "Consistency"}

    # retries, per marker and dimension
    for item in items[:-1]:
        marker = item.prediction.rsplit("[", 1)[1].rstrip("]")
        for dim in DIMENSIONS:
            o = outcomes[(items.index(item), dim)]
            assert o.attempts == REQUESTS_PER_DIM[marker], (marker, dim)
            if marker == "bad":
                assert o.status == "failed" and o.score is None and "unparseable" in o.error
            else:
                assert o.status == "ok" and o.score == pytest.approx(DIM_SCORES[dim.title()])
    assert all(outcomes[(len(items) - 1, d)].status == "empty" and outcomes[(len(items) - 1, d)].score == 0.0 for d in DIMENSIONS)
    total_requests = 3 * sum(REQUESTS_PER_DIM.values())
    assert len(server.requests) == usage.requests == total_requests
    assert usage.calls == 3 * len(MARKERS) and usage.failed == 3 and usage.cached == 0
    answered = 3 * (len(MARKERS) + 1 + 2 + 0)  # 200-responses: one each, +1 flaky, +2 bad, err500/ratelimited one
    assert usage.prompt_tokens == 100 * answered and usage.completion_tokens == 7 * answered

    # a second run sends nothing and gives the same verdicts
    server.reset()
    again, usage2 = Judge(_config(server, tmp_path)).run(items)
    assert server.requests == [] and usage2.requests == 0 and usage2.cached == 3 * len(MARKERS)
    assert {k: (o.status, o.score) for k, o in again.items()} == {k: (o.status, o.score) for k, o in outcomes.items()}
    assert usage2.failed == 3

    # --retry-failed asks again only for the cached unparseable ones (3 dims x 3 attempts)
    server.reset()
    _, usage3 = Judge(_config(server, tmp_path, retry_failed=True)).run(items)
    assert len(server.requests) == 9 and usage3.failed == 3


def test_transport_failures_are_not_cached_and_counted(server, tmp_path, real):
    items = _items(real, ["down", "good"], empty=False)
    outcomes, usage = Judge(_config(server, tmp_path, retries=1)).run(items)
    assert [outcomes[(0, d)].status for d in DIMENSIONS] == ["failed"] * 3
    assert "HTTP 503" in outcomes[(0, "detail")].error and outcomes[(0, "detail")].attempts == 2
    assert usage.failed == 3 and len(server.requests) == 3 * 2 + 3
    server.reset()
    _, usage2 = Judge(_config(server, tmp_path, retries=1)).run(items)
    assert len(server.requests) == 6 and usage2.cached == 3  # only the transient failures are asked again


def test_rejected_key_stops_the_run(server, tmp_path, real):
    items = _items(real, ["good"] * 6, empty=False)
    with pytest.raises(RemoteError, match="rejected the API key.*401"):
        Judge(_config(server, tmp_path, api_key="wrong", workers=2)).run(items)
    assert len(server.requests) <= 2  # stopped after the requests already in flight


def test_concurrency_is_bounded(tmp_path, real):
    with FakeOpenAI(delay=0.05) as server:
        items = _items(real, ["good"] * 8, empty=False)
        Judge(_config(server, tmp_path, workers=3)).run(items)
        assert 2 <= server.max_inflight <= 3 and len(server.requests) == 3 * len(items)


def test_identical_requests_are_sent_once(server, tmp_path, real):
    item = _items(real, ["good"], empty=False)[0]
    twins = [item, ScoreItem(id="other", task=item.task, prediction=item.prediction, references=item.references, question=item.question)]
    outcomes, usage = Judge(_config(server, tmp_path, cache_path=None)).run(twins)
    assert len(server.requests) == 3 and outcomes[(0, "detail")].score == outcomes[(1, "detail")].score


def test_backoff_is_exponential_and_capped(server, tmp_path, real):
    delays: list[float] = []
    cfg = _config(server, tmp_path, backoff=1.0, max_backoff=1.5, cache_path=None)
    outcomes, _ = Judge(cfg, sleep=delays.append).run(_items(real, ["err500"], empty=False), dimensions=("detail",))
    assert outcomes[(0, "detail")].status == "ok" and len(delays) == 2
    assert 0.75 <= delays[0] <= 1.0 and 1.125 <= delays[1] <= 1.5


# ---- through the CLI -----------------------------------------------------------------------


def test_cli_judge_report_cost_and_rerun(server, tmp_path, real, monkeypatch):
    refs, preds = real
    markers = ["good", "bad", "flaky", "good", "fenced", "good"]
    rows = [dict(p, prediction=f"{p['prediction']} [{m}]") for p, m in zip(preds, markers, strict=False)]
    preds_path = write_jsonl(tmp_path / "hawk.jsonl", rows)
    refs_path = tmp_path / "refs.json"
    refs_path.write_text(json.dumps(refs))
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    args = ["score", preds_path, "--refs", refs_path, "--no-semantic", "--no-meteor", "--judge", "--judge-model", "judge-x", "--judge-retries", "2",
            "--judge-backoff", "0", "--judge-cache", tmp_path / "c.jsonl", "--judge-price", "10,30"]
    r = invoke(*args, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    tasks = data["runs"][0]["tasks"]
    failed_task = rows[1]["task"]
    n_task = sum(1 for x in rows if x["task"] == failed_task)
    for dim in DIMENSIONS:
        assert tasks[failed_task]["counts"]["judge_failed"][dim] == 1
        assert tasks[failed_task]["counts"]["judge_scored"][dim] == n_task - 1
        assert math.isclose(tasks[failed_task][dim], DIM_SCORES[dim.title()])  # the failure is left out of the mean
    u = data["judge_usage"]
    assert u["requests"] == len(server.requests) == 3 * (1 + 3 + 2 + 1 + 1 + 1) and u["failed"] == 3
    assert u["cost_usd"] == pytest.approx((u["prompt_tokens"] * 10 + u["completion_tokens"] * 30) / 1e6)

    server.reset()
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    assert server.requests == []
    assert "0.800*" in r.output and "left out of the mean: hawk: reasonability 1, detail 1, consistency 1" in " ".join(r.output.split())
    assert "0 verdicts asked (0 requests), 18 from cache, 3 failed" in " ".join(r.output.split())


def test_cli_judge_needs_a_key(tmp_path, real):
    refs, preds = real
    path = write_jsonl(tmp_path / "p.jsonl", [dict(p, reference="x") for p in preds])
    r = invoke("score", path, "--no-semantic", "--no-meteor", "--judge", "--judge-cache", tmp_path / "c.jsonl")
    assert r.exit_code == 2 and "OPENAI_API_KEY" in r.output and "Traceback" not in r.output


def test_interrupted_run_resumes_without_asking_twice(server, tmp_path, real):
    items = _items(real, ["good"] * 6, empty=False)

    def interrupt(done, total):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Judge(_config(server, tmp_path, workers=1)).run(items, progress=interrupt)
    first = len(server.requests)
    assert first == 5  # one worker: the sixth was never submitted
    server.reset()
    outcomes, usage = Judge(_config(server, tmp_path, workers=1)).run(items)
    assert usage.cached == 5 and usage.calls == 13 and first + len(server.requests) == 18  # nothing asked twice
    assert all(o.status == "ok" for o in outcomes.values())
    sent = [b["messages"][1]["content"] for b in server.requests]
    assert len(set(sent)) == len(sent)


def test_an_unreachable_endpoint_stops_the_run(server, tmp_path, real):
    items = _items(real, ["good"] + ["down"] * 5, empty=False)
    cfg = _config(server, tmp_path, retries=1, workers=1, max_consecutive_failures=4)
    with pytest.raises(RemoteError, match="failed 4 verdicts in a row.*HTTP 503"):
        Judge(cfg).run(items)
    assert len(server.requests) == 3 + 4 * 2  # the good item's 3 verdicts, then 4 failed verdicts x 2 attempts
    server.reset()
    with pytest.raises(RemoteError):
        Judge(cfg).run(items)
    assert len(server.requests) == 4 * 2  # the good item's verdicts came from the cache


def test_connection_refused_is_a_transport_failure(tmp_path, real):
    port = free_port()  # a port nobody listens on
    cfg = JudgeConfig(model="m", base_url=f"http://127.0.0.1:{port}/v1", api_key="k", retries=1, backoff=0, cache_path=None, max_consecutive_failures=0)
    outcomes, usage = Judge(cfg).run(_items(real, ["good"], empty=False), dimensions=("detail",))
    o = outcomes[(0, "detail")]
    assert o.status == "failed" and o.failure == "transport" and o.attempts == 2 and "APIConnectionError" in o.error
    assert usage.failed == 1
