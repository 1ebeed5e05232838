"""Experiment (issue 13): does a closer camera (people ZOOM times larger) put the events in the
frozen features? Renders a `hawk synth` split exactly as `hawk synth` does except that each
camera's ground width (the first draw of `hawk_core.synth.scene.make_camera`) is divided by
ZOOM; ZOOM 1 is `hawk synth` itself. Then probe both with benchmarks/feature_probe.py:

    python benchmarks/synth_zoom.py OUT N SEED SPLIT ZOOM
    python benchmarks/synth_zoom.py runs/z2 240 1 train 2 && python benchmarks/synth_zoom.py runs/z2 80 2 test 2
    python benchmarks/feature_probe.py --train runs/z2/train.json --test runs/z2/test.json --cache runs/z2probe --no-attn

Results: benchmarks/feature_probe.md, "A closer camera".
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hawk_core.synth.render
R = sys.modules["hawk_core.synth.render"]
from hawk_core.synth.scene import make_camera as _orig
from hawk_core.synth.dataset import synthesize
from hawk_core.synth.render import SynthConfig

out, n, seed, split, zoom = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])

class _FirstScaled:
    def __init__(self, rng, k):
        self._rng, self._k, self._done = rng, k, False
    def uniform(self, *a, **kw):
        v = self._rng.uniform(*a, **kw)
        if not self._done:
            self._done = True
            return v * self._k
        return v
    def __getattr__(self, name):
        return getattr(self._rng, name)

def zoomed(rng, size, kind):
    return _orig(_FirstScaled(rng, 1.0 / zoom), size, kind)

R.make_camera = zoomed
t0 = time.time()
summary = synthesize(out, n, seed, split, SynthConfig(), workers=1, codec="mp4v")
print(summary, f"{time.time()-t0:.1f}s")
