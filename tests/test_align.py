"""The alignment stage (``train.objective: words``) and the language stage on a frozen learnt
encoder (``train.freeze_encoder``): the bag-of-words loss, the vocabulary and its targets, the
model's forward on a WordBatch, and both stages from the CLI on the tiny preset over real clips."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from hawk_core.data.words import ClassLabels, WordVocab
from hawk_core.errors import ConfigError, DataError, InputError
from hawk_core.model import losses
from hawk_core.model.config import HawkConfig
from hawk_core.model.hawk import HawkModel
from hawk_core.model.text import WordBatch
from hawk_core.training.config import TrainConfig
from tests.helpers import invoke

FLOW = {"vision": {"motion_encoder": "flow_cnn", "flow_size": 32, "flow_width": 16}}


class _WordTokenizer:
    """One token per whitespace word (ids by first sight), enough to check the vocabulary."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": [self.vocab.setdefault(w, len(self.vocab)) for w in text.split()]}

    def decode(self, ids: list[int]) -> str:
        inv = {v: k for k, v in self.vocab.items()}
        return " ".join(inv[i] for i in ids)


def test_word_logits_pool_tokens_by_a_soft_maximum():
    words = torch.eye(3)  # three orthogonal words
    tokens = torch.zeros(1, 2, 3)
    tokens[0, 0, 1] = 5.0  # one token says word 1 (its norm does not matter: cosine)
    tokens[0, 1] = torch.tensor([1.0, 0.0, 1.0])
    logits = losses.word_logits(tokens, words)
    s = losses.WORD_LOGIT_SCALE
    expect1 = math.log((math.exp(s) + math.exp(0.0)) / 2)
    assert logits.shape == (1, 3)
    assert logits[0, 1].item() == pytest.approx(expect1, rel=1e-5)
    assert logits[0, 1] > logits[0, 0] == pytest.approx(logits[0, 2].item())


def test_words_loss_is_the_soft_target_cross_entropy_and_skips_empty_rows():
    logits = torch.randn(3, 5, requires_grad=True)
    targets = torch.tensor([[0.5, 0.5, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0.25, 0.75]])
    got = losses.words_loss(logits, targets)
    rows = [0, 2]
    want = -(targets[rows] * F.log_softmax(logits[rows], -1)).sum(-1).mean()
    torch.testing.assert_close(got, want)
    got.backward()
    assert logits.grad[1].abs().sum() == 0 and logits.grad[0].abs().sum() > 0
    none = losses.words_loss(logits, torch.zeros(3, 5))
    assert none.item() == 0 and none.requires_grad


def test_tags_loss_is_a_binary_cross_entropy_per_active_word_from_the_prior():
    logits = torch.randn(3, 4, requires_grad=True)
    targets = torch.tensor([[0.5, 0.5, 0, 0], [0, 0, 0, 1.0], [0, 0, 0, 0]])
    log_odds = torch.tensor([-1.0, 0.5, -2.0, 3.0])
    active = torch.tensor([True, True, True, False])  # word 3 is the template: no tag
    got = losses.tags_loss(logits, targets, log_odds, active)
    # row 1's only word is inactive and row 2 has none: only row 0 counts, over words 0-2, per yes
    x = logits[0, :3] + log_odds[:3]
    want = F.binary_cross_entropy_with_logits(x, torch.tensor([1.0, 1.0, 0.0]), reduction="sum") / 2
    torch.testing.assert_close(got, want)
    got.backward()
    assert logits.grad[1:].abs().sum() == 0 and logits.grad[0, 3] == 0 and logits.grad[0, :3].abs().min() > 0
    # the words do not share one unit of mass: raising one yes leaves the others' terms alone
    base = losses.tags_loss(torch.zeros(1, 3), torch.tensor([[1.0, 0, 0]]), torch.zeros(3), torch.ones(3, dtype=torch.bool))
    assert base.item() == pytest.approx(3 * math.log(2))
    none = losses.tags_loss(logits, torch.zeros(3, 4), log_odds, active)
    assert none.item() == 0 and none.requires_grad
    with pytest.raises(InputError, match="disagree"):
        losses.tags_loss(logits, targets, log_odds[:3], active[:3])


