"""tconv.compat.jax against jax.lax.conv_transpose (jax[cpu])."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import Compared
from tconv.compat.jax import conv_transpose

from .stats import count, examples, record

jax = pytest.importorskip("jax", reason="jax[cpu] is in the test extra: pip install -e '.[test]'")

import inspect  # noqa: E402

#: jax versions before use_consistent_padding have only the legacy meaning of explicit pairs.
HAS_CONSISTENT = "use_consistent_padding" in inspect.signature(jax.lax.conv_transpose).parameters

TOL = 1e-4  # float32 (jax's default precision)

#: (lhs, rhs, out) layouts per number of spatial dims; None is jax's default.
LAYOUTS = {
    1: [None, ("NCH", "OIH", "NCH"), ("NHC", "IOH", "NCH"), ("CNH", "HOI", "HNC")],
    2: [None, ("NCHW", "OIHW", "NCHW"), ("NHWC", "HWIO", "NHWC"), ("NCHW", "IOWH", "NHWC"), ("HNWC", "WHOI", "CHWN")],
    3: [None, ("NCHWD", "OIHWD", "NCHWD"), ("NDHWC", "DHWIO", "NDHWC")],
}


def _shape(spec, sizes):
    return tuple(sizes[c] for c in spec)


@st.composite
def jax_cases(draw):
    nd = draw(st.integers(1, 3))
    layout = draw(st.sampled_from(LAYOUTS[nd]))
    if layout is None:
        layout_used = {1: ("NHC", "HIO", "NHC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NHWDC", "HWDIO", "NHWDC")}[nd]
    else:
        layout_used = layout
    letters = [c for c in layout_used[1] if c not in "OI"]
    max_n, max_k = {1: (7, 5), 2: (5, 4), 3: (3, 3)}[nd]
    n = [draw(st.integers(1, max_n)) for _ in range(nd)]
    k = [draw(st.integers(1, max_k)) for _ in range(nd)]
    s = [draw(st.integers(1, 4)) for _ in range(nd)]
    d = [draw(st.integers(1, 3)) for _ in range(nd)]
    transpose_kernel = draw(st.booleans())
    consistent = draw(st.booleans()) and HAS_CONSISTENT
    kind = draw(st.sampled_from(["SAME", "VALID", "pairs"]))
    if kind == "pairs":
        k_eff = [b * (a - 1) + 1 for a, b in zip(k, d)]
        if consistent:
            padding = [(draw(st.integers(0, e - 1)), draw(st.integers(0, e - 1))) for e in k_eff]
        else:
            padding = [(draw(st.integers(-1, e + 2)), draw(st.integers(-1, e + 2))) for e in k_eff]
    else:
        padding = kind
    batch, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sizes = {"N": batch, "C": c_in, "I": c_out if transpose_kernel else c_in, "O": c_in if transpose_kernel else c_out}
    sizes.update({c: v for c, v in zip(letters, n)})
    ksizes = dict(sizes)
    ksizes.update({c: v for c, v in zip(letters, k)})
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    lhs = rng.standard_normal(_shape(layout_used[0], sizes)).astype(np.float32)
    rhs = rng.standard_normal(_shape(layout_used[1], ksizes)).astype(np.float32)
    kwargs = dict(strides=tuple(s), padding=padding, rhs_dilation=tuple(d), dimension_numbers=layout,
                  transpose_kernel=transpose_kernel)
    if consistent:
        kwargs["use_consistent_padding"] = True
    return lhs, rhs, kwargs


def _reference(lhs, rhs, kwargs):
    """``jax.lax.conv_transpose(lhs, rhs, **kwargs)``, compiled without XLA's algebraic simplifier.

    With that pass on, jax 0.10.2 aborts the whole process (an uncatchable CHECK failure in
    algebraic_simplifier.cc, "Window dimensions do not match RHS shape") on some calls whose dilated
    kernel is larger than the input, e.g. a (1, 2, 5, 3) NHWC input with a (3, 2, 3, 1) HWIO kernel,
    strides (3, 2), rhs_dilation (3, 1). The pass only rewrites the computation, so the numbers are
    jax's own either way.
    """
    call = jax.jit(functools.partial(jax.lax.conv_transpose, **kwargs))
    return call.lower(lhs, rhs).compile(compiler_options={"xla_disable_hlo_passes": "algsimp"})(lhs, rhs)


EXAMPLES = examples(200)


@settings(max_examples=EXAMPLES, derandomize=True)  # a fixed run: the floor below holds every time
@given(jax_cases())
def matches_jax_lax_conv_transpose(tally, case):
    tally.drawn += 1
    lhs, rhs, kwargs = case
    try:
        want = np.asarray(_reference(lhs, rhs, kwargs))
    except Exception:
        with pytest.raises(ValueError):
            conv_transpose(lhs, rhs, **kwargs)
        count("jax: jax.lax.conv_transpose (refused by both)")
        return
    if want.size == 0:
        with pytest.raises(ValueError):
            conv_transpose(lhs, rhs, **kwargs)
        count("jax: jax.lax.conv_transpose (empty in jax, error in tconv)")
        return
    got = conv_transpose(lhs, rhs, **kwargs)
    assert got.shape == want.shape
    assert record("jax: jax.lax.conv_transpose", got, want) <= TOL
    tally.compared += 1


def test_matches_jax_lax_conv_transpose():
    tally = Compared()
    matches_jax_lax_conv_transpose(tally)
    tally.assert_at_least(EXAMPLES // 2, "jax.lax.conv_transpose")


def test_conv_dimension_numbers_object():
    rng = np.random.default_rng(1)
    lhs = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)  # NCHW
    rhs = rng.standard_normal((2, 3, 3, 2)).astype(np.float32)  # OIHW
    dn = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, ("NCHW", "OIHW", "NCHW"))
    want = np.asarray(jax.lax.conv_transpose(lhs, rhs, (2, 3), "SAME", dimension_numbers=dn))
    got = conv_transpose(lhs, rhs, (2, 3), "SAME", dimension_numbers=dn)
    assert record("jax: jax.lax.conv_transpose", got, want) <= TOL


def test_keras_kernel_loads_with_transpose_kernel():
    """transpose_kernel=True takes a TF/Keras (*k, out, in) kernel as 'HWIO' unchanged."""
    from tconv import conv_transpose as canonical

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4, 5, 3))
    k = rng.standard_normal((3, 3, 2, 3))  # (kh, kw, out, in)
    got = conv_transpose(x, k, (2, 2), "VALID", transpose_kernel=True)
    want = canonical(x.transpose(0, 3, 1, 2), k.transpose(3, 2, 0, 1), stride=2).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"padding": "same"}, "padding must be 'SAME', 'VALID'"),
        ({"padding": [(1, 1)]}, r"padding must have 2 \(low, high\) pairs"),
        ({"strides": (1,)}, "strides must have one entry per spatial dim"),
        ({"dimension_numbers": ("NCHW", "OIHW")}, "dimension_numbers must be"),
        ({"dimension_numbers": ("NCHW", "OIHW", "NCHX")}, "same spatial letters"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"strides": (2, 2), "padding": "SAME", **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        conv_transpose(np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 2)), **args)
