"""Times spconv 2.3's backward pass of one 3x3x3 submanifold convolution on the voxels
sparsekgen-bench-backward ran and dumped (same GPU, same run; --dump-coordinates), Cin = Cout in
{32, 64, 128}, fp16 features and weights.
The indice pairs are built once (the first call) and reused, as ours are; then, from the profiler's
CUDA kernel events: the forward's kernels, the backward's (input and weight gradients, one autograd
call), and the input and weight gradients alone. Needs spconv 2.3.

    python3 spconv_backward.py COORDS_DIR OUR_RESULTS.json [--out results.json]
"""
import argparse
import datetime
import json
import torch
import spconv
import spconv.pytorch as sp

import peer_common as pc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("coords_dir", help="the voxels sparsekgen-bench-backward dumped")
    parser.add_argument("ours", help="its results (JSON)")
    parser.add_argument("--out")
    args = parser.parse_args()
    with open(args.ours) as f:
        ours = {(r["scan"], r["channels"]): r for r in json.load(f)["fastest"]}
    torch.manual_seed(0)
    runs = []
    for scan, coords in pc.load_inputs(args.coords_dir, shift=True).items():
        shape = [int(((coords[:, a].max().item() + 1 + 15) // 16) * 16) for a in (1, 2, 3)]
        for channels in (32, 64, 128):
            conv = sp.SubMConv3d(channels, channels, 3, indice_key="subm", bias=False).cuda().half()
            features = (torch.rand(coords.shape[0], channels, device="cuda", dtype=torch.half) * 2 - 1).requires_grad_()
            x = sp.SparseConvTensor(features, coords, shape, 1)
            y = conv(x)  # builds and caches the indice pairs on x
            grad = torch.rand_like(y.features) * 2 - 1
            forward = lambda: conv(x)
            both = lambda: torch.autograd.grad(conv(x).features, [features, conv.weight], grad)
            input_only = lambda: torch.autograd.grad(conv(x).features, [features], grad)
            weight_only = lambda: torch.autograd.grad(conv(x).features, [conv.weight], grad)
            forward_ms = pc.profiled_kernel_ms(forward)
            # Each autograd call runs the forward again: its kernels are subtracted.
            backward_ms = pc.profiled_kernel_ms(both) - forward_ms
            input_ms = pc.profiled_kernel_ms(input_only) - forward_ms
            weight_ms = pc.profiled_kernel_ms(weight_only) - forward_ms
            mine = ours.get((scan, channels), {})
            ours_backward = (mine.get("input_grad", {}).get("median_ms", 0.0) +
                             mine.get("weight_grad", {}).get("median_ms", 0.0))
            run = {"scan": scan, "voxels": int(coords.shape[0]), "ours_voxels": mine.get("voxels"),
                   "channels": channels,
                   "spconv_kernel_ms": {"forward": forward_ms, "backward": backward_ms,
                                        "input_grad_alone": input_ms, "weight_grad_alone": weight_ms},
                   "ours_ms": {"forward": mine.get("forward", {}).get("median_ms"),
                               "input_grad": mine.get("input_grad", {}).get("median_ms"),
                               "weight_grad": mine.get("weight_grad", {}).get("median_ms"),
                               "backward": ours_backward},
                   "backward_speedup": backward_ms / ours_backward if ours_backward else None}
            print(f"{scan:<24} {coords.shape[0]:>7} C {channels:>3}: spconv forward {forward_ms:.4f} "
                  f"backward {backward_ms:.4f} (dgrad alone {input_ms:.4f}, wgrad alone {weight_ms:.4f}) ms; "
                  f"ours forward {run['ours_ms']['forward']} backward {ours_backward:.4f} ms")
            runs.append(run)
    result = {"benchmark": "conv_backward_real_scans_spconv", "date": datetime.date.today().isoformat(),
              "gpu": torch.cuda.get_device_name(), "spconv": spconv.__version__, "torch": torch.__version__,
              "method": "spconv: GPU kernel time per call summed from the profiler's CUDA kernel events over "
                        f"{pc.PROFILED_RUNS} calls, the forward's kernels subtracted from each autograd call; "
                        "ours: CUDA-event medians of convForward / convBackward calls from "
                        "sparsekgen-bench-backward in the same device run (an upper bound on our kernel time)",
              "runs": runs}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
