"""Writes the network descriptions of bench/networks/ (schemas/network.schema.json) and the tuning
workloads of bench/workloads/ (schemas/workload.schema.json) from one definition of each network:
MinkUNet42 (TorchSparse's SparseResUNet42, widths 0.5 and 1.0), SparseResNet21D and the CenterPoint
nuScenes sparse backbone. A workload lists the convolutions of its network with the ops the
runtime fuses into them (the unit tests check that the runtime's fusion plan yields exactly these).

    python3 bench/make_networks.py
"""
import json
import pathlib

HERE = pathlib.Path(__file__).parent


class Network:
    def __init__(self, name, description, inputs, input_channels):
        common = {"name": name, "description": description, "dtype": "f16", "inputs": inputs, "maps": []}
        self.network = {"$schema": "../../schemas/network.schema.json", **common, "input_channels": input_channels,
                        "nodes": [], "outputs": []}
        self.workload = {"$schema": "../../schemas/workload.schema.json", **common, "layers": []}
        self.channels = {"input": input_channels}

    def map(self, name, coordinates, kernel_size, stride=(1, 1, 1), produces=None, mirrors=None):
        entry = {"name": name, "coordinates": coordinates, "kernel_size": list(kernel_size), "stride": list(stride)}
        if produces:
            entry["produces"] = produces
        if mirrors:
            entry["mirrors"] = mirrors
        maps = self.network["maps"]
        if not any(m["name"] == name for m in maps):
            maps.append(entry)
        return name

    def node(self, name, op, channels, **fields):
        self.network["nodes"].append({"name": name, "op": op, **fields})
        self.channels[name] = channels
        return name

    def conv_bn(self, name, x, map_name, cout, relu=True, residual=None):
        """conv -> batch norm [-> + residual] [-> ReLU]; returns the last tensor."""
        epilogue = ["scale_shift"]
        y = self.node(name, "conv", cout, input=x, map=map_name, out_channels=cout)
        y = self.node(f"{name}.bn", "batch_norm", cout, input=y)
        if residual:
            epilogue.append("residual_add")
            y = self.node(f"{name}.add", "add", cout, inputs=[y, residual])
        if relu:
            epilogue.append("relu")
            y = self.node(f"{name}.relu", "relu", cout, input=y)
        self.workload["layers"].append({"name": name, "map": map_name, "in_channels": self.channels[x],
                                        "out_channels": cout, "epilogue": epilogue})
        return y

    def res_block(self, name, x, level, cout, k=(3, 3, 3)):
        """relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)), the shortcut a 1x1x1 conv + bn when widths differ."""
        subm = self.map(f"{level}.subm{''.join(map(str, k))}", level, k)
        shortcut = x
        if self.channels[x] != cout:
            shortcut = self.conv_bn(f"{name}.shortcut", x, self.map(f"{level}.subm111", level, (1, 1, 1)), cout,
                                    relu=False)
        y = self.conv_bn(f"{name}.conv1", x, subm, cout)
        return self.conv_bn(f"{name}.conv2", y, subm, cout, residual=shortcut)

    def concat(self, name, tensors):
        return self.node(name, "concat", sum(self.channels[t] for t in tensors), inputs=list(tensors))

    def write(self, output):
        self.network["outputs"] = [output]
        for folder, doc in (("networks", self.network), ("workloads", self.workload)):
            path = HERE / folder / f"{doc['name']}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(doc, indent=2) + "\n")
            print("wrote", path)


def kitti(scans):
    return [{"scan": f"kitti_{i:06d}.bin", "columns": 4, "voxel_size": 0.05} for i in scans]