def test_contrastive_loss_tells_each_video_its_own_text_from_the_batch():
    words = torch.eye(4)  # four orthogonal words
    targets = torch.tensor([[1.0, 0, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0, 0], [0, 0, 0, 1.0]])
    tokens = torch.randn(4, 3, 4, requires_grad=True)
    got = losses.contrastive_loss(tokens, words, targets)
    rows = [0, 1, 3]  # row 2 has no words: left out of both sides
    texts = F.normalize(targets[rows], dim=-1)
    sims = losses.word_logits(tokens[rows], texts)
    labels = torch.arange(3)
    want = 0.5 * (F.cross_entropy(sims, labels) + F.cross_entropy(sims.t(), labels))
    torch.testing.assert_close(got, want)
    got.backward()
    assert tokens.grad[2].abs().sum() == 0 and tokens.grad[0].abs().sum() > 0
    # tokens that point at their own text score lower than tokens that point at another's
    own = torch.stack([torch.eye(4)[0], F.normalize(torch.tensor([0, 1.0, 1.0, 0]), dim=0), torch.zeros(4), torch.eye(4)[3]])[:, None]
    assert losses.contrastive_loss(own, words, targets) < losses.contrastive_loss(own.roll(1, 0), words, targets)
    alone = losses.contrastive_loss(tokens, words, torch.tensor([[1.0, 0, 0, 0]] + [[0.0] * 4] * 3))
    assert alone.item() == 0 and alone.requires_grad  # one video: no negative
    with pytest.raises(InputError, match="disagree"):
        losses.contrastive_loss(tokens, words, targets[:, :3])


def test_vocabulary_tags_carry_the_prior_log_odds():
    texts = ["a camera watches . a man falls", "a camera watches . a car turns", "a camera watches . a man runs",
             "a camera watches . a dog sits"]
    v = WordVocab(_WordTokenizer(), texts)
    b = v.batch([texts[0], None], mode="tags")
    assert b.log_odds is not None and b.active is not None and b.log_odds.shape == b.active.shape == (len(v),)
    names = v.tokenizer.decode(v.ids).split()
    odds = dict(zip(names, b.log_odds.tolist()))
    assert odds["man"] == pytest.approx(math.log(2.5 / 2.5)) and odds["falls"] == pytest.approx(math.log(1.5 / 3.5))
    assert not b.active[names.index("camera")] and b.active[names.index("falls")]  # the template is no tag
    assert v.batch([texts[0]]).log_odds is None  # bag: no priors
    moved = b.to("cpu")
    assert torch.equal(moved.active, b.active) and torch.equal(moved.log_odds, b.log_odds)


def test_vocabulary_weights_rare_words_and_drops_the_template():
    texts = ["a camera watches . a man falls at 3", "a camera watches . a car turns", "a camera watches . a man runs",
             "a camera watches . a dog sits"]
    v = WordVocab(_WordTokenizer(), texts)
    tok = v.tokenizer
    assert "3" not in tok.decode(v.ids).split() and "." not in tok.decode(v.ids).split()  # no letter: not a word
    t = dict(v.target(texts[0]))
    names = {tok.decode([v.ids[k]]): w for k, w in t.items()}
    assert set(names) == {"man", "falls", "at"}  # "a camera watches" is in every text: no mass (nor above MAX_DF)
    assert sum(t.values()) == pytest.approx(1.0)
    assert names["falls"] > names["man"]  # in one text vs two
    assert v.target("an unseen sentence") == [] and v.target(None) == []
    b = v.batch([texts[1], None])
    assert isinstance(b, WordBatch) and b.targets.shape == (2, len(v)) and b.word_ids.tolist() == v.ids
    assert b.targets[0].sum().item() == pytest.approx(1.0) and b.targets[1].sum() == 0


def test_vocabulary_errors():
    with pytest.raises(DataError, match="needs descriptions"):
        WordVocab(_WordTokenizer(), ["", None])
    with pytest.raises(DataError, match="needs motion language"):
        WordVocab(_WordTokenizer(), [None], needs="motion language")
    with pytest.raises(DataError, match="nothing to align on"):
        WordVocab(_WordTokenizer(), ["same words", "same words"])


def test_config_names_the_objective():
    with pytest.raises(ConfigError, match="objective must be one of language, words"):
        TrainConfig(objective="contrastive")
    with pytest.raises(ConfigError, match="freeze_encoder must be true or false"):
        TrainConfig(freeze_encoder="yes")


def test_config_names_the_words_source():
    assert TrainConfig().words_from == "description"
    with pytest.raises(ConfigError, match="words_from must be one of description, motion"):
        TrainConfig(words_from="verbs")
    assert TrainConfig().words_loss == "bag"
    with pytest.raises(ConfigError, match="words_loss must be one of bag, tags, contrastive, clusters"):
        TrainConfig(words_loss="softmax")
    with pytest.raises(ConfigError, match="word_clusters must be >= 2"):
        TrainConfig(words_loss="clusters", word_clusters=1)
    assert TrainConfig().label_field == "event_type"
    with pytest.raises(ConfigError, match="label_field must name a record field"):
        TrainConfig(words_loss="labels", label_field=" ")
    with pytest.raises(ConfigError, match="contrastive needs batch_size >= 2"):
        TrainConfig(objective="words", words_loss="contrastive", batch_size=1)
    TrainConfig(words_loss="contrastive", batch_size=1)  # the language stage ignores words_loss


