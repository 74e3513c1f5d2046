"""What the peer scripts share: loading the coordinates sparsekgen-bench-network dumped, our
results, CUDA-event medians, profiler kernel sums, cuBLAS reference GEMMs, matching a peer's
convolutions to our layers, building a network description (bench/networks/*.json) from a
peer's modules, and for the training peers: reading safetensors, the dumped inputs as batches,
one mixed-precision training step and its timing."""
import datetime
import gc
import glob
import json
import math
import os
import statistics
import struct

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


def measured_networks(results_dir, networks):
    """Those of `networks` that ours ran in `results_dir` (bench-<network>.json), in their order."""
    found = [name for name in networks if os.path.exists(os.path.join(results_dir, f"bench-{name}.json"))]
    if not found:
        raise SystemExit(f"{results_dir}: no bench-<network>.json of " + ", ".join(networks))
    return found


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
    """The dense fp16 GEMM of the same useful size, [pairs, Cin] x [Cin, Cout] through cuBLAS: its
    kernel time from the profiler."""
    a = torch.randn(max(pairs, 1), cin, device="cuda", dtype=torch.half)
    b = torch.randn(cin, cout, device="cuda", dtype=torch.half)
    return profiled_kernel_ms(lambda: a @ b, runs=LAYER_ITERATIONS)


def record_convs(model, run, conv_types, key_of):
    """Every call of a convolution module (an instance of `conv_types`) while run() runs: its key
    key_of(module, output) = (Cin, Cout, kernel volume, outputs), its module and its input."""
    calls, hooks = [], []

    def hook(module, inputs, output):
        calls.append({"key": key_of(module, output), "module": module, "input": inputs[0]})

    for module in model.modules():
        if isinstance(module, conv_types):
            hooks.append(module.register_forward_hook(hook))
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return calls


def compare_layers(ours, calls, peer):
    """Each of our layers (bench-network's per-layer results) beside the peer's matching convolution
    (match_layers) re-run alone on its recorded input, and cuBLAS on the dense GEMM of the same useful
    size: GPU kernel times from the profiler, per call, so no host time of a Python call counts."""
    layers = []
    for layer, call in match_layers(ours, calls):
        theirs = None
        if call is not None:
            module, x = call["module"], call["input"]
            theirs = profiled_kernel_ms(lambda: module(x), runs=LAYER_ITERATIONS)
        flops = 2.0 * layer["pairs"] * layer["in_channels"] * layer["out_channels"]
        dense = cublas_ms(layer["pairs"], layer["in_channels"], layer["out_channels"])
        layers.append({"name": layer["name"], "outputs": layer["outputs"],
                       f"{peer}_outputs": call["key"][3] if call else None,
                       "ours_ms": layer["ms"], f"{peer}_ms": theirs, "cublas_dense_ms": dense,
                       "ours_tflops": flops / (layer["ms"] * 1e9),
                       f"{peer}_tflops": flops / (theirs * 1e9) if theirs else None,
                       "cublas_tflops": flops / (dense * 1e9)})
    return layers


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


def report_header(peer, method, benchmark="network_end_to_end_peer"):
    return {"benchmark": benchmark, "peer": peer,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "gpu": {"name": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda},
            "method": method}


def build_from_description(path, conv, batch_norm, relu, add, concat, free_intermediates=False):
    """A module running the description's nodes, each op made by the given factories:
    conv(node, map, maps, in_channels) -> module; batch_norm(channels); relu(); add(a, b); concat([...]).
    Module names are node names with '.' replaced by '_'; `out_channels` lists the outputs' widths.
    With `free_intermediates`, forward drops each tensor after its last reader (what autograd saved
    stays alive), as a network of modules would, so that peak memory in training is not inflated."""
    with open(path) as f:
        description = json.load(f)
    maps = {m["name"]: m for m in description["maps"]}
    channels = {"input": description["input_channels"]}
    reads = lambda node: set(node["inputs"]) if "inputs" in node else {node["input"]}
    last_read = {t: i for i, node in enumerate(description["nodes"]) for t in reads(node)}

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
            for i, node in enumerate(description["nodes"]):
                name = node["name"].replace(".", "_")
                if node["op"] == "add":
                    y = add(tensors[node["inputs"][0]], tensors[node["inputs"][1]])
                elif node["op"] == "concat":
                    y = concat([tensors[t] for t in node["inputs"]])
                else:
                    y = self.ops[name](tensors[node["input"]])
                tensors[node["name"]] = y
                if free_intermediates:
                    for t in reads(node):
                        if last_read[t] == i and t not in description["outputs"]:
                            del tensors[t]
            return [tensors[o] for o in description["outputs"]]

    network = DescribedNetwork()
    network.out_channels = [channels[o] for o in description["outputs"]]
    return network, description


