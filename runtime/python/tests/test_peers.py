"""Parity with the peers on a real scan: the same model, the same weights and the same input run
through TorchSparse 2.1 or spconv 2.3 and through sparsekgen; both train-mode forwards and their
gradients (input features and every parameter) are compared with a float64 CPU reference (our
model in double precision), in fp32 and fp16.

The peers are not part of this project: each test is skipped, with the reason, where the GPU path
cannot run or the peer does not import. TorchSparse's backbones are its own code (the installed
package's ``backbones``), run once by TorchSparse and once on sparsekgen.torchsparse with the import
changed. Set SPARSEKGEN_PARITY_REPORT to a file to have every measured error appended to it as a
JSON line."""

import copy
import json
import os
import warnings

import pytest
import torch

from conftest import NO_RUN_NETWORK, RUN_NETWORK, backbones_on_sparsekgen, kitti_crop, run_exported
import sparsekgen
from sparsekgen import gpu, nn
from sparsekgen.checkpoints import load_torchsparse_state_dict, spconv_kernel

REASON = gpu.unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"GPU path unavailable: {REASON}")

# Relative L2 error against the float64 reference (outputs, gradients). fp16 rounds every operand
# and activation to 11 bits through tens of layers with batch statistics; fp32 runs may use TF32.
TOLERANCE = {torch.float32: (1e-2, 2e-2), torch.float16: (3e-2, 6e-2)}
CHANNELS = 4
# The loss is scaled before backward and the gradients unscaled, as torch.amp.GradScaler does: the
# unscaled gradients of a mean over ~30k values fall below fp16's normal range.
LOSS_SCALE = 2.0**10
# TorchSparse 2.1 builds a few strided levels without some of their voxels (seen on this crop in its
# default kmap mode: 1 of 1742 at stride 2, after which its coarser levels of SparseResUNet42 lacked
# up to 29 of 77). Its outputs are compared up to the first one missing rows (at most this
# fraction, compared on the rows it has); after that one (the outputs are in the order they are
# computed) its features differ where a dropped voxel was a neighbour, so the later outputs (on the
# rows both have) and its gradients are reported, not compared, and the test warns saying so.
PEER_MISSING_ROWS = {"torchsparse 2.1": 0.01}
# TorchSparse 2.1 computes fp32 weight gradients with TF32 mma.sync on the fp32 bits as they are
# (convolution_backward_wgrad_implicit_gemm_cuda.cu: no cvt.rna, so operands are truncated to 10
# mantissa bits), so its fp32 gradients get twice the fp16 limit (the first layer's weight
# gradient, a sum with much cancellation, was off by 6.6e-2 in fp32 on the H200; fp16 runs of
# both libraries by 4.1e-2).
PEER_TOLERANCE = {("torchsparse 2.1", torch.float32): (TOLERANCE[torch.float16][0], 2 * TOLERANCE[torch.float16][1])}


def report(**entry):
    path = os.environ.get("SPARSEKGEN_PARITY_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")


@pytest.fixture(scope="module")
def scan():
    """The KITTI crop shifted by a multiple of 16 to non-negative coordinates (spconv needs them;
    the shift keeps every stride-2 cell as it was)."""
    coords = kitti_crop()
    coords[:, 1:] -= torch.div(coords[:, 1:].min(0).values, 16, rounding_mode="floor") * 16
    feats = torch.randn(len(coords), CHANNELS, generator=torch.Generator().manual_seed(3))
    return coords, feats


def sorted_by_coordinates(coords: torch.Tensor, feats: torch.Tensor):
    """Rows in (batch, x, y, z) order, so outputs of different libraries line up."""
    c = coords.long().cpu()
    key = ((c[:, 0] * 2**16 + c[:, 1]) * 2**16 + c[:, 2]) * 2**16 + c[:, 3]
    order = torch.argsort(key)
    return c[order], feats.detach().double().cpu()[order]


def relative_l2(actual: torch.Tensor, expected: torch.Tensor, floor: float = 0.0) -> float:
    return ((actual.double().cpu() - expected).norm() / max(expected.norm().item(), floor, 1e-30)).item()


def backward_from(outputs) -> None:
    """Order independent loss: the sum over outputs of the mean square of their features (scaled)."""
    (sum(o.float().square().mean() for o in outputs) * LOSS_SCALE).backward()


def gradients(model, feats) -> dict:
    grads = {n: p.grad.detach().double().cpu() / LOSS_SCALE for n, p in model.named_parameters()}
    grads["input features"] = feats.grad.detach().double().cpu() / LOSS_SCALE
    return grads


