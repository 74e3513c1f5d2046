"""TorchSparse 2.1 and spconv 2.3 checkpoints loaded into sparsekgen models.

A model built on ``sparsekgen.nn`` (or ``sparsekgen.torchsparse``) takes the ``state_dict`` of the
equivalent peer model: parameter names are mapped (the peer's module names to ours, by a dict or a
function), convolution weights are converted to our layout [volume, Cin, Cout] in TorchSparse's
offset order, and everything else (batch norms, biases) is copied as it is.

spconv stores a 3D convolution's weight as [Cout, k0, k1, k2, Cin] ("KRSC", spconv 2.2 and later;
older checkpoints "RSKC" or "RSCK"), where k0..k2 follow the spatial columns of its indices
(``spatial_order``: "zyx" when the indices are (batch, z, y, x), as in most detection code).
Offset ``k`` along an axis reads input ``out * stride - padding + k * dilation``; ours reads
``out * stride + (k - (size - 1) // 2) * dilation``, so the weights agree where spconv's padding is
``(size - 1) // 2 * dilation`` (its submanifold convolutions, and the usual strided ones: size 3
with padding 1, size 2 with padding 0). ``SparseInverseConv3d`` is our ``transposed=True``.

A 1x1x1 convolution of stride 1 is the exception: spconv 2.3 computes it as a matrix product with the
weight's buffer viewed as [Cin, Cout] ("KRSC"; [Cout, Cin] transposed for "RSCK"), not as the layout
says, so a trained spconv model's 1x1x1 weights mean that; the conversion follows what spconv computes.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Mapping, Optional, Union

import torch

from sparsekgen.nn.conv import Conv3d

Names = Union[None, Mapping[str, str], Callable[[str], Optional[str]]]

SPCONV_LAYOUTS = ("KRSC", "RSKC", "RSCK")
# spconv's buffer recording the largest voxel count seen in training (not a parameter of the model)
SPCONV_BOOKKEEPING = "max_num_voxels_during_training"


def _renamer(names: Names) -> Callable[[str], Optional[str]]:
    """The peer's parameter name -> ours (None: dropped). A mapping renames module prefixes, the
    longest matching one first: {"conv_input.0": "stem.conv"} maps "conv_input.0.weight"."""
    if names is None:
        return lambda key: key
    if callable(names):
        return names
    prefixes = sorted(names, key=len, reverse=True)

    def rename(key: str) -> Optional[str]:
        for prefix in prefixes:
            if key == prefix or key.startswith(prefix + "."):
                return names[prefix] + key[len(prefix):] if names[prefix] is not None else None
        return key

    return rename


def _split(key: str):
    module, _, leaf = key.rpartition(".")
    return module, leaf


def _to_kernel_shape(module_name: str, module: Conv3d, kernel: torch.Tensor) -> torch.Tensor:
    """[volume, Cin, Cout] reshaped to the module's parameter ([Cin, Cout] for a 1x1x1 stride-1 one)."""
    expected = tuple(module.kernel.shape)
    if kernel.numel() != module.kernel.numel():
        raise ValueError(f"{module_name}.kernel: the checkpoint's convolution has {tuple(kernel.shape)} as [volume, "
                         f"Cin, Cout], the model's is {expected} ({module})")
    return kernel.reshape(expected)


def _check_spconv_conventions(layout: str, spatial_order: str) -> None:
    if layout not in SPCONV_LAYOUTS:
        raise ValueError(f"layout {layout!r}: spconv's weight layouts are {', '.join(SPCONV_LAYOUTS)}")
    if not isinstance(spatial_order, str) or sorted(spatial_order) != ["x", "y", "z"]:
        raise ValueError(f"spatial_order {spatial_order!r}: a permutation of 'xyz' (the order of the spatial columns "
                         f"of spconv's indices)")


def _spconv_computes_1x1_as_matmul(kernel_size, stride, layout: str) -> bool:
    return math.prod(kernel_size) == 1 and tuple(stride) == (1, 1, 1) and layout in ("KRSC", "RSCK")


def spconv_kernel(weight: torch.Tensor, kernel_size, layout: str = "KRSC", spatial_order: str = "zyx",
                  stride=(1, 1, 1)) -> torch.Tensor:
    """An spconv 3D convolution weight as ours: [volume, Cin, Cout] in TorchSparse's offset order
    (x fastest for odd volumes, z fastest for even ones). ``kernel_size`` and ``stride`` are ours,
    (x, y, z)."""
    _check_spconv_conventions(layout, spatial_order)
    if weight.dim() != 5:
        raise ValueError(f"an spconv 3D convolution weight has 5 dimensions, this one {tuple(weight.shape)}")
    spatial = tuple(weight.shape[1:4]) if layout == "KRSC" else tuple(weight.shape[:3])
    if _spconv_computes_1x1_as_matmul(kernel_size, stride, layout) and spatial == (1, 1, 1):
        cin, cout = (weight.shape[4], weight.shape[0]) if layout == "KRSC" else (weight.shape[3], weight.shape[4])
        w = weight.reshape(cin, cout) if layout == "KRSC" else weight.reshape(cout, cin).t()
        return w.reshape(1, cin, cout).contiguous()
    rsck = {"KRSC": (1, 2, 3, 4, 0), "RSKC": (0, 1, 2, 4, 3), "RSCK": (0, 1, 2, 3, 4)}[layout]
    w = weight.permute(*rsck)  # [k0, k1, k2, Cin, Cout]
    w = w.permute(*(spatial_order.index(axis) for axis in "xyz"), 3, 4)  # [kx, ky, kz, Cin, Cout]
    if tuple(w.shape[:3]) != tuple(kernel_size):
        raise ValueError(f"the weight's kernel is {tuple(w.shape[:3])} in (x, y, z) with spatial_order "
                         f"{spatial_order!r}, the model's {tuple(kernel_size)}")
    if math.prod(kernel_size) % 2:
        w = w.permute(2, 1, 0, 3, 4)  # flattened with x fastest
    return w.reshape(math.prod(kernel_size), w.shape[3], w.shape[4]).contiguous()


