"""Times WarpConvNet 1.8 (NVIDIA) on the networks and inputs that sparsekgen-bench-network ran (same GPU,
same run): each network built from its description in bench/networks/ with WarpConvNet modules
(SparseConv3d: submanifold for stride-1 maps, strided for the strided ones, transposed for the maps that
mirror them, whose outputs are the coordinates the mirrored map read; BatchNorm and ReLU on the features;
its cat for the skip concatenations), fp16, end to end from coordinates and features on the GPU (a fresh
Voxels per run, so every hash table and map is rebuilt), its GPU kernel time summed from the profiler, and
each convolution's output count against our layers. Its strided outputs are floor(x / stride) of the inputs,
as in the descriptions, and it takes negative coordinates, so the coordinates are used as dumped.

Two configurations: under torch.no_grad it accumulates in fp32 (its default, and ours); under
torch.inference_mode, with fp16 inputs, it offers fp16-accumulating kernels to its autotuner. It autotunes:
the first call of each layer shape (channels, kernel volume, log10 of the voxel counts, accumulator) times
its candidate GEMM algorithms and keeps the fastest, which the warm-up runs absorb; the benchmark cache
starts empty in a fresh folder unless WARPCONVNET_BENCHMARK_CACHE_DIR names one. Needs warpconvnet 1.8 built
(build_warpconvnet.sh beside this script builds it offline and prints the PYTHONPATH).

    python3 warpconvnet_networks.py COORDS_DIR OUR_RESULTS_DIR NETWORKS_DIR [--out results.json]
"""
import os
import tempfile

# Read when warpconvnet is imported (warpconvnet/constants.py): where its autotuner loads and saves the
# algorithms it picked.
os.environ.setdefault("WARPCONVNET_BENCHMARK_CACHE_DIR", tempfile.mkdtemp(prefix="warpconvnet-autotune-"))

import numpy as np
import torch
import warpconvnet
from warpconvnet.geometry.coords.ops.batch_index import offsets_from_batch_index
from warpconvnet.geometry.types.voxels import Voxels
from warpconvnet.nn.functional.sparse_conv import _BENCHMARK_AB_RESULTS
from warpconvnet.nn.functional.transforms import cat
from warpconvnet.nn.modules.activations import ReLU
from warpconvnet.nn.modules.normalizations import BatchNorm
from warpconvnet.nn.modules.sparse_conv import SparseConv3d, SpatiallySparseConv

import peer_common as pc

NETWORKS = ("minkunet42_1.0x", "minkunet42_0.5x", "sparse_resnet21d", "centerpoint_nuscenes_backbone")
# spatially_sparse_conv (warpconvnet/nn/functional/sparse_conv/helper.py) lets fp16 features accumulate in
# fp16 inside torch.inference_mode only, unless told otherwise.
CONFIGURATIONS = {"fp32_accumulate": torch.no_grad, "fp16_accumulate": torch.inference_mode}


class Strided(torch.nn.Module):
    """A strided convolution that keeps the Voxels it reads (under its map's name) for the transposed
    convolution that mirrors it."""

    def __init__(self, conv, key, levels):
        super().__init__()
        self.conv, self.key, self.levels = conv, key, levels

    def forward(self, x):
        self.levels[self.key] = x
        return self.conv(x)


class Transposed(torch.nn.Module):
    """A transposed convolution onto the coordinates its mirrored strided convolution read: WarpConvNet
    takes them as a second argument and reverses that convolution's map, cached on the Voxels
    (generate_output_coords_and_kernel_map in warpconvnet/nn/functional/sparse_conv/helper.py)."""

    def __init__(self, conv, key, levels):
        super().__init__()
        self.conv, self.key, self.levels = conv, key, levels

    def forward(self, x):
        return self.conv(x, self.levels[self.key])


class Network(torch.nn.Module):
    """The described network; the Voxels kept for the transposed convolutions are dropped after each run."""

    def __init__(self, network, levels):
        super().__init__()
        self.network, self.levels = network, levels

    def forward(self, x):
        try:
            return self.network(x)
        finally:
            self.levels.clear()


def build(path):
    levels = {}

    def conv(node, m, maps, cin):
        kernel, stride = tuple(m["kernel_size"]), tuple(m["stride"])
        bias = bool(node.get("bias", False))
        if m.get("mirrors"):
            return Transposed(SparseConv3d(cin, node["out_channels"], kernel, stride, bias=bias, transposed=True),
                              m["mirrors"], levels)
        module = SparseConv3d(cin, node["out_channels"], kernel, stride, bias=bias)
        return module if all(s == 1 for s in stride) else Strided(module, m["name"], levels)

    network, description = pc.build_from_description(
        path, conv=conv, batch_norm=BatchNorm, relu=ReLU, add=lambda a, b: a + b, concat=cat)
    return Network(network, levels), description


def record_convs(model, x):
    """Every convolution of one forward: its key (Cin, Cout, volume, outputs), as pc.match_layers takes it."""
    calls, hooks = [], []

    def hook(module, inputs, output):
        calls.append({"key": (module.in_channels, module.out_channels, int(np.prod(module.kernel_size)),
                              int(output.feature_tensor.shape[0]))})

    for module in model.modules():
        if isinstance(module, SpatiallySparseConv):
            hooks.append(module.register_forward_hook(hook))
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return calls


