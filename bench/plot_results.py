"""Plots of the benchmark results in bench/results/ for docs/: the kernel-map comparison with
TorchSparse, the forward-convolution timings, the backward against spconv, training loss curves
and training steps against TorchSparse, tuned tables against the default, the R-GCN against PyG,
warpgroup against warp MMA, and a network's stages under several dispatch configurations. Run
from the repository root:

    python3 bench/plot_results.py
"""
import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = pathlib.Path("bench/results")
IMAGES = pathlib.Path("docs/img")


def load(name):
    return json.loads((RESULTS / name).read_text())


def finish(fig, ax, ylabel, title, out, legend_columns=1):
    """Labels, legend and the write to docs/img that every plot ends with."""
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, ncol=legend_columns, loc="upper left" if legend_columns > 1 else "best")
    fig.tight_layout()
    fig.savefig(IMAGES / out, dpi=120)


def plot_kernel_maps(ours_file, peer_file, out):
    ours, peer = load(ours_file), load(peer_file)
    inputs = [r["input"] for r in ours["runs"]]
    by_mode = {}
    for r in peer["runs"]:
        by_mode.setdefault(r["kmap_mode"], {})[r["input"]] = r
    width = 0.27
    fig, ax = plt.subplots(figsize=(9, 4.2))
    xs = range(len(inputs))
    ax.bar([x - width for x in xs], [r["median_ms"] for r in ours["runs"]], width, label="sparsekgen", color="#1f77b4")
    ax.bar(list(xs), [by_mode["hashmap"][i]["median_ms"] for i in inputs], width,
           label="TorchSparse 2.1, kmap_mode=hashmap", color="#ff7f0e")
    fly = [by_mode["hashmap_on_the_fly"][i] for i in inputs]
    bars = ax.bar([x + width for x in xs], [r["median_ms"] for r in fly], width,
                  label="TorchSparse 2.1, hashmap_on_the_fly (default)", color="#ffbb78")
    for bar, run, reference in zip(bars, fly, ours["runs"]):
        if run["voxels_per_level"] != reference["voxels_per_level"]:
            bar.set_hatch("//")
            ax.annotate("wrong maps", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                        va="bottom", fontsize=7, rotation=90, xytext=(0, 3), textcoords="offset points")
    ax.set_xticks(list(xs), [i.replace(".bin", "").replace("_coords.i32", "") for i in inputs], fontsize=8)
    ax.set_ylabel("ms to build every map, median (lower is better)")
    ax.set_title(f"MinkUNet42 kernel maps, {ours['gpu']['name']}, {ours['date']}\n"
                 "5 submanifold 3x3x3 + 4 stride-2 2x2x2 (with output coordinates) + 4 transposed", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_ylim(0, max(r["median_ms"] for r in peer["runs"]) * 1.35)
    fig.tight_layout()
    fig.savefig(IMAGES / out, dpi=120)


def plot_dataflows(name, out):
    data = load(name)
    best = {}
    for r in data["runs"]:
        kind = ("split" if "igemmsplit" in r["kernel"] else "sorted" if "igemmsorted" in r["kernel"]
                else "fetch-on-demand" if "_fod_" in r["kernel"] else "gather-GEMM-scatter" if "_ggs_" in r["kernel"]
                else "unsorted")
        key = (r["scan"], r["in_channels"], kind)
        if key not in best or r["median_ms"] < best[key]["median_ms"]:
            best[key] = r
    cases = sorted({(k[0], k[1]) for k in best})
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.16
    kinds = ("unsorted", "sorted", "split", "fetch-on-demand", "gather-GEMM-scatter")
    for i, kind in enumerate(kinds):
        label = kind if "-" in kind else f"implicit GEMM {kind}" + (" S=3" if kind == "split" else "")
        ax.bar([x + (i - 2) * width for x in range(len(cases))], [best[(s, c, kind)]["median_ms"] for s, c in cases],
               width, label=label + " (fastest tile)")
    ax.set_xticks(list(range(len(cases))), [f"{s.replace('.bin', '')}\nC={c}" for s, c in cases], fontsize=7)
    finish(fig, ax, "ms, median (lower is better)", f"3x3x3 submanifold forward, fp16, {data['gpu']['name']}, {data['date']}", out)


def plot_conv_forward(name, out):
    data = load(name)
    default = [r for r in data["runs"] if r["default_kernel"]]
    labels = [f"{r['scan'].replace('.bin', '')}\nC={r['in_channels']}" for r in default]
    best = []
    for r in default:
        same = [o for o in data["runs"] if o["scan"] == r["scan"] and o["in_channels"] == r["in_channels"]]
        best.append(min(o["median_ms"] for o in same))
    fig, ax = plt.subplots(figsize=(9, 3.8))
    xs = range(len(default))
    ax.bar([x - 0.2 for x in xs], [r["median_ms"] for r in default], 0.4, label="default kernel")
    ax.bar([x + 0.2 for x in xs], best, 0.4, label="fastest kernel of the catalog")
    ax.set_xticks(list(xs), labels, fontsize=7)
    finish(fig, ax, "ms, median (lower is better)", f"3x3x3 submanifold forward, fp16, {data['gpu']['name']}, {data['date']}", out)


def plot_conv_backward(peer_name, out):
    """Per scan and channel count: our forward, input and weight gradients (stacked: the backward)
    against spconv's forward and backward kernel time, from the same device run."""
    data = load(peer_name)
    runs = data["runs"]
    labels = [f"{r['scan'].replace('.bin', '').replace('_lidar_top', '')}\nC={r['channels']}" for r in runs]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    xs = list(range(len(runs)))
    w = 0.2
    ax.bar([x - 1.5 * w for x in xs], [r["ours_ms"]["forward"] for r in runs], w, label="sparsekgen forward", color="#1f77b4")
    dgrad = [r["ours_ms"]["input_grad"] for r in runs]
    ax.bar([x - 0.5 * w for x in xs], dgrad, w, label="sparsekgen input grad", color="#6baed6")
    ax.bar([x - 0.5 * w for x in xs], [r["ours_ms"]["weight_grad"] for r in runs], w, bottom=dgrad,
           label="sparsekgen weight grad (stacked)", color="#c6dbef")
    ax.bar([x + 0.5 * w for x in xs], [r["spconv_kernel_ms"]["forward"] for r in runs], w,
           label=f"spconv {data['spconv']} forward", color="#d62728")
    ax.bar([x + 1.5 * w for x in xs], [r["spconv_kernel_ms"]["backward"] for r in runs], w,
           label="spconv backward (input + weight grad)", color="#ff9896")
    for x, r in zip(xs, runs):
        top = r["ours_ms"]["backward"]
        ax.text(x - 0.5 * w, top, f"{r['backward_speedup']:.2f}x", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(xs, labels, fontsize=7)
    finish(fig, ax, "ms per call, lower is better",
           f"3x3x3 submanifold backward, fp16 (label: spconv backward / ours), {data['gpu']}, {data['date']}", out)


def plot_tuned(names, out):
    """Network forward time with the tuned table against the heuristic default, per input."""
    bars = []
    for name in names:
        data = load(name)
        for run in data["runs"]:
            bars.append((f"{data['workload']}\n{run['input'].split('.')[0]}", run["tuned_forward_ms"],
                         run["default_forward_ms"]))
    fig, ax = plt.subplots(figsize=(10, 4))
    xs = range(len(bars))
    ax.bar([x - 0.2 for x in xs], [b[2] for b in bars], 0.4, label="heuristic default")
    ax.bar([x + 0.2 for x in xs], [b[1] for b in bars], 0.4, label="tuned table")
    for x, b in zip(xs, bars):
        ax.text(x + 0.2, b[1], f"{b[2] / b[1]:.2f}x", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(list(xs), [b[0] for b in bars], fontsize=6)
    finish(fig, ax, "forward ms, sum of layer medians (lower is better)", f"tuned table vs heuristic default (KITTI: scans not tuned on; CenterPoint: its tuning input), {data['gpu']['name']}, {data['date']}", out)


def plot_learning(ours_name, peer_name, out):
    """Training loss per step of the same model from the same initial parameters on the same scans."""
    ours, peer = load(ours_name), load(peer_name)
    fig, ax = plt.subplots(figsize=(8, 4))
    for data, label, color in ((ours, "sparsekgen", "#1f77b4"), (peer, peer["peer"], "#d62728")):
        losses = data["losses"]
        ax.plot(range(1, len(losses) + 1), losses, lw=0.8, alpha=0.35, color=color)
        window = 20  # the trend: a trailing mean over 20 steps (5 passes over the 4 scans)
        trend = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1])
                 for i in range(len(losses))]
        ax.plot(range(1, len(losses) + 1), trend, lw=2, color=color, label=f"{label} (line: mean of last {window})")
    ax.set_xlabel("training step (batch 1, cycling over 4 KITTI scans)")
    finish(fig, ax, "cross-entropy loss, lower is better",
           f"{ours['network']}, fp16, SGD, same initial parameters and data; {ours['gpu']['name']}, {ours['date']}", out)


