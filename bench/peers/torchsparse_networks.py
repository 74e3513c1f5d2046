"""Times TorchSparse 2.1 on the networks and inputs that sparsekgen-bench-network ran (same GPU, same
run): end to end from coordinates and features on the GPU (a fresh SparseTensor per run, so every map
is rebuilt), its GPU kernel time summed from the profiler, and each convolution alone on that run's
tensors beside our kernel for the same layer and cuBLAS on the dense GEMM of the same useful size.
MinkUNet42 and SparseResNet21D are TorchSparse's own SparseResUNet42 and SparseResNet21D; the
CenterPoint backbone is built from bench/networks/ with TorchSparse modules. TorchSparse's own
`tune` is applied first (on the same inputs). Needs an installed torchsparse 2.1.

    python3 torchsparse_networks.py COORDS_DIR OUR_RESULTS_DIR NETWORKS_DIR [--out results.json]
"""
import math
import os
import tempfile

import torch
import torchsparse
from torchsparse import SparseTensor
from torchsparse import nn as spnn
from torchsparse.backbones import SparseResNet21D, SparseResUNet42
from torchsparse.nn import functional as F

import peer_common as pc

NETWORKS = {"minkunet42_1.0x": 4, "minkunet42_0.5x": 4, "sparse_resnet21d": 4, "centerpoint_nuscenes_backbone": 5}
KMAP_MODES = ("hashmap_on_the_fly", "hashmap")


def build(name, networks_dir):
    if name.startswith("minkunet42"):
        return SparseResUNet42(in_channels=4, width_multiplier=float(name[len("minkunet42_"):-1]))
    if name == "sparse_resnet21d":
        return SparseResNet21D(in_channels=4)
    model, _ = pc.build_from_description(
        os.path.join(networks_dir, name + ".json"),
        conv=lambda node, m, maps, cin: spnn.Conv3d(cin, node["out_channels"], tuple(m["kernel_size"]),
                                                    stride=tuple(m["stride"]), transposed=bool(m.get("mirrors"))),
        batch_norm=spnn.BatchNorm, relu=lambda: spnn.ReLU(False), add=lambda a, b: a + b, concat=torchsparse.cat)
    return model


def record_convs(model, x):
    """Every Conv3d call of one forward: its key (Cin, Cout, volume, outputs), module and input."""
    return pc.record_convs(model, lambda: model(x), spnn.Conv3d,
                           lambda m, out: (m.in_channels, m.out_channels, math.prod(m.kernel_size),
                                           int(out.feats.shape[0])))


def main():
    args = pc.parse_network_args()
    # hashmap_on_the_fly drops negative coordinates, so it gets the shifted ones; hashmap takes the
    # coordinates as they are (shifting them changes its strided levels by a voxel here and there).
    inputs = pc.load_inputs(args.coords_dir, shift=False)
    shifted = pc.load_inputs(args.coords_dir, shift=True)
    # Room for every level's hash table (the default 2x overflows on some scans in hashmap_on_the_fly).
    torchsparse.backends.hash_rsv_ratio = 4
    runs = []
    torch.manual_seed(0)
    for name in pc.measured_networks(args.ours_dir, NETWORKS):
        in_channels = NETWORKS[name]
        ours = pc.load_ours(args.ours_dir, name)
        # 2x2x2 stride-2 maps equal ours in "spconv" mode (checked by the kernel-map benchmark); 3x3x3
        # stride-2 outputs are floor(x / 2) only in "minkowski" mode. The layer match counts show it.
        F.set_downsample_mode("spconv" if name.startswith("minkunet42") else "minkowski")
        model = build(name, args.networks_dir).cuda().half().eval()
        feats = {label: torch.rand(c.shape[0], in_channels, device="cuda", dtype=torch.half) * 2 - 1
                 for label, c in inputs.items()}
        with torch.no_grad():
            tuned = "no"
            try:
                samples = [SparseTensor(feats[label], c) for label, c in inputs.items()]
                torchsparse.tune(model, samples, n_samples=len(samples), enable_fp16=False,
                                 save_dir=tempfile.mkdtemp(), tune_tag=name, verbose=False, skip_warning=True)
                tuned = "yes"
            except Exception as error:  # reported, not hidden
                tuned = f"tune failed: {error!r}"
            print(f"{name}: torchsparse.tune -> {tuned}")
            for label, coords in inputs.items():
                if label not in ours:
                    continue
                f = feats[label]
                entry = {"network": name, "input": label, "voxels": int(coords.shape[0]), "tuned": tuned, "modes": {}}
                for mode in KMAP_MODES:
                    F.set_kmap_mode(mode)
                    c = shifted[label] if mode == "hashmap_on_the_fly" else coords
                    run = lambda: model(SparseTensor(f, c))
                    try:
                        end_to_end = pc.median_ms(run)
                        kernels = pc.profiled_kernel_ms(run)
                        calls = record_convs(model, SparseTensor(f, c))
                    except Exception as error:  # reported, not hidden
                        entry["modes"][mode] = {"error": repr(error)}
                        print(f"  {label:<36} {mode:<20} failed: {error!r}")
                        continue
                    matched = pc.match_layers(ours[label]["layers"], calls)
                    entry["modes"][mode] = {"end_to_end_ms": end_to_end, "gpu_kernel_sum_ms": kernels,
                                            "layers_matched": sum(c is not None for _, c in matched),
                                            "layers": len(matched),
                                            "outputs_per_conv": [c["key"][3] for c in calls]}
                    print(f"  {label:<36} {mode:<20} {end_to_end:8.3f} ms end to end, kernels {kernels:8.3f} ms, "
                          f"{entry['modes'][mode]['layers_matched']}/{len(matched)} layers matched (outputs within 1%)")
                # Per layer on the configuration whose levels match ours (kernel times do not depend on
                # how the cached maps were built).
                F.set_kmap_mode("hashmap_on_the_fly")
                if label == next(iter(inputs)):  # the first input: a profiler session per layer is slow
                    calls = record_convs(model, SparseTensor(f, shifted[label]))
                    entry["layers"] = pc.compare_layers(ours[label]["layers"], calls, "torchsparse")
                runs.append(entry)
    result = pc.report_header(
        f"torchsparse {torchsparse.__version__}",
        "fp16 inference, eval mode; end to end: a fresh SparseTensor per run (maps rebuilt), CUDA events, median of "
        f"{pc.ITERATIONS} after {pc.WARMUP} warm-up runs, each kmap mode; kernel sum: CUDA kernel events of the "
        f"profiler over {pc.PROFILED_RUNS} runs; per layer (first input, hashmap_on_the_fly on the shifted coordinates): the Conv3d alone on its recorded input "
        f"with cached maps, median of {pc.LAYER_ITERATIONS}; cuBLAS: torch fp16 matmul [pairs, Cin] x [Cin, Cout]; "
        "hashmap_on_the_fly gets coordinates shifted by multiples of 16 to be non-negative; downsample mode spconv "
        "for MinkUNet42 (2x2x2 stride 2), minkowski for the 3x3x3 stride-2 networks")
    result["runs"] = runs
    pc.write(result, args.out)


if __name__ == "__main__":
    main()