def test_motion_words_align_on_the_motion_language_alone(tmp_path, fighting_video, hivau_jsonl):
    """--words-from motion: the bag is the description's motion language (the L_ML target),
    so it holds fewer words than the descriptions; run.json keeps the choice."""
    import re

    from tests.hawk_dataset import write_dataset

    data = write_dataset(tmp_path / "hawk.json", fighting_video.parent, hivau_jsonl)
    common = ["--preset", "tiny", "--data", data, "--cache-dir", tmp_path / "cache", "--batch-size", "2", "--eval-every", "0",
              "--device", "cpu", "--objective", "words", "--steps", "1"]
    counts = {}
    for src in ("description", "motion"):
        r = invoke("train", "--out", tmp_path / src, "--words-from", src, *common)
        assert r.exit_code == 0, r.output
        m = re.search(r"alignment stage: (\d+) words in the (motion language|training texts)", r.output)
        assert m and m.group(2) == ("motion language" if src == "motion" else "training texts"), r.output
        counts[src] = int(m.group(1))
        assert json.loads((tmp_path / src / "run.json").read_text())["train"]["words_from"] == src
    assert 0 < counts["motion"] < counts["description"]
    r = invoke("train", "--out", tmp_path / "bad", "--words-from", "verbs", *common)
    assert r.exit_code != 0 and "--words-from must be one of description, motion" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize(("mode", "note"), [("tags", "each a yes/no tag"), ("contrastive", "each text against the batch's others"),
                                            ("clusters", "text clusters")])
def test_word_losses_train_from_the_cli_and_lower_their_loss(tmp_path, fighting_video, hivau_jsonl, mode, note):
    """--words-loss tags / contrastive / clusters: the alignment stage scores the words as the flag says;
    the run records it, and twelve steps on one fixed batch lower the loss; a bad value is one
    error line."""
    from tests.hawk_dataset import write_dataset

    data = write_dataset(tmp_path / "hawk.json", fighting_video.parent, hivau_jsonl)
    r = invoke("train", "--out", tmp_path / "tags", "--preset", "tiny", "--data", data, "--cache-dir", tmp_path / "cache",
               "--batch-size", "3", "--eval-every", "0", "--device", "cpu", "--objective", "words", "--words-loss", mode,
               "--steps", "12", "--lr", "0.003", "--warmup", "0", "--test-fraction", "0")
    assert r.exit_code == 0, r.output
    assert note in r.output
    assert json.loads((tmp_path / "tags" / "run.json").read_text())["train"]["words_loss"] == mode
    rows = [json.loads(line) for line in (tmp_path / "tags" / "metrics.jsonl").read_text().splitlines()]
    words = [row["loss_words"] for row in rows if "loss_words" in row]
    assert len(words) == 12 and all(math.isfinite(w) for w in words)
    assert sum(words[-3:]) / 3 < sum(words[:3]) / 3
    if mode == "clusters":  # the head is the stage's scaffold: not in the adapter, but in the checkpoint a resume reads
        from safetensors.torch import load_file

        assert not any(k.startswith("cluster_head.") for k in load_file(str(tmp_path / "tags" / "model" / "adapter.safetensors")))
        r = invoke("train", "--out", tmp_path / "tags", "--resume", "--steps", "14", "--data", data, "--cache-dir", tmp_path / "cache")
        assert r.exit_code == 0, r.output
        assert len((tmp_path / "tags" / "metrics.jsonl").read_text().splitlines()) == 14
    r = invoke("train", "--out", tmp_path / "bad", "--preset", "tiny", "--data", data, "--objective", "words", "--words-loss", "softmax")
    assert r.exit_code != 0 and "--words-loss must be one of bag, tags, contrastive, clusters" in r.output and "Traceback" not in r.output