def compare_outputs(name, expected, actual, limit, library, dtype) -> bool:
    """expected, actual: lists of (coords, feats) per output. Returns whether the library dropped
    rows (PEER_MISSING_ROWS), after which its later outputs are reported but not compared."""
    assert len(expected) == len(actual), name
    diverged = False
    for i, ((ec, ef), (ac, af)) in enumerate(zip(expected, actual)):
        ec, ef = sorted_by_coordinates(ec, ef)
        ac, af = sorted_by_coordinates(ac, af)
        missing = 0
        if not torch.equal(ec, ac):
            ours, theirs = set(map(tuple, ec.tolist())), set(map(tuple, ac.tolist()))
            missing = len(ours - theirs)
            mismatch = (f"{name} output {i}: {library} has {len(ac)} rows, the reference {len(ec)}; "
                        f"{len(theirs - ours)} of {library}'s are not the reference's (e.g. "
                        f"{sorted(theirs - ours)[:3]}), {missing} of the reference's missing (e.g. "
                        f"{sorted(ours - theirs)[:3]})")
            if not diverged:  # later levels lose more rows: a missing voxel's neighbours are built differently
                assert not theirs - ours and missing <= PEER_MISSING_ROWS.get(library, 0) * len(ec), mismatch
            common = torch.tensor([tuple(row) in theirs for row in ec.tolist()])
            ec, ef = ec[common], ef[common]
            af = af[torch.tensor([tuple(row) in ours for row in ac.tolist()])]
        assert torch.isfinite(af).all(), f"{name} output {i}: {library} wrote non-finite values"
        error = relative_l2(af, ef)
        report(test=name, library=library, dtype=str(dtype), what=f"output {i}", rows=len(ac),
               reference_rows_missing=missing, relative_l2=error, compared=not diverged)
        assert diverged or error < limit, f"{name} output {i}: {library} relative L2 error {error:.2e} >= {limit}"
        if missing and not diverged:
            warnings.warn(f"{mismatch}: the later outputs are not compared, nor {library}'s gradients")
            diverged = True
    return diverged


