"""The GPU path (sparsekgen._gpu) against the CPU path: maps built on the device equal the CPU
builders' element by element; every convolution operation the bundle's kernels run (forward, input
gradient, weight gradient; submanifold, strided, transposed, generative; f16, bf16 and f32
features) agrees with the float64 reference on the same map; outputs poisoned with NaNs are fully
written; autocast and whole models (ours and TorchSparse's backbones) train as on the CPU.

Inputs are random clouds and a crop of a real KITTI scan (test/data). Every test is skipped, with
the reason, where the GPU path cannot run (no GPU module, no driver, no device)."""

import json
import os

import pytest
import torch

from conftest import kitti_crop, random_cloud
import sparsekgen
from sparsekgen import _cpu, gpu, nn
from sparsekgen.functional import conv3d
from sparsekgen.maps import forward_map, generative_map, transposed_map

REASON = gpu.unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"GPU path unavailable: {REASON}")

# Worst error relative to the reference's largest magnitude, per feature type: fp16 and bf16 round
# operands to 11 and 8 bits (fp32 accumulation); f32 kernels run tf32 or ffma.
TOLERANCE = {torch.float16: 4e-3, torch.bfloat16: 3e-2, torch.float32: 4e-3}


@pytest.fixture(scope="module")
def scan():
    return kitti_crop()


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    scale = expected.abs().max().item()
    return (actual.double().cpu() - expected).abs().max().item() / (scale if scale else 1.0)


def pair(coords, channels, dtype, seed=0):
    """The same features as a CPU float64 tensor and a CUDA tensor of ``dtype`` (rounded first, so the
    reference sees exactly the GPU's operands)."""
    feats = torch.randn(len(coords), channels, generator=torch.Generator().manual_seed(seed)).to(dtype)
    return (sparsekgen.SparseTensor(feats.double(), coords),
            sparsekgen.SparseTensor(feats.cuda(), coords.cuda()))


GEOMETRIES = [  # (kernel size, stride, dilation)
    (3, 1, 1), (5, 1, 1), (3, 1, 2), (2, 2, 1), (3, 2, 1), (1, 1, 1)]


@pytest.mark.parametrize("kernel,stride,dilation", GEOMETRIES)
def test_gpu_maps_equal_the_cpu_maps(scan, kernel, stride, dilation):
    cpu, cuda = pair(scan, 1, torch.float32)
    geometry = ((kernel,) * 3, (stride,) * 3, (dilation,) * 3)
    expected, out_stride = forward_map(cpu, *geometry)
    actual, _ = forward_map(cuda, *geometry)
    assert actual.device_map is not None
    assert torch.equal(actual.out_in_map.cpu(), expected.out_in_map)
    assert actual.pair_count == expected.pair_count
    assert torch.equal(cuda._cache.coordinates[out_stride].cpu(), cpu._cache.coordinates[out_stride])
    if stride > 1:
        coarse_cpu = cpu._cache.coordinates[out_stride]
        up_cpu = sparsekgen.SparseTensor._on_voxels(torch.zeros(len(coarse_cpu), 1), coarse_cpu, out_stride,
                                                    cpu._cache)
        up_gpu = sparsekgen.SparseTensor._on_voxels(torch.zeros(len(coarse_cpu), 1, device="cuda"),
                                                    cuda._cache.coordinates[out_stride], out_stride, cuda._cache)
        expected_up, _ = transposed_map(up_cpu, *geometry)
        actual_up, _ = transposed_map(up_gpu, *geometry)
        assert torch.equal(actual_up.out_in_map.cpu(), expected_up.out_in_map)
        expected_gen, expected_coords, _ = generative_map(up_cpu, *geometry)
        actual_gen, actual_coords, _ = generative_map(up_gpu, *geometry)
        assert torch.equal(actual_coords.cpu(), expected_coords)
        assert torch.equal(actual_gen.out_in_map.cpu(), expected_gen.out_in_map)


def reference(x64: sparsekgen.SparseTensor, weight64, kmap_cpu, dy64):
    """Forward, input and weight gradients in float64 on the GPU's own map (copied to the host)."""
    out_in = kmap_cpu.numpy()
    y = torch.from_numpy(_cpu.conv_forward(x64.feats.numpy(), weight64.numpy(), out_in))
    dx = torch.from_numpy(_cpu.conv_input_grad(dy64.numpy(), weight64.numpy(), out_in, len(x64)))
    dw = torch.from_numpy(_cpu.conv_weight_grad(x64.feats.numpy(), dy64.numpy(), out_in))
    return y, dx, dw


