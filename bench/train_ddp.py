"""Data-parallel training of a network description with the Python package, under
torch.nn.parallel.DistributedDataParallel (one process per rank), against one process with the same
global batch: the losses of every step, and scans per second for each rank count.

Each rank voxelizes its share of the scans (scan s goes to rank s mod W, batch indices per rank),
builds its own maps, runs the model with batch norm synchronised over the ranks
(sparsekgen.nn.convert_sync_batchnorm) and the loss normalised by the voxel count of all ranks
(sparsekgen.distributed.global_mean_cross_entropy). fp32 (exact FFMA kernels), SGD with momentum 0.9,
features the kept point's x y z intensity, labels height bins of the voxel (classes = output
channels). Backend: NCCL with a GPU per rank, gloo where ranks share GPUs (sparsekgen.distributed.backend_for).
NCCL's own environment (NCCL_NVLS_ENABLE=0 and others the machine sets) passes to every rank.

    python3 bench/train_ddp.py SCANS_DIR NETWORK.json --scans kitti_000000.bin ... --ranks 1 2 [--steps N] [--out F]
"""
import argparse
import datetime
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
import peer_common as pc  # noqa: E402

import sparsekgen  # noqa: E402
from sparsekgen import distributed, nn  # noqa: E402

VOXEL = 0.05


def build(path):
    def conv(node, m, maps, cin):
        return nn.Conv3d(cin, node["out_channels"], tuple(m["kernel_size"]), stride=tuple(m["stride"]),
                         bias=bool(node.get("bias", False)), transposed=bool(m.get("mirrors")))

    model, description = pc.build_from_description(
        path, conv=conv, batch_norm=nn.BatchNorm, relu=lambda: nn.ReLU(False), add=lambda a, b: a + b,
        concat=sparsekgen.cat)
    return model, description


def scan_batch(paths, classes):
    """The scans as one batch on the GPU: (feats [N, 4], coords [N, 4] (batch, x, y, z), labels [N])."""
    feats, coords, labels = [], [], []
    for b, path in enumerate(paths):
        points = np.fromfile(path, dtype=np.float32).reshape(-1, 4)
        voxels, index = sparsekgen.sparse_quantize(points[:, :3], VOXEL, return_index=True)
        feats.append(points[index])
        coords.append(np.concatenate([np.full((len(voxels), 1), b, np.int32), voxels], axis=1))
        height = np.clip(np.floor((points[index, 2] + 2.0) / 0.5), 0, classes - 1)
        labels.append(height.astype(np.int64))
    return (torch.from_numpy(np.concatenate(feats)).cuda(), torch.from_numpy(np.concatenate(coords)).cuda(),
            torch.from_numpy(np.concatenate(labels)).cuda())


def train(rank, world, args, results):
    if world > 1:
        torch.cuda.set_device(rank % torch.cuda.device_count())
        dist.init_process_group(distributed.backend_for(world), rank=rank, world_size=world,
                                init_method=f"tcp://127.0.0.1:{args.port}")
    torch.manual_seed(0)  # every rank the same initial parameters (DDP also broadcasts rank 0's)
    model, description = build(args.network)
    classes = model.out_channels[0]
    model = model.cuda().train()
    if world > 1:
        model = nn.convert_sync_batchnorm(model)
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[torch.cuda.current_device()])
    mine = [os.path.join(args.scans_dir, s) for i, s in enumerate(args.scans) if i % world == rank]
    feats, coords, labels = scan_batch(mine, classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    losses, times = [], []
    for _ in range(args.steps):
        torch.cuda.synchronize()
        start = time.perf_counter()
        logits = model(sparsekgen.SparseTensor(feats, coords))[0].feats
        if logits.shape[0] != labels.shape[0]:
            raise SystemExit(f"{args.network}: the output has {logits.shape[0]} rows for {labels.shape[0]} voxels; "
                             "give a segmentation network (its output on the input's voxels)")
        loss, reported = distributed.global_mean_cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        losses.append(float(reported))
    if rank == 0:
        step = statistics.median(times[2:]) if len(times) > 3 else statistics.median(times)
        results.put({"ranks": world, "backend": distributed.backend_for(world) if world > 1 else "none",
                     "gpus": torch.cuda.device_count(), "losses": losses, "median_step_s": step,
                     "scans_per_second": len(args.scans) / step})
    if world > 1:
        dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scans_dir")
    parser.add_argument("network", help="a segmentation description: one output on the input's voxels, its channels "
                                        "the classes (e.g. bench/networks/minkunet42_0.5x_seg.json)")
    parser.add_argument("--scans", nargs="+", required=True, help="the global batch, x y z intensity float32 files")
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2], help="rank counts to run (default: 1 2)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--port", type=int, default=29517)
    parser.add_argument("--out", help="JSON results")
    args = parser.parse_args()
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    context = mp.get_context("spawn")
    runs = []
    for world in args.ranks:
        results = context.SimpleQueue()
        if world == 1:
            train(0, 1, args, results)
        else:
            mp.start_processes(train, args=(world, args, results), nprocs=world, start_method="spawn")
        runs.append(results.get())
        print(f"{world} rank(s), {runs[-1]['backend']}: losses {' '.join(f'{x:.5f}' for x in runs[-1]['losses'])}; "
              f"{runs[-1]['scans_per_second']:.1f} scans/s")
    base = runs[0]
    for run in runs[1:]:
        run["max_relative_loss_difference"] = max(abs(a - b) / abs(b) for a, b in zip(run["losses"], base["losses"]))
        run["speedup_over_first"] = run["scans_per_second"] / base["scans_per_second"]
        run["scaling_efficiency"] = run["speedup_over_first"] / (run["ranks"] / base["ranks"])
    result = {"benchmark": "ddp_training", "date": datetime.date.today().isoformat(),
              "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "sparsekgen": sparsekgen.__version__, "network": os.path.basename(args.network),
              "scans": args.scans, "steps": args.steps, "lr": args.lr, "method": __doc__.split("\n\n")[1].strip(),
              "runs": runs}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    for run in runs[1:]:
        print(f"{run['ranks']} ranks against {base['ranks']}: max relative loss difference "
              f"{run['max_relative_loss_difference']:.2e}, {run['speedup_over_first']:.2f}x scans/s")


if __name__ == "__main__":
    main()
