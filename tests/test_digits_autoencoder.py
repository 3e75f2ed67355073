"""The digits autoencoder example: a few training steps lower the loss; the PNG is written."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the example's data come with scikit-learn: pip install -e '.[test]'")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import digits_autoencoder  # noqa: E402


def test_autoencoder_loss_falls_in_a_few_steps():
    model, history = digits_autoencoder.train(epochs=1, max_steps=25, progress=False, seed=0)
    assert len(history.step_losses) == 25 and len(history.epoch_losses) == 1
    assert np.mean(history.step_losses[-5:]) < 0.8 * np.mean(history.step_losses[:5])
    assert history.final_loss < history.initial_loss
    images = digits_autoencoder.load_images()
    assert images.shape == (1797, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    assert model(images[:3]).shape == (3, 1, 8, 8)


def test_autoencoder_saves_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    model = digits_autoencoder.build_model(seed=0)
    out = tmp_path / "recon.png"
    digits_autoencoder.save_reconstructions(model, digits_autoencoder.load_images(), str(out), count=4)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_autoencoder_training_shows_progress(capsys):
    images = digits_autoencoder.load_images()[:500]
    _, history = digits_autoencoder.train(epochs=2, batch_size=64, progress=True, seed=0, images=images)
    out = capsys.readouterr().out
    steps = len(history.step_losses)
    assert steps == 2 * -(-(500 - digits_autoencoder.HELD_OUT) // 64)
    assert f"{steps}/{steps} [" in out and "step/s" in out  # tqdm's bar reached the last step
    assert out.count("epoch ") >= 2  # one line per epoch, written above the bar