LAYERS = [  # (in, out, kernel, stride, transposed, generative, input gradient)
    (16, 32, 3, 1, False, False, True),
    (32, 32, 3, 1, False, False, True),
    (64, 64, 3, 1, False, False, True),
    (32, 64, 2, 2, False, False, True),
    (64, 32, 2, 2, True, False, True),
    (32, 16, 2, 2, True, True, True),
    (4, 16, 3, 1, False, False, False),  # a first layer: no input gradient
    (96, 32, 1, 1, False, False, True),
]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
@pytest.mark.parametrize("cin,cout,kernel,stride,transposed,generative,input_grad", LAYERS)
def test_every_operation_matches_the_float64_reference(scan, dtype, cin, cout, kernel, stride, transposed,
                                                       generative, input_grad):
    if transposed:  # upsample a level a strided convolution produced (of a quarter of the scan: generative
        # outputs are up to volume times the inputs)
        base64, base = pair(scan[: len(scan) // 4] if generative else scan, 1, dtype)
        geometry = ((kernel,) * 3, (stride,) * 3, (1,) * 3)
        _, coarse_stride = forward_map(base64, *geometry)
        forward_map(base, *geometry)
        coarse64, coarse = base64._cache.coordinates[coarse_stride], base._cache.coordinates[coarse_stride]
        feats = torch.randn(len(coarse64), cin, generator=torch.Generator().manual_seed(3)).to(dtype)
        x64 = sparsekgen.SparseTensor._on_voxels(feats.double(), coarse64, coarse_stride, base64._cache)
        x = sparsekgen.SparseTensor._on_voxels(feats.cuda(), coarse, coarse_stride, base._cache)
    else:
        x64, x = pair(scan, cin, dtype, seed=cin + cout)
    weight = (torch.randn(kernel**3, cin, cout, generator=torch.Generator().manual_seed(7)) / (cin * kernel**3)**0.5
              ).to(dtype)
    x.feats.requires_grad_(input_grad)
    w = weight.cuda().requires_grad_()
    y = conv3d(x, w, None, kernel, stride, transposed=transposed, generative=generative)
    assert y.feats.dtype == dtype
    dy = torch.randn(y.feats.shape, generator=torch.Generator().manual_seed(11)).to(dtype)
    y.feats.backward(dy.cuda())
    key = next(k for k in x._cache.maps if k[0] == ("generative" if generative else
                                                     "transposed" if transposed else "forward"))
    kmap = x._cache.maps[key]
    kmap = kmap[0] if isinstance(kmap, tuple) else kmap
    y64, dx64, dw64 = reference(x64, weight.double(), kmap.out_in_map.cpu(), dy.double())
    tolerance = TOLERANCE[dtype]
    assert relative_error(y.feats, y64) < tolerance
    assert relative_error(w.grad, dw64) < tolerance
    if input_grad:
        assert relative_error(x.feats.grad, dx64) < tolerance
    else:
        assert x.feats.grad is None


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_kernels_write_every_output_row(scan, dtype):
    """Outputs and input gradients filled with NaN first: every row is written (rows without any
    input get zeros), as the C++ verification checks every kernel."""
    _, x = pair(scan, 32, dtype)
    kmap, _ = forward_map(x, (3,) * 3, (2,) * 3, (1,) * 3)
    rt, stream = gpu.runtime(x.device), gpu.stream(x.device)
    w = (torch.randn(27, 32, 64, device="cuda") / 30).to(dtype)
    out = torch.full((kmap.output_count, 64), float("nan"), dtype=dtype, device="cuda")
    gpu._gpu.conv_forward(rt, kmap.device_map, x.feats.data_ptr(), w.data_ptr(), out.data_ptr(), 32, 64,
                          gpu.dtype_name(x.feats, "test"), stream)
    dy = torch.randn_like(out)
    dx = torch.full_like(x.feats, float("nan"))
    dw = torch.full((27, 32, 64), float("nan"), device="cuda")
    gpu._gpu.conv_backward(rt, kmap.device_map, x.feats.data_ptr(), w.data_ptr(), dy.data_ptr(), dx.data_ptr(),
                           dw.data_ptr(), 32, 64, gpu.dtype_name(x.feats, "test"), stream)
    torch.cuda.synchronize()
    assert torch.isfinite(out).all() and torch.isfinite(dx).all() and torch.isfinite(dw).all()


def test_dispatch_names_the_kernel_and_why(scan):
    _, x = pair(scan, 32, torch.float16)
    kmap, _ = forward_map(x, (3,) * 3, (1,) * 3, (1,) * 3)
    for operation in ("forward", "input_grad", "weight_grad"):
        chosen = gpu.runtime(x.device).dispatch(kmap.device_map, 32, 32, "f16", operation)
        assert chosen["source"] == "heuristic" and chosen["kernel"] and chosen["reason"]
    with pytest.raises(ValueError, match="Cin 3 Cout 5"):
        gpu.runtime(x.device).dispatch(kmap.device_map, 3, 5, "bf16", "forward")


def test_bad_inputs_are_refused_naming_what_is_wrong(scan):
    repeated = torch.tensor([[0, 1, 2, 3], [0, 5, 5, 5], [0, 1, 2, 3]], dtype=torch.int32, device="cuda")
    with pytest.raises(ValueError, match=r"duplicate coordinate \(batch 0, x 1, y 2, z 3\) at rows 0 and 2"):
        conv3d(sparsekgen.SparseTensor(torch.zeros(3, 8, device="cuda", dtype=torch.float16), repeated),
               torch.zeros(27, 8, 8, device="cuda", dtype=torch.float16))
    _, x = pair(scan, 8, torch.float16)
    with pytest.raises(ValueError, match="float16, bfloat16 or float32"):
        conv3d(x.replace(x.feats.double()), torch.zeros(27, 8, 8, dtype=torch.float64, device="cuda"))
    with pytest.raises(ValueError, match="features on cuda:0, weight on cpu"):
        conv3d(x, torch.zeros(27, 8, 8, dtype=torch.float16))


class SmallUNet(torch.nn.Module):
    """Two levels with a skip: submanifold, strided, transposed convolutions, batch norm, ReLU, cat."""

    def __init__(self, cin=4, width=16, classes=8):
        super().__init__()
        self.stem = torch.nn.Sequential(nn.Conv3d(cin, width, 3), nn.BatchNorm(width), nn.ReLU())
        self.down = torch.nn.Sequential(nn.Conv3d(width, 2 * width, 2, stride=2), nn.BatchNorm(2 * width), nn.ReLU(),
                                        nn.Conv3d(2 * width, 2 * width, 3), nn.BatchNorm(2 * width), nn.ReLU())
        self.up = nn.Conv3d(2 * width, width, 2, stride=2, transposed=True)
        self.head = nn.Conv3d(2 * width, classes, 1, bias=True)

    def forward(self, x):
        skip = self.stem(x)
        return self.head(sparsekgen.cat([self.up(self.down(skip)), skip]))


def gradients(model):
    return {name: p.grad.detach().double().cpu() for name, p in model.named_parameters()}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_a_model_under_autocast_trains_as_the_float64_reference(scan, dtype):
    torch.manual_seed(0)
    model = SmallUNet().train()
    reference_model = SmallUNet().train()
    reference_model.load_state_dict(model.state_dict())
    reference_model.double()
    model.cuda()
    x64, x = pair(scan, 4, torch.float32, seed=2)
    out64 = reference_model(x64)
    out64.feats.square().mean().backward()
    with torch.autocast("cuda", dtype=dtype):
        out = model(x)
        assert out.feats.dtype == dtype
    out.feats.float().square().mean().backward()
    assert relative_error(out.feats, out64.feats.detach()) < 5 * TOLERANCE[dtype]
    expected = gradients(reference_model)
    for name, grad in gradients(model).items():
        assert model.get_parameter(name).grad.dtype == torch.float32, name
        assert relative_error(grad, expected[name]) < 10 * TOLERANCE[dtype], name


def test_an_empty_batch_runs(scan):
    x = sparsekgen.SparseTensor(torch.zeros(0, 16, device="cuda", dtype=torch.float16),
                                torch.zeros(0, 4, dtype=torch.int32, device="cuda"))
    y = conv3d(x, torch.zeros(27, 16, 8, device="cuda", dtype=torch.float16))
    assert y.feats.shape == (0, 8)


@pytest.mark.skipif(not os.environ.get("SPARSEKGEN_TUNE") and not os.path.exists(
    os.path.join(os.path.dirname(sparsekgen.__file__), "bin", "sparsekgen-tune")), reason="no sparsekgen-tune binary")
def test_a_tuned_table_is_dispatched_through(scan, tmp_path):
    torch.manual_seed(0)
    model = SmallUNet(width=32).cuda()
    _, x = pair(scan, 4, torch.float32)
    table = sparsekgen.tune(model, [x], str(tmp_path / "table.json"), training=True, iterations=3, quiet=True)
    entries = json.load(open(table))["entries"]
    assert {e["key"]["operation"] for e in entries} == {"forward", "input_grad", "weight_grad"}
    assert all(e["key"]["epilogue"] == [] for e in entries)
    try:
        sparsekgen.set_config_table(table)
        with torch.autocast("cuda", dtype=torch.float16):
            model(x).feats.float().square().mean().backward()
        # the 64-channel submanifold layer of the coarse level: its input gradient is in the table
        coarse_map = x._cache.maps[("forward", (2,) * 3, (3,) * 3, (1,) * 3, (1,) * 3)]
        chosen = gpu.runtime(x.device).dispatch(coarse_map.device_map, 64, 64, "f16", "input_grad")
        assert chosen["source"] == "exact", chosen
    finally:
        sparsekgen.set_config_table(None)
