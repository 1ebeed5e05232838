"""hawk_core.inference.predictor on the tiny preset: model resolution, chat history, context fitting,
prediction planning. (The commands themselves are tested in test_cli_infer.py.)"""

from __future__ import annotations


import pytest
import torch

from hawk_core.errors import CheckpointError, ConfigError, DataError, InputError
from hawk_core.inference.chat import ChatSession
from hawk_core.model import checkpoints
from hawk_core.inference.context import fit_to_context, prompt_length
from hawk_core.inference.predictor import GenerationOptions, Predictor
from hawk_core.inference.split import plan_predictions
from hawk_core.model.checkpoints import needs_llm_conversion, resolve_model


@pytest.fixture(scope="module")
def predictor():
    return Predictor.load("tiny", device="cpu")


@pytest.fixture(scope="module")
def prepared(predictor, accident_video):
    return predictor.prepare(accident_video)


def test_default_model_is_embedded_until_an_adapter_ships(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "DEFAULT_ADAPTER_DIR", tmp_path / "absent")
    spec = resolve_model(None)
    assert spec.source == "embedded" and not spec.trained and "not trained" in spec.note
    shipped = tmp_path / "embedded"
    shipped.mkdir()
    (shipped / "config.json").write_text("{}")
    (shipped / "adapter.safetensors").write_bytes(b"")
    monkeypatch.setattr(checkpoints, "DEFAULT_ADAPTER_DIR", shipped)
    spec = resolve_model(None)
    assert spec.source == str(shipped) and spec.trained and spec.note is None
    assert resolve_model("tiny").kind == "preset"
    with pytest.raises(CheckpointError, match="incomplete checkpoint, missing adapter.safetensors"):
        (tmp_path / "half").mkdir()
        (tmp_path / "half" / "config.json").write_text("{}")
        resolve_model(tmp_path / "half")


def test_generation_options_are_checked():
    with pytest.raises(ConfigError, match="max_new_tokens"):
        GenerationOptions(max_new_tokens=0)
    with pytest.raises(ConfigError, match="top_p"):
        GenerationOptions(top_p=0)
    with pytest.raises(ConfigError, match="temperature"):
        GenerationOptions(temperature=-1)


def test_prepare_gives_features_and_frames(predictor, prepared):
    t = predictor.num_frames
    assert prepared.feats_v.shape[:2] == (1, t) and prepared.feats_m.shape == prepared.feats_v.shape
    assert [f["t"] for f in prepared.frames] == list(range(t))
    assert set(prepared.timings) == {"frames_motion_s", "encode_s"}


def test_batched_answers_match_single_ones(predictor, prepared):
    opts = GenerationOptions(max_new_tokens=4)
    single = [predictor.ask(prepared, q, opts).text for q in ("What happens?", "Who is there?")]
    batched = [a.text for a in predictor.answer([(prepared, "What happens?", None), (prepared, "Who is there?", None)], opts)]
    assert batched == single


def test_chat_keeps_history_in_the_prompt(predictor, prepared, monkeypatch):
    seen = []
    real = predictor.model.generate

    def spy(feats_v, feats_m, instructions, *, history=None, **kw):
        seen.append((list(instructions), history))
        return real(feats_v, feats_m, instructions, history=history, **kw)

    monkeypatch.setattr(predictor.model, "generate", spy)
    chat = ChatSession(predictor, prepared, GenerationOptions(max_new_tokens=3))
    a1 = chat.ask("What happens?")
    chat.ask("And then?")
    assert seen[0] == (["What happens?"], None)
    assert seen[1] == (["And then?"], [[("What happens?", a1.text)]])
    chat.reset()
    chat.ask("Where?")
    assert seen[2] == (["Where?"], None) and len(chat.history) == 1


def test_fit_to_context_drops_oldest_turns_then_truncates(predictor):
    limit = predictor.context_window
    long_turn = ("q " * 300, "a " * 300)
    question, history, warns = fit_to_context(predictor, "Why?", [long_turn] * 6 + [("last?", "yes")], 16)
    assert history[-1] == ("last?", "yes") and len(history) < 7
    assert prompt_length(predictor, question, history) <= limit - 16 and "oldest turn" in warns[0]
    question, history, warns = fit_to_context(predictor, "why " * 1000, [], 16)
    assert prompt_length(predictor, question, history) <= limit - 16 and "truncated" in warns[0]
    with pytest.raises(InputError, match="empty"):
        fit_to_context(predictor, "  ", [], 16)
    with pytest.raises(ConfigError, match="no room"):
        fit_to_context(predictor, "Why?", [], limit)