def plot_training_step(ours_name, peer_names, out):
    """One mixed-precision training step per network and batch: ours broken into stages against each
    peer's step and its profiler kernel sum."""
    ours = load(ours_name)
    bars = []
    for net in ours["networks"]:
        for run in net["runs"]:
            bars.append((net["network"], run["batch"], run))
    peers = [load(name) for name in peer_names]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    xs = list(range(len(bars)))
    width = 0.8 / (1 + len(peers))
    stages = [("maps_ms", "maps"), ("map_extras_ms", "map extras"), ("forward_ms", "forward"),
              ("input_grad_ms", "input grad"), ("weight_grad_ms", "weight grad"),
              ("elementwise_ms", "element-wise"), ("optimizer_ms", "optimizer")]
    colors = ["#08306b", "#2171b5", "#4292c6", "#6baed6", "#9ecae1", "#c6dbef", "#deebf7"]
    bottoms = [0.0] * len(bars)
    for (key, label), color in zip(stages, colors):
        values = [b[2]["profiled_step"][key] for b in bars]
        ax.bar([x - 0.4 + width / 2 for x in xs], values, width, bottom=bottoms, color=color,
               label=f"sparsekgen {label}")
        bottoms = [b + v for b, v in zip(bottoms, values)]
    for x, b in zip(xs, bars):
        ax.plot([x - 0.4, x - 0.4 + width], [b[2]["step_ms"]] * 2, color="black", lw=1)
    peer_colors = ["#d62728", "#ff7f0e"]
    for p, (data, color) in enumerate(zip(peers, peer_colors)):
        steps, kernels = [], []
        for name, batch, _ in bars:
            runs = [r for r in data["runs"] if r.get("network") == name and r.get("batch") == batch and "step_ms" in r]
            best = min(runs, key=lambda r: r["step_ms"]) if runs else None
            steps.append(best["step_ms"] if best else 0)
            kernels.append(best["kernel_ms"] if best else 0)
        offset = -0.4 + width * (p + 1.5)
        ax.bar([x + offset for x in xs], steps, width, color=color, alpha=0.5, label=f"{data['peer']} step")
        ax.bar([x + offset for x in xs], kernels, width * 0.5, color=color, label=f"{data['peer']} kernel sum")
        for x, step, b in zip(xs, steps, bars):
            if step:
                ax.text(x + offset, step, f"{step / b[2]['step_ms']:.1f}x", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(xs, [f"{n.replace('_nuscenes_backbone', '')}\nbatch {b}" for n, b, _ in bars], fontsize=8)
    ax.set_ylim(top=ax.get_ylim()[1] * 1.5)  # room for the legend above the bars
    finish(fig, ax, "ms per training step, lower is better (black line: our step)",
           f"mixed-precision training step, maps rebuilt (label: peer step / ours); {ours['gpu']['name']}, "
           f"{ours['date']}", out, legend_columns=3)


def plot_python_frontend(prefix, out):
    """The Python package beside the C++ executor/trainer and the peers on MinkUNet42 1.0x: inference
    per scan and one training step per batch; wide bars end to end, narrow ones the GPU kernel sum."""
    def named(name):
        return load(f"{prefix}-{name}.json")
    python_infer, cpp = named("inference-python"), named("network-sparsekgen-cpp")
    torchsparse, spconv = named("network-torchsparse-2.1"), named("network-spconv-2.3.8")
    inputs = [r["input"] for r in python_infer["runs"]]

    def by_input(data, value):
        runs = {r["input"]: r for r in data["runs"]}
        return [value(runs[i]) for i in inputs]

    def best_mode(run, key):
        mode = min(run["modes"].values(), key=lambda m: m["end_to_end_ms"])
        return mode[key]

    cpp_kernels = by_input(cpp, lambda r: r["conv_kernels_alone_sum_ms"] + r["other_kernels_alone_sum_ms"])
    inference = [("sparsekgen Python", by_input(python_infer, lambda r: r["end_to_end_ms"]),
                  by_input(python_infer, lambda r: r["kernel_ms"]), "#08519c"),
                 ("sparsekgen C++ executor", by_input(cpp, lambda r: r["end_to_end_ms"]), cpp_kernels, "#6baed6"),
                 (torchsparse["peer"] + " (faster kmap mode)", by_input(torchsparse, lambda r: best_mode(r, "end_to_end_ms")),
                  by_input(torchsparse, lambda r: best_mode(r, "gpu_kernel_sum_ms")), "#d62728"),
                 (spconv["peer"], by_input(spconv, lambda r: r["end_to_end_ms"]),
                  by_input(spconv, lambda r: r["gpu_kernel_sum_ms"]), "#ff7f0e")]
    python_train, cpp_train = named("training-step-python"), named("training-step-sparsekgen-cpp")
    ts_train, sp_train = named("training-step-torchsparse-2.1"), named("training-step-spconv-2.3.8")
    batches = sorted({r["batch"] for r in python_train["runs"]})

    def by_batch(data, key):
        out = []
        for b in batches:
            runs = [r for r in data["runs"] if r["batch"] == b and key in r]
            out.append(min(runs, key=lambda r: r["step_ms"])[key] if runs else 0)
        return out

    cpp_runs = {r["batch"]: r for r in cpp_train["networks"][0]["runs"]}
    training = [("sparsekgen Python", by_batch(python_train, "step_ms"), by_batch(python_train, "kernel_ms"), "#08519c"),
                ("sparsekgen C++ trainer", [cpp_runs[b]["step_ms"] for b in batches], None, "#6baed6"),
                (ts_train["peer"], by_batch(ts_train, "step_ms"), by_batch(ts_train, "kernel_ms"), "#d62728"),
                (sp_train["peer"], by_batch(sp_train, "step_ms"), by_batch(sp_train, "kernel_ms"), "#ff7f0e")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    for ax, groups, labels in ((axes[0], inference, [i.replace(".bin", "") for i in inputs]),
                               (axes[1], training, [f"batch {b}" for b in batches])):
        width = 0.8 / len(groups)
        for g, (label, totals, kernels, color) in enumerate(groups):
            xs = [x - 0.4 + width * (g + 0.5) for x in range(len(labels))]
            ax.bar(xs, totals, width, color=color, alpha=0.45, label=f"{label} end to end")
            if kernels:
                ax.bar(xs, kernels, width * 0.5, color=color, label=f"{label} kernel sum")
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set_ylim(top=ax.get_ylim()[1] * 1.6)
    axes[0].set_ylabel("ms per inference, lower is better")
    axes[0].set_title(f"MinkUNet42 1.0x fp16 inference, maps rebuilt; {python_infer['gpu']['name']}, "
                      f"{python_infer['date']}", fontsize=9)
    axes[0].legend(fontsize=7, ncol=2, loc="upper left")
    finish(fig, axes[1], "ms per training step, lower is better", "one mixed-precision training step", out,
           legend_columns=1)


def plot_rgcn(name, out):
    """The 2-layer R-GCN per graph: end-to-end time of one call (bars) and its kernels alone (dots) for
    ours and PyG's two layers, fp32, hidden 16 and 64, inference and training step; log scale."""
    result = load(name)
    graphs = [g["graph"] for g in sorted(result["graphs"], key=lambda g: g["edges"])]
    labels = {g["graph"]: f"{g['graph']}{'*' if g['kind'] == 'synthetic' else ''}\n{g['edges'] / 1e3:,.0f}k edges"
              for g in result["graphs"]}
    libraries = [("sparsekgen", "sparsekgen", "tab:blue"), ("pyg_rgcnconv", "PyG RGCNConv", "tab:orange"),
                 ("pyg_fastrgcnconv", "PyG FastRGCNConv", "tab:green")]
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharey="row")
    width = 0.27
    for row, phase in enumerate(("inference", "training_step")):
        for col, hidden in enumerate((16, 64)):
            ax = axes[row][col]
            runs = {r["graph"]: r for r in result["runs"] if r["hidden"] == hidden and r["dtype"] == "fp32"}
            for i, (key, label, color) in enumerate(libraries):
                xs, ends, kernels, failed = [], [], [], []
                for g, graph in enumerate(graphs):
                    r = runs[graph][key][phase]
                    if "error" in r:
                        failed.append(g + (i - 1) * width)
                        continue
                    xs.append(g + (i - 1) * width)
                    ends.append(r["end_to_end_ms"])
                    kernels.append(r["kernel_ms"])
                ax.bar(xs, ends, width, color=color, label=f"{label}: end to end" if row == col == 0 else None)
                ax.scatter(xs, kernels, color="black", s=10, zorder=3,
                           label="kernels alone (profiler)" if row == col == 0 and i == 0 else None)
                for x in failed:
                    ax.text(x, 0.03, "out of memory", transform=ax.get_xaxis_transform(), rotation=90, ha="center",
                            va="bottom", fontsize=7, color=color)
            ax.set_yscale("log")
            ax.set_xticks(range(len(graphs)))
            ax.set_xticklabels([labels[g] for g in graphs], fontsize=7)
            ax.set_title(f"{'inference' if row == 0 else 'training step'}, hidden {hidden}, fp32", fontsize=9)
            if col == 0:
                ax.set_ylabel("ms per call (log scale, lower is better)")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"2-layer R-GCN on {result['gpu']['name']} ({result['date']}); * synthetic graph with the "
                 "benchmark's node, edge and relation counts", fontsize=9)
    fig.tight_layout()
    fig.savefig(IMAGES / out, dpi=120)


