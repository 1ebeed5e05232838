"""hawk_core.data.records: records, the seeded split, items, prompt draws, caches; `hawk split`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hawk_core.data.cache import FeatureCache, MotionTextCache
from hawk_core.data.items import Item, build_items, item_rng, question_and_answer
from hawk_core.data.records import (
    HawkRecord,
    QAPair,
    load_hawk_records,
    relativize,
    split_records,
    write_records,
)
from hawk_core.errors import DataError, InputError
from tests.hawk_dataset import write_dataset
from tests.helpers import invoke


def _recs(n: int, qa: int = 1) -> list[dict]:
    return [{"video": f"v{i:03d}.mp4", "description": f"event {i}", "QA": [{"q": f"q{i}.{j}", "a": f"a{i}.{j}"} for j in range(qa)]} for i in range(n)]


def test_load_json_and_jsonl_resolve_relative_to_file(tmp_path):
    (tmp_path / "d").mkdir()
    recs = _recs(3) + [{"video": "w.mp4", "caption": "a dog", "source": "webvid"}]
    (tmp_path / "d" / "a.json").write_text(json.dumps(recs))
    (tmp_path / "d" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    for name in ("a.json", "a.jsonl"):
        out = load_hawk_records(tmp_path / "d" / name)
        assert [r.video for r in out] == ["v000.mp4", "v001.mp4", "v002.mp4", "w.mp4"]
        assert out[0].path == (tmp_path / "d" / "v000.mp4").resolve()
        assert out[0].qa[0].q == "q0.0" and out[0].text == "event 0"
        assert out[3].text == "a dog" and out[3].extra == {"source": "webvid"}
    out = load_hawk_records(tmp_path / "d" / "a.json", video_root=tmp_path)
    assert out[0].path == (tmp_path / "v000.mp4").resolve()


@pytest.mark.parametrize(
    "rec, needle",
    [
        ({"description": "x"}, "record 1: 'video' must be a non-empty string"),
        ({"video": "a.mp4"}, "no 'description', 'caption' or QA"),
        ({"video": "a.mp4", "QA": {"q": "x"}}, "'QA' must be a list"),
        ({"video": "a.mp4", "QA": [{"q": "x"}]}, "QA item 1 must be an object with a non-empty string 'q' and a string 'a'"),
        ({"video": "a.mp4", "description": 3}, "'description' must be a string"),
    ],
)
def test_malformed_records_name_the_problem(tmp_path, rec, needle):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps([rec]))
    with pytest.raises(DataError, match=None) as e:
        load_hawk_records(p)
    assert needle in str(e.value)


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "e.json").write_text("[]")
    with pytest.raises(DataError, match="no records"):
        load_hawk_records(tmp_path / "e.json")
    with pytest.raises(InputError, match="no such file"):
        load_hawk_records(tmp_path / "nope.json")


# ---- the one parser: every reader of HAWK-format records says the same ----------------


def _readers(path: Path):
    """Every library reader of a HAWK-format file, by the command that uses it."""
    from hawk_core.data.records import read_raw_records
    from hawk_core.inference.split import plan_predictions
    from hawk_core.review.log import ReviewLog
    from hawk_core.scoring.records import ReferenceIndex

    return {
        "train/split": lambda: load_hawk_records(path),
        "predict": lambda: plan_predictions(read_raw_records(path), path, describe_prompt="D"),
        "review": lambda: ReviewLog(path).close(),
        "score": lambda: ReferenceIndex.from_file(path),
    }


@pytest.mark.parametrize(
    "rec, message",
    [
        ({"description": "x"}, "record 2: 'video' must be a non-empty string (the video's path)"),
        ({"video": "b.mp4", "description": 3}, "record 2 (b.mp4): 'description' must be a string, got int"),
        ({"video": "b.mp4", "description": "d", "QA": {"q": "x"}}, "record 2 (b.mp4): 'QA' must be a list of {'q', 'a'} objects"),
        ({"video": "b.mp4", "description": "d", "QA": [{"q": " ", "a": "x"}]}, "record 2 (b.mp4): QA item 1 must be an object with a non-empty string 'q'"),
    ],
)
def test_every_reader_gives_the_one_parsers_message(tmp_path, rec, message):
    p = tmp_path / "d.json"
    p.write_text(json.dumps([{"video": "a.mp4", "description": "fine", "QA": [{"q": "Who?", "a": "A man."}]}, rec]))
    for name, read in _readers(p).items():
        with pytest.raises(DataError) as e:
            read()
        assert str(e.value).startswith(f"{p}: {message}"), (name, str(e.value))


def test_parser_options_need_answers_and_extra_fields(tmp_path):
    from hawk_core.data.records import NEED_DESCRIPTION, NEED_VIDEO, QAPair, parse_record

    raw = {"video": "clips/a.mp4", "id": "a-1", "QA": [{"q": " Who? ", "a": " A man. "}, {"q": "Why?"}, {"q": "When?", "a": " "}]}
    with pytest.raises(DataError, match="QA item 2 must be an object with a non-empty string 'q' and a string 'a'"):
        parse_record(raw, "r")
    lenient = parse_record(raw, "r", root=tmp_path, need=NEED_VIDEO, answers=False)  # predict: references optional
    assert lenient.qa == [QAPair("Who?", "A man."), QAPair("Why?", None), QAPair("When?", None)]  # in order, stripped
    assert lenient.extra == {"id": "a-1"} and lenient.path == (tmp_path / "clips" / "a.mp4").resolve()
    del raw["QA"][1]
    strict = parse_record(raw, "r", root=tmp_path)  # train: a blank answer is nothing to train on
    assert strict.qa == [QAPair("Who?", "A man.")]
    with pytest.raises(DataError, match=r"^r \(clips/a.mp4\): missing 'description'"):
        parse_record(raw, "r", need=NEED_DESCRIPTION)
    with pytest.raises(DataError, match="no 'description', 'caption' or QA pair to train on"):
        parse_record({"video": "a.mp4", "QA": [{"q": "Q", "a": ""}]}, "r")
    assert parse_record({"video": "a.mp4"}, "r", need=NEED_VIDEO).qa == []
    with pytest.raises(DataError, match="^r: not a JSON object"):
        parse_record(["a.mp4"], "r")


def test_task_names_read_from_files_accept_the_alias():
    from hawk_core.data.records import TASK_DESCRIPTION, canonical_task

    assert [canonical_task(t) for t in ("description", "describe", " Describe ", "qa", "QA")] == [TASK_DESCRIPTION] * 3 + ["qa"] * 2
    assert [canonical_task(t) for t in ("judge", "", None, 3)] == [None] * 4


def test_one_json_reader_lenient_and_strict(tmp_path):
    """io.iter_json_records (score, parse: report or skip bad lines) and read_json_or_jsonl
    (stop at the first) read files the same way and say the same about a bad line."""
    from hawk_core.io import iter_json_records, read_json_or_jsonl

    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"a": 1}\n\n{bad\n[1]\n\xff\n{"b": 2}\n')
    got = [(n, r, why.split(" (")[0] if why else None) for n, r, why in iter_json_records(p)]
    assert got == [(1, {"a": 1}, None), (3, None, "invalid JSON"), (4, None, "not a JSON object"), (5, None, "not UTF-8"), (6, {"b": 2}, None)]
    p.write_bytes(b'{"a": 1}\n\n[1]\n')
    with pytest.raises(DataError, match=r"d.jsonl: line 3: not a JSON object"):
        read_json_or_jsonl(p)
    q = tmp_path / "d.json"
    q.write_text('{"data": [{"a": 1}, 2]}')
    assert [(n, why) for n, _r, why in iter_json_records(q)] == [(1, None), (2, "not a JSON object")]
    with pytest.raises(DataError, match="expected a JSON list of objects"):
        read_json_or_jsonl(q)


def test_record_fields_are_stripped_and_blank_answers_dropped(tmp_path):
    raw = [
        {"video": "a.mp4", "description": "  A man runs.  ", "caption": "   ", "qa": [{"q": " Who? ", "a": " A man. "}, {"q": "When?", "a": "   "}, {"q": "Why?", "a": ""}]},
        {"video": "b.mp4", "caption": "a dog", "QA": None, "description": None},
        {"video": "c.mp4", "QA": [{"q": "What?", "a": "Nothing."}], "source": "hivau", "id": 7},
        {"video": "/abs/d.mp4", "description": "d", "QA": [], "qa": [{"q": "ignored", "a": "QA wins"}]},
    ]
    (tmp_path / "r.json").write_text(json.dumps(raw))
    a, b, c, d = load_hawk_records(tmp_path / "r.json")
    assert a.description == "A man runs." and a.caption is None and a.qa == [QAPair("Who?", "A man.")]
    assert b.description is None and b.caption == "a dog" and b.qa == [] and b.text == "a dog"
    assert c.text is None and c.qa == [QAPair("What?", "Nothing.")] and c.extra == {"source": "hivau", "id": 7}
    assert d.path == Path("/abs/d.mp4") and d.qa == [] and d.extra == {}
    assert HawkRecord("v", Path("/v"), description="", caption="cap").text == "cap"


@pytest.mark.parametrize(
    "rec, message",
    [
        ({"video": "   ", "description": "x"}, "record 2: 'video' must be a non-empty string (the video's path)"),
        ({"video": 5, "description": "x"}, "record 2: 'video' must be a non-empty string (the video's path)"),
        ({"video": "a.mp4", "caption": ["x"]}, "record 2 (a.mp4): 'caption' must be a string, got list"),
        ({"video": "a.mp4", "QA": [{"q": "x", "a": "y"}, "pair"]}, "record 2 (a.mp4): QA item 2 must be an object with a non-empty string 'q' and a string 'a'"),
        ({"video": "a.mp4", "QA": [{"q": "x", "a": 1}]}, "record 2 (a.mp4): QA item 1 must be an object with a non-empty string 'q' and a string 'a'"),
        ({"video": "a.mp4", "description": "  ", "QA": [{"q": "Q", "a": " "}]}, "record 2 (a.mp4): no 'description', 'caption' or QA pair to train on"),
    ],
)
def test_malformed_record_messages(tmp_path, rec, message):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"video": "ok.mp4", "caption": "fine"}) + "\n" + json.dumps(rec) + "\n")
    with pytest.raises(DataError) as e:
        load_hawk_records(p)
    assert str(e.value) == f"{p}: {message}"  # the second record, by number


def test_to_dict_writes_back_what_was_read(tmp_path):
    raw = [
        {"video": "a.mp4", "description": "A fight at the Café.", "QA": [{"q": "Who?", "a": "Two men."}], "source": "ucf"},
        {"video": "b.mp4", "caption": "a dog"},
        {"video": "c.mp4", "description": "Empty QA.", "QA": []},
    ]
    (tmp_path / "in.json").write_text(json.dumps(raw))
    recs = load_hawk_records(tmp_path / "in.json")
    assert [r.to_dict() for r in recs] == raw
    for name in ("out.json", "out.jsonl", "out.JSON"):
        write_records(tmp_path / name, recs)
        assert [r.to_dict() for r in load_hawk_records(tmp_path / name)] == raw
    assert (tmp_path / "out.json").read_text(encoding="utf-8") == json.dumps(raw, indent=2, ensure_ascii=False) + "\n"  # a JSON list
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in raw)
    assert "Café" in (tmp_path / "out.jsonl").read_text(encoding="utf-8")  # UTF-8, not \u escapes
    assert (tmp_path / "out.JSON").read_text(encoding="utf-8") == (tmp_path / "out.json").read_text(encoding="utf-8")
    assert HawkRecord("q", Path("/q"), qa=[QAPair("a?", "b.")]).to_dict() == {"video": "q", "QA": [{"q": "a?", "a": "b."}]}


def test_relativize_keeps_the_videos_and_copies(tmp_path):
    recs = [HawkRecord("x", (tmp_path / "videos" / "a.mp4").resolve(), description="d", caption="c", qa=[QAPair("q", "a")], extra={"k": 1})]
    out = relativize(recs, tmp_path / "splits")
    assert out[0].video == os.path.join("..", "videos", "a.mp4") and out[0].path == recs[0].path
    assert out[0].qa == recs[0].qa and out[0].qa is not recs[0].qa and out[0].extra is not recs[0].extra
    assert (out[0].description, out[0].caption, out[0].extra) == ("d", "c", {"k": 1})
    write_records(tmp_path / "splits" / "train.json", out)
    assert load_hawk_records(tmp_path / "splits" / "train.json")[0].path == recs[0].path

def _records(n: int, per_video: int = 1) -> list[HawkRecord]:
    return [HawkRecord(video=f"v{i}", path=Path(f"/data/v{i // per_video}.mp4"), description=f"d{i}") for i in range(n)]


def test_split_is_seeded_by_video_and_order_independent():
    recs = _records(200, per_video=2)  # 100 videos, two records each
    train, test = split_records(recs, 0.1, seed=0)
    assert len({r.path for r in test}) == 10 and len(train) + len(test) == 200
    assert not {r.path for r in train} & {r.path for r in test}  # no video on both sides
    again = split_records(list(reversed(recs)), 0.1, seed=0)
    assert {r.video for r in again[1]} == {r.video for r in test}
    other = split_records(recs, 0.1, seed=1)
    assert {r.video for r in other[1]} != {r.video for r in test}
    assert [r.video for r in train] == [r.video for r in recs if r.path not in {t.path for t in test}]  # order kept


def test_split_small_sets_and_bad_fraction():
    assert len(split_records(_records(3), 0.1)[1]) == 1  # at least one held-out video
    assert len(split_records(_records(2), 0.1)[1]) == 1 and len(split_records(_records(2), 0.9)[1]) == 1  # never all
    assert len({r.path for r in split_records(_records(25), 0.1)[1]}) == 2  # round(2.5) == 2
    assert len({r.path for r in split_records(_records(35), 0.1)[1]}) == 4  # round(3.5) == 4
    assert split_records([], 0.1) == ([], [])
    recs = _records(20)
    assert split_records(recs) == split_records(recs, 0.1, seed=0) and len(split_records(recs)[1]) == 2  # the defaults: 10%, seed 0
    with pytest.raises(InputError, match=r"test fraction must be in \[0, 1\), got -0.1"):
        split_records(_records(5), -0.1)
    assert split_records(_records(1), 0.1) == (_records(1), [])  # one video: nothing to hold out
    assert split_records(_records(5), 0.0)[1] == []
    with pytest.raises(InputError, match="test fraction"):
        split_records(_records(5), 1.0)


def test_items_flatten_descriptions_and_qa():
    recs = [
        HawkRecord("a", Path("/a"), description="d", qa=[]),
        HawkRecord("b", Path("/b"), description=None, caption=None, qa=[]),
        HawkRecord("c", Path("/c"), caption="cap"),
    ]
    from hawk_core.data.records import QAPair

    recs[1].qa = [QAPair("q1", "a1"), QAPair("q2", "a2")]
    assert build_items(recs) == [Item(0, "description"), Item(1, "qa", 0), Item(1, "qa", 1), Item(2, "description")]


def test_prompt_draws_are_reproducible_and_cover_the_prompts():
    rec = HawkRecord("a", Path("/a"), description="the answer")
    prompts = [f"p{i}" for i in range(20)]
    draws = [question_and_answer(rec, Item(0, "describe"), item_rng(0, "train", 0, k), describe=prompts, caption=["c"])[0] for k in range(400)]
    again = [question_and_answer(rec, Item(0, "describe"), item_rng(0, "train", 0, k), describe=prompts, caption=["c"])[0] for k in range(400)]
    assert draws == again
    assert set(draws) == set(prompts)  # all 20 are drawn
    assert question_and_answer(rec, Item(0, "describe"), item_rng(0), describe=prompts, caption=["c"])[1] == "the answer"


def test_feature_cache_roundtrip_and_invalidation(tmp_path):
    import torch

    video = tmp_path / "v.mp4"
    video.write_bytes(b"x" * 10)
    cache = FeatureCache(tmp_path / "cache", {"num_frames": 4, "backbone": "a"}, dtype="float16")
    fv, fm = torch.randn(4, 3, 8), torch.randn(4, 3, 8)
    assert not cache.has(video)
    cache.store(video, fv, fm)
    v, m = cache.load(video)
    assert v.dtype == torch.float16 and torch.equal(v, fv.half()) and torch.equal(m, fm.half())
    assert not FeatureCache(tmp_path / "cache", {"num_frames": 8, "backbone": "a"}).has(video)  # other sampling
    assert not FeatureCache(tmp_path / "cache", {"num_frames": 4, "backbone": "b"}).has(video)  # other backbone
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    assert not cache.has(video)  # the file changed
    cache.store(video, fv, None)
    assert cache.load(video)[1] is None
    cache.path_for(video).write_bytes(b"garbage")
    with pytest.raises(DataError, match="corrupt feature cache"):
        cache.load(video)


def test_motion_text_cache_persists_and_ignores_corruption(tmp_path):
    c = MotionTextCache(tmp_path / "mt.json")
    c._map[c._key("a man hits a car")] = "man hits car"
    c.save()
    assert MotionTextCache(tmp_path / "mt.json").get("a man hits a car") == "man hits car"
    assert MotionTextCache(tmp_path / "mt.json", parser="other").get("a man hits a car") is None
    (tmp_path / "mt.json").write_text("{not json")
    assert MotionTextCache(tmp_path / "mt.json").get("a man hits a car") is None


# ---- hawk split ---------------------------------------------------------------------------


def test_cli_split_writes_resolvable_deterministic_split(tmp_path, fighting_video, hivau_jsonl):
    data = write_dataset(tmp_path / "hawk.json", fighting_video.parent, hivau_jsonl, extra=_recs(17))
    r = invoke("split", data, "--out", tmp_path / "s")
    assert r.exit_code == 0, r.output
    assert "train" in r.output and "test" in r.output
    train = load_hawk_records(tmp_path / "s" / "train.json")
    test = load_hawk_records(tmp_path / "s" / "test.json")
    assert len(train) + len(test) == 20 and len(test) == 2
    orig = {r.path for r in load_hawk_records(data)}
    assert {r.path for r in train + test} == orig  # relative paths still point at the same videos
    summary = json.loads((tmp_path / "s" / "split.json").read_text())
    assert summary["videos"] == {"train": 18, "test": 2} and summary["seed"] == 0
    # refuses to overwrite, then reproduces the same split with --overwrite
    r = invoke("split", data, "--out", tmp_path / "s")
    assert r.exit_code == 2 and "already holds a split" in r.output
    before = (tmp_path / "s" / "test.json").read_text()
    assert invoke("split", data, "--out", tmp_path / "s", "--overwrite").exit_code == 0
    assert (tmp_path / "s" / "test.json").read_text() == before
    r = invoke("split", data, "--out", tmp_path / "s2", "--seed", "3", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["records"]["test"] == 2


def test_cli_split_bad_input(tmp_path):
    r = invoke("split", tmp_path / "missing.json", "--out", tmp_path / "s")
    assert r.exit_code == 2 and "no such file" in r.output and "Traceback" not in r.output
    (tmp_path / "bad.jsonl").write_text('{"video": "a.mp4", "description": "x"}\n{broken\n')
    r = invoke("split", tmp_path / "bad.jsonl", "--out", tmp_path / "s")
    assert r.exit_code == 2 and "line 2" in r.output
    assert not (tmp_path / "s").exists()


def test_parse_record_resolves_videos_against_the_root_the_cwd_or_home(tmp_path, monkeypatch):
    from hawk_core.data.records import parse_record

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert parse_record({"video": "x.mp4", "caption": "c"}, "r").path == (tmp_path / "x.mp4").resolve()
    assert parse_record({"video": "x.mp4", "caption": "c"}, "r", root=tmp_path / "d").path == (tmp_path / "d" / "x.mp4").resolve()
    assert parse_record({"video": "~/v.mp4", "caption": "c"}, "r", root=tmp_path / "d").path == (tmp_path / "home" / "v.mp4").resolve()
    assert parse_record({"video": "/abs/../v.mp4", "caption": "c"}, "r", root=tmp_path / "d").path == Path("/v.mp4")


def test_parser_options_reach_the_file_reader_and_its_messages(tmp_path):
    from hawk_core.data.records import NEED_VIDEO, parse_record

    (tmp_path / "v.jsonl").write_text('{"video": "a.mp4"}\n{"video": "b.mp4", "QA": [{"q": "Who?"}]}\n')
    with pytest.raises(DataError, match="no 'description', 'caption' or QA pair"):
        load_hawk_records(tmp_path / "v.jsonl")
    recs = load_hawk_records(tmp_path / "v.jsonl", need=NEED_VIDEO, answers=False)  # predict's reading
    assert [r.video for r in recs] == ["a.mp4", "b.mp4"] and recs[1].qa == [QAPair("Who?", None)]
    with pytest.raises(DataError, match=r"^r \(a.mp4\): QA item 1 must be an object with a non-empty string 'q' \(and, if any, a string 'a'\)$"):
        parse_record({"video": "a.mp4", "QA": [{"q": " "}]}, "r", need=NEED_VIDEO, answers=False)


def test_resolve_video_path_order(tmp_path, monkeypatch):
    """Absolute as is; relative: under --video-root when given, else beside the data file,
    else in the working directory; when none holds it, the first base (so errors name it)."""
    from hawk_core.data.records import resolve_video_path

    data = tmp_path / "data" / "test.json"
    data.parent.mkdir()
    data.write_text("[]")
    cwd = tmp_path / "cwd"
    (cwd / "videos").mkdir(parents=True)
    (cwd / "videos" / "only_in_cwd.mp4").write_bytes(b"x")
    (data.parent / "videos").mkdir()
    (data.parent / "videos" / "both.mp4").write_bytes(b"x")
    (cwd / "videos" / "both.mp4").write_bytes(b"x")
    monkeypatch.chdir(cwd)
    assert resolve_video_path(str(tmp_path / "abs.mp4"), data) == tmp_path / "abs.mp4"
    assert resolve_video_path("videos/both.mp4", data) == data.parent / "videos" / "both.mp4"  # the data folder first
    assert resolve_video_path("videos/only_in_cwd.mp4", data) == cwd / "videos" / "only_in_cwd.mp4"
    assert resolve_video_path("videos/nowhere.mp4", data) == data.parent / "videos" / "nowhere.mp4"
    root = tmp_path / "root"
    assert resolve_video_path("videos/both.mp4", data, root) == root / "videos" / "both.mp4"  # only the root is searched
    assert resolve_video_path("~/clip.mp4", data) == Path.home() / "clip.mp4"
