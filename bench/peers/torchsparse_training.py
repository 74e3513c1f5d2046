"""Trains TorchSparse 2.1 beside sparsekgen-bench-train (same GPU, same run), on what it dumped into DIR.
Every network is built from its description in bench/networks/ with TorchSparse modules (Conv3d,
BatchNorm, ReLU, cat; module names are node names with '.' replaced by '_').

learn: the segmentation network (default minkunet42_0.5x_seg) from our initial parameters
(<network>.init.safetensors: conv weight [volume, Cin, Cout] = Conv3d.kernel as is), then --steps steps
of batch 1 over the inputs that have labels, in name order (step i: input i % n with its dumped
features and labels): every step's loss, to set beside ours. kmap mode hashmap on the coordinates as
dumped, the configuration whose maps equal ours on every level (torchsparse_kernel_maps.py; the
default hashmap_on_the_fly drops voxels at the edges of the strided levels); not tuned.

time: one mixed-precision training step of each network at batch 1 and 2 (peer_common.TRAINING_METHOD)
after torchsparse.tune(..., tune_with_bwd=True), in both kmap modes (hashmap_on_the_fly on the shifted
coordinates, hashmap on them as dumped): CUDA-event median, profiler kernel sum, peak memory.

Mixed precision: TorchSparse's convolution is a custom autograd Function that autocast does not
cast; it runs in fp16 when its input is fp16 (casting the fp32 weight itself) and in fp32 otherwise.
So the input features are cast to fp16, as autocast casts the input of a dense convolution (ours
take fp16 features too), and every layer then runs in fp16 on fp32 parameters. The kmap and
downsample modes are set in the convolutions' configs: F.set_kmap_mode / F.set_downsample_mode
change nothing that conv3d reads in 2.1. Needs torchsparse 2.1.

    python3 torchsparse_training.py learn DIR NETWORKS_DIR --steps S --lr LR [--network minkunet42_0.5x_seg] [--out F]
    python3 torchsparse_training.py time DIR NETWORKS_DIR [--networks N ...] [--out F]
"""
import os
import tempfile

import numpy as np
import torch
import torchsparse
from torchsparse import SparseTensor
from torchsparse import nn as spnn
from torchsparse.nn import functional as F

import peer_common as pc

KMAP_MODES = ("hashmap_on_the_fly", "hashmap")


def conv(node, m, maps, cin):
    return spnn.Conv3d(cin, node["out_channels"], tuple(m["kernel_size"]), stride=tuple(m["stride"]),
                       bias=bool(node.get("bias", False)), transposed=bool(m.get("mirrors")))


def build(name, path):
    model, description = pc.build_from_description(
        path, conv=conv, batch_norm=spnn.BatchNorm, relu=lambda: spnn.ReLU(False), add=lambda a, b: a + b,
        concat=torchsparse.cat, free_intermediates=True)
    return model.cuda().train(), description


def set_modes(model, kmap_mode, name):
    """The kmap mode, and the downsample mode as torchsparse_networks.py chooses it (2x2x2 stride-2 maps equal
    ours in "spconv" mode, 3x3x3 stride-2 outputs are floor(x / 2) in "minkowski" mode), in the config every
    convolution reads: its own (tuned) one, else the shared default."""
    configs = [F.conv_config.get_default_conv_config()]
    configs += [m._config for m in model.modules() if isinstance(m, spnn.Conv3d) and m._config is not None]
    for config in configs:
        config.kmap_mode = kmap_mode
        config.downsample_mode = "spconv" if name.startswith("minkunet42") else "minkowski"


def forward(model, feats, coords):
    return model(SparseTensor(feats.half(), coords))[0].feats