def test_clusters_loss_is_the_cross_entropy_of_the_labelled_rows():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [5.0, 5.0, 5.0]], requires_grad=True)
    got = losses.clusters_loss(logits, torch.tensor([0, 2, -1]))
    want = -(F.log_softmax(logits[0], -1)[0] + F.log_softmax(logits[1], -1)[2]) / 2
    torch.testing.assert_close(got, want)
    none = losses.clusters_loss(logits, torch.tensor([-1, -1, -1]))
    assert none.item() == 0 and none.requires_grad
    with pytest.raises(InputError, match="disagree"):
        losses.clusters_loss(logits, torch.tensor([0, 1]))
    with pytest.raises(InputError, match="beyond the head's 3 clusters"):
        losses.clusters_loss(logits, torch.tensor([0, 3, 1]))


def test_vocab_clusters_group_texts_that_say_the_same_and_assign_new_ones():
    texts = ["a man falls down on the street", "a woman falls down near the street", "an old man falls down on a street",
             "a red car drives the wrong way", "a blue car drives the wrong way fast", "a car drives the wrong way on the road",
             "two men fight on the square", "two women fight near the square", "three men fight in the square"] * 2
    vocab = WordVocab(_WordTokenizer(), texts, clusters=3, seed=0)
    assert vocab.clusters == 3
    labels = [vocab.cluster(t) for t in texts[:9]]
    assert len({labels[0], labels[3], labels[6]}) == 3  # three events, three clusters
    assert labels[:3] == [labels[0]] * 3 and labels[3:6] == [labels[3]] * 3 and labels[6:9] == [labels[6]] * 3
    assert vocab.cluster("a boy falls down on the street") == labels[0]  # unseen: the nearest centre
    assert vocab.cluster("") == -1
    b = vocab.batch([texts[0], None, texts[4]], mode="clusters")
    assert b.labels.tolist() == [labels[0], -1, labels[3]] and b.mode == "clusters"
    assert WordVocab(_WordTokenizer(), texts[:4], clusters=32).clusters == 4  # at most one per distinct text
    with pytest.raises(DataError, match="at least 2 distinct training texts"):
        WordVocab(_WordTokenizer(), ["a man falls down"] * 3, clusters=4, max_df=1.0)
    with pytest.raises(DataError, match="no clusters"):
        WordVocab(_WordTokenizer(), texts).cluster(texts[0])


def test_class_labels_index_a_record_field_and_refuse_fewer_than_two_classes():
    cl = ClassLabels("event_type", ["falling", "normal", None, " falling ", "", {"x": 1}, 3])
    assert cl.names == ["3", "falling", "normal"] and len(cl) == 3 and cl.missing == 3
    assert [cl.of(v) for v in ("falling", "normal", 3, None, "", "unseen")] == [1, 2, 0, -1, -1, -1]
    vocab = WordVocab(_WordTokenizer(), ["a man falls down", "a car drives the wrong way"])
    b = vocab.batch(["a man falls down", None], mode="labels", labels=[cl.of("falling"), cl.of(None)])
    assert b.mode == "labels" and b.labels.tolist() == [1, -1]
    with pytest.raises(DataError, match="one class label per text"):
        vocab.batch(["a man falls down"], mode="labels")
    with pytest.raises(DataError, match=r"at least 2 classes in the training records' 'event_type' field, found one class \('normal'\) \(1 of 3"):
        ClassLabels("event_type", ["normal", None, "normal"])
    with pytest.raises(DataError, match="found none"):
        ClassLabels("category", [None, None])


