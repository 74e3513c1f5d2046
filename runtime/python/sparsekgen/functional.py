"""Sparse convolution as an autograd Function: the forward, input-gradient and weight-gradient
operations of the runtime, each on the layer's kernel map."""

from __future__ import annotations

from typing import Optional

import torch

from sparsekgen import _cpu
from sparsekgen.maps import KernelMap, forward_map, generative_map, transposed_map
from sparsekgen.tensor import SparseTensor, as_triple


def _float64(t: torch.Tensor):
    return t.detach().to(torch.float64).contiguous()


class _ReferenceBackend:
    """CPU tensors: the runtime's float64 reference convolution, results rounded to the input's dtype."""

    @staticmethod
    def forward(features, weight, kmap: KernelMap):
        out = _cpu.conv_forward(_float64(features), _float64(weight), kmap.out_in_map)
        return torch.from_numpy(out).to(features.dtype)

    @staticmethod
    def input_grad(output_grad, weight, kmap: KernelMap, dtype):
        grad = _cpu.conv_input_grad(_float64(output_grad), _float64(weight), kmap.out_in_map, kmap.input_count)
        return torch.from_numpy(grad).to(dtype)

    @staticmethod
    def weight_grad(features, output_grad, kmap: KernelMap, dtype):
        grad = _cpu.conv_weight_grad(_float64(features), _float64(output_grad), kmap.out_in_map)
        return torch.from_numpy(grad).to(dtype)


class SparseConvolution(torch.autograd.Function):
    """y = conv(x, W) on a kernel map; backward: dx by the input-gradient operation (the transposed
    map, transposed weights), dW by the weight-gradient operation (per offset, x^T dy over its pairs)."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, weight: torch.Tensor, kmap: KernelMap):
        if features.shape[0] != kmap.input_count:
            raise ValueError(f"convolution: {features.shape[0]} input rows, the kernel map has {kmap.input_count}")
        if weight.dim() != 3 or weight.shape[0] != kmap.volume or weight.shape[1] != features.shape[1]:
            raise ValueError(f"convolution: weight {list(weight.shape)} does not fit [volume {kmap.volume}, "
                             f"in channels {features.shape[1]}, out channels]")
        ctx.save_for_backward(features, weight)
        ctx.kmap = kmap
        return _ReferenceBackend.forward(features, weight, kmap)

    @staticmethod
    def backward(ctx, output_grad: torch.Tensor):
        features, weight = ctx.saved_tensors
        kmap: KernelMap = ctx.kmap
        input_grad = weight_grad = None
        if ctx.needs_input_grad[0]:
            input_grad = _ReferenceBackend.input_grad(output_grad, weight, kmap, features.dtype)
        if ctx.needs_input_grad[1]:
            weight_grad = _ReferenceBackend.weight_grad(features, output_grad, kmap, weight.dtype)
        return input_grad, weight_grad, None


def conv3d(x: SparseTensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None, kernel_size=3, stride=1,
           dilation=1, transposed: bool = False, generative: bool = False) -> SparseTensor:
    """Sparse 3D convolution of ``x`` with ``weight`` [volume, Cin, Cout] (TorchSparse's offset order;
    [Cin, Cout] for a volume of 1).

    Not transposed: stride 1 is submanifold (outputs are the inputs' voxels), a larger stride
    downsamples (outputs are the voxels floor-divided by the stride). Transposed: upsamples back to
    the voxels of the level a strided convolution of the same geometry came from (stride 1: the
    transposed submanifold convolution); generative: to every voxel * stride + offset.
    """
    kernel_size = as_triple(kernel_size, "kernel_size")
    stride = as_triple(stride, "stride")
    dilation = as_triple(dilation, "dilation")
    if generative and not transposed:
        raise ValueError("generative convolutions are transposed (upsampling) convolutions: pass transposed=True")
    if generative:
        kmap, coords, out_stride = generative_map(x, kernel_size, stride, dilation)
        cache = None
    elif transposed:
        kmap, out_stride = transposed_map(x, kernel_size, stride, dilation)
        coords, cache = x._cache.coordinates[out_stride], x._cache
    else:
        kmap, out_stride = forward_map(x, kernel_size, stride, dilation)
        coords, cache = x._cache.coordinates[out_stride], x._cache
    feats = SparseConvolution.apply(x.feats, weight if weight.dim() == 3 else weight.unsqueeze(0), kmap)
    if bias is not None:
        feats = feats + bias
    return SparseTensor._on_voxels(feats, coords, out_stride, cache)
