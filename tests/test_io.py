"""hawk_core.io: atomic files and folders, mapping files, JSON/JSONL records, the resumable
JSONL appender."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from hawk_core.errors import ConfigError, DataError, InputError, OutputWriteError
from hawk_core.io import JsonlAppender, atomic_path, iter_jsonl, read_json_or_jsonl, read_jsonl_prefix, read_mapping_file, write_json


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ---- atomic_path / write_json -------------------------------------------------------------


def test_write_json_replaces_the_file(tmp_path):
    target = tmp_path / "sub" / "state.json"  # the parent is created
    write_json(target, {"step": 1, "name": "caméra"})
    write_json(target, {"step": 2, "path": "é"})
    assert target.read_text(encoding="utf-8") == '{\n  "step": 2,\n  "path": "é"\n}\n'  # indent 2 by default
    write_json(target, [1, "é"], indent=None)
    assert target.read_text(encoding="utf-8") == '[1, "é"]\n'  # UTF-8, not \\u escapes; one final newline
    assert _leftovers(target.parent) == []


def test_a_failing_write_json_keeps_the_previous_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "latest.json"
    write_json(target, {"step": 4, "path": "checkpoints/step-00000004"})
    before = target.read_bytes()
    with pytest.raises(TypeError):
        write_json(target, {"step": object()})  # not serialisable
    assert target.read_bytes() == before and _leftovers(tmp_path) == []

    real = Path.write_text

    def disk_full(self, data, *args, **kwargs):  # half the text lands, then the write fails
        real(self, data[: len(data) // 2], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OutputWriteError, match=r"No space left on device; the previous .*latest\.json is unchanged"):
        write_json(target, {"step": 6, "path": "checkpoints/step-00000006"})
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["latest.json"]  # no temp file left


def test_atomic_path_writes_a_sibling_and_renames_only_on_success(tmp_path):
    target = tmp_path / "records.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp != target and tmp.parent == target.parent and tmp.name.startswith(".records.jsonl.")
            tmp.write_text("half a fi")
            assert target.read_text() == "old\n"  # nothing visible while writing
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n" and _leftovers(tmp_path) == []
    with atomic_path(target) as tmp:
        tmp.write_text("new\n")
    assert target.read_text() == "new\n" and _leftovers(tmp_path) == []


def test_atomic_file_gets_the_permissions_of_a_normal_file(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.json") as tmp:
            tmp.write_text("{}")
        with atomic_path(tmp_path / "d", is_dir=True) as tmp:
            (tmp / "x").write_text("1")
            (tmp / "sub").mkdir(mode=0o700)
            (tmp / "sub" / "w.safetensors").write_text("w")
            os.chmod(tmp / "sub" / "w.safetensors", 0o600)  # as safetensors writes it
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "a.json") == 0o644  # not mkstemp's 0600
    assert mode(tmp_path / "d") == 0o755 and mode(tmp_path / "d" / "x") == 0o644
    assert mode(tmp_path / "d" / "sub") == 0o755 and mode(tmp_path / "d" / "sub" / "w.safetensors") == 0o644  # the whole tree


def test_check_output_path_names_what_is_in_the_way(tmp_path):
    from hawk_core.io import check_output_path

    (tmp_path / "f.json").write_text("{}")
    (tmp_path / "d").mkdir()
    check_output_path(tmp_path / "f.json")  # an existing file is overwritten
    check_output_path(tmp_path / "d", is_dir=True)
    check_output_path(tmp_path / "new" / "x.json")
    with pytest.raises(InputError) as e:
        check_output_path(tmp_path / "d")
    assert str(e.value) == f"output path {tmp_path / 'd'} is an existing folder; pass a file path"
    with pytest.raises(InputError) as e:
        check_output_path(tmp_path / "f.json", is_dir=True)
    assert str(e.value) == f"output path {tmp_path / 'f.json'} is an existing file; pass a folder path"
    with pytest.raises(InputError) as e:
        check_output_path(tmp_path / "f.json" / "x.json")
    assert str(e.value) == f"output path {tmp_path / 'f.json' / 'x.json'}: {tmp_path / 'f.json'} is a file, not a folder"


def test_atomic_folder_replaces_a_whole_folder_or_leaves_it(tmp_path):
    target = tmp_path / "step-00000002"
    with atomic_path(target, is_dir=True) as tmp:
        assert tmp.is_dir() and tmp != target
        (tmp / "config.json").write_text("{}")
        (tmp / "adapter.safetensors").write_text("w1")
    assert sorted(p.name for p in target.iterdir()) == ["adapter.safetensors", "config.json"]
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target, is_dir=True) as tmp:
            (tmp / "config.json").write_text("broken")
            raise KeyboardInterrupt
    assert (target / "config.json").read_text() == "{}" and _leftovers(tmp_path) == []
    with atomic_path(target, is_dir=True) as tmp:
        (tmp / "only.txt").write_text("v2")
    assert [p.name for p in target.iterdir()] == ["only.txt"]  # replaced, not merged
    assert _leftovers(tmp_path) == []


# ---- read_mapping_file --------------------------------------------------------------------


def test_read_mapping_file_json_yaml_and_empty(tmp_path):
    (tmp_path / "c.json").write_text('{"train": {"lr": 0.001}}')
    (tmp_path / "c.YAML").write_text("train:\n  lr: 0.002\n")
    (tmp_path / "c.yml").write_text("")
    assert read_mapping_file(tmp_path / "c.json") == {"train": {"lr": 0.001}}
    assert read_mapping_file(tmp_path / "c.YAML") == {"train": {"lr": 0.002}}
    assert read_mapping_file(tmp_path / "c.yml") == {}


def test_read_mapping_file_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^recipe not found: .*nope\.json$"):
        read_mapping_file(tmp_path / "nope.json", what="recipe")
    with pytest.raises(ConfigError, match="config file not found"):
        read_mapping_file(tmp_path)  # a folder
    (tmp_path / "bad.json").write_text('{"a": 1,\n "b": }')
    with pytest.raises(ConfigError, match=r"bad\.json: cannot parse: invalid JSON at line 2: Expecting value"):
        read_mapping_file(tmp_path / "bad.json")
    (tmp_path / "bad.yaml").write_text("a: [1, 2\nb: 3\n")
    import yaml

    with pytest.raises(yaml.YAMLError) as raw:
        yaml.safe_load((tmp_path / "bad.yaml").read_text())
    with pytest.raises(ConfigError) as e:
        read_mapping_file(tmp_path / "bad.yaml")
    assert str(e.value) == f"{tmp_path / 'bad.yaml'}: cannot parse: invalid YAML ({str(raw.value).splitlines()[0]})"
    assert "\n" not in str(e.value) and len(str(raw.value).splitlines()) > 1  # the first line of several
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: expected a mapping, got list"):
        read_mapping_file(tmp_path / "list.yaml")
    (tmp_path / "str.json").write_text('"x"')
    with pytest.raises(ConfigError, match="expected a mapping, got str"):
        read_mapping_file(tmp_path / "str.json")


# ---- read_json_or_jsonl / iter_jsonl / read_jsonl_prefix ------------------------------------


def test_json_list_wrapped_list_single_object_and_jsonl(tmp_path):
    rows = [{"video": "a.mp4"}, {"video": "b.mp4"}]
    (tmp_path / "l.json").write_text(json.dumps(rows))
    assert read_json_or_jsonl(tmp_path / "l.json") == rows
    for key in ("data", "records", "annotations"):
        (tmp_path / f"{key}.json").write_text(json.dumps({"meta": 1, key: rows}))
        assert read_json_or_jsonl(tmp_path / f"{key}.json") == rows
    (tmp_path / "one.json").write_text(json.dumps({"video": "a.mp4", "data": "not a list"}))
    assert read_json_or_jsonl(tmp_path / "one.json") == [{"video": "a.mp4", "data": "not a list"}]
    (tmp_path / "r.jsonl").write_text('{"video": "a.mp4"}\n\n  \n{"video": "b.mp4"}\n')
    assert read_json_or_jsonl(tmp_path / "r.jsonl") == rows
    # a JSON list in a .jsonl file is still a list; one object per line in a .json file is JSONL
    (tmp_path / "list.jsonl").write_text(json.dumps(rows))
    assert read_json_or_jsonl(tmp_path / "list.jsonl") == rows
    (tmp_path / "lines.txt").write_text('{"video": "a.mp4"}\n{"video": "b.mp4"}\n')
    assert read_json_or_jsonl(tmp_path / "lines.txt") == rows


def test_read_json_or_jsonl_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_json_or_jsonl(tmp_path / "missing.json")
    (tmp_path / "empty.jsonl").write_text("  \n\n")
    with pytest.raises(DataError, match="file is empty"):
        read_json_or_jsonl(tmp_path / "empty.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"a": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"not UTF-8 text \(byte 10\)"):
        read_json_or_jsonl(tmp_path / "latin1.jsonl")
    (tmp_path / "bad.json").write_text('[{"a": 1},\n {"a": }]')
    with pytest.raises(DataError, match="invalid JSON at line 2, column 8"):
        read_json_or_jsonl(tmp_path / "bad.json")
    (tmp_path / "nums.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="expected a JSON list of objects"):
        read_json_or_jsonl(tmp_path / "nums.json")
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{"a": 2}\n{"a": \n')
    # the parser's one-line reason (its wording depends on the JSON backend jsonlines uses), no position
    with pytest.raises(DataError, match=r"bad\.jsonl: line 3: invalid JSON \((Expecting value|unexpected end of data)\)$"):
        read_json_or_jsonl(tmp_path / "bad.jsonl")
    (tmp_path / "arr.jsonl").write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"arr\.jsonl: line 2: not a JSON object$"):
        read_json_or_jsonl(tmp_path / "arr.jsonl")


def test_iter_jsonl_and_prefix_of_a_torn_log(tmp_path):
    import io

    assert list(iter_jsonl(io.StringIO('{"a": 1}\n\n{"a": 2}\n'), "x")) == [{"a": 1}, {"a": 2}]
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "lo')  # killed mid-line
    assert read_jsonl_prefix(log) == [{"step": 1}, {"step": 2}]
    log.write_bytes('{"step": 1}\n{"step": 2}\n{"note": "caf'.encode() + b"\xc3")  # killed inside a UTF-8 character
    assert read_jsonl_prefix(log) == [{"step": 1}, {"step": 2}]


# ---- JsonlAppender --------------------------------------------------------------------------


def test_appender_writes_whole_lines_and_knows_what_is_done(tmp_path):
    path = tmp_path / "cache" / "verdicts.jsonl"
    with JsonlAppender(path, key="key") as app:
        assert app.existing == [] and app.done_keys() == set()
        app.write({"key": "a", "score": 0.5, "note": "é"})
        app.write({"key": "b"})
        # on disk at once (flushed), before the appender is closed
        assert path.read_text(encoding="utf-8") == '{"key": "a", "score": 0.5, "note": "é"}\n{"key": "b"}\n'
    with JsonlAppender(path, key="key") as app:
        assert app.done_keys() == {"a", "b"} and [r["key"] for r in app.existing] == ["a", "b"]
        app.existing.clear()  # a copy
        assert len(app.existing) == 2
        app.write({"key": "c"})
    assert [json.loads(x)["key"] for x in path.read_text().splitlines()] == ["a", "b", "c"]


def test_appender_drops_a_torn_last_line(tmp_path):
    path = tmp_path / "pred.jsonl"
    path.write_bytes(b'{"id": 1}\n\n[1, 2]\n{"id": 2}\n{"id": 3, "predic')
    with JsonlAppender(path) as app:
        assert app.done_keys() == {1, 2}  # the list line is JSON but not a record
        app.write({"id": 3})
    assert path.read_bytes() == b'{"id": 1}\n{"id": 2}\n{"id": 3}\n'  # rewritten: the records only


def test_appender_drops_a_corrupt_line_alone(tmp_path):
    path = tmp_path / "pred.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": oops}\n{"id": 3}\n')
    with JsonlAppender(path) as app:
        assert app.done_keys() == {1, 3}
    assert path.read_bytes() == b'{"id": 1}\n{"id": 3}\n'  # the lines after a corrupt one are kept
    path.write_bytes(b'{"id": 1}\n\xff\xfe\n')
    with JsonlAppender(path, key="id") as app:
        assert app.done_keys() == {1}
    assert path.read_bytes() == b'{"id": 1}\n'
    path.write_bytes(b'{"id": 1}\n{"other": 2}\n')
    with JsonlAppender(path, key="id") as app:
        assert app.done_keys() == {1} and len(app.existing) == 2  # records without the key are kept


def test_yaml_without_pyyaml_says_how_to_install(tmp_path, monkeypatch):
    import sys

    (tmp_path / "c.yaml").write_text("a: 1\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml -> ImportError
    with pytest.raises(ConfigError, match=r"c\.yaml: reading YAML needs PyYAML \(pip install pyyaml\); or use JSON$"):
        read_mapping_file(tmp_path / "c.yaml")


def test_iter_json_records_errors(tmp_path):
    from hawk_core.io import iter_json_records

    with pytest.raises(InputError, match=r"^no such file: .*missing\.json$"):
        list(iter_json_records(tmp_path / "missing.json"))
    (tmp_path / "latin1.json").write_bytes(b'[{"a": "caf\xe9"}]')
    with pytest.raises(DataError, match=r"latin1\.json: not UTF-8 text \(byte 11\)$"):
        list(iter_json_records(tmp_path / "latin1.json"))


def test_appender_makes_missing_folders_and_repairs_edge_files(tmp_path):
    deep = tmp_path / "a" / "b" / "v.jsonl"
    with JsonlAppender(deep) as app:
        app.write({"id": 1})
    assert deep.read_text() == '{"id": 1}\n'
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(b'{"id": 1, "pre')  # killed inside the first line
    with JsonlAppender(torn) as app:
        assert app.done_keys() == set()
    assert torn.read_bytes() == b""
    trailing = tmp_path / "blank.jsonl"
    trailing.write_bytes(b'{"id": 1}\n\n')  # a blank last line is not damage
    with JsonlAppender(trailing) as app:
        assert app.done_keys() == {1}
    assert trailing.read_bytes() == b'{"id": 1}\n\n'


def test_iter_json_records_reads_a_json_list_by_position(tmp_path):
    from hawk_core.io import iter_json_records

    (tmp_path / "l.json").write_text('[\n {"a": 1},\n 7,\n {"b": 2}\n]\n')  # a multi-line list, not JSONL
    assert list(iter_json_records(tmp_path / "l.json")) == [(1, {"a": 1}, None), (2, None, "not a JSON object"), (3, {"b": 2}, None)]
    (tmp_path / "one.json").write_text('{\n "video": "a.mp4"\n}\n')  # one object in a .json file
    assert list(iter_json_records(tmp_path / "one.json")) == [(1, {"video": "a.mp4"}, None)]


def test_json_documents_after_blank_lines_and_their_errors_name_the_file(tmp_path):
    from hawk_core.io import iter_json_records

    p = tmp_path / "l.json"
    p.write_text('\n\n  [{"a": 1},\n {"b": 2}]\n')  # leading blank lines: still one JSON list
    assert read_json_or_jsonl(p) == [{"a": 1}, {"b": 2}]
    assert [r for _, r, _ in iter_json_records(p)] == [{"a": 1}, {"b": 2}]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"a": 1},\n {"a": }]')
    for read in (read_json_or_jsonl, lambda q: list(iter_json_records(q))):
        with pytest.raises(DataError, match=rf"^{re.escape(str(bad))}: invalid JSON at line 2, column 8"):
            read(bad)
    (tmp_path / "empty.json").write_text(" \n")
    with pytest.raises(DataError, match=r"empty\.json: file is empty$"):
        list(iter_json_records(tmp_path / "empty.json"))