def plot_warpgroup_mma(name, out):
    """Per real scan and width, the fastest fp16 forward kernel of each dataflow with warp MMA
    (mma.sync, the default bundle) and with warpgroup MMA (wgmma, the Hopper bundle), as useful TFLOP/s."""
    result = load(name)
    runs = result["runs"]
    scans = sorted({r["scan"] for r in runs})
    widths = sorted({r["in_channels"] for r in runs})
    dataflows = ["implicit_gemm", "implicit_gemm_sorted", "implicit_gemm_split", "fetch_on_demand",
                 "gather_gemm_scatter"]
    kinds = [("tensor_core", "mma.sync (default bundle)", "tab:gray"),
             ("warpgroup_mma", "wgmma (Hopper bundle, sm_90a)", "tab:blue")]
    fig, axes = plt.subplots(len(scans), len(widths), figsize=(13, 3.2 * len(scans)), sharey=True, squeeze=False)
    width = 0.38
    for row, scan in enumerate(scans):
        for col, channels in enumerate(widths):
            ax = axes[row][col]
            for i, (math, label, color) in enumerate(kinds):
                best = []
                for dataflow in dataflows:
                    times = [r["useful_tflops"] for r in runs if r["scan"] == scan and r["in_channels"] == channels
                             and r["dataflow"] == dataflow and r["math"] == math]
                    best.append(max(times) if times else 0)
                ax.bar([x + (i - 0.5) * width for x in range(len(dataflows))], best, width, color=color,
                       label=label if row == col == 0 else None)
            ax.set_xticks(range(len(dataflows)))
            ax.set_xticklabels(["implicit\nGEMM", "sorted", "split", "fetch on\ndemand", "gather-GEMM-\nscatter"],
                               fontsize=7)
            voxels = next(r["voxels"] for r in runs if r["scan"] == scan)
            ax.set_title(f"{scan} ({voxels:,} voxels), Cin = Cout = {channels}", fontsize=9)
            if col == 0:
                ax.set_ylabel("useful TFLOP/s (higher is better)")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Fastest fp16 forward kernel per dataflow, 3x3x3 submanifold convolution, "
                 f"{result['gpu']['name']} ({result['date']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(IMAGES / out, dpi=120)