def write(result, path):
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=2)
        print("wrote", path)


# The training peers (torchsparse_training.py, spconv_training.py), beside sparsekgen-bench-train.

TRAINING_NETWORKS = {"minkunet42_1.0x": "kitti", "minkunet42_0.5x": "kitti", "sparse_resnet21d": "kitti",
                     "centerpoint_nuscenes_backbone": "centerpoint"}  # network: how its inputs' names start
BATCHES = (1, 2)
TRAIN_WARMUP, TRAIN_ITERATIONS, MEMORY_STEPS = 10, 30, 3
TIME_LR = 0.01
OPTIMIZER = ("torch.optim.SGD, momentum 0.9, weight decay 1e-4 on every parameter, fp32 parameters; "
             "torch.amp.GradScaler(init_scale 65536, growth_interval 2000)")
TRAINING_METHOD = (
    "one mixed-precision training step per call: a fresh input tensor (every map rebuilt), forward in train mode "
    "(batch statistics) under torch.autocast fp16, mean cross-entropy in fp32 over the output rows against random "
    "labels (classes = output channels; drawn before timing, the row count from an untimed forward), scaled backward, "
    f"GradScaler step (it reads its overflow flag on the host) of {OPTIMIZER}, lr {TIME_LR}, scale update, gradients "
    f"set to None; CUDA events around each step, median of {TRAIN_ITERATIONS} after {TRAIN_WARMUP} warm-up steps; "
    f"kernel sum: CUDA kernel events of the profiler over {PROFILED_RUNS} steps; peak memory: max_memory_allocated "
    f"and max_memory_reserved over {MEMORY_STEPS} steps after emptying the cache and resetting the peaks (resident: "
    "allocated before them: parameters, optimizer state, inputs); batch 1: the first input in name order, batch 2: "
    "the first two, the second with batch index 1 (skipped with fewer inputs)")


def parse_training_time_args(doc, subcommands=()):
    """`time DIR NETWORKS_DIR [--networks N ...] [--out F]` or one of `subcommands`, each (name, help,
    add_arguments(parser)); `doc` (the script's docstring) is what --help prints first."""
    import argparse
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text, add_arguments in subcommands:
        add_arguments(commands.add_parser(name, help=text))
    time = commands.add_parser("time", help="time one training step of each network at batch 1 and 2")
    time.add_argument("dir", help="the inputs: <input>.coords.i32 (and .feats.f32 where dumped)")
    time.add_argument("networks_dir", help="bench/networks")
    time.add_argument("--networks", nargs="+", default=list(TRAINING_NETWORKS), choices=list(TRAINING_NETWORKS),
                      metavar="NETWORK", help="some of " + ", ".join(TRAINING_NETWORKS) + " (default: all)")
    time.add_argument("--out", help="JSON results")
    return parser.parse_args()