def gradient_floor(expected: dict) -> float:
    """1% of the median reference norm: a parameter whose gradient is near zero (a bias before batch
    norm) is judged on the model's scale."""
    norms = sorted(g.norm().item() for g in expected.values())
    return 0.01 * norms[len(norms) // 2]


def rounding_sensitivity(reference, coords, feats, expected, tensor, relative=2.0**-11) -> dict:
    """Per gradient tensor, how far the float64 gradients move when every weight and input feature
    is perturbed by ``relative`` (fp16's unit roundoff) at random: what rounding at that precision
    can do to them however exactly the rest is computed. SparseResUNet42's move by up to 1.6e-1
    (measured on the CPU, 2026-12-03): its fp16 gradients are judged against that, not only the
    fixed limit."""
    generator = torch.Generator().manual_seed(11)
    noisy = copy.deepcopy(reference)
    noisy.zero_grad(set_to_none=True)  # the copy carries the reference run's gradients
    with torch.no_grad():
        for p in noisy.parameters():
            p.mul_(1 + relative * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    feats = feats * (1 + relative * torch.randn(feats.shape, generator=generator, dtype=feats.dtype))
    moved = ours_run(noisy, coords, feats, torch.float64, tensor)[1]
    floor = gradient_floor(expected)
    return {k: relative_l2(moved[k], expected[k], floor) for k in expected}


def compare_gradients(name, expected: dict, actual: dict, limit, library, dtype, compared=True, sensitivity=None):
    """Per tensor relative L2 (denominator floored by gradient_floor); with ``sensitivity``
    (rounding_sensitivity) a tensor's limit is at least 3x how far rounding alone moves it."""
    assert expected.keys() == actual.keys(), name
    floor = gradient_floor(expected)
    limits = {k: max(limit, 3 * sensitivity[k]) if sensitivity else limit for k in expected}
    errors = {k: relative_l2(actual[k].reshape(expected[k].shape), expected[k], floor) for k in expected}
    worst = max(errors, key=lambda k: errors[k] / limits[k])
    report(test=name, library=library, dtype=str(dtype), what="gradients", tensors=len(expected),
           worst_relative_l2=max(errors.values()), median_relative_l2=sorted(errors.values())[len(errors) // 2],
           worst_against_limit=worst, its_error=errors[worst], its_limit=limits[worst], compared=compared)
    assert not compared or errors[worst] < limits[worst], \
        f"{name}: {library}'s gradient of {worst} has relative L2 error {errors[worst]:.2e} >= {limits[worst]:.2e}"


# ---------------------------------------------------------------------------------------------------
# TorchSparse 2.1: its own SparseResUNet42 and SparseResNet21D.

@pytest.fixture(scope="module")
def torchsparse_peer(tmp_path_factory):
    try:
        import torchsparse
        import torchsparse.backbones  # noqa: F401
    except Exception as error:  # an ImportError, or a missing CUDA extension
        pytest.skip(f"TorchSparse does not import ({error})")
    with backbones_on_sparsekgen(os.path.join(os.path.dirname(torchsparse.__file__), "backbones"),
                                 tmp_path_factory.mktemp("peer")) as ours:
        yield torchsparse, ours


def ours_run(model, coords, feats, dtype, tensor=sparsekgen.SparseTensor):
    """Outputs [(voxels, feats)] and the gradients by name (parameters and "input features") of our
    model, under autocast where ``dtype`` is a half type on the GPU."""
    feats = feats.clone().requires_grad_(True)
    with torch.autocast("cuda", dtype=dtype, enabled=feats.is_cuda and dtype != torch.float32):
        outputs = model(tensor(feats, coords))
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    backward_from([o.feats for o in outputs])
    # Our tensors' coords are TorchSparse 2.0's (scaled by the stride); 2.1 keeps the coarse grid's.
    return [(o.voxels, o.feats) for o in outputs], gradients(model, feats)


def torchsparse_run(model, coords, feats):
    """As ours_run, for TorchSparse's model (its dtype is the model's and the features')."""
    import torchsparse
    feats = feats.clone().requires_grad_(True)
    outputs = model(torchsparse.SparseTensor(feats, coords))
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    backward_from([o.feats for o in outputs])
    return [(o.coords, o.feats) for o in outputs], gradients(model, feats)


def compare_with_reference(test, dtype, expected, ours, theirs, peer, sensitivity=None):
    """expected, ours, theirs: (outputs, gradients) of the float64 reference, sparsekgen and the peer;
    sensitivity: rounding_sensitivity of the gradients, if measured."""
    runs = (("sparsekgen", ours), (peer, theirs))
    limits = {library: PEER_TOLERANCE.get((library, dtype), TOLERANCE[dtype]) for library, _ in runs}
    diverged = {library: compare_outputs(test, expected[0], outputs, limits[library][0], library, dtype)
                for library, (outputs, _) in runs}
    for library, (_, grads) in runs:
        compare_gradients(test, expected[1], grads, limits[library][1], library, dtype, not diverged[library],
                          sensitivity)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["f32", "f16"])
@pytest.mark.parametrize("name", ["SparseResUNet42", "SparseResNet21D"])
def test_torchsparse_backbones_match_torchsparse(torchsparse_peer, scan, name, dtype):
    """SparseResNet21D's stride-2 convolutions have 3x3x3 kernels: TorchSparse's default ("spconv")
    downsampling keeps every output a kernel offset reaches, ours (and TorchSparse's "minkowski"
    mode) only the cells holding an input. For it the peer runs in its "minkowski" mode, which only its
    "hashmap" kmap mode reads, both set in the convolution config TorchSparse 2.1 reads (its
    set_downsample_mode changes nothing conv3d reads); with room for every level's hash table (its
    default 2x drops voxels on some inputs); all restored afterwards."""
    torchsparse, ours_module = torchsparse_peer
    import torchsparse.nn.functional as F
    coords, feats = scan
    torch.manual_seed(0)
    peer = getattr(torchsparse.backbones, name)(in_channels=CHANNELS).cuda().train()
    ours = getattr(ours_module, name)(in_channels=CHANNELS).train()
    load_torchsparse_state_dict(ours, peer.state_dict())
    reference = copy.deepcopy(ours).double()
    rounded = feats.to(dtype)
    tensor = sparsekgen.torchsparse.SparseTensor
    expected = ours_run(reference, coords, rounded.double(), torch.float64, tensor)
    actual = ours_run(ours.cuda(), coords.cuda(), rounded.float().cuda(), dtype, tensor)
    config = F.conv_config.get_default_conv_config()
    previous = config.kmap_mode, config.downsample_mode, torchsparse.backends.hash_rsv_ratio
    if name == "SparseResNet21D":
        config.kmap_mode, config.downsample_mode = "hashmap", "minkowski"
    torchsparse.backends.hash_rsv_ratio = 4
    try:
        peer = peer.to(dtype)
        theirs = torchsparse_run(peer, coords.cuda(), rounded.cuda())
    finally:
        config.kmap_mode, config.downsample_mode, torchsparse.backends.hash_rsv_ratio = previous
    sensitivity = (rounding_sensitivity(reference, coords, rounded.double(), expected[1], tensor)
                   if dtype == torch.float16 else None)
    compare_with_reference(f"{name} {dtype}", dtype, expected, actual, theirs, "torchsparse 2.1", sensitivity)


# ---------------------------------------------------------------------------------------------------
# spconv 2.3: submanifold, strided and inverse convolutions with batch norm, against our equivalent.

@pytest.fixture(scope="module")
def spconv_peer():
    try:
        import spconv.pytorch as spconv
    except Exception as error:
        pytest.skip(f"spconv does not import ({error})")
    return spconv


def spconv_model(spconv):
    return spconv.SparseSequential(
        spconv.SubMConv3d(CHANNELS, 16, 3, bias=False, indice_key="subm1"), torch.nn.BatchNorm1d(16),
        torch.nn.ReLU(),
        spconv.SparseConv3d(16, 32, 2, stride=2, bias=False, indice_key="down1"), torch.nn.BatchNorm1d(32),
        torch.nn.ReLU(),
        spconv.SubMConv3d(32, 32, 3, bias=False, indice_key="subm2"),
        spconv.SparseInverseConv3d(32, 16, 2, bias=False, indice_key="down1"),
        spconv.SubMConv3d(16, 8, 1, bias=False, indice_key="head"))


def spconv_input(spconv, coords, feats):
    """spconv's axes are (z, y, x): indices (batch, z, y, x), spatial shape the extent rounded up to 16."""
    indices = coords[:, [0, 3, 2, 1]].contiguous()
    shape = [int(-(-(m + 1) // 16) * 16) for m in indices[:, 1:].max(0).values.tolist()]
    return spconv.SparseConvTensor(feats, indices, shape, batch_size=1)


def spconv_run(spconv, model, coords, feats, dtype):
    feats = feats.clone().requires_grad_(True)
    x = spconv_input(spconv, coords, feats)
    with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
        y = model(x)
    backward_from([y.features])
    grads = gradients(model, feats)
    for name, module in model.named_modules():
        if isinstance(module, spconv.conv.SparseConvolution):  # as ours: (x, y, z) kernel, "kernel"
            grads[f"{name}.kernel"] = spconv_kernel(grads.pop(f"{name}.weight"), tuple(reversed(module.kernel_size)),
                                                    "KRSC", "zyx", tuple(reversed(module.stride)))
    return [(y.indices[:, [0, 3, 2, 1]], y.features)], grads


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["f32", "f16"])
def test_spconv_model_matches_spconv(spconv_peer, scan, dtype):
    spconv = spconv_peer
    coords, feats = scan
    torch.manual_seed(0)
    peer = spconv_model(spconv).cuda().train()
    ours = sparsekgen.from_spconv(peer, spatial_order="zyx")
    reference = copy.deepcopy(ours).double()
    rounded = feats.to(dtype).float()
    expected = ours_run(reference, coords, rounded.double(), torch.float64)
    actual = ours_run(ours.cuda(), coords.cuda(), rounded.cuda(), dtype)
    theirs = spconv_run(spconv, peer, coords.cuda(), rounded.cuda(), dtype)
    compare_with_reference(f"spconv model {dtype}", dtype, expected, actual, theirs, "spconv 2.3")


@pytest.mark.skipif(not RUN_NETWORK, reason=NO_RUN_NETWORK)
def test_an_spconv_model_exported_runs_on_the_executor_as_in_spconv(spconv_peer, scan, tmp_path):
    """Converted by from_spconv, exported with its batch norms folded, run by the C++ executor in
    fp16: the output spconv computes in eval mode (fp32) on the same voxels."""
    spconv = spconv_peer
    coords, feats = scan
    torch.manual_seed(1)
    peer = spconv_model(spconv)
    with torch.no_grad():
        for module in peer.modules():
            if isinstance(module, torch.nn.BatchNorm1d):  # statistics a trained model has
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
    peer = peer.cuda().eval()
    x = spconv_input(spconv, coords.cuda(), feats.cuda())
    with torch.no_grad():
        y = peer(x)
    sample = sparsekgen.from_spconv_tensor(x)
    sample = sparsekgen.SparseTensor(sample.feats.cpu(), sample.coords.cpu())
    paths = tmp_path / "spconv.json", tmp_path / "spconv.safetensors"
    description = sparsekgen.export(sparsekgen.from_spconv(peer), sample, *map(str, paths), dtype="f16")
    assert [n["op"] for n in description["nodes"]].count("batch_norm") == 2
    outputs = run_exported(*paths, sample.coords, sample.feats, tmp_path)
    (name,) = description["outputs"]
    actual = torch.from_numpy(outputs[name]).reshape(len(sample.coords), -1)  # the input's level: its rows
    expected_coords, expected = sorted_by_coordinates(y.indices[:, [0, 3, 2, 1]], y.features)
    actual_coords, actual = sorted_by_coordinates(sample.coords, actual)
    assert torch.equal(expected_coords, actual_coords)
    error = relative_l2(actual, expected)
    report(test="spconv model exported to the C++ executor", library="sparsekgen executor", dtype="f16",
           what="output 0 against spconv 2.3 eval fp32", rows=len(actual), relative_l2=error)
    assert error < 2e-2, f"the executor's output differs from spconv's by {error:.2e} (relative L2)"
