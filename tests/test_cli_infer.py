"""hawk describe / ask / chat / predict through the CLI, on the tiny random-weight preset and
the real clips in ../shared/data; plus one slow smoke test of the embedded default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import invoke, moving_square_frames, write_video

TINY = ("--model", "tiny")


def _json(r) -> dict:
    """The JSON document on stdout (notes and warnings go to stderr)."""
    return json.loads(r.stdout)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _no_traceback(r) -> None:
    assert "Traceback" not in r.output


def _one_error(r) -> str:
    """The run failed with exactly one `error:` line, last on stderr, and no traceback."""
    assert r.exit_code != 0, r.output
    _no_traceback(r)
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error:") and sum(x.startswith("error:") for x in lines) == 1, r.output
    return lines[-1]


# ---- describe / ask ----------------------------------------------------------------------


def test_describe_json_reports_text_frames_and_timings(fighting_video):
    from hawk_core.language.prompts import DESCRIBE_PROMPTS

    r = invoke("describe", fighting_video, *TINY, "--max-new-tokens", "6", "--json")
    assert r.exit_code == 0, r.output
    d = _json(r)
    assert d["task"] == "description" and d["question"] == DESCRIBE_PROMPTS[0]
    assert isinstance(d["text"], str)
    assert d["model"]["source"] == "tiny" and d["model"]["kind"] == "preset" and d["model"]["trained"] is False
    from hawk_core.runtime import resolve_device, resolve_precision

    device = str(resolve_device("auto"))
    assert d["model"]["device"] == device and d["model"]["dtype"] == str(resolve_precision("auto", device)).replace("torch.", "")
    assert d["num_frames"] == 8 and d["num_native_frames"] == 271 and len(d["frames"]) == 8
    stamps = [f["timestamp"] for f in d["frames"]]
    assert stamps == sorted(stamps) and 0 <= stamps[0] < stamps[-1] <= d["duration_s"]
    assert set(d["timings"]) >= {"load_s", "frames_motion_s", "encode_s", "generate_s", "new_tokens", "tokens_per_s", "total_s"}
    assert d["generation"] == {"max_new_tokens": 6, "temperature": 0.0, "top_p": 1.0, "seed": None}


def test_describe_is_deterministic_and_honours_frames(accident_video):
    a = invoke("describe", accident_video, *TINY, "--max-new-tokens", "5", "--frames", "4", "--json")
    b = invoke("describe", accident_video, *TINY, "--max-new-tokens", "5", "--frames", "4", "--json")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    da, db = _json(a), _json(b)
    assert da["text"] == db["text"] and len(da["frames"]) == 4 and da["model"]["frames"] == 4


def test_describe_plain_output_notes_untrained_adapter(accident_video):
    r = invoke("describe", accident_video, *TINY, "--max-new-tokens", "4")
    assert r.exit_code == 0, r.output
    assert "untrained adapter" in r.output and "8 frames" in r.output


def test_quantize_int8_warns_that_it_changes_the_answers(accident_video):
    r = invoke("describe", accident_video, *TINY, "--max-new-tokens", "3", "--quantize", "int8")
    assert r.exit_code == 0, r.output
    assert "--quantize int8 is deprecated" in " ".join(r.output.split())
    assert "deprecated" not in invoke("describe", accident_video, *TINY, "--max-new-tokens", "3").output


def test_ask_answers_and_keeps_the_question(accident_video):
    r = invoke("ask", accident_video, "Who caused the crash?", *TINY, "--max-new-tokens", "4", "--json")
    assert r.exit_code == 0, r.output
    d = _json(r)
    assert d["task"] == "qa" and d["question"] == "Who caused the crash?"
    assert [w for w in d["warnings"] if "--max-new-tokens" not in w] == []  # nothing cut to fit the context


def test_ask_sampling_with_seed_is_reproducible(accident_video):
    args = ("ask", accident_video, "What happens?", *TINY, "--max-new-tokens", "6", "--temperature", "1.0", "--top-p", "0.9", "--seed", "3", "--json")
    a, b = invoke(*args), invoke(*args)
    assert a.exit_code == 0, a.output
    assert _json(a)["text"] == _json(b)["text"]


def test_ask_empty_question_is_an_error(accident_video):
    r = invoke("ask", accident_video, "   ", *TINY)
    assert r.exit_code == 2 and "question is empty" in r.output
    _no_traceback(r)


def test_ask_overlong_question_is_truncated_with_a_warning(accident_video):
    question = "why " * 3000
    r = invoke("ask", accident_video, question, *TINY, "--max-new-tokens", "4", "--json")
    assert r.exit_code == 0, r.output
    assert "warning:" in r.output and "truncated" in r.output
    d = _json(r)
    assert len(d["question"]) < len(question.strip()) and d["warnings"]


# ---- chat --------------------------------------------------------------------------------


def test_chat_scripted_stdin(accident_video):
    script = "What happens in the video?\n\n/history\nWho is involved?\n/reset\nWhere is it?\n/quit\nnever asked\n"
    r = invoke("chat", accident_video, *TINY, "--max-new-tokens", "4", "--json", input=script)
    assert r.exit_code == 0, r.output
    turns = [json.loads(line) for line in r.stdout.splitlines()]
    assert [t["turn"] for t in turns] == [1, 2, 3]
    assert [t["question"] for t in turns] == ["What happens in the video?", "Who is involved?", "Where is it?"]
    assert all(set(t) == {"turn", "question", "text", "truncated", "warnings"} for t in turns)  # "text", as describe / ask
    assert "conversation reset" in r.output and "never asked" not in r.output


def test_chat_plain_transcript_and_empty_stdin(accident_video):
    r = invoke("chat", accident_video, *TINY, "--max-new-tokens", "3", input="What happens?\n")
    assert r.exit_code == 0, r.output
    assert "> What happens?" in r.output
    r = invoke("chat", accident_video, *TINY, input="\n\n")
    assert r.exit_code == 2 and "no question" in r.output


# ---- predict -----------------------------------------------------------------------------


def _split(tmp_path: Path, videos: list[Path], *, missing: bool = False) -> Path:
    records = [
        {"video": str(v), "description": f"reference description {i}", "QA": [{"q": "What happens?", "a": f"answer {i}a"}, {"q": "Who is involved?", "a": f"answer {i}b"}]}
        for i, v in enumerate(videos)
    ]
    if missing:
        records.append({"video": "nowhere/missing.mp4", "description": "x", "QA": [{"q": "Why?", "a": "y"}]})
    path = tmp_path / "test.json"
    path.write_text(json.dumps(records))
    return path


def test_predict_writes_score_records_and_resumes(tmp_path, fighting_video, accident_video):
    data = _split(tmp_path, [fighting_video, accident_video])
    out = tmp_path / "preds.jsonl"
    r = invoke("predict", data, "--out", out, *TINY, "--max-new-tokens", "4", "--batch-size", "2", "--gen-batch", "4")
    assert r.exit_code == 0, r.output
    recs = _lines(out)
    assert len(recs) == 6 and len({x["id"] for x in recs}) == 6
    desc = [x for x in recs if x["task"] == "description"]
    qa = [x for x in recs if x["task"] == "qa"]
    assert len(desc) == 2 and len(qa) == 4
    assert all("question" not in x for x in desc) and all(x["question"] in ("What happens?", "Who is involved?") for x in qa)
    assert {x["reference"] for x in desc} == {"reference description 0", "reference description 1"}
    assert all(set(x) >= {"id", "video", "task", "prediction", "reference"} for x in recs)
    assert f"{fighting_video}#description" in {x["id"] for x in recs}
    assert (tmp_path / "preds.jsonl.meta.json").is_file()

    # Interrupted run: two complete lines and a torn third survive; the rerun completes it.
    full = out.read_text().splitlines(keepends=True)
    out.write_text("".join(full[:2]) + full[2][:10])
    r = invoke("predict", data, "--out", out, *TINY, "--max-new-tokens", "4", "--json")
    assert r.exit_code == 0, r.output
    d = _json(r)
    assert d["written"] == 4 and d["already_done"] == 2
    again = _lines(out)
    assert sorted(x["id"] for x in again) == sorted(x["id"] for x in recs)
    assert {x["id"]: x["prediction"] for x in again} == {x["id"]: x["prediction"] for x in recs}  # greedy: same answers

    # Nothing left: a third run writes nothing.
    r = invoke("predict", data, "--out", out, *TINY, "--max-new-tokens", "4")
    assert r.exit_code == 0 and "0 written, 6 already" in r.output

    # Other settings: refused, unless --overwrite.
    r = invoke("predict", data, "--out", out, *TINY, "--max-new-tokens", "5")
    assert r.exit_code == 2 and "other settings" in r.output
    r = invoke("predict", data, "--out", out, *TINY, "--max-new-tokens", "5", "--tasks", "qa", "--overwrite")
    assert r.exit_code == 0 and len(_lines(out)) == 4


def test_predict_skips_unreadable_videos(tmp_path, accident_video):
    data = _split(tmp_path, [accident_video], missing=True)
    out = tmp_path / "p.jsonl"
    r = invoke("predict", data, "--out", out, *TINY, "--max-new-tokens", "3", "--tasks", "description")
    assert r.exit_code == 0, r.output
    assert "1 video(s) skipped" in r.output and "missing.mp4" in r.output
    assert [x["task"] for x in _lines(out)] == ["description"]


def test_predict_bad_data(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"description": "no video"}]')
    r = invoke("predict", bad, "--out", tmp_path / "o.jsonl", *TINY)
    assert r.exit_code == 2 and "record 1: 'video' must be a non-empty string" in r.output
    _no_traceback(r)
    r = invoke("predict", tmp_path / "absent.json", *TINY)
    assert r.exit_code == 2 and "no such file" in r.output
    r = invoke("predict", bad, "--out", tmp_path, *TINY)
    assert r.exit_code == 2 and "is a folder" in r.output


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["missing", "text", "corrupt", "one_frame"])
def test_bad_videos_are_one_line_errors(tmp_path, kind):
    if kind == "missing":
        path = tmp_path / "nope.mp4"
    elif kind == "text":
        path = tmp_path / "notes.txt"
        path.write_text("not a video")
    elif kind == "corrupt":
        path = tmp_path / "broken.mp4"
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    else:
        path = write_video(tmp_path / "one.mp4", moving_square_frames(1))
    r = invoke("describe", path, *TINY)
    assert r.exit_code == 2, r.output
    _one_error(r)


def test_missing_and_corrupt_checkpoints(tmp_path, accident_video):
    r = invoke("describe", accident_video, "--model", tmp_path / "no_such_run")
    assert r.exit_code == 2 and "no such checkpoint or run folder" in r.output
    bad = tmp_path / "bad_ckpt"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    (bad / "adapter.safetensors").write_bytes(b"garbage")
    r = invoke("describe", accident_video, "--model", bad)
    _one_error(r)
    empty = tmp_path / "empty"
    empty.mkdir()
    r = invoke("describe", accident_video, "--model", empty)
    assert r.exit_code != 0 and "holds no checkpoint" in r.output
    r = invoke("describe", accident_video, "--model", "gigantic")
    assert r.exit_code != 0 and "neither a checkpoint folder nor a preset" in r.output


def test_checkpoint_of_another_architecture_names_keys(tmp_path, accident_video):
    from safetensors.torch import load_file, save_file

    from hawk_core.model import HawkModel

    ckpt = tmp_path / "ckpt"
    HawkModel.from_pretrained("tiny").save_pretrained(ckpt)
    r = invoke("describe", accident_video, "--model", ckpt, "--max-new-tokens", "2")
    assert r.exit_code == 0, r.output  # the intact checkpoint loads
    weights = load_file(ckpt / "adapter.safetensors")
    renamed = {("alien." + k if i == 0 else k): v for i, (k, v) in enumerate(sorted(weights.items()))}
    save_file(renamed, ckpt / "adapter.safetensors")
    r = invoke("describe", accident_video, "--model", ckpt)
    assert "alien." in _one_error(r)


def test_unavailable_device_and_bad_options(accident_video):
    r = invoke("describe", accident_video, *TINY, "--device", "cuda")
    import torch

    if not torch.cuda.is_available():
        assert r.exit_code == 2 and "no CUDA GPU" in r.output
    r = invoke("describe", accident_video, *TINY, "--dtype", "int3")
    assert r.exit_code == 2 and "unknown dtype" in r.output
    r = invoke("describe", accident_video, *TINY, "--frames", "1")
    assert r.exit_code == 2


# ---- the embedded default ----------------------------------------------------------------


@pytest.mark.slow
def test_embedded_default_describes_a_real_clip(fighting_video):
    r = invoke("describe", fighting_video, "--frames", "8", "--max-new-tokens", "8", "--json")
    assert r.exit_code == 0, r.output
    d = _json(r)
    assert d["model"]["label"].startswith("embedded") and len(d["frames"]) == 8
    assert d["text"].strip() and d["timings"]["new_tokens"] >= 1


# ---- long videos -------------------------------------------------------------------------


def _half_static_video(tmp_path: Path) -> Path:
    """6 s at 10 fps: still for 3 s, then a square moves fast."""
    still = moving_square_frames(1, size=64)[0]
    moving = moving_square_frames(30, size=64, step=2)[::-1]
    return write_video(tmp_path / "half.mp4", [still] * 30 + moving, fps=10)


def test_describe_windows_localises_the_motion(tmp_path):
    video = _half_static_video(tmp_path)
    r = invoke("describe", video, *TINY, "--window", "1", "--stride", "1", "--top", "2", "--max-new-tokens", "2", "--json")
    assert r.exit_code == 0, r.output
    d = _json(r)
    ws = d["windows"]
    assert len(ws) == 6 and [w["start_s"] for w in ws] == [0, 1, 2, 3, 4, 5]
    assert sorted(w["rank"] for w in ws) == [1, 2, 3, 4, 5, 6]
    top = [w for w in ws if w["rank"] <= 2]
    assert all(w["start_s"] >= 3 for w in top) and all(isinstance(w["text"], str) for w in top)
    assert all(w["text"] is None for w in ws if w["rank"] > 2)
    assert all(w["motion_energy"] < 0.05 for w in ws[:2])  # the still part
    r = invoke("describe", video, *TINY, "--window", "2", "--max-new-tokens", "2")
    assert r.exit_code == 0 and "[00:00.0-00:02.0] motion" in r.output and "most motion: 00:0" in r.output
    r = invoke("describe", video, *TINY, "--top", "2")
    assert r.exit_code == 2 and "need --window" in r.output


def test_model_typo_is_bad_input_listing_presets(tmp_path, accident_video):
    """Issue 18, defect 4: --model runs/typo is exit 2 and lists the presets."""
    from hawk_core.model.config import PRESETS

    for typo in ("runs/typo", "tyny"):
        r = invoke("describe", accident_video, "--model", typo)
        assert r.exit_code == 2, r.output
        assert "typo" in r.output or "tyny" in r.output
        assert all(p in r.output.replace("\n", "") for p in PRESETS), r.output


def test_cut_answers_are_flagged_on_stderr_and_in_json(tmp_path, accident_video):
    """Issue 18, defect 6: describe / ask / chat / predict say when --max-new-tokens cut an answer."""
    r = invoke("describe", accident_video, *TINY, "--max-new-tokens", "2", "--json")
    assert r.exit_code == 0, r.output
    d = _json(r)
    assert d["truncated"] is True and "--max-new-tokens (2)" in r.stderr and "--trim-to-sentence" in r.stderr
    r = invoke("ask", accident_video, "What happens?", *TINY, "--max-new-tokens", "2", "--json", "--trim-to-sentence")
    assert r.exit_code == 0, r.output
    d = _json(r)
    assert d["truncated"] is True and d["generation"]["trim_to_sentence"] is True and "trimmed" in r.stderr
    r = invoke("chat", accident_video, *TINY, "--max-new-tokens", "2", "--json", input="What happens?\n")
    assert r.exit_code == 0 and json.loads(r.stdout.splitlines()[0])["truncated"] is True
    data = _split(tmp_path, [accident_video])
    out = tmp_path / "preds.jsonl"
    r = invoke("predict", data, "--out", out, *TINY, "--max-new-tokens", "2", "--tasks", "description")
    assert r.exit_code == 0, r.output
    assert [x["truncated"] for x in _lines(out)] == [True]


def test_a_status_stays_up_while_the_answer_is_generated(accident_video, monkeypatch):
    """Issue 18, defect 8: no blank gap while the LLM generates (describe, ask)."""
    import contextlib

    import hawk_cli._inference as inference_cli
    from hawk_core.inference.predictor import Predictor

    shown: list[str] = []
    active: list[str] = []

    @contextlib.contextmanager
    def status(message):
        shown.append(message)
        active.append(message)
        try:
            yield
        finally:
            active.pop()

    real = Predictor.answer

    def answer(self, *a, **k):
        generating.append(list(active))
        return real(self, *a, **k)

    generating: list[list[str]] = []
    monkeypatch.setattr(inference_cli, "status", status)
    monkeypatch.setattr(Predictor, "answer", answer)
    assert invoke("describe", accident_video, *TINY, "--max-new-tokens", "2").exit_code == 0
    assert invoke("ask", accident_video, "Why?", *TINY, "--max-new-tokens", "2").exit_code == 0
    assert len(generating) == 2 and all(any("generating" in m for m in during) for during in generating), generating


def test_window_lines_stream_as_each_batch_finishes(tmp_path):
    """Issue 18, defect 8: each window is reported when its batch is done, not at the end."""
    from hawk_core.inference.predictor import GenerationOptions, Predictor
    from hawk_core.inference.windows import describe_windows

    video = _half_static_video(tmp_path)
    predictor = Predictor.load("tiny", device="cpu")
    events: list = []
    results = describe_windows(
        predictor, video, 2.0, 2.0, GenerationOptions(max_new_tokens=2), batch=1,
        on_progress=lambda k: events.append(("batch", k)), on_window=lambda r: events.append(("window", r.window.index, r.text is not None)),
    )
    assert events == [e for i in range(len(results)) for e in (("window", i, True), ("batch", 1))]
    r = invoke("describe", video, *TINY, "--window", "2", "--stride", "2", "--max-new-tokens", "2")
    assert r.exit_code == 0
    lines = [l for l in r.stdout.splitlines() if l.startswith("[")]
    assert [l.split("]")[0] for l in lines] == ["[00:00.0-00:02.0", "[00:02.0-00:04.0", "[00:04.0-00:06.0"]


def test_chat_in_a_terminal_edits_recalls_and_cancels(accident_video, tmp_path):
    """Issue 18, defect 7, in a real terminal (tmux): arrow keys edit and recall questions,
    Ctrl-C cancels the answer (and a typed line) without leaving, Ctrl-D leaves with exit 0."""
    import os
    import shutil
    import subprocess
    import sys
    import time

    if shutil.which("tmux") is None:
        pytest.skip("tmux not installed")
    root = Path(__file__).resolve().parents[1]
    name = f"hawkchat{os.getpid()}"
    done = tmp_path / "rc"
    cmd = (f"cd {root} && PYTHONPATH={root} {sys.executable} -m hawk_cli chat {accident_video} --model tiny "
           f"--max-new-tokens 400; echo $? > {done}; sleep 60")
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", cmd], check=True)

    def screen() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout

    def wait(pred, timeout=90.0):
        end = time.time() + timeout
        while time.time() < end:
            if pred(screen()):
                return
            time.sleep(0.2)
        raise AssertionError(screen())

    def keys(*k):
        subprocess.run(["tmux", "send-keys", "-t", name, *k], check=True)

    try:
        wait(lambda s: s.rstrip().endswith("you>"))
        keys("What happens?", "Enter")
        wait(lambda s: s.count("you>") == 2 and s.rstrip().endswith("you>"))
        keys("Up")
        wait(lambda s: s.rstrip().endswith("you> What happens?"))  # recalled
        keys("Left", "Left", "X", "Enter")  # edited in place
        wait(lambda s: "What happenXs?" in s and "Ctrl-C cancels" in s, timeout=30)  # the status of a 400-token answer
        keys("C-c")  # cancels the answer being generated
        wait(lambda s: "(answer cancelled)" in s and s.rstrip().endswith("you>"))
        keys("half typed")
        keys("C-c")
        wait(lambda s: "(Ctrl-D or /quit leaves)" in s)
        keys("C-d")
        wait(lambda s: done.exists(), timeout=30)
        assert done.read_text().strip() == "0"
        text = screen()
        assert "^[[A" not in text and "completed work was kept" not in text and "error" not in text
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def test_chat_interrupted_when_piped_says_nothing_of_resuming(accident_video, monkeypatch):
    from hawk_core.inference.chat import ChatSession

    def interrupted(self, question):
        raise KeyboardInterrupt

    monkeypatch.setattr(ChatSession, "ask", interrupted)
    r = invoke("chat", accident_video, *TINY, input="What happens?\n")
    assert r.exit_code == 130 and "interrupted" in r.output and "kept" not in r.output and "resume" not in r.output
