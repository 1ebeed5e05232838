"""The per-frame anomaly head (``head.frames``): one logit per sampled frame on the learnt motion
encoder, fitted by ``recipes/fit_head.py --frames`` on temporal ground truth, read by
`hawk detect --scorer frames`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hawk_core.errors import ConfigError, DataError, InputError
from hawk_core.model.config import HawkConfig, HeadConfig
from hawk_core.model.hawk import HawkModel, frame_context, trainable_shapes
from hawk_core.training.heads import fit_binary_head
from tests.helpers import invoke

FLOW = {"vision": {"motion_encoder": "flow_cnn", "flow_size": 32, "flow_width": 16}}
SCRIPT = str(Path(__file__).resolve().parents[1] / "recipes" / "fit_head.py")


def _fit(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    """A 4-video `hawk synth` test split of 6 s clips (60 frames at 10 fps), with time_span."""
    from tests.hawk_dataset import synth_test_split

    return synth_test_split(tmp_path_factory.mktemp("synth"))


def test_the_frame_head_reads_each_frame_against_its_clip():
    """encoder_frames: (g_t, g_t - mean, neighbours' mean) of the encoder's per-frame mean + max;
    frame_probabilities its sigmoid per frame; the head needs a flow_cnn encoder, and the
    adapter's shapes (class head on the encoder included) are what trainable_shapes says."""
    with pytest.raises(ConfigError, match="head.frames must be true or false"):
        HeadConfig(frames="yes")
    with pytest.raises(ConfigError, match="head.frames: the model has no learnt motion encoder"):
        HawkModel.build(HawkConfig.from_preset("tiny").with_overrides({"head": {"frames": True}}))
    m = HawkModel.build(HawkConfig.from_preset("tiny").with_overrides(
        {**FLOW, "head": {"frames": True, "classes": ["a", "normal"], "on": "encoder"}}))
    assert trainable_shapes(m.config) == {n: tuple(t.shape) for n, t in m.adapter_tensors().items()}
    t = m.config.data.num_frames
    fm = torch.rand(2, t, 32 * 32, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        h = m.branches["motion"].encoder(fm).float()
    g = torch.cat([h.mean(2), h.amax(2)], -1)  # (2, T, 2D)
    rows = m.encoder_frames(fm)
    assert len(rows) == 2 and rows[0].shape == (t, 3 * g.size(-1))
    assert torch.allclose(rows[1][:, : g.size(-1)], g[1]) and torch.allclose(rows[1][:, g.size(-1): 2 * g.size(-1)], g[1] - g[1].mean(0))
    assert torch.allclose(rows[0][1, 2 * g.size(-1):], (g[0, 0] + g[0, 2]) / 2)
    assert torch.allclose(rows[0][0, 2 * g.size(-1):], (g[0, 0] + g[0, 1]) / 2)  # the first frame's "previous" is itself
    assert torch.allclose(frame_context(g)[1], rows[1])
    with torch.no_grad():
        m.frame_head.bias.fill_(1.0)
    probs = m.frame_probabilities(fm)
    assert [tuple(p.shape) for p in probs] == [(t,), (t,)] and torch.allclose(probs[0], torch.sigmoid(torch.tensor(1.0)))
    plain = HawkModel.build(HawkConfig.from_preset("tiny").with_overrides(FLOW))
    with pytest.raises(ConfigError, match="no frame head"):
        plain.frame_probabilities(fm)


def test_the_frame_head_reads_further_neighbours_and_the_appearance():
    """head.frames_context K: the means of frames t -/+ j for j = 1..K; head.frames_appearance N:
    the appearance features' per-frame mean + max through the adapter's fixed projection
    (frame_proj), beside the motion encoder's; both validated, both in trainable_shapes."""
    for bad in ({"frames_context": 0}, {"frames_context": 2.5}, {"frames_appearance": -1}, {"frames_appearance": True}):
        with pytest.raises(ConfigError, match="must be an integer in"):
            HeadConfig(frames=True, **bad)
    m = HawkModel.build(HawkConfig.from_preset("tiny").with_overrides(
        {**FLOW, "head": {"frames": True, "frames_context": 2, "frames_appearance": 4}}))
    assert trainable_shapes(m.config) == {n: tuple(t.shape) for n, t in m.adapter_tensors().items()}
    assert m.frame_proj is not None and m.frame_proj.weight.shape == (4, 2 * m.vision.feature_dim)
    t = m.config.data.num_frames
    gen = torch.Generator().manual_seed(1)
    fm = torch.rand(2, t, 32 * 32, 5, generator=gen)
    fv = torch.rand(2, t, 5, m.vision.feature_dim, generator=gen)
    with torch.no_grad():
        m.frame_proj.weight.normal_(generator=gen)
        h = m.branches["motion"].encoder(fm).float()
        a = torch.cat([fv.mean(2), fv.amax(2)], -1)  # (2, T, 2 C)
        g = torch.cat([h.mean(2), h.amax(2), m.frame_proj(a)], -1)
        rows = m.encoder_frames(fm, fv)
    f = g.size(-1)
    assert rows[0].shape == (t, 4 * f) and torch.allclose(rows[1], frame_context(g, 2)[1], atol=1e-6)
    assert torch.allclose(rows[0][3, 3 * f:], (g[0, 1] + g[0, 5]) / 2, atol=1e-6)  # j = 2
    assert torch.allclose(rows[0][0, 3 * f:], (g[0, 0] + g[0, 2]) / 2, atol=1e-6)  # clamped at the start
    assert torch.allclose(torch.cat(m.appearance_frames(fv)), a.flatten(0, 1))
    with pytest.raises(InputError, match="also reads the appearance"):
        m.frame_probabilities(fm)
    with pytest.raises(InputError, match="same videos and frames"):
        m.frame_probabilities(fm, fv[:, :-1])
    m.new_frame_head(context=1, appearance=0, span=3.0)
    assert m.frame_proj is None and m.config.head.frames_span == 3.0 and m.frame_head.weight.shape == (1, 3 * 2 * h.size(-1))


def test_flow_statistics_histogram_the_directions_per_cell():
    """One frame whose top-left ninth moves 3 px/frame to the right, the rest still: the weight
    lands in that cell's rightward bin; the percentiles and the moving share follow."""
    from hawk_core.model.frame_head import FLOW_DIRECTIONS, FLOW_STATS, flow_statistics

    s = 30
    x = torch.zeros(2, s * s, 5)
    flow = torch.zeros(2, s, s, 2)
    flow[0, :10, :10, 0] = 3.0  # dx = 3 in cell (0, 0) of frame 0
    x[..., 3:] = (torch.sign(flow) * torch.log1p(flow.abs())).view(2, s * s, 2)  # flow_encoder_input's scale
    st = flow_statistics(x)
    assert st.shape == (2, FLOW_STATS) and torch.all(st[1] == 0)
    hist = torch.expm1(st[0, : 9 * FLOW_DIRECTIONS]).view(9, FLOW_DIRECTIONS)
    right = FLOW_DIRECTIONS // 2  # atan2(0, +dx) = 0 sits half-way round from -pi
    assert hist[0, right] == pytest.approx(3.0 * 100, rel=1e-4) and float(hist.sum()) == pytest.approx(300.0, rel=1e-4)
    q = torch.expm1(st[0, 9 * FLOW_DIRECTIONS:])
    assert q[:3].tolist() == pytest.approx([0.0, 3.0, 3.0], abs=1e-4) and q[3] == pytest.approx(3.0, rel=1e-4)  # 50/90/99 % (a ninth moves), max
    assert q[4] == pytest.approx(100 * 100 / 900, rel=1e-4)  # % of pixels moving
    with pytest.raises(InputError, match="not a square"):
        flow_statistics(torch.zeros(2, 10, 5))


def test_the_gru_frame_head_reads_the_whole_clip():
    """head.frames_model gru: the frame rows (encoder + flow statistics, no context) go through a
    bidirectional GRU, so a frame's probability depends on the other frames; shapes as
    trainable_shapes says; fit_sequence_head learns a step and folds the standardisation."""
    from hawk_core.model.frame_head import FLOW_STATS
    from hawk_core.training.heads import fit_sequence_head

    with pytest.raises(ConfigError, match="head.frames_model must be one of"):
        HeadConfig(frames=True, frames_model="lstm")
    m = HawkModel.build(HawkConfig.from_preset("tiny").with_overrides(
        {**FLOW, "head": {"frames": True, "frames_model": "gru", "frames_flow": True, "frames_hidden": 8}}))
    assert trainable_shapes(m.config) == {n: tuple(t.shape) for n, t in m.adapter_tensors().items()}
    t = m.config.data.num_frames
    fm = torch.rand(1, t, 32 * 32, 5, generator=torch.Generator().manual_seed(2)) - 0.5
    rows = m.encoder_frames(fm)[0]
    assert rows.shape == (t, 2 * m.branches["motion"].encoder.dim + FLOW_STATS)
    p0 = m.frame_probabilities(fm)[0]
    fm2 = fm.clone()
    fm2[0, 0] += 1.0  # change the first frame only
    p1 = m.frame_probabilities(fm2)[0]
    assert p0.shape == (t,) and not torch.allclose(p0[-1], p1[-1])  # the last frame's score hears the first
    rng = np.random.default_rng(0)
    seqs, labels = [], []
    for i in range(40):
        start = int(rng.integers(2, 10))
        x = rng.normal(size=(12, 3)) * [1.0, 5.0, 0.2] + [0.0, 100.0, 0.0]
        y = np.zeros(12)
        if i % 4:  # a quarter of the clips stay normal
            x[start:, 0] += 3.0
            y[start:] = 1
        seqs.append(x)
        labels.append(y)
    state = fit_sequence_head(seqs, labels, hidden=8, epochs=30, seed=0)
    from hawk_core.model.frame_head import FrameSequenceHead

    head = FrameSequenceHead(3, 8)
    head.load_state_dict(state)
    with torch.no_grad():
        scores = head(torch.tensor(np.stack(seqs), dtype=torch.float32)).numpy().ravel()  # raw rows: standardisation folded in
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(np.concatenate(labels), scores) > 0.95
    assert all(torch.equal(state[k], fit_sequence_head(seqs, labels, hidden=8, epochs=30, seed=0)[k]) for k in state)  # seeded
    with pytest.raises(DataError, match="both 0 and 1"):
        fit_sequence_head(seqs, [np.zeros(12)] * 40, hidden=8, epochs=1)


def test_window_scores_average_the_frames_inside_each_window():
    from hawk_core.inference.anomaly import FrameScorer
    from hawk_core.media.windows import Window

    frames = [([0.5, 1.5, 2.5], [0.1, 0.2, 0.9]), ([2.0, 3.0], [0.5, 1.0])]  # two clips, overlapping in time
    windows = [Window(0, 0, 20, 10.0), Window(1, 20, 40, 10.0), Window(2, 60, 70, 10.0)]  # 0-2 s, 2-4 s, 6-7 s
    got = FrameScorer.window_scores(windows, frames)
    assert got == pytest.approx([0.15, (0.9 + 0.5 + 1.0) / 3, 1.0])  # the last: no frame inside, the nearest (3.0 s)
    with pytest.raises(ConfigError, match="head.frames_span must be seconds >= 0"):
        HeadConfig(frames_span=-1)


def test_fit_binary_head_folds_the_standardisation_and_needs_both_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)) * [1, 10, 0.1, 1, 1] + [0, 50, 0, 0, 0]
    y = (x[:, 1] > 50).astype(int)
    w, b = fit_binary_head(x, y, c=1.0)
    assert w.shape == (1, 5) and b.shape == (1,)
    assert ((x @ w[0] + b[0] > 0) == y.astype(bool)).mean() > 0.95
    with pytest.raises(DataError, match="both 0 and 1"):
        fit_binary_head(x, np.zeros(200))


