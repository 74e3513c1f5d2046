"""spconv 2.3 and TorchSparse 2.1 checkpoints into sparsekgen models, on the CPU path.

spconv's convolutions are computed here from their definition (offset k along spatial column a
reads input ``out * stride - padding + k * dilation`` with weight [Cout, k0, k1, k2, Cin]) in
float64 on the same cloud with its columns in spconv's (batch, z, y, x) order; the converted
checkpoint loaded into our modules must give the same features at our output voxels."""

import itertools

import pytest
import torch

from conftest import random_cloud
import sparsekgen
from sparsekgen import nn


def spconv_reference(coords_zyx, feats, weight, stride, dilation=1, inverse_of=None):
    """spconv's convolution by its definition. ``coords_zyx`` int [N, 4] (batch, z, y, x) in voxels
    of the input's level. Returns {output coordinate tuple: feature row}; with ``inverse_of`` (the
    finer level's coordinates) the inverse convolution, whose outputs are those finer voxels."""
    index = {tuple(c.tolist()): row for row, c in enumerate(coords_zyx)}
    sizes = weight.shape[1:4]
    if tuple(sizes) == (1, 1, 1) and stride == 1 and inverse_of is None:
        # spconv 2.3's 1x1x1 path (SparseConvolution.forward): features @ weight.view(Cin, Cout)
        matrix = weight.reshape(weight.shape[4], weight.shape[0])
        return {tuple(c): feats[row] @ matrix for row, c in enumerate(coords_zyx.tolist())}
    padding = [(s - 1) // 2 * dilation for s in sizes]  # where spconv's weights and ours agree
    out = {}
    if inverse_of is None:
        for c in coords_zyx.tolist():  # the outputs: every voxel some offset of an input reaches
            for k in itertools.product(*(range(s) for s in sizes)):
                numerators = [c[1 + a] + padding[a] - k[a] * dilation for a in range(3)]
                if all(n % stride == 0 for n in numerators):
                    out.setdefault((c[0], *(n // stride for n in numerators)), None)
        for o in out:
            acc = torch.zeros(weight.shape[0], dtype=torch.float64)
            for k in itertools.product(*(range(s) for s in sizes)):
                source = (o[0], *(o[1 + a] * stride - padding[a] + k[a] * dilation for a in range(3)))
                if source in index:
                    acc += weight[:, k[0], k[1], k[2], :] @ feats[index[source]]
            out[o] = acc
        return out
    for f in inverse_of.tolist():  # fine voxel f gets coarse input c where c * stride - padding + k * d == f
        acc = torch.zeros(weight.shape[0], dtype=torch.float64)
        for k in itertools.product(*(range(s) for s in sizes)):
            numerators = [f[1 + a] + padding[a] - k[a] * dilation for a in range(3)]
            if all(n % stride == 0 for n in numerators):
                source = (f[0], *(n // stride for n in numerators))
                if source in index:
                    acc += weight[:, k[0], k[1], k[2], :] @ feats[index[source]]
        out[tuple(f)] = acc
    return out


def zyx(coords_xyz: torch.Tensor) -> torch.Tensor:
    return coords_xyz[:, [0, 3, 2, 1]]


def assert_agrees(ours: sparsekgen.SparseTensor, expected: dict, subset: bool = False):
    voxels = zyx(ours.voxels)
    if not subset:
        assert len(expected) == len(voxels)
    for row, voxel in enumerate(voxels.tolist()):
        torch.testing.assert_close(ours.feats[row], expected[tuple(voxel)], rtol=1e-10, atol=1e-10)


CASES = [  # kernel size (z, y, x), stride, dilation, submanifold; spconv's padding (size - 1) // 2 * dilation
    ((3, 3, 3), 1, 1, True),
    ((5, 5, 5), 1, 1, True),
    ((3, 3, 3), 1, 2, True),
    ((1, 1, 1), 1, 1, True),
    ((2, 2, 2), 2, 1, False),
    ((3, 3, 3), 2, 1, False),
    ((3, 1, 2), 1, 1, True),  # anisotropic, even volume: z varies fastest in our offset order
    ((3, 2, 3), 2, 1, False),
]


@pytest.mark.parametrize("size_zyx,stride,dilation,submanifold", CASES)
def test_an_spconv_convolution_loads_with_its_semantics(size_zyx, stride, dilation, submanifold):
    coords = random_cloud(250, 10, batches=2, seed=sum(size_zyx) + stride)
    feats = torch.randn(len(coords), 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    weight = torch.randn(6, *size_zyx, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    size_xyz = tuple(reversed(size_zyx))
    conv = nn.Conv3d(5, 6, size_xyz, stride=stride, dilation=dilation).double()
    sparsekgen.load_spconv_state_dict(conv, {"weight": weight})
    y = conv(sparsekgen.SparseTensor(feats, coords))
    expected = spconv_reference(zyx(coords), feats, weight, stride, dilation)
    if submanifold:
        expected = {tuple(c): expected[tuple(c)] for c in zyx(coords).tolist()}  # spconv's subm keeps the inputs
    # strided: spconv's outputs are every voxel an offset reaches, ours the inputs floor-divided by the
    # stride (the same set for size 2, stride 2; a subset where a size is 3): compared on ours
    assert_agrees(y, expected, subset=not submanifold and 3 in size_zyx)


def test_an_spconv_inverse_convolution_is_our_transposed_one():
    coords = random_cloud(250, 10, batches=2, seed=4)
    feats = torch.randn(len(coords), 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    down_w = torch.randn(4, 2, 2, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    up_w = torch.randn(3, 2, 2, 2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    model = torch.nn.Sequential(nn.Conv3d(3, 4, 2, stride=2), nn.Conv3d(4, 3, 2, stride=2, transposed=True)).double()
    sparsekgen.load_spconv_state_dict(model, {"0.weight": down_w, "1.weight": up_w})
    y = model(sparsekgen.SparseTensor(feats, coords))
    coarse = spconv_reference(zyx(coords), feats, down_w, 2)
    coarse_coords = torch.tensor(list(coarse))
    expected = spconv_reference(coarse_coords, torch.stack(list(coarse.values())), up_w, 2,
                                inverse_of=zyx(coords))
    assert_agrees(y, expected)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_input = torch.nn.Sequential(nn.Conv3d(4, 8, 3), nn.BatchNorm(8), nn.ReLU())
        self.down = nn.Conv3d(8, 16, 3, stride=2, bias=True)
        self.head = nn.Conv3d(16, 2, 1)

    def forward(self, x):
        return self.head(self.down(self.conv_input(x)))


def spconv_checkpoint(prefix_of):
    """The state dict an spconv model with the same layers saves (KRSC weights, its bookkeeping buffer)."""
    g = torch.Generator().manual_seed(5)
    return {f"{prefix_of['conv_input']}.0.weight": torch.randn(8, 3, 3, 3, 4, generator=g),
            f"{prefix_of['conv_input']}.1.weight": torch.rand(8, generator=g),
            f"{prefix_of['conv_input']}.1.bias": torch.randn(8, generator=g),
            f"{prefix_of['conv_input']}.1.running_mean": torch.randn(8, generator=g),
            f"{prefix_of['conv_input']}.1.running_var": torch.rand(8, generator=g) + 0.5,
            f"{prefix_of['conv_input']}.1.num_batches_tracked": torch.tensor(7),
            f"{prefix_of['down']}.weight": torch.randn(16, 3, 3, 3, 8, generator=g),
            f"{prefix_of['down']}.bias": torch.randn(16, generator=g),
            f"{prefix_of['down']}.max_num_voxels_during_training": torch.zeros(1, dtype=torch.int32),
            f"{prefix_of['head']}.weight": torch.randn(2, 1, 1, 1, 16, generator=g)}


def test_names_are_mapped_and_the_checkpoint_goes_back_unchanged():
    names = {"input_block": "conv_input", "encoder.conv2": "down", "classifier": "head"}
    state = spconv_checkpoint({"conv_input": "input_block", "down": "encoder.conv2", "head": "classifier"})
    model = Block()
    sparsekgen.load_spconv_state_dict(model, state, names=names)
    assert torch.equal(model.conv_input[1].running_var, state["input_block.1.running_var"])
    assert model.head.kernel.shape == (16, 2)
    # spconv 2.3 computes a 1x1x1 convolution as features @ weight.view(Cin, Cout)
    torch.testing.assert_close(model.head.kernel, state["classifier.weight"].reshape(16, 2))
    back = sparsekgen.to_spconv_state_dict(model, names={v: k for k, v in names.items()})
    for key, value in state.items():
        if not key.endswith("max_num_voxels_during_training"):
            assert torch.equal(back[key], value), key


@pytest.mark.parametrize("layout", ["RSKC", "RSCK"])
def test_older_spconv_layouts_convert_to_the_same_model(layout):
    krsc = spconv_checkpoint({"conv_input": "conv_input", "down": "down", "head": "head"})
    reference = Block()
    sparsekgen.load_spconv_state_dict(reference, krsc)
    older = sparsekgen.to_spconv_state_dict(reference, layout=layout)
    model = Block()
    sparsekgen.load_spconv_state_dict(model, older, layout=layout)
    for (name, a), b in zip(reference.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_parameter():
    state = spconv_checkpoint({"conv_input": "conv_input", "down": "down", "head": "head"})
    wrong = dict(state, **{"down.weight": torch.randn(16, 2, 2, 2, 8)})
    with pytest.raises(ValueError, match=r"down.weight: the weight's kernel is \(2, 2, 2\).*model's \(3, 3, 3\)"):
        sparsekgen.load_spconv_state_dict(Block(), wrong)
    with pytest.raises(ValueError, match="layout 'KCRS'"):
        sparsekgen.load_spconv_state_dict(Block(), state, layout="KCRS")
    with pytest.raises(ValueError, match="spatial_order 'xxz'"):
        sparsekgen.load_spconv_state_dict(Block(), state, spatial_order="xxz")
    with pytest.raises(ValueError, match="Missing key"):
        sparsekgen.load_spconv_state_dict(Block(), {k: v for k, v in state.items() if not k.startswith("head")})
    with pytest.raises(ValueError, match="head.kernel"):
        sparsekgen.load_torchsparse_state_dict(Block(), dict(Block().state_dict(), **{"head.kernel": torch.zeros(3)}))


def test_a_torchsparse_checkpoint_loads_under_other_names():
    source = Block()
    renamed = {k.replace("conv_input", "stem"): v for k, v in source.state_dict().items()}
    model = Block()
    sparsekgen.load_torchsparse_state_dict(model, renamed, names={"stem": "conv_input"})
    for (name, a), b in zip(source.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