def batch_offsets(coords):
    """The [B + 1] row offsets of each batch index (on the CPU, as Voxels keeps them)."""
    batch = coords[:, 0].long()
    if coords.shape[0] > 1 and bool((batch[1:] < batch[:-1]).any()):
        raise SystemExit("the dumped coordinates are not sorted by batch index, which Voxels needs")
    return offsets_from_batch_index(batch)


def tuned_algorithms():
    """The forward algorithm the autotuner picked (the fastest it timed) for each layer shape it met, and
    any it loaded from a given cache; a description of what went wrong rather than losing the timings."""
    picked = []
    try:
        for config, results in _BENCHMARK_AB_RESULTS.items():
            best = results[0] if isinstance(results, list) else results
            shape = {key: getattr(config, attr, None) for key, attr in (
                ("in_channels", "in_channels"), ("out_channels", "out_channels"), ("kernel_volume", "kernel_volume"),
                ("log10_inputs", "log_num_in_coords"), ("log10_outputs", "log_num_out_coords"),
                ("fp16_accumulate", "use_fp16_accum"), ("transposed", "transposed"))}
            picked.append({k: v if v is None or isinstance(v, (int, float)) else str(v) for k, v in shape.items()}
                          | {"algorithm": str(best[0]), "params": str(best[1]), "ms": float(best[2])})
    except Exception as error:  # reported, not hidden
        picked.append({"error": repr(error)})
    return picked


def main():
    args = pc.parse_network_args()
    inputs = pc.load_inputs(args.coords_dir, shift=False)
    runs = []
    torch.manual_seed(0)
    for name in pc.measured_networks(args.ours_dir, NETWORKS):
        ours = pc.load_ours(args.ours_dir, name)
        model, description = build(os.path.join(args.networks_dir, name + ".json"))
        model = model.cuda().half().eval()
        for label, coords in inputs.items():
            if label not in ours:
                continue
            f = torch.rand(coords.shape[0], description["input_channels"], device="cuda", dtype=torch.half) * 2 - 1
            xyz, offsets = coords[:, 1:].contiguous(), batch_offsets(coords)
            voxels = lambda: Voxels(xyz, f, offsets=offsets)
            run = lambda: model(voxels())
            our_outputs = ours[label]["layers"][-1]["outputs"]
            entry = {"network": name, "input": label, "voxels": int(coords.shape[0]), "our_output_voxels": our_outputs}
            for configuration, context in CONFIGURATIONS.items():
                with context():
                    try:
                        end_to_end = pc.median_ms(run)
                        kernels = pc.profiled_kernel_ms(run)
                        out_voxels = int(run()[0].feature_tensor.shape[0])
                        calls = record_convs(model, voxels())
                    except Exception as error:  # reported, not hidden
                        entry[configuration] = {"error": repr(error)}
                        print(f"{name:<30} {label:<36} {configuration}: failed: {error!r}")
                        continue
                matched = pc.match_layers(ours[label]["layers"], calls)
                entry[configuration] = {"end_to_end_ms": end_to_end, "gpu_kernel_sum_ms": kernels,
                                        "output_voxels": out_voxels,
                                        "layers_matched": sum(c is not None for _, c in matched),
                                        "layers": len(matched), "outputs_per_conv": [c["key"][3] for c in calls]}
                print(f"{name:<30} {label:<36} {end_to_end:8.3f} ms end to end, kernels {kernels:8.3f} ms, "
                      f"output voxels {out_voxels} (ours {our_outputs}), {configuration}, "
                      f"{entry[configuration]['layers_matched']}/{len(matched)} layers matched (outputs within 1%)")
            # The fp32-accumulating configuration (ours accumulates in fp32) in the fields the spconv
            # results have.
            main_run = entry.get("fp32_accumulate", {})
            if "end_to_end_ms" in main_run:
                entry.update({"end_to_end_ms": main_run["end_to_end_ms"],
                              "gpu_kernel_sum_ms": main_run["gpu_kernel_sum_ms"],
                              "output_voxels": main_run["output_voxels"]})
            runs.append(entry)
    result = pc.report_header(
        f"warpconvnet {warpconvnet.__version__}",
        "fp16 inference, eval mode, each network built from its description with WarpConvNet modules; autotuned "
        "algorithms (WARPCONVNET_FWD_ALGO_MODE " + os.environ.get("WARPCONVNET_FWD_ALGO_MODE", "auto") + "): the "
        "first call of each layer shape times the candidates and keeps the fastest, within the warm-up runs, from "
        "an empty benchmark cache unless one was given; two configurations: torch.no_grad (fp32 accumulators, "
        "its default; end_to_end_ms, gpu_kernel_sum_ms and output_voxels are this one) and torch.inference_mode "
        "(fp16-accumulating kernels allowed, its inference default); end to end: a fresh Voxels per run (hash tables and maps "
        f"rebuilt), CUDA events, median of {pc.ITERATIONS} after {pc.WARMUP} warm-up runs; kernel sum: CUDA "
        f"kernel events of the profiler over {pc.PROFILED_RUNS} runs; coordinates as dumped (not shifted); "
        "layers matched: pc.match_layers on each convolution's output count")
    result["runs"] = runs
    result["autotuned_forward"] = tuned_algorithms()
    result["benchmark_cache_dir"] = os.environ["WARPCONVNET_BENCHMARK_CACHE_DIR"]
    pc.write(result, args.out)


if __name__ == "__main__":
    main()
