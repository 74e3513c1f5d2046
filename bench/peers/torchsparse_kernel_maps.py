"""Times TorchSparse 2.1 building the kernel maps of MinkUNet42 on the inputs that
sparsekgen-bench-kernel-maps dumped (--dump-coordinates), the same way: from level-0 coordinates
on the GPU, five 3x3x3 submanifold maps, four 2x2x2 stride-2 maps (with their output coordinates)
and the four transposed maps; CUDA events around the whole build, median after warm-up, nothing
cached between runs. Also checks that TorchSparse's level-0 submanifold map equals sparsekgen's
(same kernel-offset order). Needs an installed torchsparse 2.1.

    python3 torchsparse_kernel_maps.py DUMP_DIR [--out results.json]
"""
import argparse
import datetime
import glob
import json
import os

import numpy as np
import torch
import torchsparse
from torchsparse.nn import functional as F

from peer_common import ITERATIONS, WARMUP, median_ms

LEVELS = 5


def build_all(coords, mode):
    """Every map of MinkUNet42, as torchsparse.nn.functional.conv3d builds them."""
    submanifold, down = [], []
    c = coords
    for level in range(LEVELS):
        submanifold.append(F.build_kernel_map(c, c.shape[0], 3, 1, 1, None, None, None, mode,
                                              F.Dataflow.ImplicitGEMM, downsample_mode="spconv"))
        if level + 1 < LEVELS:
            down.append(F.build_kernel_map(c, c.shape[0], 2, 2, 0, None, None, None, mode,
                                           F.Dataflow.ImplicitGEMM, downsample_mode="spconv"))
            c = down[-1]["coords"]
    up = [F.transpose_kernel_map(dict(d), False) for d in down]
    return submanifold, down, up


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dump_dir")
    parser.add_argument("--out")
    args = parser.parse_args()
    runs = []
    print(f"{'input':<28} {'mode':<20} {'voxels per level':>44} {'ms':>9} {'subm0 == sparsekgen':>20}")
    for path in sorted(glob.glob(os.path.join(args.dump_dir, "*.coords.i32"))):
        name = os.path.basename(path)[: -len(".coords.i32")]
        coords = torch.from_numpy(np.fromfile(path, dtype=np.int32).reshape(-1, 4)).cuda()
        reference_path = os.path.join(args.dump_dir, name + ".subm0.out_in_map.i32")
        reference = np.fromfile(reference_path, dtype=np.int32).reshape(coords.shape[0], -1)
        for mode in ("hashmap_on_the_fly", "hashmap"):
            submanifold, _, _ = build_all(coords, mode)
            sizes = [int(k["sizes"][1]) for k in submanifold]
            ours = submanifold[0]["out_in_map"][: coords.shape[0], :].cpu().numpy()
            same = bool(np.array_equal(ours, reference))
            ms = median_ms(lambda: build_all(coords, mode))
            print(f"{name:<28} {mode:<20} {' / '.join(map(str, sizes)):>44} {ms:>9.3f} {str(same):>20}")
            runs.append({"input": name, "voxels": int(coords.shape[0]), "kmap_mode": mode,
                         "voxels_per_level": sizes, "median_ms": ms,
                         "level0_submanifold_map_identical_to_sparsekgen": same})
    result = {
        "benchmark": "minkunet42_kernel_maps",
        "peer": f"torchsparse {torchsparse.__version__}",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "gpu": {"name": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda},
        "method": f"torchsparse.nn.functional.build_kernel_map / transpose_kernel_map, ImplicitGEMM dataflow, "
                  f"ifsort=False; CUDA events around the whole build; median of {ITERATIONS} after {WARMUP} warm-up "
                  f"runs; no cache between runs",
        "runs": runs,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
        print("wrote", args.out)


if __name__ == "__main__":
    main()
