"""The GPU path: ``sparsekgen._gpu`` (maps on the device, kernels of the default bundle dispatched
through a config table), driven with torch's tensors and its current CUDA stream.

Tensors cross as raw device pointers, so the extension never links libtorch; this module checks
every tensor's device, dtype and layout before its pointer leaves Python.
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import torch

try:
    from sparsekgen import _gpu
    _IMPORT_ERROR: Optional[str] = None
except ImportError as error:  # built without CUDA, or no driver (libcuda.so.1) on this machine
    _gpu = None
    _IMPORT_ERROR = str(error)

_DTYPES = {torch.float16: "f16", torch.bfloat16: "bf16", torch.float32: "f32"}
_runtimes: Dict[int, object] = {}
_table: Optional[str] = os.environ.get("SPARSEKGEN_CONFIG_TABLE") or None
_allow_mismatch = False


def unavailable_reason() -> Optional[str]:
    """None when the GPU path can run here, else why not (a sentence)."""
    if _gpu is None:
        return f"the package's GPU module did not load ({_IMPORT_ERROR})"
    count, why = _gpu.device_count()
    if count == 0:
        return f"no CUDA device ({why})" if why else "no CUDA device"
    if not torch.cuda.is_available():
        return "torch sees no CUDA device (a CPU-only torch build?)"
    return None


def available() -> bool:
    return unavailable_reason() is None


def set_config_table(path: Optional[str], allow_mismatch: bool = False) -> None:
    """Dispatch through the config table at ``path`` (tuned for this GPU and bundle by
    ``sparsekgen.tune`` or ``sparsekgen-tune``); None returns to the heuristic. Applies to the
    runtimes opened after the call (it closes the open ones; their maps stay valid)."""
    global _table, _allow_mismatch
    _table, _allow_mismatch = (os.fspath(path) if path is not None else None), allow_mismatch
    _runtimes.clear()



def runtime(device: torch.device):
    """The runtime of ``device`` (opened on first use: its kernels and the config table)."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    rt = _runtimes.get(index)
    if rt is None:
        reason = unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"sparsekgen: tensors on {device} need the GPU path, but {reason}")
        torch.cuda.init()  # torch's primary context first, so both share it
        rt = _gpu.Runtime(index, _table, _allow_mismatch)
        _runtimes[index] = rt
    return rt


def stream(device: torch.device) -> int:
    return torch.cuda.current_stream(device).cuda_stream


def dtype_name(tensor: torch.Tensor, what: str) -> str:
    name = _DTYPES.get(tensor.dtype)
    if name is None:
        raise ValueError(f"{what}: the GPU kernels take float16, bfloat16 or float32 features, not {tensor.dtype}")
    return name


def pointer(tensor: torch.Tensor, device: torch.device, what: str) -> int:
    """The device pointer of a contiguous tensor on ``device`` (checked)."""
    if tensor.device != device:
        raise ValueError(f"{what} is on {tensor.device}, the convolution runs on {device}")
    if not tensor.is_contiguous():
        raise ValueError(f"{what} must be contiguous")
    return tensor.data_ptr()


def coordinates(voxels: torch.Tensor):
    """The device coordinates (hashed once) of int32 [N, 4] voxels on a CUDA device."""
    if voxels.dtype != torch.int32 or voxels.dim() != 2 or voxels.shape[1] != 4:
        raise ValueError(f"coordinates must be int32 [N, 4], not {voxels.dtype} {tuple(voxels.shape)}")
    voxels = voxels.contiguous()
    return _gpu.coordinates(runtime(voxels.device), voxels.data_ptr(), voxels.shape[0], stream(voxels.device))


def tensor_of(device_coordinates, device: torch.device) -> torch.Tensor:
    """A torch tensor (int32 [rows, 4]) holding a copy of device coordinates."""
    out = torch.empty((device_coordinates.rows, 4), dtype=torch.int32, device=device)
    device_coordinates.copy_to(out.data_ptr(), stream(device))
    return out


def out_in_map_of(device_map, device: torch.device) -> torch.Tensor:
    out = torch.empty((device_map.output_count, device_map.volume), dtype=torch.int32, device=device)
    device_map.copy_out_in_map_to(out.data_ptr(), stream(device))
    return out
