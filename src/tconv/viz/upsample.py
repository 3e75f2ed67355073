"""Upsampling with a bilinear-initialised transposed convolution (the FCN trick).

Fully convolutional segmentation networks (Long et al., 2015) initialise their
upsampling layers with the bilinear interpolation kernel: a transposed
convolution with stride ``s``, kernel ``2s - s % 2`` and padding
``ceil((s - 1) / 2)`` then maps ``n`` pixels to exactly ``n * s``.  Applied per
channel (``groups = channels``) it upsamples an image.

>>> bilinear_kernel(2).tolist()[0]
[0.0625, 0.1875, 0.1875, 0.0625]
>>> upsample_array(np.array([[0., 1.], [2., 3.]]), 2).shape
(4, 4)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..memory import check_fits
from ..ops import conv_transpose
from .._validate import as_int
from ._deps import require

#: Largest accepted upsampling factor.
MAX_SCALE = 32
#: Largest accepted input image (pixels, as declared by the file header).
MAX_INPUT_PIXELS = 40_000_000
#: Largest produced image (pixels).
MAX_OUTPUT_PIXELS = 100_000_000


def _scale(value: Any) -> int:
    s = as_int(value, "scale")
    if not 1 <= s <= MAX_SCALE:
        raise ValueError(f"scale must be an integer between 1 and {MAX_SCALE}, got {s}")
    return s


def bilinear_kernel(scale: Any) -> np.ndarray:
    """The 2-D bilinear interpolation kernel for an upsampling factor ``scale``.

    Its side is ``2 * scale - scale % 2``; it is the outer product of a 1-D
    triangle ("tent") peaking at its centre.

    >>> (bilinear_kernel(3)[2] * 3).round(12).tolist()  # the middle row is the tent
    [1.0, 2.0, 3.0, 2.0, 1.0]
    >>> float(bilinear_kernel(3).sum())  # a pixel spreads its whole value over scale**2 outputs
    9.0
    """
    s = _scale(scale)
    size = 2 * s - s % 2
    center = s - 1 if size % 2 == 1 else s - 0.5
    tent = 1 - np.abs(np.arange(size) - center) / s
    return np.outer(tent, tent)


def upsampling_padding(scale: Any) -> int:
    """Padding that makes the transposed convolution map ``n`` to ``n * scale``.

    >>> [upsampling_padding(s) for s in (1, 2, 3, 4)]
    [0, 1, 1, 2]
    """
    return math.ceil((_scale(scale) - 1) / 2)


def upsample_array(image: Any, scale: Any, *, normalize_edges: bool = True) -> np.ndarray:
    """Upsample an ``(H, W)`` or ``(H, W, C)`` array by ``scale`` with a bilinear transposed convolution.

    Every channel is convolved separately (``groups = C``).  The plain FCN
    layer darkens the outermost pixels, where fewer inputs overlap; with
    ``normalize_edges`` (the default) the result is divided by the same
    transposed convolution applied to ones, which makes it exact bilinear
    interpolation up to the border.  Returns float64.

    >>> upsample_array(np.ones((2, 3)), 2).round(12).tolist()[0]
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    >>> upsample_array(np.ones((2, 3)), 2, normalize_edges=False)[0].tolist()
    [0.5625, 0.75, 0.75, 0.75, 0.75, 0.5625]
    """
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or arr.dtype.kind not in "biuf":
        raise ValueError(f"image must be a real (H, W) or (H, W, C) array, got shape {arr.shape} dtype {arr.dtype}")
    s = _scale(scale)
    planes = np.moveaxis(np.atleast_3d(arr).astype(np.float64), -1, 0)  # (C, H, W)
    c, h, w = planes.shape
    if min(h, w) < 2:
        raise ValueError(f"image must be at least 2x2 pixels to be upsampled, got {h}x{w}")
    if h * w * s * s > MAX_OUTPUT_PIXELS:
        raise ValueError(
            f"the upsampled image would have {h * s}x{w * s} = {h * w * s * s} pixels, more than the "
            f"limit of {MAX_OUTPUT_PIXELS}; use a smaller scale or a smaller image"
        )
    check_fits(3 * c * h * w * s * s * 8, "the upsampled image")
    k = bilinear_kernel(s)
    weight = np.broadcast_to(k, (c, 1) + k.shape)
    p = upsampling_padding(s)
    out = conv_transpose(planes, weight, stride=s, padding=p, groups=c)
    if normalize_edges:
        out /= conv_transpose(np.ones((1, h, w)), k[None, None], stride=s, padding=p)
    out = np.moveaxis(out, 0, -1)
    return out[..., 0] if arr.ndim == 2 else out


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Round and clip to 0..255.

    >>> to_uint8(np.array([-3., 12.5, 300.])).tolist()
    [0, 12, 255]
    """
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as a uint8 ``(H, W)`` or ``(H, W, C)`` array, refusing absurd sizes.

    The size declared in the file header is checked before any pixel is
    decoded, so a decompression bomb is refused without being expanded.
    """
    Image = require("PIL.Image", "reading images")
    path = Path(path)
    try:
        with Image.open(path) as img:
            w, h = img.size
            if w * h > MAX_INPUT_PIXELS:
                raise ValueError(
                    f"{path} declares {w}x{h} = {w * h} pixels, more than the limit of {MAX_INPUT_PIXELS}: "
                    f"refusing it (a decompression bomb or an absurdly large image)"
                )
            if img.mode not in ("L", "RGB", "RGBA"):
                img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
            img.load()
            return np.asarray(img).copy()
    except FileNotFoundError:
        raise ValueError(f"input image {path} does not exist") from None
    except Image.DecompressionBombError as exc:
        raise ValueError(
            f"{path} is refused as a decompression bomb or an absurdly large image: {exc} "
            f"(tconv upsamples images of at most {MAX_INPUT_PIXELS} pixels)"
        ) from None
    except (Image.UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path} is not a readable image: {exc}") from None


def write_image(array: np.ndarray, path: str | Path) -> None:
    """Write a uint8 image array; the format follows the file suffix."""
    Image = require("PIL.Image", "writing images")
    try:
        Image.fromarray(array).save(path)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"cannot write {path}: {exc} (use a suffix such as .png or .jpg)") from None


def upsample_file(src: str | Path, dst: str | Path, scale: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Upsample the image file ``src`` by ``scale`` into ``dst``; returns (input shape, output shape)."""
    _scale(scale)
    image = read_image(src)
    result = to_uint8(upsample_array(image, scale))
    write_image(result, dst)
    return image.shape, result.shape
