"""Sparse convolution as an autograd Function: the forward, input-gradient and weight-gradient
operations of the runtime, each on the layer's kernel map: the float64 reference for CPU tensors,
the bundle's dispatched kernels for CUDA tensors."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

from sparsekgen import _cpu, gpu
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


# The channel counts each (Cin, Cout, type, operation) launches with: as given where a kernel of the
# bundle takes them, else padded with zeros to multiples of 8, which every kernel family takes
# (bf16 kernels have no narrower channel alignment, so a 4-channel first layer runs padded).
_launch_channels: Dict[tuple, Tuple[int, int]] = {}
_NO_KERNEL = "no kernel of the bundle fits"


def _channels_for(kmap: KernelMap, cin: int, cout: int, dtype: str, operation: str) -> Tuple[int, int]:
    key = (cin, cout, dtype, operation)
    found = _launch_channels.get(key)
    if found is None:
        rt = gpu.runtime(kmap.device)
        try:
            rt.dispatch(kmap.device_map, cin, cout, dtype, operation)
            found = (cin, cout)
        except ValueError as error:
            if _NO_KERNEL not in str(error):
                raise
            found = (-(-cin // 8) * 8, -(-cout // 8) * 8)
            rt.dispatch(kmap.device_map, *found, dtype, operation)  # still none: the error names the padded layer
        _launch_channels[key] = found
    return found


def _padded(t: torch.Tensor, *sizes: int) -> torch.Tensor:
    """``t`` with its last len(sizes) dimensions zero-padded to ``sizes`` (contiguous)."""
    pad = []
    for dim, size in zip(reversed(range(t.dim() - len(sizes), t.dim())), reversed(sizes)):
        pad += [0, size - t.shape[dim]]
    return torch.nn.functional.pad(t, pad).contiguous() if any(pad) else t.contiguous()


class _DeviceBackend:
    """CUDA tensors: the bundle's kernels, each operation dispatched through the config table (or the
    heuristic) on the map's device resources, on torch's current stream. Weights run in the
    features' type; weight gradients come back in f32 and are cast to the weight's type."""

    @staticmethod
    def forward(features, weight, kmap: KernelMap):
        device = features.device
        dtype = gpu.dtype_name(features, "convolution")
        cin, cout = features.shape[1], weight.shape[2]
        if not kmap.output_count or not cout or not features.numel():
            return torch.zeros((kmap.output_count, cout), dtype=features.dtype, device=device)
        ci, co = _channels_for(kmap, cin, cout, dtype, "forward")
        x = _padded(features.detach(), ci)
        w = _padded(weight.detach().to(features.dtype), ci, co)
        # Every kernel writes every output row (zeros where no input reaches it).
        out = torch.empty((kmap.output_count, co), dtype=features.dtype, device=device)
        gpu._gpu.conv_forward(gpu.runtime(device), kmap.device_map, gpu.pointer(x, device, "features"),
                              gpu.pointer(w, device, "weight"), out.data_ptr(), ci, co, dtype, gpu.stream(device))
        return out if co == cout else out[:, :cout].contiguous()

    @staticmethod
    def backward(output_grad, features, weight, kmap: KernelMap, want_input: bool, want_weight: bool):
        device = features.device
        dtype = gpu.dtype_name(features, "convolution backward")
        cin, cout = features.shape[1], weight.shape[2]
        if not output_grad.numel() or not features.numel():
            return (torch.zeros_like(features) if want_input else None,
                    torch.zeros_like(weight) if want_weight else None)
        # The kernels overwrite every row of dx and every element of dW.
        dx = torch.empty(tuple(features.shape), dtype=features.dtype, device=device) if want_input else None
        dw = torch.empty(tuple(weight.shape), dtype=torch.float32, device=device) if want_weight else None
        # One launch pair per padded shape: usually both operations take the layer's own channels.
        shapes: Dict[Tuple[int, int], list] = {}
        for operation, wanted in (("input_grad", want_input), ("weight_grad", want_weight)):
            if wanted:
                shapes.setdefault(_channels_for(kmap, cin, cout, dtype, operation), []).append(operation)
        for (ci, co), operations in shapes.items():
            x = _padded(features.detach(), ci)
            w = _padded(weight.detach().to(features.dtype), ci, co)
            dy = _padded(output_grad.detach().to(features.dtype), co)
            padded = (ci, co) != (cin, cout)
            gx = (torch.empty((len(x), ci), dtype=features.dtype, device=device) if padded else dx) \
                if "input_grad" in operations else None
            gw = (torch.empty((len(w), ci, co), dtype=torch.float32, device=device) if padded else dw) \
                if "weight_grad" in operations else None
            gpu._gpu.conv_backward(gpu.runtime(device), kmap.device_map, gpu.pointer(x, device, "features"),
                                   gpu.pointer(w, device, "weight"), gpu.pointer(dy, device, "output gradient"),
                                   gx.data_ptr() if gx is not None else 0, gw.data_ptr() if gw is not None else 0,
                                   ci, co, dtype, gpu.stream(device))
            if padded and gx is not None:
                dx = gx[:, :cin].contiguous()
            if padded and gw is not None:
                dw = gw[:, :cin, :cout].contiguous()
        return dx, (dw.to(weight.dtype) if dw is not None else None)


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
        if weight.device != features.device:
            raise ValueError(f"convolution: features on {features.device}, weight on {weight.device}")
        ctx.save_for_backward(features, weight)
        ctx.kmap = kmap
        if kmap.device_map is not None:
            return _DeviceBackend.forward(features, weight, kmap)
        return _ReferenceBackend.forward(features, weight, kmap)

    @staticmethod
    def backward(ctx, output_grad: torch.Tensor):
        features, weight = ctx.saved_tensors
        kmap: KernelMap = ctx.kmap
        want_input, want_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if kmap.device_map is not None:
            input_grad, weight_grad = _DeviceBackend.backward(output_grad, features, weight, kmap, want_input,
                                                              want_weight)
            return input_grad, weight_grad, None
        input_grad = weight_grad = None
        if want_input:
            input_grad = _ReferenceBackend.input_grad(output_grad, weight, kmap, features.dtype)
        if want_weight:
            weight_grad = _ReferenceBackend.weight_grad(features, output_grad, kmap, weight.dtype)
        return input_grad, weight_grad, None


def _autocast(features: torch.Tensor) -> torch.Tensor:
    """Features in autocast's type where a CUDA autocast region is active (as torch's own convolutions
    run there), else as given. The weight stays as it is: the kernels read a copy in the features'
    type, and its gradient comes back in f32, unrounded, for an f32 weight."""
    if not features.is_cuda:
        return features
    try:
        enabled = torch.is_autocast_enabled("cuda")
        dtype = torch.get_autocast_dtype("cuda") if enabled else None
    except TypeError:  # torch before 2.4
        enabled = torch.is_autocast_enabled()
        dtype = torch.get_autocast_gpu_dtype() if enabled else None
    return features.to(dtype) if enabled else features


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
    feats = SparseConvolution.apply(_autocast(x.feats), weight if weight.dim() == 3 else weight.unsqueeze(0), kmap)
    if bias is not None:
        feats = feats + bias.to(feats.dtype)
    return SparseTensor._on_voxels(feats, coords, out_stride, cache)
