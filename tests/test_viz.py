"""tconv.viz: the drawings' data equal the operator, the drawings show that data, and upsampling is exact."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tconv
from tconv.shapes import effective_kernel, full_size
from tconv.viz import geometry, matrix, overlap, render, upsample

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")
torch = pytest.importorskip("torch")


@st.composite
def small_cases(draw):
    """A random small 2-D case with every hyper-parameter, always valid."""
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    out_pad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    full = [full_size(n, k, s, d) for n, s, d, k in zip((h, w), stride, dilation, (kh, kw))]
    padding = tuple(
        (draw(st.integers(0, max(0, f // 2 - 1))), draw(st.integers(0, max(0, f // 2 - 1)))) for f in full
    )
    x = np.array(draw(st.lists(st.integers(-5, 9), min_size=h * w, max_size=h * w)), float).reshape(h, w)
    k = np.array(draw(st.lists(st.integers(-3, 4), min_size=kh * kw, max_size=kh * kw)), float).reshape(kh, kw)
    return x, k, dict(stride=stride, padding=padding, dilation=dilation, output_padding=out_pad)


def _operator(x, k, hyper):
    return tconv.conv_transpose(x[None, None], k[None, None], **hyper)[0, 0]


@given(small_cases())
def test_scatter_and_conv_view_equal_the_operator(case):
    x, k, hyper = case
    want = _operator(x, k, hyper)
    s = geometry.scatter(x, k, **hyper)
    assert np.array_equal(s.output, want)
    assert np.array_equal(s.contributions.sum(axis=(0, 1)), s.total)
    for i in range(x.shape[0]):  # each contribution is x[i, j] * K on its footprint, zero elsewhere
        for j in range(x.shape[1]):
            c = s.contributions[i, j]
            assert np.array_equal(c[s.footprint(i, j)], (x[i, j] * k).ravel())
            assert not c[~s.footprint(i, j)].any()
    v = geometry.conv_view(x, k, **hyper)
    assert np.array_equal(v.output, want)
    # the grid holds each input element at its stride position (or drops it when cropped away entirely)
    placed = v.source[..., 0] >= 0
    assert np.array_equal(np.sort(v.grid[placed]), np.sort(x[tuple(v.source[placed].T)]))


def test_scatter_matches_torch_with_same_padding():
    x, k = np.arange(6.0).reshape(2, 3), np.array([[1.0, -1.0, 2.0]])
    s = geometry.scatter(x, k, stride=2, padding="same")
    assert s.output.shape == (4, 6)
    want = tconv.conv_transpose(x[None, None], k[None, None], stride=2, padding="same")[0, 0]
    assert np.array_equal(s.output, want)


def _cells_as_array(ax, shape):
    cells = render.read_cells(ax)
    out = np.full(shape, np.nan)
    for (r, c), text in cells.items():
        out[r, c] = float(text)
    return out, cells


@settings(max_examples=10)
@given(small_cases())
def test_draw_writes_the_operator_numbers_into_cells(case):
    x, k, hyper = case
    fig = render.draw(x, k, **hyper)
    try:
        want = _operator(x, k, hyper)
        got, _ = _cells_as_array(render.panel(fig, "output"), want.shape)
        assert np.array_equal(got, want)
        shown_x, _ = _cells_as_array(render.panel(fig, "input"), x.shape)
        assert np.array_equal(shown_x, x)
        s = geometry.scatter(x, k, **hyper)
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                cells = render.read_cells(render.panel(fig, f"contribution {i},{j}"))
                assert set(cells) == set(zip(*np.nonzero(s.footprint(i, j))))
                for (r, c), text in cells.items():
                    assert float(text) == s.contributions[i, j, r, c]
        # cropped cells of the sum panel are shaded: count the hatched patches
        hatched = [p for p in render.panel(fig, "sum").patches if p.get_hatch()]
        assert len(hatched) == int(s.cropped_mask().sum())
    finally:
        render.pyplot().close(fig)


def test_pictures_speak_portuguese():
    fig = render.draw([[1.0]], [[1.0, 2.0]], stride=2, lang="pt")
    try:
        assert render.panel(fig, "output").get_title() == "saída"
        assert render.panel(fig, "sum").get_title() == "soma (cinza: recortado)"
    finally:
        render.pyplot().close(fig)
    fig = render.matrix_picture(lang="pt")
    try:
        assert "numa entrada 3x3" in fig._suptitle.get_text()
    finally:
        render.pyplot().close(fig)
    with pytest.raises(ValueError, match="lang must be one of"):
        render.draw([[1.0]], [[1.0]], lang="de")


def test_draw_of_a_large_input_shows_the_sum_only():
    x = np.arange(49.0).reshape(7, 7)
    fig = render.draw(x, np.ones((2, 2)), stride=2)
    try:
        labels = [ax.get_label() for ax in fig.axes]
        assert labels == ["input", "kernel", "sum", "output"]
        want = tconv.conv_transpose(x[None, None], np.ones((1, 1, 2, 2)), stride=2)[0, 0]
        assert np.array_equal(_cells_as_array(render.panel(fig, "output"), want.shape)[0], want)
    finally:
        render.pyplot().close(fig)


def test_draw_writes_svg_and_png(tmp_path):
    render.draw([[0.0, 1], [2, 3]], [[0.0, 1], [2, 3]], padding=1, path=tmp_path / "f.svg")
    svg = (tmp_path / "f.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    render.draw([[0.0, 1], [2, 3]], [[0.0, 1], [2, 3]], stride=2, path=tmp_path / "f.png")
    with Image.open(tmp_path / "f.png") as im:
        assert im.format == "PNG" and im.width > 200
    with pytest.raises(ValueError, match="path must end in .png or .svg"):
        render.draw([[1.0]], [[1.0]], path=tmp_path / "f.jpg")


def test_draw_refuses_bad_input():
    with pytest.raises(ValueError, match="x must be a 2-D matrix"):
        geometry.scatter(np.ones((1, 2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="kernel must have sides between 1 and 12"):
        geometry.scatter(np.ones((2, 2)), np.ones((13, 2)))
    with pytest.raises(ValueError, match="stride"):
        geometry.scatter(np.ones((2, 2)), np.ones((2, 2)), stride=0)


@settings(max_examples=40)
@given(small_cases())
def test_animation_frames_end_at_the_operator(case):
    x, k, hyper = case
    want = _operator(x, k, hyper)
    s = geometry.scatter(x, k, **hyper)
    frames = render.scatter_frames(s)
    assert len(frames) == x.size and np.array_equal(frames[-1][s.keep], want)
    conv_frames = render.conv_frames(geometry.conv_view(x, k, **hyper))
    assert len(conv_frames) == want.size and np.array_equal(conv_frames[-1], want)


def test_animate_gif_has_one_frame_per_step(tmp_path):
    x, k = np.array([[1.0, 2.0]]), np.array([[1.0, -1.0]])
    for view, steps in (("scatter", 2), ("conv", 4), ("both", 4)):
        data = render.animate(x, k, stride=2, view=view, frame_ms=100, path=tmp_path / f"{view}.gif")
        assert (tmp_path / f"{view}.gif").read_bytes() == data
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "GIF" and im.n_frames == steps
    apng = render.animate(x, k, view="scatter", frame_ms=100, path=tmp_path / "a.png")
    with Image.open(io.BytesIO(apng)) as im:
        assert im.format == "PNG" and getattr(im, "is_animated", False) and im.n_frames == 2
    with pytest.raises(ValueError, match="view must be"):
        render.animate(x, k, view="sideways")
    with pytest.raises(ValueError, match="format must be 'gif' or 'png'"):
        render.animate(x, k, path=tmp_path / "a.mp4")


def test_renderers_without_matplotlib_name_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"optional 'viz' extra: pip install \"tconv\[viz\]\""):
        render.draw([[1.0]], [[1.0]])
    # the data functions need only NumPy
    assert geometry.scatter([[1.0]], [[2.0]]).output.tolist() == [[2.0]]


def _brute_overlap(k, s, d, n):
    counts = np.zeros(full_size(n, k, s, d), dtype=int)
    for i in range(n):
        for t in range(k):
            counts[i * s + t * d] += 1
    return counts


@given(st.integers(1, 7), st.integers(1, 5), st.integers(1, 3), st.integers(1, 9))
def test_overlap_counts_equal_brute_force_and_the_operator(k, s, d, n):
    got = overlap.overlap_counts(k, s, dilation=d, input_size=n)
    assert np.array_equal(got, _brute_overlap(k, s, d, n))
    ones = tconv.conv_transpose(np.ones((1, 1, n)), np.ones((1, 1, k)), stride=s, dilation=d)[0, 0]
    assert np.array_equal(got, ones)
    # interior pixels follow the per-phase counts
    phases = overlap.phase_counts(k, s, d)
    reach = effective_kernel(k, d) - 1
    for o in range(reach, (n - 1) * s + 1):
        assert got[o] == phases[o % s]


@settings(max_examples=60)
@given(st.tuples(st.integers(1, 5), st.integers(1, 5)), st.tuples(st.integers(1, 3), st.integers(1, 3)),
       st.tuples(st.integers(1, 2), st.integers(1, 2)), st.tuples(st.integers(1, 4), st.integers(1, 4)))
def test_overlap_counts_2d_equal_brute_force(k, s, d, n):
    got = overlap.overlap_counts(k, s, dilation=d, input_size=n, ndim=2)
    want = np.zeros(got.shape, dtype=int)
    for i in range(n[0]):
        for j in range(n[1]):
            for a in range(k[0]):
                for b in range(k[1]):
                    want[i * s[0] + a * d[0], j * s[1] + b * d[1]] += 1
    assert np.array_equal(got, want)


def test_overlap_map_cells_and_explanation():
    fig = render.overlap_map(3, 2, input_size=3)
    try:
        counts = overlap.overlap_counts(3, 2, input_size=3, ndim=2)
        got, _ = _cells_as_array(render.panel(fig, "overlap"), counts.shape)
        assert np.array_equal(got, counts)
        assert "4:2:1" in fig._suptitle.get_text().replace("\n", " ")
    finally:
        render.pyplot().close(fig)
    fig = render.overlap_map(3, 2, ndim=1, input_size=3)
    try:
        texts = [t.get_text() for t in render.panel(fig, "overlap").texts]
        assert texts == [str(c) for c in overlap.overlap_counts(3, 2, input_size=3)]
    finally:
        render.pyplot().close(fig)


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_overlap_descriptions_follow_the_numbers(lang):
    assert "2:1" in overlap.describe_overlap(3, 2, lang=lang) and "4:2:1" in overlap.describe_overlap(3, 2, lang=lang)
    assert "3:2" in overlap.describe_overlap(5, 2, lang=lang)
    even = overlap.describe_overlap(4, 2, lang=lang)
    assert " 2 " in even and ("uniform" in even or "even" in even)
    assert "holes" in overlap.describe_overlap(1, 3)
    assert "buracos" in overlap.describe_overlap(2, 2, dilation=2, lang="pt")
    with pytest.raises(ValueError, match="lang must be one of"):
        overlap.describe_overlap(3, 2, lang="fr")


@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 6), st.integers(2, 6), st.integers(1, 2),
       st.integers(0, 1), st.integers(1, 2))
def test_single_channel_matrix_is_conv_and_its_transpose_is_conv_transpose(kh, kw, h, w, s, p, d):
    if effective_kernel(kh, d) > h + 2 * p or effective_kernel(kw, d) > w + 2 * p:
        return
    rng = np.random.default_rng(h * 100 + w)
    k = rng.integers(-3, 4, size=(kh, kw)).astype(float)
    m = matrix.single_channel_matrix(k, (h, w), stride=s, padding=p, dilation=d)
    x = rng.normal(size=(h, w))
    np.testing.assert_allclose(m.W @ x.ravel(), tconv.conv(x[None, None], k[None, None], stride=s, padding=p,
                                                           dilation=d).ravel(), atol=1e-12)
    y = rng.normal(size=m.output_shape)
    back = tconv.conv_transpose(y[None, None], k[None, None], stride=s, padding=p, dilation=d,
                                output_size=(h, w))
    np.testing.assert_allclose(m.W.T @ y.ravel(), back.ravel(), atol=1e-12)
    for r, c in zip(*np.nonzero(m.tap >= 0)):  # every label names the kernel entry stored there
        a, b = divmod(int(m.tap[r, c]), kw)
        assert m.W[r, c] == k[a, b] and m.label(r, c) == f"k{a}{b}"


def test_matrix_picture_default_is_the_chapter_4x9():
    assert np.array_equal(matrix.single_channel_matrix().W, tconv.kernel2matrix([[0.0, 1], [2, 3]]))
    fig = render.matrix_picture()
    try:
        cells = render.read_cells(render.panel(fig, "W"))
        W = tconv.kernel2matrix([[0.0, 1], [2, 3]])
        assert len(cells) == 16  # four copies of the 2x2 kernel
        for (r, c), text in cells.items():
            assert float(text.split("=")[1]) == W[r, c]
        assert render.read_cells(render.panel(fig, "W.T")) == {(c, r): t for (r, c), t in cells.items()}
    finally:
        render.pyplot().close(fig)


# ---------------------------------------------------------------------------
# upsampling


def _torch_reference(image: np.ndarray, scale: int, normalize: bool) -> np.ndarray:
    """Bilinear-kernel transposed convolution per channel, computed by PyTorch."""
    k = upsample.bilinear_kernel(scale)
    p = upsample.upsampling_padding(scale)
    planes = torch.from_numpy(np.moveaxis(np.atleast_3d(image).astype(np.float64), -1, 0)[None].copy())
    c = planes.shape[1]
    w = torch.from_numpy(np.broadcast_to(k, (c, 1) + k.shape).copy())
    out = torch.nn.functional.conv_transpose2d(planes, w, stride=scale, padding=p, groups=c)
    if normalize:
        ones = torch.ones((1, 1) + planes.shape[2:], dtype=torch.float64)
        out = out / torch.nn.functional.conv_transpose2d(ones, w[:1], stride=scale, padding=p)
    return np.moveaxis(out[0].numpy(), 0, -1)


@settings(max_examples=40)
@given(st.integers(1, 6), st.integers(2, 9), st.integers(2, 9), st.sampled_from([1, 3, 4]), st.booleans())
def test_upsample_array_equals_torch_bilinear_transposed_conv(scale, h, w, c, normalize):
    rng = np.random.default_rng(scale * 1000 + h * 10 + w)
    image = rng.integers(0, 256, size=(h, w, c)).astype(np.uint8)
    got = upsample.upsample_array(image, scale, normalize_edges=normalize)
    assert got.shape == (h * scale, w * scale, c)
    np.testing.assert_allclose(got, _torch_reference(image, scale, normalize), rtol=1e-12, atol=1e-9)


def test_bilinear_kernel_interpolates_linearly():
    ramp = np.tile(np.arange(6.0) * 10, (4, 1))
    up = upsample.upsample_array(ramp, 2)
    # away from the borders, a linear ramp stays a linear ramp with half the step
    assert np.allclose(np.diff(up[2, 1:-1]), 5.0)


def _write_png(path, array):
    Image.fromarray(array).save(path)


def test_upsample_file_size_and_pixels(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(7, 5, 3)).astype(np.uint8)
    _write_png(tmp_path / "in.png", image)
    before, after = upsample.upsample_file(tmp_path / "in.png", tmp_path / "out.png", 3)
    assert before == (7, 5, 3) and after == (21, 15, 3)
    with Image.open(tmp_path / "out.png") as im:
        assert im.size == (15, 21)
        got = np.asarray(im)
    want = np.clip(np.rint(_torch_reference(image, 3, True)), 0, 255).astype(np.uint8)
    assert np.array_equal(got, want)


def test_upsample_refuses_tiny_huge_and_absurd(tmp_path):
    _write_png(tmp_path / "one.png", np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ValueError, match="at least 2x2 pixels"):
        upsample.upsample_file(tmp_path / "one.png", tmp_path / "o.png", 2)
    # a real PNG whose header declares 100000 x 100000 pixels: refused before decoding
    _write_png(tmp_path / "small.png", np.zeros((2, 2), np.uint8))
    for (w, h), message in (((100_000, 100_000), "decompression bomb"), ((10_000, 5_000), "declares 10000x5000")):
        data = bytearray((tmp_path / "small.png").read_bytes())
        ihdr = data.index(b"IHDR")
        data[ihdr + 4 : ihdr + 12] = w.to_bytes(4, "big") + h.to_bytes(4, "big")
        data[ihdr + 17 : ihdr + 21] = zlib.crc32(bytes(data[ihdr : ihdr + 17])).to_bytes(4, "big")
        (tmp_path / "bomb.png").write_bytes(bytes(data))
        with pytest.raises(ValueError, match=message):
            upsample.upsample_file(tmp_path / "bomb.png", tmp_path / "o.png", 2)
    with pytest.raises(ValueError, match="scale must be an integer between 1 and 32"):
        upsample.upsample_file(tmp_path / "small.png", tmp_path / "o.png", 33)
    with pytest.raises(ValueError, match="more than the limit"):
        upsample.upsample_array(np.zeros((2000, 2000)), 8)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        upsample.upsample_file(tmp_path / "text.png", tmp_path / "o.png", 2)
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("name", ["geometry", "overlap", "matrix", "upsample", "render", "texts", "tour_page",
                                  "_deps", "__init__", "folding"])
def test_docstring_examples_run(name):
    import doctest
    import importlib

    module = importlib.import_module("tconv.viz" if name == "__init__" else f"tconv.viz.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_cli_docstring_examples_run():
    import doctest

    from tconv import cli

    assert doctest.testmod(cli).failed == 0


def test_renamed_viz_functions_warn_and_still_work():
    import tconv.viz as viz

    with pytest.warns(DeprecationWarning, match="describe_overlap"):
        old = viz.explain
    assert old is viz.describe_overlap
    with pytest.warns(DeprecationWarning, match="single_channel_matrix"):
        assert viz.conv_matrix is viz.single_channel_matrix
    with pytest.raises(AttributeError):
        viz.no_such_thing


def test_drawing_leaves_matplotlibs_global_state_alone(tmp_path):
    """Every renderer draws on its own Figure + Agg canvas: the backend the caller chose, rcParams and pyplot's
    figure list stay as they were, and pyplot is not even imported (fresh interpreter, a non-Agg backend set)."""
    import json
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import json, sys
        import matplotlib
        matplotlib.use("svg")
        matplotlib.rcParams["lines.linewidth"] = 3.25  # a caller's own setting
        backend, params = matplotlib.get_backend(), dict(matplotlib.rcParams)
        from tconv.viz import render, tour_page
        figs = [render.draw([[1., 2], [3, 4]], [[1., 0], [2, 1]], stride=2, padding=1, path={str(tmp_path / "d.svg")!r}),
                render.overlap_map(3, 2, input_size=3), render.overlap_map(3, 2, ndim=1),
                render.matrix_picture(path={str(tmp_path / "m.png")!r}),
                render.draw_boundary([[1., 2, 3]], [[1., 2]], padding=(0, 1), padding_mode="circular")]
        render.animate([[1., 2]], [[1., 1]], view="both", path={str(tmp_path / "a.gif")!r})
        png = [render.to_bytes(f) for f in figs]
        html = [tour_page._png(tour_page._channels_picture(), "shapes"), tour_page._png(tour_page._corr_picture("en"), "c"),
                tour_page._matvec_w("en"), tour_page._upsample_picture("en")[0]]
        changed = sorted(k for k in params if matplotlib.rcParams[k] != params[k])
        print(json.dumps([matplotlib.get_backend() == backend, changed, "matplotlib.pyplot" in sys.modules,
                          [p[:4] == b"\\x89PNG" for p in png], [h.count("data:image/png") for h in html],
                          [type(f.canvas).__name__ for f in figs]]))
    """)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["TCONV_NUMBA"] = "0"  # the upsampling picture's convolutions: no kernel compilation needed here
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    same_backend, changed, pyplot_imported, pngs, images, canvases = json.loads(out.stdout.strip().splitlines()[-1])
    assert same_backend and changed == [] and not pyplot_imported
    assert all(pngs) and all(n >= 1 for n in images)
    assert set(canvases) == {"FigureCanvasAgg"}
    assert (tmp_path / "d.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert (tmp_path / "a.gif").read_bytes()[:6] == b"GIF89a"


def test_drawing_in_process_keeps_backend_and_rcparams():
    """The same in this process (whatever backend the test run has): draw, and nothing global moved."""
    import sys

    import matplotlib

    backend, params = matplotlib.get_backend(), dict(matplotlib.rcParams)
    fig = render.draw([[0., 1], [2, 3]], [[0., 1], [2, 3]], padding=1)
    render.to_bytes(fig, "svg")
    render.overlap_map(3, 2, input_size=2)
    assert matplotlib.get_backend() == backend
    assert [k for k in params if matplotlib.rcParams[k] != params[k]] == []
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:  # imported by other tests: tconv's figures are not in pyplot's list of open figures
        assert all(plt.figure(n) is not fig for n in plt.get_fignums())
