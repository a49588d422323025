"""Convolutional classifiers: a LeNet-5-style CNN (28x28 grey) and a small ConvNet (32x32 RGB).

Both are plain ``nn.Sequential`` stacks of Conv2d, ReLU, MaxPool2d and Linear layers: no
BatchNorm (its running statistics are buffers updated in place, which breaks
``torch.func.functional_call`` under ``vmap`` and leaks client statistics into the global
model), no dropout (random in ``forward``). The flattened width is computed from the input
shape, so any ``(C, H, W)`` at least as large as the stated minimum works.
"""

from __future__ import annotations

from torch import nn

LENET_MIN_SIDE = 12
"""Smallest image side LeNet accepts: pad-2 5x5 conv, pool 2, 5x5 conv, pool 2 must leave >= 1."""

CONVNET_MIN_SIDE = 8
"""Smallest image side the ConvNet accepts: three 2x2 poolings must leave >= 1."""


def lenet(*, input_shape: tuple[int, int, int], num_classes: int) -> nn.Sequential:
    """LeNet-5 after LeCun et al., Proc. IEEE 86:2278 (1998), with ReLU and max pooling.

    ``conv5x5(C->6, pad 2) -> ReLU -> pool2 -> conv5x5(6->16) -> ReLU -> pool2 ->
    FC 120 -> ReLU -> FC 84 -> ReLU -> FC num_classes``. On 1x28x28 the flattened width is
    16*5*5 = 400 (61,706 parameters for 10 classes). Needs H, W >= 12.
    """
    c, h, w = input_shape
    side = [((s // 2) - 4) // 2 for s in (h, w)]
    return nn.Sequential(
        nn.Conv2d(c, 6, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * side[0] * side[1], 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )


def convnet(*, input_shape: tuple[int, int, int], num_classes: int) -> nn.Sequential:
    """Small VGG-style ConvNet for 3x32x32 (CIFAR-10).

    Three blocks ``conv3x3(pad 1) -> ReLU -> pool2`` with 32, 64, 64 channels, then
    ``FC 128 -> ReLU -> FC num_classes``. On 3x32x32 the flattened width is 64*4*4 = 1024
    (188,810 parameters for 10 classes). Needs H, W >= 8.
    """
    c, h, w = input_shape
    return nn.Sequential(
        nn.Conv2d(c, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * (h // 8) * (w // 8), 128),
        nn.ReLU(),
        nn.Linear(128, num_classes),
    )