def test_fit_frames_then_detect_with_the_frame_scorer(tmp_path, split):
    """recipes/fit_head.py --frames writes the source with a fitted frame head (the rest of the
    adapter unchanged); `hawk detect --scorer frames` scores windows with it; bad input is one
    error line."""
    src = tmp_path / "src"
    HawkModel.build(HawkConfig.from_preset("tiny").with_overrides(FLOW)).save_pretrained(src)
    m_frames = HawkConfig.from_preset("tiny").data.num_frames
    out = tmp_path / "framed"
    r = _fit(src, "--frames", "--data", split, "--test", split, "--out", out, "--cache-dir", tmp_path / "cache", "--threads", "1",
             "--appearance", "8", "--hidden", "8", "--epochs", "3")  # the default head: gru, with the flow statistics
    assert r.returncode == 0, r.stderr
    assert f"fitted the frame head (gru) on {4 * m_frames} frames of 4 videos" in r.stdout and "frame AUC" in r.stdout
    assert f"projected the appearance features of {4 * m_frames} frames to 8 components" in r.stdout
    assert "epoch 3/3: loss" in r.stderr
    m = HawkModel.from_pretrained(out)
    h = m.config.head
    assert h.frames and (h.frames_model, h.frames_flow, h.frames_appearance, h.frames_hidden) == ("gru", True, 8, 8)
    assert float(m.frame_head.out.weight.detach().abs().sum()) > 0
    w = m.frame_proj.weight.detach()
    assert torch.allclose(w @ w.T, torch.eye(8), atol=1e-4)  # principal directions: orthonormal
    from safetensors.torch import load_file

    before, after = load_file(str(src / "adapter.safetensors")), load_file(str(out / "adapter.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert {k.split(".")[0] for k in set(after) - set(before)} == {"frame_head", "frame_proj"}
    clip = split.parent / json.loads(split.read_text())[0]["video"]
    r = invoke("detect", clip, "--model", out, "--scorer", "frames", "--no-describe", "--window", "2", "--stride", "1", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert len(d["windows"]) == 5 and all(0.0 <= w["score"] <= 1.0 for w in d["windows"])
    assert len({round(w["score"], 6) for w in d["windows"]}) > 1  # the head reads the windows, not a constant
    assert d["settings"]["scorer"]["name"] == "frames"
    r = invoke("detect", clip, "--model", out, "--no-describe", "--window", "2", "--stride", "1", "--json")  # --scorer auto
    assert r.exit_code == 0 and json.loads(r.stdout)["settings"]["scorer"]["name"] == "frames", r.output
    assert m.config.head.frames_span == pytest.approx(6.0, abs=0.8)  # what the fit clips' sampled frames cover
    assert d["settings"]["scorer"]["span_s"] == m.config.head.frames_span
    # --span 0: each window read on its own (its own frames' mean)
    r = _fit(src, "--frames", "--span", "0", "--data", split, "--out", tmp_path / "own", "--cache-dir", tmp_path / "cache", "--threads", "1",
             "--head", "linear", "--context", "1", "--appearance", "0", "--no-flow")
    assert r.returncode == 0, r.stderr
    own = load_file(str(tmp_path / "own" / "adapter.safetensors"))
    assert set(own) - set(before) == {"frame_head.weight", "frame_head.bias"}  # the motion encoder alone, as before
    r = invoke("detect", clip, "--model", tmp_path / "own", "--scorer", "frames", "--no-describe", "--window", "2", "--stride", "1", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["settings"]["scorer"]["span_s"] == 0.0 and len(json.loads(r.stdout)["windows"]) == 5
    r = invoke("detect", clip, "--model", src, "--scorer", "frames", "--no-describe")
    assert r.exit_code == 2 and "no frame head" in r.stderr.strip().splitlines()[-1] and "Traceback" not in r.output
    # records without temporal ground truth, and a --gt that names none of them
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps([{k: v for k, v in rec.items() if k != "time_span"} | {"video": str(split.parent / rec["video"])}
                                for rec in json.loads(split.read_text())]))
    for args, says in (((src, "--frames", "--data", bare, "--out", tmp_path / "o1", "--cache-dir", tmp_path / "cache"), "time_span"),
                       ((tmp_path / "nowhere", "--frames", "--data", split, "--out", tmp_path / "o2", "--cache-dir", tmp_path / "cache"),
                        "error"),
                       ((src, "--frames", "--data", split, "--out", tmp_path / "o3", "--cache-dir", tmp_path / "cache", "--appearance", "500"),
                        "components needs at least"),
                       ((src, "--frames", "--data", split, "--out", tmp_path / "o4", "--cache-dir", tmp_path / "cache", "--context", "0"),
                        "--context must be")):
        r = _fit(*args)
        assert r.returncode != 0 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
