"""A convolutional autoencoder on scikit-learn's 8x8 digits, trained with tconv on the CPU.

Strided convolutions squeeze each 8x8 digit to a 2x2x8 code (32 numbers) and
transposed convolutions with the same hyper-parameters blow it back up to 8x8
(the chapter's shape inversion, with ``output_padding=1`` to land on 8
exactly).  The data ship inside scikit-learn, so nothing is downloaded.

    pip install -e ".[examples]"
    python examples/digits_autoencoder.py                  # about a minute
    python examples/digits_autoencoder.py --epochs 5 --out quick.png

Prints the loss of every epoch behind a progress bar, the held-out loss before
and after training, and saves originals (top row) against reconstructions
(bottom row) of held-out digits as a PNG.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

import tconv.nn as nn
from tconv.optim import Adam

HELD_OUT = 297  # the last digits are never trained on


def _need(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"this example needs {package}: pip install -e '.[examples]'") from None


def load_images(dtype=np.float32) -> np.ndarray:
    """The 1797 digits as ``(N, 1, 8, 8)`` in ``[0, 1]``."""
    datasets = _need("sklearn.datasets", "scikit-learn")
    digits = datasets.load_digits()
    return (digits.images / 16.0).astype(dtype)[:, None]


def build_model(seed: int = 0) -> nn.Sequential:
    """8x8 -> 4x4x32 -> 2x2x8 (the code) -> 4x4x32 -> 8x8."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, stride=2, padding=1, seed=rng), nn.ReLU(),
        nn.Conv2d(32, 8, kernel_size=3, stride=2, padding=1, seed=rng), nn.ReLU(),
        nn.ConvTranspose2d(8, 32, kernel_size=3, stride=2, padding=1, output_padding=1, seed=rng), nn.ReLU(),
        nn.ConvTranspose2d(32, 1, kernel_size=3, stride=2, padding=1, output_padding=1, seed=rng), nn.Sigmoid(),
    )


def evaluate(model: nn.Sequential, images: np.ndarray) -> float:
    """Mean squared reconstruction error."""
    return float(nn.MSELoss()(model(images), images))


@dataclass
class History:
    initial_loss: float  # held-out loss before training
    final_loss: float = float("nan")  # held-out loss after training
    epoch_losses: list[float] = field(default_factory=list)  # mean training loss of each epoch
    step_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train(epochs: int = 100, batch_size: int = 32, lr: float = 5e-3, seed: int = 0, max_steps: int | None = None,
          progress: bool = True, images: np.ndarray | None = None) -> tuple[nn.Sequential, History]:
    """Train the autoencoder; ``max_steps`` stops early (for tests), ``progress`` shows a tqdm bar."""
    images = load_images() if images is None else images
    train_set, held_out = images[:-HELD_OUT], images[-HELD_OUT:]
    model = build_model(seed)
    loss_fn, optimizer = nn.MSELoss(), Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    history = History(initial_loss=evaluate(model, held_out))
    steps_per_epoch = -(-len(train_set) // batch_size)
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    bar = tqdm(total=total, unit="step", file=sys.stdout) if progress else None
    start = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(train_set))
        losses = []
        for first in range(0, len(order), batch_size):
            if len(history.step_losses) == total:
                break
            batch = train_set[order[first:first + batch_size]]
            loss = float(loss_fn(model(batch), batch))
            model.backward(loss_fn.backward())
            optimizer.step()
            losses.append(loss)
            history.step_losses.append(loss)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.4f}", refresh=False)
        if not losses:
            break
        history.epoch_losses.append(float(np.mean(losses)))
        if bar is not None:
            bar.write(f"epoch {epoch + 1:3d}  loss {history.epoch_losses[-1]:.5f}")
    if bar is not None:
        bar.close()
    history.seconds = time.perf_counter() - start
    history.final_loss = evaluate(model, held_out)
    return model, history


def save_reconstructions(model: nn.Sequential, images: np.ndarray, path: str, count: int = 10) -> None:
    """Originals (top) and reconstructions (bottom) of the first ``count`` held-out digits."""
    matplotlib = _need("matplotlib", "matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = images[-HELD_OUT:][:count]
    rebuilt = model(shown)
    fig, axes = plt.subplots(2, count, figsize=(count, 2.3))
    for i in range(count):
        for row, source in enumerate((shown, rebuilt)):
            axes[row, i].imshow(source[i, 0], cmap="gray_r", vmin=0, vmax=1)
            axes[row, i].axis("off")
    axes[0, 0].set_title("original", loc="left", fontsize=9)
    axes[1, 0].set_title("reconstruction", loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="digits_autoencoder.png", help="where to save the PNG")
    args = parser.parse_args(argv)
    images = load_images()
    model, history = train(args.epochs, args.batch_size, args.lr, args.seed, images=images)
    print(f"held-out loss: {history.initial_loss:.5f} before training, {history.final_loss:.5f} after "
          f"({len(history.step_losses)} steps in {history.seconds:.1f} s)")
    save_reconstructions(model, images, args.out)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
