"""Shared inputs: small random clouds with unique, non-negative voxel coordinates."""

import pytest
import torch


def random_cloud(points: int, extent: int, batches: int = 1, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, extent, (points, 3), generator=generator)
    batch = torch.randint(0, batches, (points, 1), generator=generator)
    return torch.unique(torch.cat([batch, rows], 1), dim=0).int()


@pytest.fixture
def cloud():
    return random_cloud(300, 9, batches=2, seed=1)