def read_safetensors(path):
    """{name: float32 numpy array} of a safetensors file (8-byte little-endian header length, JSON header,
    data), read here because the safetensors package may be absent."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    header.pop("__metadata__", None)
    body = memoryview(data)[8 + length:]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        count = math.prod(entry["shape"])
        if entry["dtype"] != "F32" or end - begin != 4 * count or end > len(body):
            raise SystemExit(f"{path}: tensor '{name}' is not {count} F32 values inside the file: {entry}")
        tensors[name] = np.frombuffer(body[begin:end], dtype="<f4").reshape(entry["shape"]).copy()
    return tensors


def read_features(coords_dir, name, rows, channels):
    """<name>.feats.f32 on the GPU when it holds float32 [rows, channels], else None."""
    path = os.path.join(coords_dir, name + ".feats.f32")
    if not os.path.exists(path) or os.path.getsize(path) != rows * channels * 4:
        return None
    return torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(rows, channels)).cuda()


def training_inputs(coords_dir, prefix, channels):
    """The dumped inputs whose names start with `prefix`, in name order: {"name", "coords" (as dumped),
    "shifted" (load_inputs' shift), "feats" (float32 [N, channels]: <name>.feats.f32 where it has that
    width, else uniform in [-1, 1)), "features" ("dumped" or "random")}."""
    shifted = load_inputs(coords_dir, shift=True)
    inputs = []
    for name, coords in load_inputs(coords_dir, shift=False).items():
        if not name.startswith(prefix):
            continue
        feats = read_features(coords_dir, name, coords.shape[0], channels)
        inputs.append({"name": name, "coords": coords, "shifted": shifted[name], "features": "dumped"})
        if feats is None:
            feats = torch.rand(coords.shape[0], channels, device="cuda") * 2 - 1
            inputs[-1]["features"] = "random"
        inputs[-1]["feats"] = feats
    if not inputs:
        raise SystemExit(f"{coords_dir}: no <input>.coords.i32 whose name starts with '{prefix}'")
    return inputs


def batch_of(inputs):
    """The inputs side by side as one batch, input b with batch index b."""
    def coords(key):
        parts = [x[key].clone() for x in inputs]
        for b, c in enumerate(parts):
            c[:, 0] = b
        return torch.cat(parts)

    return {"inputs": [x["name"] for x in inputs], "features": [x["features"] for x in inputs],
            "coords": coords("coords"), "shifted": coords("shifted"), "feats": torch.cat([x["feats"] for x in inputs])}


def amp_sgd(parameters, lr):
    """The optimizer and loss scaler of OPTIMIZER."""
    return (torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=1e-4),
            torch.amp.GradScaler("cuda", init_scale=65536.0, growth_interval=2000))


def amp_train_step(forward, labels, optimizer, scaler):
    """One mixed-precision step: forward() -> logits [rows, classes] under fp16 autocast, mean cross-entropy
    in fp32, scaled backward, optimizer step (skipped by the scaler on overflow), scale update, gradients
    set to None. Returns the loss (on the GPU)."""
    with torch.autocast("cuda", dtype=torch.float16):
        logits = forward()
    if logits.shape[0] != labels.shape[0]:
        raise RuntimeError(f"{logits.shape[0]} output rows but {labels.shape[0]} labels")
    loss = torch.nn.functional.cross_entropy(logits.float(), labels)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def time_training(forward, optimizer, scaler):
    """Times amp_train_step on forward() (a fresh input tensor through the network, its output features)
    as TRAINING_METHOD says: {"output_rows", "classes", "step_ms", "kernel_ms", "resident_mib",
    "peak_allocated_mib", "peak_reserved_mib", "skipped_steps" (overflows the scaler skipped)}."""
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
        rows, classes = forward().shape
    labels = torch.randint(classes, (rows,), device="cuda")
    step = lambda: amp_train_step(forward, labels, optimizer, scaler)
    scale = scaler.get_scale()
    result = {"output_rows": rows, "classes": classes,
              "step_ms": median_ms(step, TRAIN_WARMUP, TRAIN_ITERATIONS), "kernel_ms": profiled_kernel_ms(step)}
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    result["resident_mib"] = torch.cuda.memory_allocated() / 2**20
    for _ in range(MEMORY_STEPS):
        step()
    torch.cuda.synchronize()
    result["peak_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    result["peak_reserved_mib"] = torch.cuda.max_memory_reserved() / 2**20
    # The scale halves on every overflow and cannot grow within these few steps (growth_interval 2000).
    result["skipped_steps"] = round(math.log2(scale / scaler.get_scale()))
    return result


def time_training_networks(args, build, runs_of):
    """The `time` subcommand: for each network of args.networks and batch of BATCHES, `build(name, path)`
    -> (model, description) on the GPU in train mode, then `runs_of(name, model, sample)` -> a list of
    timing dicts (one per configuration of the peer), each completed with the network, batch, inputs."""
    runs = []
    torch.manual_seed(0)
    for name in args.networks:
        path = os.path.join(args.networks_dir, name + ".json")
        with open(path) as f:
            channels = json.load(f)["input_channels"]
        for batch in BATCHES:
            inputs = training_inputs(args.dir, TRAINING_NETWORKS[name], channels)
            if len(inputs) < batch:
                print(f"{name} batch {batch}: skipped, {len(inputs)} input(s) in {args.dir}")
                continue
            sample = batch_of(inputs[:batch])
            model, _ = build(name, path)
            for run in runs_of(name, model, sample):
                entry = {"network": name, "batch": batch, "inputs": sample["inputs"],
                         "rows": int(sample["coords"].shape[0]), "features": sample["features"], **run}
                runs.append(entry)
                if "error" in entry:
                    print(f"{name:<30} batch {batch} {entry.get('kmap_mode', ''):<18} failed: {entry['error']}")
                else:
                    print(f"{name:<30} batch {batch} {entry.get('kmap_mode', ''):<18} {entry['rows']:>7} rows: step "
                          f"{entry['step_ms']:8.3f} ms, kernels {entry['kernel_ms']:8.3f} ms, peak "
                          f"{entry['peak_allocated_mib']:7.0f} MiB allocated, {entry['peak_reserved_mib']:7.0f} MiB "
                          f"reserved, {entry['skipped_steps']} skipped")
            del model
    return runs