def test_labels_train_the_head_from_a_record_field_from_the_cli(tmp_path, fighting_video, hivau_jsonl):
    """--words-loss labels: the class head learns the records' --label-field; its classes are
    in the checkpoint, a resume checks them, and records without the field get a clear error."""
    from tests.hawk_dataset import write_labelled_dataset

    data, recs = write_labelled_dataset(tmp_path / "hawk.json", fighting_video.parent, hivau_jsonl)
    common = ["--data", data, "--cache-dir", tmp_path / "cache"]
    r = invoke("train", "--out", tmp_path / "run", "--preset", "tiny", *common, "--batch-size", "3", "--eval-every", "0",
               "--device", "cpu", "--objective", "words", "--words-loss", "labels", "--steps", "12", "--lr", "0.003",
               "--warmup", "0", "--test-fraction", "0")
    assert r.exit_code == 0, r.output
    assert "as the 2 classes of the records' 'event_type'" in r.output
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    words = [row["loss_words"] for row in rows]
    assert words[0] == pytest.approx(math.log(2), rel=1e-3)  # the zero head starts uniform over the 2 classes
    assert sum(words[-3:]) / 3 < sum(words[:3]) / 3
    from hawk_core.model.run_layout import STATE_FILE, RunLayout

    ckpt = RunLayout(tmp_path / "run").latest()
    assert torch.load(ckpt / STATE_FILE, weights_only=False)["head_classes"] == ["collision", "fighting"]
    recs[1]["event_type"] = "loitering"  # the classes changed since the run began: the resume refuses
    data.write_text(json.dumps(recs), encoding="utf-8")
    r = invoke("train", "--out", tmp_path / "run", "--resume", "--steps", "14", *common)
    assert r.exit_code != 0 and "names other classes" in r.output and "Traceback" not in r.output
    recs[1]["event_type"] = "collision"
    recs[2]["event_type"] = "normal"  # a third class: a head of another size
    data.write_text(json.dumps(recs), encoding="utf-8")
    r = invoke("train", "--out", tmp_path / "run", "--resume", "--steps", "14", *common)
    assert r.exit_code != 0 and "of another size (3 classes now)" in r.output and "Traceback" not in r.output
    # a held-out video: the final evaluation reports the head's accuracy on it beside the loss
    recs[2]["event_type"] = "fighting"
    data.write_text(json.dumps(recs), encoding="utf-8")
    r = invoke("train", "--out", tmp_path / "held", "--preset", "tiny", *common, "--objective", "words", "--words-loss", "labels",
               "--steps", "2", "--device", "cpu", "--test-fraction", "0.34", "--eval-every", "0", "--batch-size", "2")
    assert r.exit_code == 0, r.output
    ev = [json.loads(line) for line in (tmp_path / "held" / "eval.jsonl").read_text().splitlines()]
    assert ev[-1]["items"] == 1 and ev[-1]["eval_head_accuracy"] in (0.0, 1.0)
    # a head on an encoder the model does not have: refused before any feature is extracted
    fresh = tmp_path / "fresh_cache"
    r = invoke("train", "--out", tmp_path / "noenc", "--preset", "tiny", "--data", data, "--cache-dir", fresh, "--objective", "words",
               "--words-loss", "labels", "--head-on", "encoder", "--steps", "1", "--device", "cpu")
    assert r.exit_code != 0 and "no learnt motion encoder" in r.output and "Traceback" not in r.output
    assert not any(fresh.rglob("*.safetensors"))
    r = invoke("train", "--out", tmp_path / "bad", "--preset", "tiny", "--data", data, "--cache-dir", fresh, "--objective", "words",
               "--words-loss", "labels", "--label-field", "category", "--steps", "1", "--device", "cpu")
    assert r.exit_code != 0 and "'category' field, found none" in r.output and "Traceback" not in r.output
    assert not any(fresh.rglob("*.safetensors"))  # refused before the features, too


def test_cluster_head_trains_with_the_tokens_and_stays_out_of_the_adapter():
    model = HawkModel.build(HawkConfig.from_preset("tiny"))
    model.train()
    T = model.config.data.num_frames
    fv, fm = torch.randn(2, T, 4, model.vision.feature_dim), torch.randn(2, T, 4, model.vision.feature_dim)
    batch = WordBatch(torch.tensor([3, 5]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]), mode="clusters", labels=torch.tensor([0, 2]))
    with pytest.raises(ConfigError, match="class head"):
        model(fv, fm, batch)
    before = set(model.adapter_tensors())
    head = model.add_cluster_head(3)
    out = model(fv, fm, batch)
    assert out.loss_words.item() == pytest.approx(math.log(3), rel=1e-5)  # a zero head: uniform
    out.loss.backward()
    assert head.weight.grad.abs().sum() > 0
    assert set(model.adapter_tensors()) == before


def test_forward_on_a_word_batch_trains_the_visual_side_only():
    model = HawkModel.build(HawkConfig.from_preset("tiny", overrides=FLOW))
    model.train()
    T, s = model.config.data.num_frames, model.config.vision.flow_size
    fv = torch.randn(2, T, 4, model.vision.feature_dim)
    fm = torch.randn(2, T, s * s, 5)
    ids = torch.tensor([3, 5, 7, 9])
    batch = WordBatch(ids, torch.tensor([[0.5, 0.5, 0, 0], [0, 0, 0, 1.0]]))
    out = model(fv, fm, batch)
    assert out.loss_words is not None and out.loss_vl.item() == 0 and out.loss_ml.item() == 0
    torch.testing.assert_close(out.loss, out.loss_words + model.config.loss.t1 * out.loss_mv)
    out.loss.backward()
    assert model.branches["motion"].encoder.stages[0].conv[0].weight.grad.abs().sum() > 0
    assert model.llm.get_input_embeddings().weight.grad is None  # the word embeddings stay the LLM's