def plot_network_configurations(prefix, configurations, peer_name, out):
    """One network end to end per scan under several dispatch configurations, split into its stages,
    beside the peer's end to end and GPU kernel sum on the same coordinates."""
    runs = {label: load(f"{prefix}-{label}.json") for label, _ in configurations}
    first = next(iter(runs.values()))
    peer = load(peer_name) if peer_name else None
    inputs = [r["input"] for r in first["runs"]]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / (len(configurations) + (1 if peer else 0))
    stages = (("maps_ms", "maps", "#4c72b0"), ("convolutions_ms", "convolutions", "#dd8452"),
              ("elementwise_ms", "element-wise", "#55a868"))
    for i, (label, title) in enumerate(configurations):
        by_input = {r["input"]: r for r in runs[label]["runs"]}
        for x, name in enumerate(inputs):
            run = by_input[name]
            bottom = 0.0
            for key, stage, color in stages:
                value = run["profiled_run"][key]
                ax.bar(x + i * width, value, width, bottom=bottom, color=color, edgecolor="white",
                       label=stage if x == 0 and i == 0 else None)
                bottom += value
            ax.plot([x + i * width - width / 2, x + i * width + width / 2], [run["end_to_end_ms"]] * 2, color="black")
            ax.text(x + i * width, run["end_to_end_ms"], title, rotation=90, ha="center", va="bottom", fontsize=6)
    if peer:
        # The peer's end to end (its Python host time included) would dwarf the bars: its GPU kernel
        # sum is drawn, and its end to end written above.
        by_input = {r["input"]: r for r in peer["runs"] if r["network"] == first["network"]}
        j = len(configurations)
        for x, name in enumerate(inputs):
            if name in by_input:
                kernels = by_input[name]["gpu_kernel_sum_ms"]
                ax.bar(x + j * width, kernels, width, color="#c44e52",
                       label=f"{peer['peer']} GPU kernel sum" if x == 0 else None)
                ax.text(x + j * width, kernels, f"{peer['peer']}\nend to end\n{by_input[name]['end_to_end_ms']:.1f} ms",
                        ha="center", va="bottom", fontsize=6)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(inputs))],
                  [f"{n.split('.')[0]}\n{r['voxels']:,} voxels" for n, r in zip(inputs, first["runs"])], fontsize=7)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.25)
    finish(fig, ax, "ms per run, end to end (lower is better)",
           f"{first['network']} {first['dtype']}: bars, the stages of one profiled run; black lines, median end to end; "
           f"{first['gpu']['name']}, {first['date']}", out, legend_columns=3)


