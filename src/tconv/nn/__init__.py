"""Layers: PyTorch-style ``ConvTranspose1d/2d/3d``, ``Conv1d/2d/3d``; Gluon-style ``Conv2DTranspose``, ``Conv2D``.

Plus just enough to train a small network: ``Sequential``, ``ReLU``,
``Tanh``, ``Sigmoid`` and ``MSELoss`` (optimizers are in :mod:`tconv.optim`).
Use it as ``import tconv.nn as nn``:

>>> import numpy as np
>>> import tconv.nn as nn
>>> net = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1, seed=0), nn.ReLU(),
...                     nn.ConvTranspose2d(4, 1, 3, stride=2, padding=1, output_padding=1, seed=0))
>>> x = np.ones((2, 1, 8, 8), np.float32)
>>> net(x).shape
(2, 1, 8, 8)
>>> loss = nn.MSELoss()
>>> _ = loss(net(x), x)
>>> net.backward(loss.backward()).shape, net[0].weight_grad.shape
((2, 1, 8, 8), (4, 1, 3, 3))
"""

from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .convert import KerasLayer, from_keras, from_torch
from .gluon import Conv2D, Conv2DTranspose
from .module import MSELoss, Module, ReLU, Sequential, Sigmoid, Tanh
from .parameter import Parameter

__all__ = [
    "Conv1d",
    "Conv2D",
    "Conv2DTranspose",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "KerasLayer",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "from_keras",
    "from_torch",
]
