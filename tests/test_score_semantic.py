"""The offline semantic metric with the embedded all-MiniLM-L6-v2 (real weights: slow)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import invoke
from tests.scoring_data import build_pairs, write_jsonl

# Cosine similarities computed with sentence-transformers 6.2.0 (SentenceTransformer on the
# same embedded folder) for the first pairs of tests/scoring_data.build_pairs: hawk's
# transformers + mean pooling + L2 norm must give the published embeddings.
REFERENCE_COSINES = {"Abuse028_x264/d": 0.9591978788375854, "Abuse028_x264/q": 0.961087703704834, "Arrest007_x264/d": 0.9890009164810181}
CROSS_COSINE = 0.5155850648880005  # prediction of Abuse028/d against the reference of Arrest007/d


@pytest.fixture(scope="module")
def embedder():
    from hawk_core.scoring.semantic import SentenceEmbedder

    return SentenceEmbedder()


@pytest.mark.slow
def test_similarities_match_sentence_transformers(embedder, hivau_jsonl):
    refs, preds = build_pairs(hivau_jsonl, limit=2)
    by_video = {r["video"]: r for r in refs}
    ref_of = lambda p: by_video[p["video"]]["description"] if p["task"] == "description" else by_video[p["video"]]["QA"][0]["a"]  # noqa: E731
    sims = embedder.similarities([p["prediction"] for p in preds], [[ref_of(p)] for p in preds])
    for p, s in list(zip(preds, sims))[:3]:
        assert s == pytest.approx(REFERENCE_COSINES[p["id"]], abs=1e-5), p["id"]
    cross = embedder.similarities([preds[0]["prediction"]], [[ref_of(preds[2])]])[0]
    assert cross == pytest.approx(CROSS_COSINE, abs=1e-5)
    # identical text -> 1, empty prediction -> 0, several references -> the best
    assert embedder.similarities(["a man hits a car"], [["a man hits a car"]])[0] == pytest.approx(1.0, abs=1e-5)
    assert embedder.similarities(["  "], [["a man hits a car"]]) == [0.0]
    best = embedder.similarities([preds[0]["prediction"]], [[ref_of(preds[2]), ref_of(preds[0])]])[0]
    assert best == pytest.approx(REFERENCE_COSINES[preds[0]["id"]], abs=1e-5)


@pytest.mark.slow
def test_cli_reports_semantic_per_task(tmp_path, hivau_jsonl):
    refs, preds = build_pairs(hivau_jsonl, limit=6)
    path = write_jsonl(tmp_path / "p.jsonl", preds)
    (tmp_path / "refs.json").write_text(json.dumps(refs))
    r = invoke("score", path, "--refs", tmp_path / "refs.json", "--json", "--no-meteor")
    assert r.exit_code == 0, r.output
    tasks = json.loads(r.stdout)["runs"][0]["tasks"]
    assert 0.5 < tasks["description"]["semantic"] <= 1.0 and 0.5 < tasks["qa"]["semantic"] <= 1.0
    assert json.loads(r.stdout)["settings"]["semantic_model"] == "all-MiniLM-L6-v2"