def test_plan_predictions_ids_and_references(tmp_path):
    data = tmp_path / "d.json"
    (tmp_path / "v.mp4").write_bytes(b"x")
    recs = [
        {"video": "v.mp4", "description": "D", "QA": [{"q": "Q1", "a": "A1"}, {"q": "Q2"}]},
        {"video": "v.mp4", "QA": []},
        {"id": "clip-7", "video": "/abs/w.mp4", "description": "E"},
    ]
    items = plan_predictions(recs, data, describe_prompt="Describe.")
    assert [i.id for i in items] == ["v.mp4#description", "v.mp4#qa0", "v.mp4#qa1", "v.mp4@1#description", "clip-7#description"]
    assert items[0].path == tmp_path / "v.mp4" and items[0].question == "Describe." and items[0].reference == "D"
    assert items[2].reference is None and items[3].reference is None
    assert items[1].record("P") == {"id": "v.mp4#qa0", "video": "v.mp4", "task": "qa", "question": "Q1", "prediction": "P", "reference": "A1"}
    assert "question" not in items[0].record("P")
    assert [i.task for i in plan_predictions(recs, data, describe_prompt="D", tasks=("qa",))] == ["qa", "qa"]
    with pytest.raises(DataError, match="QA item 1 must be an object with a non-empty string 'q'"):
        plan_predictions([{"video": "v.mp4", "QA": [{"a": "no q"}]}], data, describe_prompt="D")
    with pytest.raises(ConfigError):
        plan_predictions(recs, data, describe_prompt="D", tasks=("judgement",))


def test_needs_llm_conversion(tmp_path, monkeypatch):
    from hawk_core.model import HawkConfig

    monkeypatch.setenv("HAWK_CACHE", str(tmp_path))
    assert needs_llm_conversion(HawkConfig.from_preset("embedded"))
    assert not needs_llm_conversion(HawkConfig.from_preset("tiny"))


@pytest.mark.parametrize("env, llm_dtype", [("1", torch.bfloat16), ("0", torch.float32)])
def test_auto_dtype_loads_a_bf16_llm_only_where_the_cpu_has_bf16(monkeypatch, prepared, env, llm_dtype):
    monkeypatch.setenv("HAWK_CPU_BF16", env)
    p = Predictor.load("tiny", device="cpu")
    assert {q.dtype for q in p.model.llm.parameters()} == {llm_dtype}
    assert {q.dtype for q in p.model.vision.parameters()} == {torch.float32}
    assert {q.dtype for q in p.model.parameters() if q.requires_grad} <= {torch.float32}
    assert p.describe_model()["llm_dtype"] == str(llm_dtype).replace("torch.", "")
    ans = p.describe(p.prepare(prepared.source), GenerationOptions(max_new_tokens=3))
    assert isinstance(ans.text, str) and ans.tokens <= 3


def test_int8_quantized_llm_generates(prepared):
    q = Predictor.load("tiny", device="cpu", quantize="int8")
    assert q.describe_model()["quantize"] == "int8"
    assert any("quantized" in type(m).__module__ for m in q.model.llm.modules())
    ans = q.describe(q.prepare(prepared.source), GenerationOptions(max_new_tokens=3))
    assert isinstance(ans.text, str)
    with pytest.raises(ConfigError, match="unknown quantization"):
        Predictor.load("tiny", device="cpu", quantize="int4")


def test_answers_cut_at_max_new_tokens_are_flagged(predictor, prepared):
    """Issue 18, defect 6: an answer stopped by max_new_tokens says so (and can be trimmed)."""
    cut = predictor.answer([(prepared, "What happens?", None)], GenerationOptions(max_new_tokens=2))[0]
    assert cut.truncated and any("--max-new-tokens (2)" in w for w in cut.warnings)
    assert "trim_to_sentence" not in GenerationOptions().to_dict()  # resume metadata of older runs still matches


def test_truncation_is_read_from_the_end_of_text_token(predictor, prepared, monkeypatch):
    import torch

    eos = predictor.tokenizer.eos_token_id
    word = predictor.tokenizer("ok", add_special_tokens=False)["input_ids"][0]
    rows = torch.tensor([[word, word, word], [word, eos, eos], [word, word, eos]])  # (B, new tokens)
    monkeypatch.setattr(predictor.model.llm, "generate", lambda **kw: rows)
    answers = predictor.answer([(prepared, q, None) for q in ("a?", "b?", "c?")], GenerationOptions(max_new_tokens=3))
    assert [a.truncated for a in answers] == [True, False, False]
    assert [bool(a.warnings) for a in answers] == [True, False, False]


@pytest.mark.parametrize(
    "text, trimmed",
    [
        ("A man runs. The person on the other side of the lane is", "A man runs."),
        ('He shouts "stop!" and the car', 'He shouts "stop!"'),
        ("One. Two? Three! four", "One. Two? Three!"),
        ("no sentence end at all", "no sentence end at all"),
        ("Speed is 3.5 m/s and", "Speed is 3.5 m/s and"),  # a decimal point ends no sentence
    ],
)
def test_trim_to_sentence(text, trimmed):
    from hawk_core.inference.predictor import trim_to_sentence

    assert trim_to_sentence(text) == trimmed
