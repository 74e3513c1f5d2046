"""Writes the workload files of bench/workloads/ (schemas/workload.schema.json): the convolution
layers of MinkUNet42 (TorchSparse's SparseResUNet42, widths 0.5 and 1.0), SparseResNet21D and the
CenterPoint nuScenes sparse backbone, with the maps they share and the inputs to tune on.

    python3 bench/workloads/make_workloads.py
"""
import json
import pathlib

HERE = pathlib.Path(__file__).parent
BN_RELU = ["scale_shift", "relu"]
BN = ["scale_shift"]
BN_RESIDUAL_RELU = ["scale_shift", "residual_add", "relu"]


class Workload:
    def __init__(self, name, description, inputs):
        self.doc = {"$schema": "../../schemas/workload.schema.json", "name": name, "description": description,
                    "dtype": "f16", "inputs": inputs, "maps": [], "layers": []}

    def map(self, name, coordinates, kernel_size, stride=(1, 1, 1), produces=None, mirrors=None):
        entry = {"name": name, "coordinates": coordinates, "kernel_size": list(kernel_size), "stride": list(stride)}
        if produces:
            entry["produces"] = produces
        if mirrors:
            entry["mirrors"] = mirrors
        if not any(m["name"] == name for m in self.doc["maps"]):
            self.doc["maps"].append(entry)
        return name

    def conv(self, name, map_name, cin, cout, epilogue=BN_RELU):
        self.doc["layers"].append({"name": name, "map": map_name, "in_channels": cin, "out_channels": cout,
                                   "epilogue": list(epilogue)})

    def res_block(self, name, level, cin, cout, k=(3, 3, 3)):
        subm = self.map(f"{level}.subm{''.join(map(str, k))}", level, k)
        # conv2's epilogue adds the shortcut (the block input, or the 1x1x1 projection) before the ReLU.
        if cin != cout:
            self.conv(f"{name}.shortcut", self.map(f"{level}.subm111", level, (1, 1, 1)), cin, cout, BN)
        self.conv(f"{name}.conv1", subm, cin, cout)
        self.conv(f"{name}.conv2", subm, cout, cout, BN_RESIDUAL_RELU)

    def write(self):
        path = HERE / f"{self.doc['name']}.json"
        path.write_text(json.dumps(self.doc, indent=2) + "\n")
        print("wrote", path)


def kitti(scans):
    return [{"scan": f"kitti_{i:06d}.bin", "columns": 4, "voxel_size": 0.05} for i in scans]


def minkunet42(width):
    c = [int(x * width) for x in (32, 32, 64, 128, 256, 256, 128, 96, 96)]
    w = Workload(f"minkunet42_{width:.1f}x",
                 f"TorchSparse SparseResUNet42 at width {width}: stem, 4 encoder stages (2x2x2 stride-2 down + 2 "
                 "residual blocks), 4 decoder stages (2x2x2 transposed up, concatenated skip, 2 residual blocks). "
                 "Tuned on kitti_000000-1, evaluated on kitti_000002-3.",
                 kitti([0, 1]))
    w.conv("stem.0", w.map("l0.subm333", "l0", (3, 3, 3)), 4, c[0])
    w.conv("stem.1", "l0.subm333", c[0], c[0])
    for k in range(4):
        level, next_level = f"l{k}", f"l{k + 1}"
        down = w.map(f"{level}.down", level, (2, 2, 2), (2, 2, 2), produces=next_level)
        w.conv(f"encoder{k}.down", down, c[k], c[k])
        w.res_block(f"encoder{k}.res0", next_level, c[k], c[k + 1])
        w.res_block(f"encoder{k}.res1", next_level, c[k + 1], c[k + 1])
    for k in range(4):
        coarse, fine = f"l{4 - k}", f"l{3 - k}"
        up = w.map(f"{coarse}.up", coarse, (2, 2, 2), (2, 2, 2), mirrors=f"{fine}.down")
        w.conv(f"decoder{k}.up", up, c[k + 4], c[k + 5])
        w.res_block(f"decoder{k}.res0", fine, c[k + 5] + c[3 - k], c[k + 5])
        w.res_block(f"decoder{k}.res1", fine, c[k + 5], c[k + 5])
    return w


def resnet21d():
    w = Workload("sparse_resnet21d",
                 "TorchSparse SparseResNet21D: stages of a 3x3x3 conv (stride 1, then 2) and 2 residual blocks at 16, "
                 "32, 64, 128 channels, then a (1, 3, 1) stride (1, 2, 1) conv.",
                 kitti([0, 1]))
    cin, level = 4, "l0"
    for s, (cout, stride) in enumerate([(16, 1), (32, 2), (64, 2), (128, 2)]):
        if stride == 1:
            conv = w.map(f"{level}.subm333", level, (3, 3, 3))
        else:
            conv = w.map(f"{level}.down333", level, (3, 3, 3), (2, 2, 2), produces=f"l{s}")
            level = f"l{s}"
        w.conv(f"stage{s}.conv", conv, cin, cout)
        w.res_block(f"stage{s}.res0", level, cout, cout)
        w.res_block(f"stage{s}.res1", level, cout, cout)
        cin = cout
    w.conv("stage4.conv", w.map(f"{level}.down131", level, (1, 3, 1), (1, 2, 1), produces="l4"), 128, 128)
    return w


def centerpoint():
    w = Workload("centerpoint_nuscenes_backbone",
                 "CenterPoint (nuScenes) sparse 3D backbone: 3x3x3 submanifold input conv, 2 basic blocks per stage at "
                 "16, 32, 64, 128 channels with 3x3x3 stride-2 convs between stages, then a (1, 1, 3) stride (1, 1, 2) "
                 "conv over z (spconv's (3, 1, 1) on (z, y, x)). Input: the real 80k-voxel CenterPoint input.",
                 [{"coordinates": "centerpoint_nuscenes_80k_coords.i32"}])
    w.conv("conv_input", w.map("l0.subm333", "l0", (3, 3, 3)), 5, 16)
    cin, level = 16, "l0"
    for s, cout in enumerate([16, 32, 64, 128]):
        if s > 0:
            down = w.map(f"{level}.down333", level, (3, 3, 3), (2, 2, 2), produces=f"l{s}")
            w.conv(f"conv{s + 1}.down", down, cin, cout)
            level = f"l{s}"
        for b in range(2):
            w.res_block(f"conv{s + 1}.block{b}", level, cout, cout)
        cin = cout
    w.conv("extra_conv", w.map("l3.down113", "l3", (1, 1, 3), (1, 1, 2), produces="l4"), 128, 128)
    return w


if __name__ == "__main__":
    for workload in (minkunet42(1.0), minkunet42(0.5), resnet21d(), centerpoint()):
        workload.write()
