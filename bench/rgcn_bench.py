#!/usr/bin/env python3
"""A 2-layer R-GCN (RGCNConv(F, H, act=relu) -> RGCNConv(H, classes), mean aggregation, root weight
and bias, as PyTorch Geometric's entity-classification example with node features) on the GPU:
sparsekgen.nn.RGCNConv (the graph bundle's kernels) against PyG's RGCNConv and FastRGCNConv with
the same parameters, side by side in one run.

Graphs: synthetic graphs with the node, edge and relation counts of the entity-classification
benchmarks (AIFB, MUTAG, BGS, AM: their data cannot be downloaded here; each generated with
relation r's share of edges proportional to 1 / (r + 1) and in-degrees skewed towards a few hubs,
and named synthetic in every result), and real graphs converted by bench/graphs/make_graphs.py
(WordNet 3.0, the Gene Ontology, UMLS) where --graphs names their folder. Features are random
(uniform [-1, 1)), labels random.

For each graph, hidden width H in --hidden (F = H) and type (fp32, fp16): inference (both layers,
no_grad) and a training step (forward, mean cross-entropy over every node, backward; no optimizer
step, the same for every library), each as the median of CUDA-event times around the Python call
(end to end, host work included; 20 runs after 5 warm-ups, 5 after 1 where one call takes over
50 ms) and the profiler's CUDA kernel time per call (kernels only; 5 runs, 1 for the slow ones).
Ours runs on the RelationGraph built once per graph (its build time is reported separately); PyG
sorts and groups the edges inside every call. fp16: every library under torch.autocast(float16) with
fp32 parameters and features (ours runs its f16 kernels, fp32 accumulation, there). A configuration a library cannot run (out of memory, an
unsupported type) is recorded with its error. Every configuration also records the relative error
of our output against PyG RGCNConv's with the same weights.

    python3 bench/rgcn_bench.py [--graphs DIR] [--hidden 16 64] [--out rgcn.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
import peer_common as pc  # noqa: E402

import sparsekgen  # noqa: E402
from sparsekgen import RelationGraph, nn, rgcn  # noqa: E402
from sparsekgen.graph import graph_runtime, load_graph  # noqa: E402

WARMUP, ITERATIONS, PROFILED_RUNS = 5, 20, 5
SLOW_S, SLOW_ITERATIONS = 0.05, 5  # a call over 50 ms: 1 warm-up, 5 timed runs, 1 profiled run

# (name, nodes, edges, relations, classes) of the entity-classification benchmarks.
SYNTHETIC = [("aifb", 8285, 29043, 45, 4), ("mutag", 23644, 74227, 23, 2), ("bgs", 333845, 916199, 103, 2),
             ("am", 1666764, 5988321, 133, 11)]
REAL = [("wordnet", 8), ("gene_ontology", 8), ("umls", 8)]


def synthetic_graph(nodes, edges, relations, seed):
    generator = torch.Generator(device="cuda").manual_seed(seed)
    shares = 1.0 / torch.arange(1, relations + 1, dtype=torch.float64, device="cuda")
    edge_type = torch.multinomial(shares, edges, replacement=True, generator=generator)
    src = torch.randint(0, nodes, (edges,), generator=generator, device="cuda")
    dst = (nodes * torch.rand(edges, generator=generator, device="cuda", dtype=torch.float64) ** 3).long()
    return torch.stack([src, dst.clamp(max=nodes - 1)]), edge_type


def slow(fn):
    """Whether one call of `fn` takes over SLOW_S (such configurations are timed fewer times)."""
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start > SLOW_S


def median_ms(fn, slow_call):
    return pc.median_ms(fn, warmup=1 if slow_call else WARMUP, iterations=SLOW_ITERATIONS if slow_call else ITERATIONS)


def kernel_ms(fn, slow_call):
    return pc.profiled_kernel_ms(fn, runs=1 if slow_call else PROFILED_RUNS)


class TwoLayer(torch.nn.Module):
    def __init__(self, make, features, hidden, classes, relations):
        super().__init__()
        self.conv1 = make(features, hidden, relations, first=True)
        self.conv2 = make(hidden, classes, relations, first=False)

    def forward(self, x, edges, types):
        return self.conv2(self.conv1(x, edges, types), edges, types)


def ours(cin, cout, relations, first):
    return nn.RGCNConv(cin, cout, relations, aggr="mean", act="relu" if first else None)


def pyg_layer(cls):
    """A PyG layer with the ReLU after it where it is the first (Sequential cannot pass the edges on)."""

    class Wrapped(torch.nn.Module):
        def __init__(self, cin, cout, relations, first):
            super().__init__()
            self.conv = cls(cin, cout, relations, aggr="mean")
            self.relu = first

        def forward(self, x, edges, types):
            y = self.conv(x, edges, types)
            return torch.relu(y) if self.relu else y

    return Wrapped


def copy_weights(source: TwoLayer, target: TwoLayer):
    """Our model's parameters into a PyG model (same names inside each conv)."""
    for name in ("conv1", "conv2"):
        mine = getattr(source, name)
        theirs = getattr(target, name).conv
        theirs.load_state_dict(mine.state_dict())


