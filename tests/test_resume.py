"""Checkpoints and exact resume: a run killed (SIGKILL) mid-epoch and resumed from its last
checkpoint ends with parameters bit-identical to the run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import neuralab as nl

# The training both the child process and the test run: Adam, a per-step cosine schedule,
# shuffling, a validation split and stateful callbacks, so every piece of state matters.
SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    import neuralab as nl
    from sklearn.datasets import load_digits

    def train(checkpoint=None, resume_from=None, every=3, callbacks=()):
        X, y = load_digits(return_X_y=True)
        X, y = X[:600] / 16.0, y[:600]
        model = nl.MLP([64, 24, 10], seed=4)
        steps = 6 * 15
        nl.fit(model, X, y, optimizer=nl.optim.Adam(lr=3e-3),
               schedule=nl.schedules.CosineAnnealing(3e-3, t_max=steps), schedule_per="step",
               epochs=6, batch_size=32, seed=7, validation_split=0.2,
               callbacks=[nl.ReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.5),
                          nl.EarlyStopping(monitor="val_loss", patience=10), *callbacks],
               checkpoint=checkpoint, checkpoint_every=every, resume_from=resume_from)
        return model

    class Announce(nl.Callback):
        # print each step from step 40 on, then dawdle so the parent's kill lands mid-run
        def on_batch_end(self, step, logs=None):
            if step >= 40:
                print(step, flush=True)
                time.sleep(0.005)

    if __name__ == "__main__":
        train(checkpoint=sys.argv[1], callbacks=[Announce()])
        print("finished", flush=True)
""")


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume") / "train_script.py"
    path.write_text(SCRIPT)
    sys.path.insert(0, str(path.parent))
    try:
        import train_script
    finally:
        sys.path.remove(str(path.parent))
    return path, train_script


def test_sigkill_mid_epoch_then_resume_is_bit_identical(script, tmp_path):
    path, mod = script
    ckpt = tmp_path / "ckpt.safetensors"
    child = subprocess.Popen([sys.executable, str(path), str(ckpt)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                 p for p in sys.path if p)})
    seen = []
    for line in child.stdout:
        seen.append(line.strip())
        if line.strip() == "43":               # step 43 of 90: epoch 3 of 6, mid-epoch
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, seen
    assert "finished" not in seen
    _, meta = nl.io.read_checkpoint(ckpt)
    assert 39 <= meta["step"] < 90 and meta["batch"] > 0      # a mid-epoch checkpoint
    resumed = mod.train(resume_from=ckpt)
    uninterrupted = mod.train()
    assert np.array_equal(resumed.params, uninterrupted.params)


@pytest.mark.parametrize("every", [5, "epoch"])
def test_resume_from_every_checkpoint_matches_and_history_too(script, tmp_path, every):
    _, mod = script
    ckpt = tmp_path / "c.safetensors"

    class Crash(nl.Callback):
        def on_batch_end(self, step, logs=None):
            if step == 52:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mod.train(checkpoint=ckpt, every=every, callbacks=[Crash()])
    arrays, meta = nl.io.read_checkpoint(ckpt)
    assert meta["step"] == (50 if every == 5 else 45)
    resumed = mod.train(resume_from=ckpt)
    ref = mod.train()
    assert np.array_equal(resumed.params, ref.params)


def test_checkpoint_holds_the_training_state(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    model = nl.MLP([3, 4, 2], seed=0)
    opt = nl.optim.Momentum(lr=0.1)
    ckpt = tmp_path / "c.safetensors"
    nl.fit(model, X, y, optimizer=opt, epochs=2, batch_size=8, seed=1, checkpoint=ckpt,
           checkpoint_every=7)
    arrays, meta = nl.io.read_checkpoint(ckpt)
    assert (meta["epoch"], meta["batch"], meta["step"]) == (1, 2, 7)   # 5 batches per epoch
    assert arrays["order"].shape == (40,) and sorted(arrays["order"]) == list(range(40))
    assert arrays["optimizer/velocity"].shape == (model.n_params,)
    assert meta["optimizer_state"]["t"] == 7
    assert meta["rng"]["bit_generator"] == "PCG64"
    assert len(meta["history"]["history"]["loss"]) == 1


def test_resume_rejects_a_checkpoint_of_another_run(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    ckpt = tmp_path / "c.safetensors"
    nl.fit(nl.MLP([3, 4, 2], seed=0), X, y, epochs=1, batch_size=8, checkpoint=ckpt)
    with pytest.raises(ValueError, match="batch_size=8 but this run has batch_size=10"):
        nl.fit(nl.MLP([3, 4, 2], seed=0), X, y, epochs=2, batch_size=10, resume_from=ckpt)
    with pytest.raises(ValueError, match="n_params"):
        nl.fit(nl.MLP([3, 5, 2], seed=0), X, y, epochs=2, batch_size=8, resume_from=ckpt)
    with pytest.raises(ValueError, match="optimizer"):
        nl.fit(nl.MLP([3, 4, 2], seed=0), X, y, epochs=2, batch_size=8, resume_from=ckpt,
               optimizer="adam")
    nl.save(nl.MLP([3, 4, 2]), tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="not a neuralab-checkpoint"):
        nl.fit(nl.MLP([3, 4, 2]), X, y, resume_from=tmp_path / "m.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        nl.fit(nl.MLP([3, 4, 2]), X, y, checkpoint=tmp_path / "no" / "c.safetensors")
