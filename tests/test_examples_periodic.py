"""examples/periodic_deconvolve.py: a circular operator recovers a periodic field evenly, a zero-padded one
leaves a border artefact; the numbers it prints are the ones it computes."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import periodic_deconvolve as example  # noqa: E402


def test_the_observation_is_torchs_circular_strided_blur():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    compared = 0
    for seed in range(3):
        field = example.periodic_field(32, seed)
        weight = example.gaussian_kernel()
        got = example.observe(field, weight, noise=0.0)
        padded = F.pad(torch.from_numpy(field)[None, None], (example.PADDING,) * 4, mode="circular")
        want = F.conv2d(padded, torch.from_numpy(weight), stride=example.STRIDE)[0, 0].numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        # the field is periodic: shifting it by a stride shifts the observation by one sample
        shifted = example.observe(np.roll(field, example.STRIDE, axis=1), weight, noise=0.0)
        np.testing.assert_allclose(shifted, np.roll(got, 1, axis=1), rtol=0, atol=1e-12)
        compared += 1
    assert compared == 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_circular_recovers_the_border_as_well_as_the_interior_zeros_does_not(seed):
    result = example.run(n=32, iterations=30, band=4, seed=seed)
    c, z = result.errors["circular"], result.errors["zeros"]
    assert c.overall < 0.1  # the recovery is good at all
    assert 0.75 < c.border / c.interior < 1.33  # no border artefact with the right operator
    assert z.border > 3 * c.border  # the zero-padded operator's artefact
    assert z.border > 2.5 * z.interior  # ... and it sits at the border
    # the errors are what they say: recomputed here from the arrays
    mask = example.border_mask((32, 32), 4)
    for mode, e in result.errors.items():
        diff = result.recovered[mode] - result.truth
        assert e.border == pytest.approx(np.linalg.norm(diff[mask]) / np.linalg.norm(result.truth[mask]))
        assert e.interior == pytest.approx(np.linalg.norm(diff[~mask]) / np.linalg.norm(result.truth[~mask]))


def test_the_recovery_solves_the_normal_equations_of_its_operator():
    """lsqr on ConvOperator: after enough iterations the residual is orthogonal to the operator's range."""
    import tconv

    result = example.run(n=16, iterations=400, band=2, noise=0.0)
    weight = example.gaussian_kernel()
    checked = 0
    for mode, rec in result.recovered.items():
        A = tconv.ConvOperator(weight, (16, 16), stride=example.STRIDE, padding=example.PADDING, padding_mode=mode)
        residual = A @ rec.ravel() - result.observation.ravel()
        gradient = A.T @ residual
        assert np.linalg.norm(gradient) < 1e-6 * np.linalg.norm(A.T @ result.observation.ravel())
        checked += 1
    assert checked == 2


def test_main_prints_the_table_and_saves_the_picture(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "periodic.png"
    assert example.main(["--n", "32", "--iterations", "20", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = {m.group(1): tuple(map(float, m.groups()[1:]))
            for m in re.finditer(r"^\s+(circular|zeros)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", printed, re.M)}
    assert set(rows) == {"circular", "zeros"}
    result = example.run(n=32, iterations=20)
    for mode, (overall, border, interior, ratio) in rows.items():
        e = result.errors[mode]
        assert (overall, border, interior) == pytest.approx((e.overall, e.border, e.interior), abs=6e-5)
        assert ratio == pytest.approx(e.border / e.interior, abs=6e-3)
    assert rows["zeros"][1] > 3 * rows["circular"][1]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_refuses_a_size_it_cannot_split():
    with pytest.raises(ValueError, match="n must be even"):
        example.run(n=15)