def measure(model, x, edges, types, labels, amp):
    """Inference and training-step times of `model`; `amp`: under torch.autocast fp16."""
    def infer():
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            return model(x, edges, types)

    def train():
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            out = model(x, edges, types)
        loss = torch.nn.functional.cross_entropy(out.float(), labels)
        loss.backward()
        for p in model.parameters():
            p.grad = None

    result = {}
    for label, fn in (("inference", infer), ("training_step", train)):
        try:
            slow_call = slow(fn)
            result[label] = {"end_to_end_ms": median_ms(fn, slow_call), "kernel_ms": kernel_ms(fn, slow_call),
                             "iterations": SLOW_ITERATIONS if slow_call else ITERATIONS}
        except (RuntimeError, torch.cuda.OutOfMemoryError) as error:
            result[label] = {"error": str(error).split("\n")[0][:300]}
            torch.cuda.empty_cache()
    return result


def sweep_first_layer(model, x32, prepared, amp):
    """The first layer's forward (bias + ReLU fused) on every forward kernel of the graph bundle of its
    type: {kernel: median ms}, and the kernel the runtime's rule picks. What the rule leaves on the table."""
    conv = model.conv1
    x = x32.half() if amp else x32
    weight = torch.cat([conv.relation_weights(), conv.root.unsqueeze(0)]).detach()
    types = "f16f16f16f32" if amp else "f32f32f32f32"
    times = {}
    for name in graph_runtime(x.device).kernel_names("forward"):
        if types not in name or "_ep_bias_relu" not in name:
            continue
        try:
            with torch.no_grad():
                times[name] = pc.median_ms(lambda: rgcn(x, weight, conv.bias, prepared, relu=True,
                                                        kernels={"forward": name}), warmup=3, iterations=10)
        except ValueError as error:  # a kernel that cannot take these channels
            times[name] = str(error)[:160]
    # The rule's choice: the name a launch without one reports.
    w = weight.to(x.dtype).contiguous()
    b = conv.bias.detach().float().contiguous()
    out = torch.empty((prepared.num_nodes, w.shape[2]), dtype=x.dtype, device=x.device)
    rule = sparsekgen.gpu._gpu.rgcn_forward(graph_runtime(x.device), prepared.device_graph, x.data_ptr(), w.data_ptr(),
                                            b.data_ptr(), out.data_ptr(), x.shape[1], w.shape[2],
                                            "f16" if amp else "f32", True, None,
                                            stream=torch.cuda.current_stream().cuda_stream)
    torch.cuda.synchronize()
    return {"kernels_ms": times, "rule_choice": rule}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", help="folder of real graphs made by bench/graphs/make_graphs.py")
    parser.add_argument("--hidden", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--only", nargs="+", help="graph names to run (default: all)")
    parser.add_argument("--out", default="rgcn.json")
    args = parser.parse_args()

    import torch_geometric
    from torch_geometric.nn import FastRGCNConv, RGCNConv

    result = pc.report_header(f"torch_geometric {torch_geometric.__version__} (RGCNConv, FastRGCNConv)",
                              __doc__.split("\n\n", 1)[1], benchmark="rgcn_two_layer")
    result.update({"sparsekgen": sparsekgen.__version__, "graph_bundle_hash": sparsekgen.gpu._gpu.graph_bundle_hash,
                   "warmup": WARMUP, "iterations": ITERATIONS, "profiled_runs": PROFILED_RUNS, "graphs": [],
                   "runs": []})
    graphs = [(name, "synthetic", nodes, edges, relations, classes) for name, nodes, edges, relations, classes
              in SYNTHETIC]
    if args.graphs:
        graphs += [(name, "real", None, None, None, classes) for name, classes in REAL]
    for name, kind, nodes, edge_count, relations, classes in graphs:
        if args.only and name not in args.only:
            continue
        if kind == "synthetic":
            edges, types = synthetic_graph(nodes, edge_count, relations, seed=len(name))
            label = f"{name} (synthetic, {name.upper()}'s counts)"
        else:
            edges, types, nodes, relations, _ = load_graph(os.path.join(args.graphs, f"{name}.json"))
            edges, types, label = edges.cuda(), types.cuda(), f"{name} (real)"
        graph_runtime(edges.device)
        torch.cuda.synchronize()
        start = time.perf_counter()
        prepared = RelationGraph(edges, types, nodes, relations, "mean", True)
        torch.cuda.synchronize()
        build_ms = (time.perf_counter() - start) * 1000
        info = {"graph": name, "label": label, "kind": kind, "nodes": nodes, "edges": int(edges.shape[1]),
                "relations": relations, "classes": classes, "our_graph_build_ms": build_ms,
                "largest_relation_edges": int(torch.bincount(types).max())}
        result["graphs"].append(info)
        print(f"== {label}: {nodes} nodes, {edges.shape[1]} edges, {relations} relations; graph built in "
              f"{build_ms:.2f} ms", flush=True)
        labels = torch.randint(0, classes, (nodes,), device="cuda")
        for hidden in args.hidden:
            torch.manual_seed(hidden)
            model = TwoLayer(ours, hidden, hidden, classes, relations).cuda()
            for layer in (model.conv1, model.conv2):
                with torch.no_grad():
                    layer.bias.uniform_(-0.1, 0.1)
            x32 = torch.rand(nodes, hidden, device="cuda") * 2 - 1
            peers = {}
            for peer, cls in (("pyg_rgcnconv", RGCNConv), ("pyg_fastrgcnconv", FastRGCNConv)):
                peer_model = TwoLayer(pyg_layer(cls), hidden, hidden, classes, relations).cuda()
                copy_weights(model, peer_model)
                peers[peer] = peer_model
            for amp in (False, True):
                run = {"graph": name, "hidden": hidden, "features": hidden, "classes": classes,
                       "dtype": "fp16" if amp else "fp32"}
                # fp16: every library under torch.autocast with fp32 parameters and features (PyG's
                # RGCNConv cannot take a module in half: its matmuls mix float and half); ours runs its
                # f16 kernels there.
                run["sparsekgen"] = measure(model, x32, prepared, None, labels, amp)
                reference = None
                for peer, peer_model in peers.items():
                    run[peer] = measure(peer_model, x32, edges, types, labels, amp)
                    if peer == "pyg_rgcnconv" and "error" not in run[peer]["inference"]:
                        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                            reference = peer_model(x32, edges, types).double()
                if reference is not None:
                    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                        mine = model(x32, prepared, None).double()
                    run["relative_error_vs_pyg_rgcnconv"] = float(
                        (mine - reference).abs().max() / reference.abs().max().clamp(min=1e-30))
                for phase in ("inference", "training_step"):
                    parts = []
                    for lib in ("sparsekgen", "pyg_rgcnconv", "pyg_fastrgcnconv"):
                        r = run[lib][phase]
                        parts.append(f"{lib} " + (f"{r['end_to_end_ms']:.3f} ms ({r['kernel_ms']:.3f} kernels)"
                                                  if "error" not in r else "error: " + r["error"][:80]))
                    print(f"  {name} H={hidden} {run['dtype']} {phase}: " + "; ".join(parts), flush=True)
                run["first_layer_forward_sweep"] = sweep_first_layer(model, x32, prepared, amp)
                result["runs"].append(run)
                torch.cuda.empty_cache()
        with open(args.out, "w") as f:  # after each graph: a later failure keeps what was measured
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
