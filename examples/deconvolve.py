"""Undo a known transposed convolution with lsqr on tconv.ConvOperator.

A small 3-channel image is upsampled 2x by a transposed convolution with a
bilinear kernel (stride 2, padding 1, one kernel per channel: groups=3), the
way FCN-style decoders upsample.  Knowing the kernel, we recover the small
image from the big one by least squares:

    minimise || T s - b ||   where T = conv_transpose(., K, stride=2, padding=1, groups=3)

T is the adjoint of the convolution with the same weight, so T is
``ConvOperator(K, big_shape, ...).H``: scipy's lsqr applies it with
conv_transpose and its adjoint with conv, and never builds a matrix.  The
script prints lsqr's residual ||T s_k - b|| and the error ||s_k - s|| after k
iterations, without noise and then with 1% noise added to b.

Run:  PYTHONPATH=src python examples/deconvolve.py
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import lsqr

import tconv


def bilinear_kernel(size: int) -> np.ndarray:
    """The ``size x size`` bilinear-interpolation kernel (as FCN initialises upsampling layers)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    ramp = 1 - np.abs(np.arange(size) - center) / factor
    return np.outer(ramp, ramp)


def test_image(channels: int, n: int, seed: int = 0) -> np.ndarray:
    """A few smooth blobs and a sharp square per channel, so there is something to see."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n] / n
    img = np.zeros((channels, n, n))
    for c in range(channels):
        for _ in range(3):
            cy, cx, r = rng.uniform(0.2, 0.8, size=3)
            img[c] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (0.05 * r))
        img[c, n // 4 : n // 2, n // 4 : n // 2] += 1.0
    return img


def main() -> None:
    channels, n, stride = 3, 32, 2
    K = np.broadcast_to(bilinear_kernel(4), (channels, 1, 4, 4)).copy()
    hyper = dict(stride=stride, padding=1, groups=channels)
    small = test_image(channels, n)
    big = tconv.conv_transpose(small, K, **hyper)  # the observation: (3, 64, 64)
    T = tconv.ConvOperator(K, big.shape[1:], **hyper).H  # small -> big, i.e. the transposed convolution
    assert np.allclose(T @ small.ravel(), big.ravel())
    print(f"observation {big.shape} = conv_transpose(image {small.shape}, bilinear 4x4, stride 2, padding 1, groups 3)")
    print(f"operator T: {T.shape[0]} x {T.shape[1]}, applied with conv/conv_transpose (no matrix built)\n")

    rng = np.random.default_rng(1)
    noise = 0.01 * np.abs(big).max() * rng.standard_normal(big.shape)
    for label, b in (("exact data", big.ravel()), ("with 1% noise", (big + noise).ravel())):
        floor = np.linalg.norm(b - big.ravel())
        print(f"{label}:" + (f" (||noise|| = {floor:.3e}: the residual cannot fall below the noise's part"
                              " outside T's range)" if floor else ""))
        print(f"  {'iterations':>10}  {'residual ||T s_k - b||':>22}  {'error ||s_k - s|| / ||s||':>25}")
        for iters in (1, 2, 5, 10, 20, 50, 100):
            s_k, istop, itn, r1norm = lsqr(T, b, atol=1e-14, btol=1e-14, iter_lim=iters)[:4]
            err = np.linalg.norm(s_k - small.ravel()) / np.linalg.norm(small)
            print(f"  {itn:>10}  {r1norm:>22.3e}  {err:>25.3e}")
            if istop in (1, 2):  # converged before the limit
                break
        print()


if __name__ == "__main__":
    main()