def test_a_head_on_the_encoder_reads_its_pooled_tokens_and_trains_it():
    """head_on encoder: the class head reads the learnt motion encoder's tokens (mean and max
    over frames and cells), so the labels' gradient reaches the encoder without the Q-Formers."""
    model = HawkModel.build(HawkConfig.from_preset("tiny", overrides=FLOW))
    model.train()
    T, s = model.config.data.num_frames, model.config.vision.flow_size
    fv, fm = torch.randn(3, T, 4, model.vision.feature_dim), torch.randn(3, T, s * s, 5)
    head = model.add_cluster_head(4, on="encoder")
    enc = model.branches["motion"].encoder
    assert head.in_features == 2 * enc.dim
    batch = WordBatch(torch.tensor([3, 5]), torch.zeros(3, 2), mode="labels", labels=torch.tensor([0, 0, 2]))
    out = model(fv, fm, batch)
    assert out.loss_words.item() == pytest.approx(math.log(4), rel=1e-5) and out.head_logits.shape == (3, 4)
    out.loss_words.backward()
    assert head.bias.grad.abs().sum() > 0 and not enc._forward_hooks  # the hook is gone after the forward
    with torch.no_grad():  # a trained head: its logits are the pooled encoder tokens through it
        head.weight.normal_()
        pooled = enc(fm)
        want = head(torch.cat([pooled.mean((1, 2)), pooled.amax((1, 2))], -1))
        torch.testing.assert_close(model(fv, fm, batch).head_logits, want, rtol=1e-4, atol=1e-4)
    with pytest.raises(ConfigError, match="no learnt motion encoder"):
        HawkModel.build(HawkConfig.from_preset("tiny")).add_cluster_head(4, on="encoder")
    with pytest.raises(ConfigError, match="head_on must be one of tokens, encoder"):
        model.add_cluster_head(4, on="qformer")
    with pytest.raises(ConfigError, match="head_on must be one of tokens, encoder"):
        TrainConfig(head_on="qformer")


def test_freeze_keeps_the_encoder_in_the_adapter_and_in_eval_mode():
    model = HawkModel.build(HawkConfig.from_preset("tiny", overrides=FLOW))
    before = set(model.adapter_tensors())
    model.freeze_motion_encoder()
    model.train()
    enc = model.branches["motion"].encoder
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())
    assert set(model.adapter_tensors()) == before  # still saved: a frozen encoder is part of the model
    assert all(not n.startswith("branches.motion.encoder.") for n, p in model.named_parameters() if p.requires_grad)
    plain = HawkModel.build(HawkConfig.from_preset("tiny"))
    with pytest.raises(ConfigError, match="no learnt motion encoder"):
        plain.freeze_motion_encoder()