class Tunable(torch.nn.Module):
    """What torchsparse.tune can time with its backward: the network under fp16 autocast (its own autocast,
    enabled only with enable_fp16, would also halve the parameters), returning the output features."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, x):
        with torch.autocast("cuda", dtype=torch.float16):
            return self.network(x)[0].feats


def tune(model, sample, name):
    """torchsparse.tune with its backward on the sample (hashmap_on_the_fly, shifted coordinates); the error,
    if it failed (the convolutions then untuned)."""
    set_modes(model, "hashmap_on_the_fly", name)
    default = F.conv_config.get_default_conv_config()
    saved = dict(default.items())  # tune writes the last group's choice into the shared default too
    error = None
    try:
        with tempfile.TemporaryDirectory() as save_dir:
            torchsparse.tune(Tunable(model), [SparseTensor(sample["feats"].half(), sample["shifted"])], n_samples=1,
                             enable_fp16=False, save_dir=save_dir, tune_tag=name, tune_with_bwd=True, verbose=False,
                             skip_warning=True)
    except Exception as e:  # reported, not hidden
        error = repr(e)
        for m in model.modules():
            if isinstance(m, spnn.Conv3d):
                m._config = None
    default.update(saved)
    model.zero_grad(set_to_none=True)  # tune's backward passes accumulated gradients
    return error


def load_parameters(model, description, path):
    """Our initial parameters into the model, by name; every name in the file used, every parameter set,
    shapes equal (a 1x1x1 submanifold Conv3d keeps its kernel as [Cin, Cout]: our [1, Cin, Cout])."""
    tensors = pc.read_safetensors(path)
    targets = {}
    for node in description["nodes"]:
        if node["op"] not in ("conv", "batch_norm"):
            continue
        module = model.ops[node["name"].replace(".", "_")]
        if node["op"] == "conv":
            targets[node["name"] + ".weight"] = module.kernel
            if module.bias is not None:
                targets[node["name"] + ".bias"] = module.bias
        else:
            for field in ("weight", "bias", "running_mean", "running_var"):
                targets[f"{node['name']}.{field}"] = getattr(module, field)
    missing, unused = sorted(set(targets) - set(tensors)), sorted(set(tensors) - set(targets))
    if missing or unused:
        raise SystemExit(f"{path}: missing {missing[:5]} ({len(missing)} in all), unused {unused[:5]} ({len(unused)})")
    with torch.no_grad():
        for name, target in targets.items():
            value = tensors[name]
            if target.dim() == 2 and value.shape == (1, *target.shape):
                value = value[0]
            if tuple(value.shape) != tuple(target.shape):
                raise SystemExit(f"{path}: '{name}' is {list(value.shape)}, the model's {list(target.shape)}")
            target.copy_(torch.from_numpy(value))
    print(f"loaded {len(targets)} tensors from {path}")


def run_learn(args):
    torchsparse.backends.hash_rsv_ratio = 4  # as torchsparse_networks.py
    model, description = build(args.network, os.path.join(args.networks_dir, args.network + ".json"))
    load_parameters(model, description, os.path.join(args.dir, args.network + ".init.safetensors"))
    set_modes(model, "hashmap", args.network)
    classes, channels = model.out_channels[0], description["input_channels"]
    inputs = []
    for name, coords in pc.load_inputs(args.dir, shift=False).items():
        path = os.path.join(args.dir, name + ".labels.i32")
        if not os.path.exists(path):
            continue
        labels = np.fromfile(path, dtype=np.int32)
        feats = pc.read_features(args.dir, name, coords.shape[0], channels)
        if feats is None:
            raise SystemExit(f"{args.dir}: {name}.feats.f32 is not float32 [{coords.shape[0]}, {channels}]")
        if labels.shape[0] != coords.shape[0] or labels.min() < 0 or labels.max() >= classes:
            raise SystemExit(f"{path}: {labels.shape[0]} labels in [{labels.min()}, {labels.max()}], expected "
                             f"{coords.shape[0]} in [0, {classes})")
        inputs.append({"name": name, "coords": coords, "feats": feats,
                       "labels": torch.from_numpy(labels.astype(np.int64)).cuda()})
    if not inputs:
        raise SystemExit(f"{args.dir}: no input with <input>.labels.i32")
    print("inputs:", ", ".join(x["name"] for x in inputs))
    optimizer, scaler = pc.amp_sgd(model.parameters(), args.lr)
    losses, skipped = [], 0
    for step in range(args.steps):
        x = inputs[step % len(inputs)]
        scale = scaler.get_scale()
        loss = pc.amp_train_step(lambda: forward(model, x["feats"], x["coords"]), x["labels"], optimizer, scaler)
        losses.append(loss.item())
        skipped += scaler.get_scale() < scale
        if step % 25 == 0 or step + 1 == args.steps:
            print(f"step {step + 1:4d}/{args.steps}: loss {losses[-1]:.4f} (loss scale {scale:g})"
                  + ("" if step else "  <- first loss, from our initial parameters"))
    result = pc.report_header(
        f"torchsparse {torchsparse.__version__}",
        "batch 1, step i on input i % n (name order), a fresh SparseTensor per step (maps rebuilt; kmap mode "
        "hashmap on the coordinates as dumped), input features cast to fp16, forward in "
        "train mode under torch.autocast fp16, mean cross-entropy in fp32 against the dumped labels, GradScaler; "
        "initial parameters from our safetensors", benchmark="training_learning_peer")
    result.update({"network": args.network, "inputs": [{"input": x["name"], "voxels": int(x["coords"].shape[0])}
                                                        for x in inputs],
                   "steps": args.steps, "lr": args.lr, "optimizer": pc.OPTIMIZER, "kmap_mode": "hashmap",
                   "skipped_steps": int(skipped), "losses": losses})
    pc.write(result, args.out)


def runs_of(name, model, sample):
    error = tune(model, sample, name)
    runs = []
    for mode in KMAP_MODES:
        set_modes(model, mode, name)
        coords = sample["shifted"] if mode == "hashmap_on_the_fly" else sample["coords"]
        optimizer, scaler = pc.amp_sgd(model.parameters(), pc.TIME_LR)
        run = {"kmap_mode": mode, "tuned": error is None}
        if error:
            run["tune_error"] = error
        try:
            run.update(pc.time_training(lambda: forward(model, sample["feats"], coords), optimizer, scaler))
        except Exception as e:  # reported, not hidden
            run["error"] = repr(e)
        runs.append(run)
    return runs


def run_time(args):
    torchsparse.backends.hash_rsv_ratio = 4  # as torchsparse_networks.py
    runs = pc.time_training_networks(args, build, runs_of)
    result = pc.report_header(
        f"torchsparse {torchsparse.__version__}",
        pc.TRAINING_METHOD + "; TorchSparse: input features cast to fp16 (its convolution runs in the input's type), "
        "torchsparse.tune with tune_with_bwd on the sample first (hashmap_on_the_fly), then each kmap mode: "
        "hashmap_on_the_fly on coordinates shifted by multiples of 16, hashmap on them as dumped; downsample mode "
        "spconv for MinkUNet42, minkowski for the 3x3x3 stride-2 networks", benchmark="training_step_peer")
    result["runs"] = runs
    pc.write(result, args.out)


def main():
    def learn_arguments(p):
        p.add_argument("dir", help="what sparsekgen-bench-train --learn --dump wrote")
        p.add_argument("networks_dir", help="bench/networks")
        p.add_argument("--network", default="minkunet42_0.5x_seg", help="description name (default: %(default)s)")
        p.add_argument("--steps", type=int, required=True, help="training steps, as ours")
        p.add_argument("--lr", type=float, required=True, help="SGD learning rate, as ours")
        p.add_argument("--out", help="JSON results")

    args = pc.parse_training_time_args(
        __doc__, [("learn", "train from our initial parameters, record every step's loss", learn_arguments)])
    run_learn(args) if args.command == "learn" else run_time(args)


if __name__ == "__main__":
    main()