def minkunet42(width, classes=None):
    """With `classes`, the segmentation model the training benchmark learns with: a 1x1x1 classifier
    with bias after the last block, its logits the output."""
    c = [int(x * width) for x in (32, 32, 64, 128, 256, 256, 128, 96, 96)]
    head = f", then a 1x1x1 classifier with bias to {classes} classes" if classes else ""
    n = Network(f"minkunet42_{width:.1f}x" + ("_seg" if classes else ""),
                f"TorchSparse SparseResUNet42 at width {width}: stem, 4 encoder stages (2x2x2 stride-2 down + 2 "
                f"residual blocks), 4 decoder stages (2x2x2 transposed up, concatenated skip, 2 residual blocks){head}. "
                "Tuned on kitti_000000-1, evaluated on kitti_000002-3.",
                kitti([0, 1]), 4)
    x = n.conv_bn("stem.0", "input", n.map("l0.subm333", "l0", (3, 3, 3)), c[0])
    x = n.conv_bn("stem.1", x, "l0.subm333", c[0])
    skips = [x]
    for k in range(4):
        level, next_level = f"l{k}", f"l{k + 1}"
        x = n.conv_bn(f"encoder{k}.down", x, n.map(f"{level}.down", level, (2, 2, 2), (2, 2, 2), produces=next_level),
                      c[k])
        x = n.res_block(f"encoder{k}.res0", x, next_level, c[k + 1])
        x = n.res_block(f"encoder{k}.res1", x, next_level, c[k + 1])
        skips.append(x)
    for k in range(4):
        coarse, fine = f"l{4 - k}", f"l{3 - k}"
        up = n.map(f"{coarse}.up", coarse, (2, 2, 2), (2, 2, 2), mirrors=f"{fine}.down")
        x = n.conv_bn(f"decoder{k}.up", x, up, c[k + 5])
        x = n.concat(f"decoder{k}.cat", [x, skips[3 - k]])  # TorchSparse: cat([upsampled, skip])
        x = n.res_block(f"decoder{k}.res0", x, fine, c[k + 5])
        x = n.res_block(f"decoder{k}.res1", x, fine, c[k + 5])
    if classes:
        head_map = n.map("l0.subm111", "l0", (1, 1, 1))
        n.workload["layers"].append({"name": "classifier", "map": head_map, "in_channels": n.channels[x],
                                     "out_channels": classes, "epilogue": ["bias"]})
        x = n.node("classifier", "conv", classes, input=x, map=head_map, out_channels=classes, bias=True)
    n.write(x)


def resnet21d():
    n = Network("sparse_resnet21d",
                "TorchSparse SparseResNet21D: stages of a 3x3x3 conv (stride 1, then 2) and 2 residual blocks at 16, "
                "32, 64, 128 channels, then a (1, 3, 1) stride (1, 2, 1) conv.",
                kitti([0, 1]), 4)
    x, level = "input", "l0"
    for s, (cout, stride) in enumerate([(16, 1), (32, 2), (64, 2), (128, 2)]):
        if stride == 1:
            conv = n.map(f"{level}.subm333", level, (3, 3, 3))
        else:
            conv = n.map(f"{level}.down333", level, (3, 3, 3), (2, 2, 2), produces=f"l{s}")
            level = f"l{s}"
        x = n.conv_bn(f"stage{s}.conv", x, conv, cout)
        x = n.res_block(f"stage{s}.res0", x, level, cout)
        x = n.res_block(f"stage{s}.res1", x, level, cout)
    x = n.conv_bn("stage4.conv", x, n.map(f"{level}.down131", level, (1, 3, 1), (1, 2, 1), produces="l4"), 128)
    n.write(x)


def centerpoint():
    n = Network("centerpoint_nuscenes_backbone",
                "CenterPoint (nuScenes) sparse 3D backbone: 3x3x3 submanifold input conv, 2 basic blocks per stage at "
                "16, 32, 64, 128 channels with 3x3x3 stride-2 convs between stages, then a (1, 1, 3) stride (1, 1, 2) "
                "conv over z (spconv's (3, 1, 1) on (z, y, x)). Input: the real 80k-voxel CenterPoint input.",
                [{"coordinates": "centerpoint_nuscenes_80k_coords.i32"}], 5)
    x = n.conv_bn("conv_input", "input", n.map("l0.subm333", "l0", (3, 3, 3)), 16)
    level = "l0"
    for s, cout in enumerate([16, 32, 64, 128]):
        if s > 0:
            x = n.conv_bn(f"conv{s + 1}.down", x, n.map(f"{level}.down333", level, (3, 3, 3), (2, 2, 2),
                                                        produces=f"l{s}"), cout)
            level = f"l{s}"
        for b in range(2):
            x = n.res_block(f"conv{s + 1}.block{b}", x, level, cout)
    x = n.conv_bn("extra_conv", x, n.map("l3.down113", "l3", (1, 1, 3), (1, 1, 2), produces="l4"), 128)
    n.write(x)


if __name__ == "__main__":
    minkunet42(1.0)
    minkunet42(0.5)
    minkunet42(0.5, classes=8)
    resnet21d()
    centerpoint()
