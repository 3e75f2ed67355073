"""Runs inside the MXNet side environment (mxnet 1.9.1, numpy < 1.24); no tconv import.

Usage: python mxnet_runner.py CASES.npz OUT.npz

CASES.npz holds ``spec`` (a JSON list of cases) and the arrays ``x{i}``, ``w{i}``,
``b{i}``.  Each case is run with ``mx.nd.Deconvolution`` or a Gluon
``Conv{1,2}DTranspose``; OUT.npz gets ``y{i}`` or ``err{i}`` per case and the
chapter's MXNet examples (``chapter_*``), run as the chapter runs them.
"""

import json
import sys

import numpy as np


def run_nd(mx, case, x, w, b):
    kw = {k: tuple(v) for k, v in case["params"].items() if isinstance(v, list)}
    kw.update({k: v for k, v in case["params"].items() if not isinstance(v, list)})
    args = [mx.nd.array(x, dtype=x.dtype), mx.nd.array(w, dtype=w.dtype)]
    if not kw.get("no_bias", False):
        args.append(mx.nd.array(b, dtype=b.dtype))
    return mx.nd.Deconvolution(*args, **kw).asnumpy()


def run_gluon(mx, case, x, w, b):
    from mxnet.gluon import nn

    p = case["params"]
    cls = nn.Conv1DTranspose if x.ndim == 3 else nn.Conv2DTranspose
    layer = cls(p["channels"], p["kernel_size"], strides=p["strides"], padding=p["padding"],
                output_padding=p["output_padding"], dilation=p["dilation"], groups=p["groups"],
                use_bias=p["use_bias"], in_channels=x.shape[1])
    layer.initialize()
    layer.weight.set_data(mx.nd.array(w, dtype=w.dtype))
    if p["use_bias"]:
        layer.bias.set_data(mx.nd.array(b, dtype=b.dtype))
    return layer(mx.nd.array(x, dtype=x.dtype)).asnumpy()


def chapter(out):
    """The chapter's MXNet code (d2l's corr2d written out: d2l itself is not installed)."""
    from mxnet import init, np, npx
    from mxnet.gluon import nn

    npx.set_np()

    def trans_conv(X, K):
        h, w = K.shape
        Y = np.zeros((X.shape[0] + h - 1, X.shape[1] + w - 1))
        for i in range(X.shape[0]):
            for j in range(X.shape[1]):
                Y[i: i + h, j: j + w] += X[i, j] * K
        return Y

    def corr2d(X, K):
        h, w = K.shape
        Y = np.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
        return Y

    X = np.array([[0., 1], [2, 3]])
    K = np.array([[0., 1], [2, 3]])
    out["chapter_trans_conv"] = trans_conv(X, K).asnumpy()
    X, K = X.reshape(1, 1, 2, 2), K.reshape(1, 1, 2, 2)
    tconv = nn.Conv2DTranspose(1, kernel_size=2)
    tconv.initialize(init.Constant(K))
    out["chapter_gluon_basic"] = tconv(X).asnumpy()
    tconv = nn.Conv2DTranspose(1, kernel_size=2, padding=1)
    tconv.initialize(init.Constant(K))
    out["chapter_gluon_padding"] = tconv(X).asnumpy()
    tconv = nn.Conv2DTranspose(1, kernel_size=2, strides=2)
    tconv.initialize(init.Constant(K))
    out["chapter_gluon_strides"] = tconv(X).asnumpy()
    X = np.random.uniform(size=(1, 10, 16, 16))
    conv = nn.Conv2D(20, kernel_size=5, padding=2, strides=3)
    tconv = nn.Conv2DTranspose(10, kernel_size=5, padding=2, strides=3)
    conv.initialize()
    tconv.initialize()
    out["chapter_shape_roundtrip"] = np.array(tconv(conv(X)).shape == X.shape).asnumpy()
    out["chapter_conv_weight"] = conv.weight.data().asnumpy()
    out["chapter_tconv_weight"] = tconv.weight.data().asnumpy()
    out["chapter_tconv_bias"] = tconv.bias.data().asnumpy()
    out["chapter_X"] = X.asnumpy()
    out["chapter_tconv_conv_X"] = tconv(conv(X)).asnumpy()
    out["chapter_conv_X"] = conv(X).asnumpy()
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0, 1], [2, 3]])
    Y = corr2d(X, K)
    out["chapter_corr2d"] = Y.asnumpy()

    def kernel2matrix(K):
        k, W = np.zeros(5), np.zeros((4, 9))
        k[:2], k[3:5] = K[0, :], K[1, :]
        W[0, :5], W[1, 1:6], W[2, 3:8], W[3, 4:] = k, k, k, k
        return W

    W = kernel2matrix(K)
    out["chapter_kernel2matrix"] = W.asnumpy()
    out["chapter_matmul_check"] = (Y == np.dot(W, X.reshape(-1)).reshape(2, 2)).asnumpy()
    X = np.array([[0, 1], [2, 3]])
    Y = trans_conv(X, K)
    out["chapter_transpose_check"] = (Y == np.dot(W.T, X.reshape(-1)).reshape(3, 3)).asnumpy()
    npx.reset_np()


def main(cases_path, out_path):
    import mxnet as mx

    data = np.load(cases_path)
    spec = json.loads(str(data["spec"]))
    out = {"mxnet_version": np.array(mx.__version__), "numpy_version": np.array(np.__version__)}
    for i, case in enumerate(spec):
        x, w, b = data["x%d" % i], data["w%d" % i], data["b%d" % i]
        try:
            run = run_nd if case["kind"] == "nd" else run_gluon
            out["y%d" % i] = run(mx, case, x, w, b)
        except Exception as exc:  # MXNet refused the configuration
            lines = [ln for ln in str(exc).splitlines() if "Check failed" in ln or "Error" in ln] or [repr(exc)]
            out["err%d" % i] = np.array(lines[0][:300])
    chapter(out)
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
