"""What the peer scripts share: loading the coordinates sparsekgen-bench-network dumped, our
results, CUDA-event medians, profiler kernel sums, cuBLAS reference GEMMs, matching a peer's
convolutions to our layers, and building a network description (bench/networks/*.json) from a
peer's modules."""
import datetime
import glob
import json
import os
import statistics

import numpy as np
import torch

WARMUP, ITERATIONS, LAYER_ITERATIONS, PROFILED_RUNS = 10, 50, 30, 10


def parse_network_args():
    """COORDS_DIR OUR_RESULTS_DIR NETWORKS_DIR [--out F], the arguments of the network peer scripts."""
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("coords_dir", help="the coordinates sparsekgen-bench-network dumped")
    parser.add_argument("ours_dir", help="its results, bench-<network>.json")
    parser.add_argument("networks_dir", help="bench/networks")
    parser.add_argument("--out")
    return parser.parse_args()


def load_inputs(coords_dir, shift):
    """{label: int32 [N, 4] (batch, x, y, z) on the GPU}; with `shift`, moved by multiples of 16 (which
    keeps every stride-2 grouping of four levels) so that no coordinate is negative, for peers that
    need that."""
    inputs = {}
    for path in sorted(glob.glob(os.path.join(coords_dir, "*.coords.i32"))):
        coords = np.fromfile(path, dtype=np.int32).reshape(-1, 4).copy()
        if shift:
            low = coords[:, 1:].min(axis=0)
            coords[:, 1:] -= (np.floor_divide(low, 16) * 16).astype(np.int32)
        inputs[os.path.basename(path)[: -len(".coords.i32")]] = torch.from_numpy(coords).cuda()
    return inputs


def load_ours(results_dir, network):
    path = os.path.join(results_dir, f"bench-{network}.json")
    with open(path) as f:
        return {run["input"]: run for run in json.load(f)["runs"]}


def median_ms(fn, warmup=WARMUP, iterations=ITERATIONS):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iterations):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def profiled_kernel_ms(fn, runs=PROFILED_RUNS):
    """GPU kernel time per run, summed from the profiler's CUDA kernel events."""
    from torch.profiler import ProfilerActivity, profile
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(runs):
            fn()
        torch.cuda.synchronize()
    total_us = 0.0
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            total_us += event.time_range.elapsed_us()
    return total_us / 1000.0 / runs


def cublas_ms(pairs, cin, cout):
    """The dense fp16 GEMM of the same useful size: [pairs, Cin] x [Cin, Cout] through cuBLAS."""
    a = torch.randn(max(pairs, 1), cin, device="cuda", dtype=torch.half)
    b = torch.randn(cin, cout, device="cuda", dtype=torch.half)
    return median_ms(lambda: a @ b, warmup=3, iterations=LAYER_ITERATIONS)


def match_layers(ours, theirs):
    """Pairs each of our layers with the peer's convolution of the same (Cin, Cout, kernel volume) whose
    output count is within 1% of ours, in execution order (a residual block runs its shortcut at
    another point in each; a peer's strided level may differ from ours by a few voxels)."""
    used, matched = set(), []
    for layer in ours:
        for i, conv in enumerate(theirs):
            cin, cout, volume, outputs = conv["key"]
            if (i not in used and (cin, cout, volume) == (layer["in_channels"], layer["out_channels"],
                                                          layer["kernel_volume"])
                    and abs(outputs - layer["outputs"]) <= 0.01 * layer["outputs"]):
                used.add(i)
                matched.append((layer, conv))
                break
        else:
            matched.append((layer, None))
    return matched


def report_header(peer, method):
    return {"benchmark": "network_end_to_end_peer", "peer": peer,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "gpu": {"name": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda},
            "method": method}


def build_from_description(path, conv, batch_norm, relu, add, concat):
    """A module running the description's nodes, each op made by the given factories:
    conv(node, map, in_channels) -> module; batch_norm(channels); relu(); add(a, b); concat([...])."""
    with open(path) as f:
        description = json.load(f)
    maps = {m["name"]: m for m in description["maps"]}
    channels = {"input": description["input_channels"]}

    class DescribedNetwork(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ops = torch.nn.ModuleDict()
            for node in description["nodes"]:
                name = node["name"].replace(".", "_")
                if node["op"] == "conv":
                    self.ops[name] = conv(node, maps[node["map"]], maps, channels[node["input"]])
                    channels[node["name"]] = node["out_channels"]
                elif node["op"] == "batch_norm":
                    channels[node["name"]] = channels[node["input"]]
                    self.ops[name] = batch_norm(channels[node["name"]])
                elif node["op"] == "relu":
                    channels[node["name"]] = channels[node["input"]]
                    self.ops[name] = relu()
                elif node["op"] == "concat":
                    channels[node["name"]] = sum(channels[t] for t in node["inputs"])
                else:
                    channels[node["name"]] = channels[node["inputs"][0]]

        def forward(self, x):
            tensors = {"input": x}
            for node in description["nodes"]:
                name = node["name"].replace(".", "_")
                if node["op"] == "add":
                    y = add(tensors[node["inputs"][0]], tensors[node["inputs"][1]])
                elif node["op"] == "concat":
                    y = concat([tensors[t] for t in node["inputs"]])
                else:
                    y = self.ops[name](tensors[node["input"]])
                tensors[node["name"]] = y
            return [tensors[o] for o in description["outputs"]]

    return DescribedNetwork(), description


def write(result, path):
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=2)
        print("wrote", path)
