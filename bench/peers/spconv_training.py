"""Times spconv 2.3 training steps beside sparsekgen-bench-train (same GPU, same run), on the inputs in DIR:
one mixed-precision training step of each network at batch 1 and 2 (peer_common.TRAINING_METHOD):
CUDA-event median, profiler kernel sum, peak memory. Each network is built from its description in
bench/networks/ as spconv_networks.py builds it (SubMConv3d, SparseConv3d, SparseInverseConv3d,
BatchNorm1d and ReLU on the features), default algorithm, a fresh SparseConvTensor per step (every
map rebuilt), on the coordinates shifted by multiples of 16 to be non-negative. spconv's convolutions
take fp16 under autocast themselves (custom_fwd casts their inputs); its strided 3x3x3 convolutions
output every reachable voxel, more than the descriptions' floor(x / 2). Needs spconv 2.3.

    python3 spconv_training.py time DIR NETWORKS_DIR [--networks N ...] [--out F]
"""
import spconv
import spconv.pytorch as sp
import torch

import peer_common as pc
import spconv_networks


def build(name, path):
    model, description = pc.build_from_description(
        path, conv=spconv_networks.conv,
        batch_norm=lambda c: spconv_networks.OnFeatures(torch.nn.BatchNorm1d(c)),
        relu=lambda: spconv_networks.OnFeatures(torch.nn.ReLU()),
        add=lambda a, b: a.replace_feature(a.features + b.features),
        concat=lambda ts: ts[0].replace_feature(torch.cat([t.features for t in ts], 1)), free_intermediates=True)
    return model.cuda().train(), description


def runs_of(name, model, sample):
    coords, batch = sample["shifted"], len(sample["inputs"])
    shape = [int(((coords[:, a].max().item() + 1 + 15) // 16) * 16) for a in (1, 2, 3)]
    forward = lambda: model(sp.SparseConvTensor(sample["feats"], coords, shape, batch))[0].features
    optimizer, scaler = pc.amp_sgd(model.parameters(), pc.TIME_LR)
    run = {"tuned": False}
    try:
        run.update(pc.time_training(forward, optimizer, scaler))
    except Exception as e:  # reported, not hidden
        run["error"] = repr(e)
    return [run]


def main():
    args = pc.parse_training_time_args(__doc__)
    runs = pc.time_training_networks(args, build, runs_of)
    result = pc.report_header(
        f"spconv {spconv.__version__}",
        pc.TRAINING_METHOD + "; spconv: default algorithm, not tuned, coordinates shifted by multiples of 16 to be "
        "non-negative, spatial shape the shifted extent rounded up to 16", benchmark="training_step_peer")
    result["runs"] = runs
    pc.write(result, args.out)


if __name__ == "__main__":
    main()