if __name__ == "__main__":
    IMAGES.mkdir(parents=True, exist_ok=True)
    plot_kernel_maps("2026-11-21-h200-minkunet42-kernel-maps.json",
                     "2026-11-21-h200-minkunet42-kernel-maps-torchsparse-2.1.json", "kernel-maps-h200.png")
    plot_conv_forward("2026-11-21-h200-conv-forward-real-scans.json", "conv-forward-h200.png")
    plot_dataflows("2026-11-21-h200-conv-forward-dataflows.json", "conv-dataflows-h200.png")
    plot_conv_backward("2026-12-02-h200-conv-backward-spconv-2.3.8.json", "conv-backward-h200.png")
    plot_learning("2026-12-02-h200-training-learning-sparsekgen.json",
                  "2026-12-02-h200-training-learning-torchsparse-2.1.json", "training-loss-h200.png")
    plot_training_step("2026-12-02-h200-training-step-sparsekgen.json",
                       ["2026-12-02-h200-training-step-torchsparse-2.1.json",
                        "2026-12-02-h200-training-step-spconv-2.3.8.json"], "training-step-h200.png")
    plot_tuned([f"2026-11-21-h200-tuned-vs-default-{w}.json" for w in
                ("minkunet42_1.0x", "minkunet42_0.5x", "sparse_resnet21d", "centerpoint_nuscenes_backbone")],
               "tuned-vs-default-h200.png")
    plot_python_frontend("2026-12-03-h200-python-frontend", "python-frontend-h200.png")
    plot_rgcn("2026-12-07-h100-rgcn-two-layer.json", "rgcn-h100.png")
    plot_warpgroup_mma("2026-12-07-h200-wgmma-vs-mma-sync.json", "wgmma-h200.png")
    plot_network_configurations("2026-12-07-h100-run1-network-minkunet42_1.0x-f16",
                                [("heuristic-mma-sync", "mma.sync, heuristic"),
                                 ("heuristic-both-bundles", "+ Hopper, heuristic"),
                                 ("tuned-both-bundles", "+ Hopper, tuned")],
                                None, "minkunet42-hopper-heuristic-h100.png")
    plot_network_configurations("2026-12-07-h100-run2-network-minkunet42_1.0x-f16",
                                [("tuned-mma-sync", "mma.sync, tuned"), ("tuned-both-bundles", "+ Hopper, tuned")],
                                "2026-12-07-h100-run2-spconv-2.3.8.json", "minkunet42-hopper-h100.png")
    print("wrote", ", ".join(str(p) for p in sorted(IMAGES.glob("*.png"))))
