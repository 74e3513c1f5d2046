"""The Python package on the GPU, measured as the peers are (bench/peers/peer_common.py): networks of
bench/networks/ built from sparsekgen.nn modules (Conv3d, BatchNorm, ReLU, cat), run on the inputs
sparsekgen-bench-network dumped, beside what the C++ executor and trainer measured on the same
inputs in the same run (their JSON), so the difference is what the Python layer costs.

infer: end to end under torch.autocast fp16 in eval mode (a fresh SparseTensor per run: every map
rebuilt), CUDA-event median and profiler kernel sum; the C++ executor's end-to-end median for the
same input from OURS_DIR/bench-<network>.json. Batch norm runs as torch's own kernel after each
convolution: the executor folds it into the convolutions' epilogues.

time: one mixed-precision training step per network and batch (peer_common.TRAINING_METHOD);
the C++ trainer's step from --trainer (sparsekgen-bench-train's JSON) where given.

    python3 bench/python_frontend.py infer COORDS_DIR OURS_DIR NETWORKS_DIR [--networks N ...] [--out F]
    python3 bench/python_frontend.py time COORDS_DIR NETWORKS_DIR [--networks N ...] [--trainer F] [--out F]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
import peer_common as pc  # noqa: E402

import sparsekgen  # noqa: E402
from sparsekgen import gpu  # noqa: E402
from sparsekgen.torchsparse import nn as spnn  # noqa: E402

METHOD_INFER = (
    "eval mode under torch.autocast fp16 (fp32 parameters; the convolutions run the bundle's f16 kernels through "
    "the package's default dispatch), a fresh sparsekgen.SparseTensor per run from the dumped coordinates and "
    "random features (every map rebuilt on the GPU), batch norm and ReLU as torch kernels; CUDA events around each "
    f"run, median of {pc.ITERATIONS} after {pc.WARMUP} warm-up runs; kernel sum: CUDA kernel events of the profiler "
    f"over {pc.PROFILED_RUNS} runs")


def conv(node, m, maps, cin):
    return spnn.Conv3d(cin, node["out_channels"], tuple(m["kernel_size"]), stride=tuple(m["stride"]),
                       bias=bool(node.get("bias", False)), transposed=bool(m.get("mirrors")))


def build(name, path):
    model, description = pc.build_from_description(
        path, conv=conv, batch_norm=spnn.BatchNorm, relu=lambda: spnn.ReLU(False), add=lambda a, b: a + b,
        concat=sparsekgen.cat, free_intermediates=True)
    return model.cuda().train(), description


def header(benchmark, method):
    result = pc.report_header(f"sparsekgen {sparsekgen.__version__} (Python package)", method,
                              benchmark=benchmark)
    rt = gpu.runtime(torch.device("cuda"))
    result["bundle_hash"] = rt.bundle_hash
    result["dispatch"] = "config table" if rt.has_table else "heuristic"
    return result


def run_infer(args):
    result = header("python_frontend_inference", METHOD_INFER)
    runs = []
    for name in args.networks:
        model, description = build(name, os.path.join(args.networks_dir, name + ".json"))
        model.eval()
        ours = pc.load_ours(args.ours_dir, name)
        channels = description["input_channels"]
        for label, coords in pc.load_inputs(args.coords_dir, shift=False).items():
            if label not in ours:
                continue
            feats = torch.rand(coords.shape[0], channels, device="cuda") * 2 - 1

            def forward():
                with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
                    return model(sparsekgen.SparseTensor(feats, coords))

            run = {"network": name, "input": label, "rows": int(coords.shape[0]),
                   "end_to_end_ms": pc.median_ms(forward), "kernel_ms": pc.profiled_kernel_ms(forward)}
            run["executor_end_to_end_ms"] = ours[label]["end_to_end_ms"]
            run["python_over_executor"] = run["end_to_end_ms"] / run["executor_end_to_end_ms"]
            runs.append(run)
            print(f"{name:<24} {label:<24} {run['rows']:>7} rows: Python {run['end_to_end_ms']:7.3f} ms "
                  f"(kernels {run['kernel_ms']:7.3f} ms), C++ executor "
                  f"{run['executor_end_to_end_ms']:7.3f} ms")
        del model
    result["runs"] = runs
    pc.write(result, args.out)


def runs_of(name, model, sample):
    optimizer, scaler = pc.amp_sgd(model.parameters(), pc.TIME_LR)
    run = {}
    try:
        run.update(pc.time_training(lambda: model(sparsekgen.SparseTensor(sample["feats"], sample["coords"]))[0].feats,
                                    optimizer, scaler))
    except Exception as e:  # reported, not hidden
        run["error"] = repr(e)
    return [run]


def run_time(args):
    result = header("python_frontend_training_step", pc.TRAINING_METHOD + "; maps and the runtime's scratch come "
                    "from the CUDA memory pool, not torch's allocator, so the peak-memory figures leave them out")
    result["runs"] = pc.time_training_networks(args, build, runs_of)
    if args.trainer:
        with open(args.trainer) as f:
            trainer = json.load(f)
        steps = {(n["network"], r["batch"]): r["step_ms"] for n in trainer["networks"] for r in n["runs"]}
        for run in result["runs"]:
            theirs = steps.get((run["network"], run["batch"]))
            if theirs and "step_ms" in run:
                run["trainer_step_ms"] = theirs
                run["python_over_trainer"] = run["step_ms"] / theirs
    pc.write(result, args.out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    infer = commands.add_parser("infer", help="end-to-end inference beside the C++ executor")
    infer.add_argument("coords_dir", help="the coordinates sparsekgen-bench-network dumped")
    infer.add_argument("ours_dir", help="its results, bench-<network>.json")
    infer.add_argument("networks_dir", help="bench/networks")
    infer.add_argument("--networks", nargs="+", default=["minkunet42_1.0x"], metavar="NETWORK")
    infer.add_argument("--out", help="JSON results")
    time = commands.add_parser("time", help="one training step per network and batch")
    time.add_argument("dir", help="the inputs: <input>.coords.i32")
    time.add_argument("networks_dir", help="bench/networks")
    time.add_argument("--networks", nargs="+", default=["minkunet42_1.0x"], choices=list(pc.TRAINING_NETWORKS),
                      metavar="NETWORK")
    time.add_argument("--trainer", help="sparsekgen-bench-train's JSON of the same run")
    time.add_argument("--out", help="JSON results")
    args = parser.parse_args()
    run_infer(args) if args.command == "infer" else run_time(args)


if __name__ == "__main__":
    main()
