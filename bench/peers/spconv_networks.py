"""Times spconv 2.3 on the networks and inputs that sparsekgen-bench-network ran (same GPU, same run):
each network built from its description in bench/networks/ with spconv modules (SubMConv3d for
submanifold maps, SparseConv3d for strided ones, SparseInverseConv3d for the transposed maps that
mirror them, BatchNorm1d and ReLU on the features), fp16, end to end from coordinates and features on
the GPU (a fresh SparseConvTensor per run, so every map is rebuilt), and its GPU kernel time summed
from the profiler; on the first input, each convolution alone beside ours and cuBLAS (profiler kernel
times). spconv's strided 3x3x3 convolutions output every reachable voxel, more than the
floor(x / 2) outputs of the descriptions, so those networks do more work in spconv. Needs spconv 2.3.

    python3 spconv_networks.py COORDS_DIR OUR_RESULTS_DIR NETWORKS_DIR [--out results.json]
"""
import math
import os

import torch
import spconv
import spconv.pytorch as sp

import peer_common as pc

NETWORKS = ("minkunet42_1.0x", "minkunet42_0.5x", "sparse_resnet21d", "centerpoint_nuscenes_backbone")


class OnFeatures(torch.nn.Module):
    def __init__(self, op):
        super().__init__()
        self.op = op

    def forward(self, x):
        return x.replace_feature(self.op(x.features))


def conv(node, m, maps, cin):
    cout, kernel = node["out_channels"], tuple(m["kernel_size"])
    if m.get("mirrors"):
        return sp.SparseInverseConv3d(cin, cout, kernel, indice_key=m["mirrors"], bias=False)
    if all(s == 1 for s in m["stride"]):
        return sp.SubMConv3d(cin, cout, kernel, indice_key=m["name"], bias=False)
    return sp.SparseConv3d(cin, cout, kernel, tuple(m["stride"]), indice_key=m["name"], bias=False)


def main():
    args = pc.parse_network_args()
    inputs = pc.load_inputs(args.coords_dir, shift=True)  # spconv indexes a non-negative grid
    runs = []
    torch.manual_seed(0)
    for name in pc.measured_networks(args.ours_dir, NETWORKS):
        ours = pc.load_ours(args.ours_dir, name)
        model, description = pc.build_from_description(
            os.path.join(args.networks_dir, name + ".json"), conv=conv,
            batch_norm=lambda c: OnFeatures(torch.nn.BatchNorm1d(c)), relu=lambda: OnFeatures(torch.nn.ReLU()),
            add=lambda a, b: a.replace_feature(a.features + b.features),
            concat=lambda ts: ts[0].replace_feature(torch.cat([t.features for t in ts], 1)))
        model = model.cuda().half().eval()
        for label, coords in inputs.items():
            if label not in ours:
                continue
            f = torch.rand(coords.shape[0], description["input_channels"], device="cuda", dtype=torch.half) * 2 - 1
            shape = [int(((coords[:, a].max().item() + 1 + 15) // 16) * 16) for a in (1, 2, 3)]
            with torch.no_grad():
                run = lambda: model(sp.SparseConvTensor(f, coords, shape, 1))
                end_to_end = pc.median_ms(run)
                kernels = pc.profiled_kernel_ms(run)
                voxels = int(run()[0].features.shape[0])
                layers = None
                if label == next(iter(inputs)):  # the first input: a profiler session per layer is slow
                    calls = pc.record_convs(model, run, (sp.SubMConv3d, sp.SparseConv3d, sp.SparseInverseConv3d),
                                            lambda m, out: (m.in_channels, m.out_channels, math.prod(m.kernel_size),
                                                            int(out.features.shape[0])))
                    layers = pc.compare_layers(ours[label]["layers"], calls, "spconv")
            print(f"{name:<30} {label:<36} {end_to_end:8.3f} ms end to end, kernels {kernels:8.3f} ms, "
                  f"output voxels {voxels} (ours {ours[label]['layers'][-1]['outputs']})")
            runs.append({"network": name, "input": label, "voxels": int(coords.shape[0]), "end_to_end_ms": end_to_end,
                         "gpu_kernel_sum_ms": kernels, "output_voxels": voxels,
                         "our_output_voxels": ours[label]["layers"][-1]["outputs"],
                         **({"layers": layers} if layers is not None else {})})
    result = pc.report_header(
        f"spconv {spconv.__version__}",
        "fp16 inference, eval mode, default algorithm; end to end: a fresh SparseConvTensor per run (maps rebuilt), "
        f"CUDA events, median of {pc.ITERATIONS} after {pc.WARMUP} warm-up runs; kernel sum: CUDA kernel events of "
        f"the profiler over {pc.PROFILED_RUNS} runs; per layer (first input): each convolution re-run alone on its "
        f"recorded input (the maps its indice_key cached reused where spconv reuses them), its kernel time from the "
        f"profiler over {pc.LAYER_ITERATIONS} calls, beside ours and cuBLAS on the dense fp16 GEMM of the same useful "
        "size (kernel time likewise); coordinates shifted by multiples of 16 to be non-negative")
    result["runs"] = runs
    pc.write(result, args.out)


if __name__ == "__main__":
    main()
