"""`hawk parse`: one text, batch over HAWK / HIVAU files, resume, bad input."""

import json

from tests.helpers import invoke

RECORDS = [
    {"video": "a.mp4", "description": "A man in a black jacket hits the white car.", "QA": [{"q": "What happens?", "a": "The car was knocked down by a motorcycle."}]},
    {"video": "b.mp4", "description": "The woman slips and falls.", "QA": [{"q": "Who?", "a": "A woman."}, {"q": "Why?", "a": "She ran into a pole."}]},
    {"video": "c.mp4", "description": "", "QA": []},
]


def write_jsonl(path, rows, extra_lines=()):
    lines = [json.dumps(r) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def read_jsonl(path):
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def test_help_teaches():
    r = invoke("parse", "--help")
    assert r.exit_code == 0
    assert "--in" in r.output and "--n-process" in r.output and "--skip-bad" in r.output and "Examples" in r.output


def test_single_text_table_and_json():
    r = invoke("parse", "The white car was knocked down by a motorcycle and crashed into a lamppost.")
    assert r.exit_code == 0, r.output
    assert "white car knocked down by motorcycle; white car crashed into lamppost" in r.output.replace("\n", " ")
    r = invoke("parse", "A man slips and falls.", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert [(d["subject"], d["lemma"]) for d in data] == [("man", "slip"), ("man", "fall")]
    assert data[0]["start"] == 2


def test_single_text_from_stdin_and_empty_text():
    r = invoke("parse", "-", "--json", input="The dog bites the postman.")
    assert r.exit_code == 0 and json.loads(r.output)[0]["text"] == "dog bites postman"
    for text in ("", "   ", "%%% ### 123 !!!"):
        r = invoke("parse", text)
        assert r.exit_code == 0 and "no predicates found" in r.output
        r = invoke("parse", text, "--json")
        assert r.exit_code == 0 and json.loads(r.output) == []


def test_batch_jsonl_hawk_format(tmp_path):
    src = write_jsonl(tmp_path / "data.jsonl", RECORDS)
    out = tmp_path / "out.jsonl"
    r = invoke("parse", "--in", src, "--out", out, "--batch-size", "2")
    assert r.exit_code == 0, r.output
    assert "3 records parsed (6 texts" in r.output.replace("\n", " ")
    rows = read_jsonl(out)
    assert [row["video"] for row in rows] == ["a.mp4", "b.mp4", "c.mp4"]
    m = rows[0]["motion"]
    assert m["source_index"] == 0
    assert m["description"]["text"] == "man hits white car"
    assert m["QA"][0]["text"] == "car knocked down by motorcycle"
    assert m["QA"][0]["phrases"][0]["indirect_subject"] == "motorcycle"
    assert [qa["text"] for qa in rows[1]["motion"]["QA"]] == ["", "she ran into pole"]
    assert rows[2]["motion"]["description"] == {"text": "", "phrases": []}
    assert rows[0]["QA"] == RECORDS[0]["QA"]  # the input fields are kept


def test_batch_json_list(tmp_path):
    src = tmp_path / "data.json"
    src.write_text(json.dumps(RECORDS[:2]))
    out = tmp_path / "out.json"
    r = invoke("parse", "--in", src, "--out", out, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["records"] == 2 and summary["texts"] == 5 and summary["bad"] == []
    data = json.loads(out.read_text())
    assert [d["motion"]["source_index"] for d in data] == [0, 1]
    assert not (tmp_path / "out.json.partial.jsonl").exists()
    r = invoke("parse", "--in", src, "--out", out)
    assert r.exit_code == 2 and "--overwrite" in r.output


def test_batch_hivau_records(tmp_path, hivau_jsonl):
    # HIVAU-70k records carry one answer ("anwser")
    lines = hivau_jsonl.read_text().splitlines()[:5]
    hv = tmp_path / "hv.jsonl"
    hv.write_text("\n".join(lines) + "\n")
    r = invoke("parse", "--in", hv, "--out", tmp_path / "hv.out.jsonl")
    assert r.exit_code == 0, r.output
    rows = read_jsonl(tmp_path / "hv.out.jsonl")
    assert len(rows) == 5 and "beating black dog with stick" in rows[1]["motion"]["anwser"]["text"]


def test_batch_resumes_and_repairs_a_torn_line(tmp_path):
    src = write_jsonl(tmp_path / "data.jsonl", RECORDS)
    out = tmp_path / "out.jsonl"
    assert invoke("parse", "--in", src, "--out", out).exit_code == 0
    full = out.read_text().splitlines()
    # keep the first record, then half of the second (a run killed mid-write)
    out.write_text(full[0] + "\n" + full[1][:40])
    r = invoke("parse", "--in", src, "--out", out)
    assert r.exit_code == 0, r.output
    assert "2 records parsed" in r.output and "1 already done" in r.output
    assert out.read_text().splitlines() == full
    r = invoke("parse", "--in", src, "--out", out)
    assert "0 records parsed" in r.output and "3 already done" in r.output
    r = invoke("parse", "--in", src, "--out", out, "--overwrite")
    assert "3 records parsed" in r.output and out.read_text().splitlines() == full


def test_batch_bad_lines_stop_with_line_number_or_are_skipped(tmp_path):
    src = tmp_path / "data.jsonl"
    lines = [json.dumps(RECORDS[0]), "{not json", json.dumps({"video": "x"}), "[1, 2]", json.dumps(RECORDS[1])]
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    r = invoke("parse", "--in", src, "--out", out)
    assert r.exit_code == 2
    msg = [l for l in r.output.splitlines() if l.strip()]
    assert len(msg) == 1 and msg[0].startswith("error:") and "line 2" in msg[0] and "--skip-bad" in msg[0]
    assert "Traceback" not in r.output
    assert [row["video"] for row in read_jsonl(out)] == ["a.mp4"]  # work before the bad line is kept
    r = invoke("parse", "--in", src, "--out", out, "--skip-bad")
    assert r.exit_code == 0, r.output
    text = r.output.replace("\n", " ")
    assert "skipped line 2: invalid JSON" in text and "skipped line 3: no text to parse" in text and "skipped line 4: not a JSON object" in text
    assert "1 records parsed" in text and "1 already done" in text and "3 bad" in text
    assert [row["video"] for row in read_jsonl(out)] == ["a.mp4", "b.mp4"]


def test_batch_nothing_parseable_fails(tmp_path):
    src = tmp_path / "data.jsonl"
    src.write_text("garbage\nmore garbage\n")
    r = invoke("parse", "--in", src, "--out", tmp_path / "o.jsonl", "--skip-bad")
    assert r.exit_code == 2 and "no record" in r.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r = invoke("parse", "--in", empty, "--out", tmp_path / "o2.jsonl")
    assert r.exit_code == 2 and "empty" in r.output
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('[{"description": "a"},\n {oops}]')
    r = invoke("parse", "--in", bad_json, "--out", tmp_path / "o3.jsonl")
    assert r.exit_code == 2 and "line 2" in r.output


def test_usage_errors(tmp_path):
    cases = [
        ((), "exactly one of"),
        (("text", "--in", tmp_path / "a.jsonl", "--out", tmp_path / "b.jsonl"), "exactly one of"),
        (("--in", tmp_path / "a.jsonl"), "--in needs --out"),
        (("text", "--out", tmp_path / "b.jsonl"), "only for batch"),
        (("--in", tmp_path / "missing.jsonl", "--out", tmp_path / "b.jsonl"), "no such file"),
        (("text", "--model", "no_such_pipeline"), "python -m spacy download"),
    ]
    for args, msg in cases:
        r = invoke("parse", *args)
        assert r.exit_code != 0, args
        lines = [l for l in r.output.splitlines() if l.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and msg in lines[0], (args, r.output)


def test_gold_scoring_command():
    from pathlib import Path

    gold = Path(__file__).parent / "data" / "parse_gold.jsonl"
    r = invoke("parse", "--gold", gold, "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert result["sentences"] >= 60 and result["hawk"]["triples"]["f1"] >= 0.85
