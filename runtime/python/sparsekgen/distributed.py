"""Data-parallel training on sparse tensors with torch.nn.parallel.DistributedDataParallel.

Each rank builds its own maps from its own scans (a SparseTensor per rank), so nothing sparse
crosses processes: DDP all-reduces the gradients, SyncBatchNorm the batch statistics
(``sparsekgen.nn.convert_sync_batchnorm``). Ranks hold different numbers of voxels, so a per-rank
mean loss would weight voxels unequally; ``global_mean_cross_entropy`` divides by the voxel count of
all ranks instead, and W ranks with B/W scans each then take the same steps as one process with B.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def global_mean_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100):
    """(loss to backpropagate, the global mean loss for reporting): the cross-entropy summed over this
    rank's rows, divided by the labelled rows of all ranks and multiplied by the world size (DDP
    averages gradients over ranks). Without an initialised process group: the plain mean."""
    total = torch.nn.functional.cross_entropy(logits.float(), labels, ignore_index=ignore_index, reduction="sum")
    count = (labels != ignore_index).sum().to(torch.float64)
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return total / count, (total / count).detach()
    both = torch.stack([total.detach().to(torch.float64), count])
    dist.all_reduce(both)
    world = dist.get_world_size()
    return total * (world / both[1]), (both[0] / both[1]).to(total.dtype)


def backend_for(world_size: int) -> str:
    """NCCL where every rank has a GPU of its own; gloo where ranks share GPUs (NCCL refuses two ranks
    on one device), e.g. to test the code path on a machine with one GPU."""
    return "nccl" if torch.cuda.device_count() >= world_size else "gloo"
