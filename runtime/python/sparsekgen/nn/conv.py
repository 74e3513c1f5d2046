"""The sparse convolution module."""

from __future__ import annotations

import math

import torch

from sparsekgen import trace
from sparsekgen.functional import conv3d
from sparsekgen.tensor import SparseTensor, as_triple


class Conv3d(torch.nn.Module):
    """Sparse 3D convolution; arguments as ``torchsparse.nn.Conv3d`` (2.1).

    ``kernel`` is [volume, in_channels, out_channels] in TorchSparse 2.x's offset order, and
    [in_channels, out_channels] for a 1x1x1 convolution of stride 1, exactly as TorchSparse holds it,
    so state dicts load both ways; initialised as TorchSparse does: uniform in
    +-1/sqrt(in_channels * volume), or +-1/sqrt(out_channels * volume) for transposed convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, dilation=1,
                 bias: bool = False, transposed: bool = False, generative: bool = False):
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"Conv3d needs positive channel counts, not {in_channels} -> {out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = as_triple(kernel_size, "kernel_size")
        self.stride = as_triple(stride, "stride")
        self.dilation = as_triple(dilation, "dilation")
        self.transposed, self.generative = transposed, generative
        if generative and not transposed:
            raise ValueError("Conv3d: generative=True needs transposed=True")
        volume = math.prod(self.kernel_size)
        pointwise = volume == 1 and self.stride == (1, 1, 1)
        shape = (in_channels, out_channels) if pointwise else (volume, in_channels, out_channels)
        self.kernel = torch.nn.Parameter(torch.empty(shape))
        self.bias = torch.nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        volume = math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt((self.out_channels if self.transposed else self.in_channels) * volume)
        with torch.no_grad():
            self.kernel.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)

    def forward(self, x: SparseTensor) -> SparseTensor:
        if x.feats.shape[1] != self.in_channels:
            raise ValueError(f"Conv3d({self.in_channels}, {self.out_channels}): input has {x.feats.shape[1]} channels")
        out = conv3d(x, self.kernel, self.bias, self.kernel_size, self.stride, self.dilation, self.transposed,
                     self.generative)
        recorder = trace.active()
        if recorder is not None:
            recorder.conv(self, x, out)
        return out

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"dilation={self.dilation}")
        for flag in ("transposed", "generative"):
            if getattr(self, flag):
                text += f", {flag}=True"
        return text + (", bias=True" if self.bias is not None else "")