def test_align_then_language_stage_from_the_cli(tmp_path, fighting_video, hivau_jsonl):
    from safetensors.torch import load_file

    from tests.hawk_dataset import write_dataset

    data = write_dataset(tmp_path / "hawk.json", fighting_video.parent, hivau_jsonl)
    (tmp_path / "cfg.json").write_text(json.dumps({"model": FLOW}))
    common = ["--data", data, "--cache-dir", tmp_path / "cache", "--batch-size", "2", "--eval-every", "0", "--device", "cpu"]
    r = invoke("train", "--preset", "tiny", "--config", tmp_path / "cfg.json", "--out", tmp_path / "align",
               "--objective", "words", "--steps", "2", *common)
    assert r.exit_code == 0, r.output
    rec = json.loads((tmp_path / "align" / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"loss", "loss_words", "loss_mv"} <= rec.keys() and "loss_vl" not in rec and rec["loss_words"] > 0
    assert json.loads((tmp_path / "align" / "run.json").read_text())["train"]["objective"] == "words"

    r = invoke("train", "--init", tmp_path / "align" / "model", "--out", tmp_path / "lang", "--freeze-encoder", "--steps", "2", *common)
    assert r.exit_code == 0, r.output
    a = load_file(str(tmp_path / "align" / "model" / "adapter.safetensors"))
    b = load_file(str(tmp_path / "lang" / "model" / "adapter.safetensors"))
    assert a.keys() == b.keys()
    enc = [k for k in a if k.startswith("branches.motion.encoder.")]
    assert enc and all(torch.equal(a[k], b[k]) for k in enc)  # weights and BatchNorm statistics kept
    assert any(not torch.equal(a[k], b[k]) for k in a if k not in enc)  # the rest trained
    r = invoke("describe", fighting_video, "--model", tmp_path / "lang", "--max-new-tokens", "4", "--json")
    assert r.exit_code == 0, r.output

    r = invoke("train", "--preset", "tiny", "--out", tmp_path / "bad", "--freeze-encoder", "--steps", "1", *common)
    assert r.exit_code != 0 and "error:" in r.output and "no learnt motion encoder" in r.output and "Traceback" not in r.output


def test_merge_records_keeps_every_video_reachable(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    for name in ("a", "b"):
        (tmp_path / name / "videos").mkdir(parents=True)
        (tmp_path / name / "train.json").write_text(json.dumps([{"id": f"{name}1", "video": "videos/x.mp4", "description": "d"}]))
    out = tmp_path / "merged" / "train.json"
    script = str(ROOT / "recipes" / "merge_records.py")
    r = subprocess.run([sys.executable, script, str(out), str(tmp_path / "a" / "train.json"), str(tmp_path / "b" / "train.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    recs = json.loads(out.read_text())
    assert [(out.parent / x["video"]).resolve() for x in recs] == [(tmp_path / n / "videos" / "x.mp4").resolve() for n in "ab"]
    r = subprocess.run([sys.executable, script, str(tmp_path / "dup.json"), str(tmp_path / "a" / "train.json"), str(tmp_path / "a" / "train.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "already in an earlier file" in r.stderr and not (tmp_path / "dup.json").exists()


@pytest.mark.slow  # ~30 s on 2 cores: two processes each import torch + transformers
def test_labels_with_the_head_on_the_encoder_train_under_ddp(tmp_path, fighting_video, hivau_jsonl):
    """torchrun, two CPU processes: with --head-on encoder the LLM projections get no gradient,
    which DDP must be told (it failed at the second step before)."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from tests.helpers import free_port

    data, cfg = _labelled_flow_data(tmp_path, fighting_video, hivau_jsonl)
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(free_port()), "-m", "hawk_cli", "train", "--preset", "tiny", "--config", str(cfg),
           "--data", str(data), "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--objective", "words",
           "--words-loss", "labels", "--head-on", "encoder", "--steps", "3", "--batch-size", "1", "--test-fraction", "0",
           "--eval-every", "0", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    p = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        pytest.fail("torchrun did not finish in 240 s")
    assert p.returncode == 0, stderr[-3000:]
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_label_weight_adds_a_class_head_to_the_language_stage_from_the_cli(tmp_path, fighting_video, hivau_jsonl):
    """--label-weight W: the language stage's loss is the paper's + W x a class head's
    cross-entropy on the visual tokens; the head stays out of the adapter; a weight of 0 keeps
    the paper's loss alone; a head on the encoder is refused for it."""
    from tests.hawk_dataset import write_labelled_dataset

    from hawk_core.model.run_layout import STATE_FILE, RunLayout

    data, recs = write_labelled_dataset(tmp_path / "hawk.json", fighting_video.parent, hivau_jsonl)
    common = ["--data", data, "--cache-dir", tmp_path / "cache", "--preset", "tiny", "--device", "cpu", "--warmup", "0"]
    r = invoke("train", "--out", tmp_path / "run", *common, "--batch-size", "3", "--eval-every", "0", "--steps", "4",
               "--label-weight", "0.5", "--test-fraction", "0")
    assert r.exit_code == 0, r.output
    assert "0.5 x a class head on the visual tokens: the 2 classes of the records' 'event_type'" in r.output
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["loss_label"] == pytest.approx(math.log(2), rel=1e-3)  # the zero head starts uniform
    for row in rows:  # the paper's total (t0 = 1, t1 = t2 = 0.1) + 0.5 x the head's loss
        paper = row["loss_vl"] + 0.1 * row["loss_mv"] + 0.1 * row["loss_ml"]
        assert row["loss"] == pytest.approx(paper + 0.5 * row["loss_label"], rel=1e-4)
    ckpt = RunLayout(tmp_path / "run").latest()
    assert torch.load(ckpt / STATE_FILE, weights_only=False)["head_classes"] == ["collision", "fighting"]
    from safetensors.torch import load_file

    adapter = load_file(str(tmp_path / "run" / "model" / "adapter.safetensors"))
    assert adapter["cluster_head.weight"].shape[0] == 2 and adapter["cluster_head.weight"].abs().sum() > 0  # it trained
    model = HawkModel.from_pretrained(tmp_path / "run" / "model")  # the head is the model's own: config + adapter
    assert model.config.head.classes == ("collision", "fighting")
    assert torch.equal(model.cluster_head.weight.detach(), adapter["cluster_head.weight"].float())
    recs[1]["event_type"] = "loitering"  # the classes changed since the run began: the resume refuses
    data.write_text(json.dumps(recs), encoding="utf-8")
    r = invoke("train", "--out", tmp_path / "run", "--resume", "--steps", "5", "--data", data, "--cache-dir", tmp_path / "cache",
               "--label-weight", "0.5")
    assert r.exit_code != 0 and "names other classes" in r.output and "Traceback" not in r.output
    recs[1]["event_type"] = "collision"
    data.write_text(json.dumps(recs), encoding="utf-8")
    r = invoke("train", "--out", tmp_path / "run", "--resume", "--steps", "5", "--data", data, "--cache-dir", tmp_path / "cache",
               "--label-weight", "0.5")
    assert r.exit_code == 0, r.output
    r = invoke("train", "--out", tmp_path / "plain", *common, "--batch-size", "3", "--eval-every", "0", "--steps", "1",
               "--test-fraction", "0")
    assert r.exit_code == 0, r.output
    row = json.loads((tmp_path / "plain" / "metrics.jsonl").read_text().splitlines()[0])
    assert "loss_label" not in row and "class head" not in r.output
    r = invoke("train", "--out", tmp_path / "held", *common, "--batch-size", "2", "--eval-every", "0", "--steps", "1",
               "--label-weight", "1", "--test-fraction", "0.34")
    assert r.exit_code == 0, r.output
    ev = json.loads((tmp_path / "held" / "eval.jsonl").read_text().splitlines()[-1])
    assert ev["items"] >= 1 and 0.0 <= ev["eval_head_accuracy"] <= 1.0 and "eval_loss_label" in ev
    # --init: a headless checkpoint gains a fresh head; a headed one without --label-weight keeps its head unchanged
    init = ["--data", data, "--cache-dir", tmp_path / "cache", "--device", "cpu", "--steps", "1", "--eval-every", "0", "--test-fraction", "0"]
    r = invoke("train", "--out", tmp_path / "from_plain", "--init", tmp_path / "plain" / "model", *init, "--label-weight", "1")
    assert r.exit_code == 0, r.output
    assert HawkModel.from_pretrained(tmp_path / "from_plain" / "model").config.head.classes == ("collision", "fighting")
    r = invoke("train", "--out", tmp_path / "from_head", "--init", tmp_path / "run" / "model", *init)
    assert r.exit_code == 0, r.output
    kept = load_file(str(tmp_path / "from_head" / "model" / "adapter.safetensors"))
    before = load_file(str(tmp_path / "run" / "model" / "adapter.safetensors"))
    assert torch.equal(kept["cluster_head.weight"], before["cluster_head.weight"])
    r = invoke("train", "--out", tmp_path / "enc", *common, "--steps", "1", "--label-weight", "1", "--head-on", "encoder")
    assert r.exit_code != 0 and "head_on must be tokens" in r.output and "Traceback" not in r.output


def test_head_on_the_encoder_trains_the_encoder_alone(tmp_path, fighting_video, hivau_jsonl):
    """--words-loss labels --head-on encoder: only the motion encoder learns; the Q-Formers and
    projections keep their initial weights (L_MV alone would collapse them to one output)."""
    from safetensors.torch import load_file

    data, cfg = _labelled_flow_data(tmp_path, fighting_video, hivau_jsonl)
    r = invoke("train", "--preset", "tiny", "--config", cfg, "--data", data, "--out", tmp_path / "run", "--cache-dir", tmp_path / "cache",
               "--objective", "words", "--words-loss", "labels", "--head-on", "encoder", "--steps", "3", "--batch-size", "3",
               "--lr", "0.01", "--warmup", "0", "--test-fraction", "0", "--eval-every", "0", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "the encoder trains alone" in r.output
    trained = load_file(str(tmp_path / "run" / "model" / "adapter.safetensors"))
    init = HawkModel.build(HawkConfig.from_preset("tiny", overrides={"vision": FLOW["vision"]})).adapter_tensors()
    changed = {k for k, v in init.items() if not torch.equal(v.detach().float(), trained[k].float())}
    assert changed and all(k.startswith("branches.motion.encoder.") for k in changed), sorted(changed)[:5]


def _labelled_flow_data(tmp_path, fighting_video, hivau_jsonl):
    """(records file with event types on the three real clips, a config with the learnt motion encoder)."""
    from tests.hawk_dataset import write_labelled_dataset

    data, recs = write_labelled_dataset(tmp_path / "hawk.json", fighting_video.parent, hivau_jsonl)
    cfg = tmp_path / "flow.yaml"
    cfg.write_text("model:\n  vision:\n    motion_encoder: flow_cnn\n    flow_size: 32\n    flow_width: 16\n", encoding="utf-8")
    return data, cfg
