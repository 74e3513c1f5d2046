"""``torchsparse.utils.collate``: sparse_collate, and sparse_collate_fn for DataLoader batches of dicts."""

from typing import Any, Dict, List

import numpy as np
import torch

from sparsekgen.data import sparse_collate
from sparsekgen.tensor import SparseTensor

__all__ = ["sparse_collate", "sparse_collate_fn"]


def sparse_collate_fn(inputs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Batches a list of dicts key by key: SparseTensors through sparse_collate, numpy arrays and
    tensors stacked, anything else as a list (TorchSparse's collate function)."""
    if not inputs:
        raise ValueError("sparse_collate_fn needs at least one sample")
    output = {}
    for key in inputs[0]:
        values = [sample[key] for sample in inputs]
        if isinstance(values[0], dict):
            output[key] = sparse_collate_fn(values)
        elif isinstance(values[0], SparseTensor):
            output[key] = sparse_collate(values)
        elif isinstance(values[0], np.ndarray):
            output[key] = torch.stack([torch.from_numpy(v) for v in values])
        elif isinstance(values[0], torch.Tensor):
            output[key] = torch.stack(values)
        else:
            output[key] = values
    return output