def _load(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], names: Names, strict: bool,
          convert: Callable[[str, Conv3d, str, torch.Tensor], Optional[torch.Tensor]], peer: str):
    rename = _renamer(names)
    convolutions: Dict[str, Conv3d] = {n: m for n, m in model.named_modules() if isinstance(m, Conv3d)}
    converted = {}
    for key, value in state_dict.items():
        target = rename(key)
        if target is None:
            continue
        module_name, leaf = _split(target)
        if module_name in convolutions and leaf != "bias":
            value = convert(module_name, convolutions[module_name], leaf, value)
            if value is None:
                continue
            target = f"{module_name}.kernel" if module_name else "kernel"
        if target in converted:
            raise ValueError(f"{peer} checkpoint: {key!r} maps to {target!r}, which another key already filled")
        converted[target] = value
    try:
        return model.load_state_dict(converted, strict=strict)
    except RuntimeError as error:
        raise ValueError(f"{peer} checkpoint does not fit the model (names after mapping): {error}") from None


def load_spconv_state_dict(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], *, names: Names = None,
                           layout: str = "KRSC", spatial_order: str = "zyx", strict: bool = True):
    """Load an spconv 2.3 model's ``state_dict`` into the equivalent sparsekgen model. ``names`` maps
    spconv's parameter names to ours (a prefix mapping or a function; None keeps them). Returns what
    ``load_state_dict`` returns; a mismatch raises ValueError naming the parameter."""

    def convert(module_name, module, leaf, value):
        if leaf == SPCONV_BOOKKEEPING:
            return None
        if leaf != "weight":
            raise ValueError(f"spconv checkpoint: {module_name}.{leaf} is not a parameter of a convolution")
        try:
            kernel = spconv_kernel(value, module.kernel_size, layout, spatial_order, module.stride)
        except ValueError as error:
            raise ValueError(f"spconv checkpoint, {module_name}.weight: {error}") from None
        return _to_kernel_shape(module_name, module, kernel)

    return _load(model, state_dict, names, strict, convert, "spconv")


def load_torchsparse_state_dict(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], *,
                                names: Names = None, strict: bool = True):
    """Load a TorchSparse 2.1 model's ``state_dict`` into the equivalent sparsekgen model: the layout is
    ours already ([volume, Cin, Cout], the same offset order); ``names`` maps module names as for
    spconv. A model built on ``sparsekgen.torchsparse`` has TorchSparse's names and needs no mapping."""

    def convert(module_name, module, leaf, value):
        if leaf != "kernel":
            raise ValueError(f"TorchSparse checkpoint: {module_name}.{leaf} is not a parameter of a convolution")
        return _to_kernel_shape(module_name, module, value)

    return _load(model, state_dict, names, strict, convert, "TorchSparse")


def to_spconv_state_dict(model: torch.nn.Module, *, layout: str = "KRSC", spatial_order: str = "zyx",
                         names: Names = None) -> Dict[str, torch.Tensor]:
    """The model's ``state_dict`` with convolution weights in spconv's layout (``kernel`` ->
    ``weight``), names mapped by ``names`` (ours -> spconv's): the other direction of the import."""
    _check_spconv_conventions(layout, spatial_order)
    rename = _renamer(names)
    convolutions = {n: m for n, m in model.named_modules() if isinstance(m, Conv3d)}
    out = {}
    for key, value in model.state_dict().items():
        module_name, leaf = _split(key)
        if module_name in convolutions and leaf == "kernel":
            module = convolutions[module_name]
            kx, ky, kz = module.kernel_size
            w = value.reshape(kx * ky * kz, module.in_channels, module.out_channels)
            if (kx * ky * kz) % 2:
                w = w.reshape(kz, ky, kx, module.in_channels, module.out_channels).permute(2, 1, 0, 3, 4)
            else:
                w = w.reshape(kx, ky, kz, module.in_channels, module.out_channels)
            w = w.permute(*("xyz".index(axis) for axis in spatial_order), 3, 4)  # [k0, k1, k2, Cin, Cout]
            order = {"KRSC": (4, 0, 1, 2, 3), "RSKC": (0, 1, 2, 4, 3), "RSCK": (0, 1, 2, 3, 4)}[layout]
            value, key = w.permute(*order).contiguous(), f"{module_name}.weight" if module_name else "weight"
            if _spconv_computes_1x1_as_matmul(module.kernel_size, module.stride, layout):
                # the buffer spconv's matrix product reads (see the module's docstring)
                matrix = w.reshape(module.in_channels, module.out_channels)
                value = (matrix if layout == "KRSC" else matrix.t()).contiguous().reshape(value.shape)
        target = rename(key)
        if target is not None:
            out[target] = value
    return out
