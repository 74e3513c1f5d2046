"""``torchsparse.nn``: Conv3d with TorchSparse's full signature, and the point-wise modules."""

from __future__ import annotations

from typing import Dict, Optional

from sparsekgen import nn as _nn
from sparsekgen.nn import BatchNorm, LeakyReLU, ReLU, SiLU
from sparsekgen.tensor import as_triple

__all__ = ["Conv3d", "BatchNorm", "ReLU", "LeakyReLU", "SiLU"]


class Conv3d(_nn.Conv3d):
    """``torchsparse.nn.Conv3d(in_channels, out_channels, kernel_size=3, stride=1, padding=0,
    dilation=1, bias=False, transposed=False, generative=False, config=None)``.

    TorchSparse pads odd kernels of stride 1 by (size - 1) / 2 and uses ``padding`` elsewhere; the
    runtime's offsets are those of its default, so any other padding is refused. ``config`` (a
    TorchSparse dataflow choice) is accepted and not used: sparsekgen dispatches through its own
    config tables.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, padding=0, dilation=1,
                 bias: bool = False, transposed: bool = False, generative: bool = False,
                 config: Optional[Dict] = None):
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, bias, transposed, generative)
        given = as_triple(padding, "padding") if padding != 0 else (0, 0, 0)
        for axis in range(3):
            derived = (self.kernel_size[axis] - 1) // 2 if self.kernel_size[axis] % 2 and self.stride[axis] == 1 \
                else 0
            if self.kernel_size[axis] % 2 == 0 or self.stride[axis] != 1:
                if given[axis] != derived:
                    raise ValueError(f"Conv3d: padding {padding!r} on axis {axis} is not TorchSparse's default for "
                                     f"kernel size {self.kernel_size[axis]} and stride {self.stride[axis]}; only the "
                                     f"default is supported")
        self._config = config
