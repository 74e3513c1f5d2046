"""The whole-network figures and tables of docs/performance.md, from bench/results/. Run from the
repository root:

    python3 bench/network_report.py [--prefix 2026-11-21-h200-network-] [--dtypes 2026-12-04-h200-network-]

--prefix: one run of sparsekgen-bench-network (tuned table and heuristic) beside the two peer scripts:
docs/img/network-{end-to-end,stages,layers}-h200.png and their tables. --dtypes: one run of every
network in fp16 (tuned and heuristic), bf16 and fp32 (NETWORK-DTYPE-MODE.json):
docs/img/network-dtypes-h200.png and its table. Bars are medians; where a run recorded them, whiskers
span its 10th to 90th percentile.
"""
import argparse
import json
import pathlib
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = pathlib.Path("bench/results")
IMAGES = pathlib.Path("docs/img")
NETWORKS = ["minkunet42_1.0x", "minkunet42_0.5x", "sparse_resnet21d", "centerpoint_nuscenes_backbone"]
TITLES = {"minkunet42_1.0x": "MinkUNet42 1.0x", "minkunet42_0.5x": "MinkUNet42 0.5x",
          "sparse_resnet21d": "SparseResNet21D", "centerpoint_nuscenes_backbone": "CenterPoint backbone"}


def short(label):
    return label.replace(".bin", "").replace("_coords.i32", "").replace("_lidar_top", "").replace("_scene0000_00", "")


class Results:
    def __init__(self, prefix):
        def load(name):
            return json.loads((RESULTS / f"{prefix}{name}.json").read_text())

        self.ours = {n: {r["input"]: r for r in load(n)["runs"]} for n in NETWORKS}
        self.heuristic = {n: {r["input"]: r for r in load(f"{n}-heuristic")["runs"]} for n in NETWORKS}
        self.header = load(NETWORKS[0])
        torchsparse, spconv = load("torchsparse-2.1"), load("spconv-2.3")
        self.torchsparse = {(r["network"], r["input"]): r for r in torchsparse["runs"]}
        self.spconv = {(r["network"], r["input"]): r for r in spconv["runs"]}
        self.inputs = list(self.ours[NETWORKS[0]])

    def torchsparse_best(self, network, label):
        """TorchSparse's faster kmap mode on this input (both are timed), and the mode."""
        modes = {m: v for m, v in self.torchsparse[(network, label)]["modes"].items() if "end_to_end_ms" in v}
        mode = min(modes, key=lambda m: modes[m]["end_to_end_ms"])
        return modes[mode], mode

    def layer_ratios(self, network):
        """(TorchSparse / ours, ours / cuBLAS) per matched layer, over every input."""
        peer, dense = [], []
        for (n, _), run in self.torchsparse.items():
            if n != network:
                continue
            for layer in run.get("layers", []):  # runs since 2026-12-08 compare layers on the first input only
                dense.append(layer["ours_tflops"] / layer["cublas_tflops"])
                if layer["torchsparse_ms"]:
                    peer.append((layer["torchsparse_ms"] / layer["ours_ms"], layer["name"], run["input"]))
        return peer, dense


def spread(run):
    """Whiskers from the median to the 10th and 90th percentiles, or none where the run has no spread."""
    if "end_to_end_p10_ms" not in run:
        return [0.0, 0.0]
    return [run["end_to_end_ms"] - run["end_to_end_p10_ms"], run["end_to_end_p90_ms"] - run["end_to_end_ms"]]


def draw_end_to_end_grid(inputs, series_of, title, out):
    """One panel per network: for each input a bar per series (label, runs by input, colour) at its
    median, with the run's spread as whiskers where it was recorded."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
    width = 0.2
    for ax, network in zip(axes.flat, NETWORKS):
        xs = range(len(inputs))
        for k, (label, runs, color) in enumerate(series_of(network)):
            recorded = any("end_to_end_p10_ms" in r for r in runs)
            ax.bar([x + (k - 1.5) * width for x in xs], [r["end_to_end_ms"] for r in runs], width, label=label,
                   color=color, yerr=list(zip(*[spread(r) for r in runs])) if recorded else None, capsize=2,
                   ecolor="black")
        ax.set_xticks(list(xs), [short(i) for i in inputs], fontsize=9, rotation=30 if len(inputs) > 4 else 0,
                      ha="right" if len(inputs) > 4 else "center")
        ax.set_ylabel("ms end to end, median (lower is better)", fontsize=9)
        ax.set_title(TITLES[network], fontsize=10)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(IMAGES / out, dpi=120)


def plot_end_to_end(res, out):
    def series_of(network):
        return [
            ("sparsekgen, tuned table", [res.ours[network][i] for i in res.inputs], "#1f77b4"),
            ("sparsekgen, heuristic", [res.heuristic[network][i] for i in res.inputs], "#aec7e8"),
            ("TorchSparse 2.1 (tuned, faster kmap mode)", [res.torchsparse_best(network, i)[0] for i in res.inputs],
             "#ff7f0e"),
            ("spconv 2.3", [res.spconv[(network, i)] for i in res.inputs], "#2ca02c"),
        ]
    draw_end_to_end_grid(res.inputs, series_of,
                         f"fp16 inference from voxel coordinates and features, maps included, "
                         f"{res.header['gpu']['name']}, {res.header['date']} (median of 50 runs; this run recorded no "
                         f"spread)", out)


def plot_stages(res, out):
    fig, ax = plt.subplots(figsize=(11, 4.2))
    network = "minkunet42_1.0x"
    stages = [("maps_ms", "kernel maps", "#9467bd"), ("convolutions_ms", "convolutions", "#1f77b4"),
              ("elementwise_ms", "concatenations", "#aec7e8")]
    xs = list(range(len(res.inputs)))
    bottom = [0.0] * len(xs)
    for key, label, color in stages:
        values = [res.ours[network][i]["profiled_run"][key] for i in res.inputs]
        ax.bar([x - 0.27 for x in xs], values, 0.26, bottom=bottom, label=f"sparsekgen: {label}", color=color)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.bar(xs, [res.ours[network][i]["profiled_run"]["map_extras_ms"] for i in res.inputs], 0.26,
           bottom=[res.ours[network][i]["profiled_run"]["maps_ms"] for i in res.inputs], color="#c5b0d5",
           hatch="//", label="sparsekgen: sort inputs (side stream, overlapping the convolutions)")
    ts = [res.torchsparse_best(network, i)[0] for i in res.inputs]
    ax.bar([x + 0.27 for x in xs], [t["gpu_kernel_sum_ms"] for t in ts], 0.26, color="#ff7f0e",
           label="TorchSparse 2.1: GPU kernel time")
    ax.bar([x + 0.27 for x in xs], [t["end_to_end_ms"] - t["gpu_kernel_sum_ms"] for t in ts], 0.26,
           bottom=[t["gpu_kernel_sum_ms"] for t in ts], color="#ffbb78", label="TorchSparse 2.1: rest of end to end")
    ax.set_xticks(xs, [short(i) for i in res.inputs], fontsize=9, rotation=15)
    ax.set_ylabel("ms (lower is better)")
    ax.set_title(f"MinkUNet42 1.0x: where the time goes (sparsekgen: one profiled run, CUDA events per stage), "
                 f"{res.header['gpu']['name']}, {res.header['date']}", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(IMAGES / out, dpi=120)


def plot_layers(res, out, network="minkunet42_1.0x", label="kitti_000000.bin"):
    run = res.torchsparse[(network, label)]
    layers = run["layers"]
    fig, ax = plt.subplots(figsize=(17, 5.5))
    xs = list(range(len(layers)))
    ax.plot(xs, [l["cublas_tflops"] for l in layers], "k_", markersize=9, label="cuBLAS, dense GEMM of the same useful size")
    ax.bar([x - 0.2 for x in xs], [l["ours_tflops"] for l in layers], 0.4, label="sparsekgen (tuned)", color="#1f77b4")
    ax.bar([x + 0.2 for x in xs], [l["torchsparse_tflops"] or 0 for l in layers], 0.4, label="TorchSparse 2.1 (tuned)",
           color="#ff7f0e")
    ax.set_xticks(xs, [l["name"] for l in layers], fontsize=8, rotation=90)
    ax.set_ylabel("useful TFLOP/s, 2 x pairs x Cin x Cout / time\n(higher is better)")
    ax.set_title(f"{TITLES[network]} per layer on {short(label)}, fp16, {res.header['gpu']['name']}, "
                 f"{res.header['date']}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(IMAGES / out, dpi=120)


def print_tables(res):
    print("| network | input | voxels | sparsekgen tuned (ms) | heuristic (ms) | TorchSparse 2.1 (ms) | its kmap mode "
          "| its kernels (ms) | spconv 2.3 (ms) | its kernels (ms) | vs TorchSparse | vs spconv |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for network in NETWORKS:
        for i in res.inputs:
            ours = res.ours[network][i]
            ts, mode = res.torchsparse_best(network, i)
            sp = res.spconv[(network, i)]
            print(f"| {TITLES[network]} | {short(i)} | {ours['voxels']:,} | {ours['end_to_end_ms']:.2f} | "
                  f"{res.heuristic[network][i]['end_to_end_ms']:.2f} | {ts['end_to_end_ms']:.2f} | {mode} | "
                  f"{ts['gpu_kernel_sum_ms']:.2f} | {sp['end_to_end_ms']:.2f} | {sp['gpu_kernel_sum_ms']:.2f} | "
                  f"{ts['end_to_end_ms'] / ours['end_to_end_ms']:.2f}x | {sp['end_to_end_ms'] / ours['end_to_end_ms']:.2f}x |")
    print()
    print("| input | maps (host) | sort inputs, side stream (host) | convolutions | their kernels alone | concatenations "
          "| profiled total | end to end (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for i in res.inputs:
        r = res.ours["minkunet42_1.0x"][i]
        p = r["profiled_run"]
        print(f"| {short(i)} | {p['maps_ms']:.3f} ({p['maps_host_ms']:.3f}) | {p['map_extras_ms']:.3f} "
              f"({p['map_extras_host_ms']:.3f}) | {p['convolutions_ms']:.3f} | {r['conv_kernels_alone_sum_ms']:.3f} | "
              f"{p['elementwise_ms']:.3f} | {p['total_ms']:.3f} | {r['end_to_end_ms']:.3f} |")
    print()
    print("| network | layers timed beside TorchSparse | geomean speed-up over TorchSparse's kernel | min | max "
          "| layers slower than TorchSparse | geomean of our TFLOP/s over cuBLAS's |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    slower = []
    for network in NETWORKS:
        peer, dense = res.layer_ratios(network)
        ratios = [p[0] for p in peer]
        total = sum(len(r.get("layers", [])) for (n, _), r in res.torchsparse.items() if n == network)
        slower += [(network, *p) for p in peer if p[0] < 1]
        print(f"| {TITLES[network]} | {len(ratios)} of {total} | {statistics.geometric_mean(ratios):.2f}x | "
              f"{min(ratios):.2f}x | {max(ratios):.2f}x | {sum(r < 1 for r in ratios)} | "
              f"{statistics.geometric_mean(dense):.2f} |")
    print()
    print("Slowest layers against TorchSparse (ratio = TorchSparse time / ours):")
    for network, ratio, name, label in sorted(slower, key=lambda s: s[1])[:12]:
        print(f"- {TITLES[network]}, {name} on {short(label)}: {ratio:.2f}")


DTYPE_SERIES = [("f16-tuned", "fp16, tuned table", "#1f77b4"), ("f16-heuristic", "fp16, heuristic", "#aec7e8"),
                ("bf16-heuristic", "bf16, heuristic", "#9467bd"), ("f32-heuristic", "fp32 (exact FFMA), heuristic", "#7f7f7f")]


def load_dtypes(prefix):
    runs = {(n, key): json.loads((RESULTS / f"{prefix}{n}-{key}.json").read_text())
            for n in NETWORKS for key, _, _ in DTYPE_SERIES}
    return runs, runs[(NETWORKS[0], DTYPE_SERIES[0][0])]


def plot_dtypes(prefix, out):
    runs, header = load_dtypes(prefix)
    inputs = [r["input"] for r in header["runs"]]
    draw_end_to_end_grid(
        inputs, lambda network: [(label, runs[(network, key)]["runs"], color) for key, label, color in DTYPE_SERIES],
        f"Every data type, maps included, KITTI scans at 0.05 m, {header['gpu']['name']}, {header['date']} "
        f"(bars: median of 50 runs; whiskers: 10th to 90th percentile)", out)


def print_dtype_table(prefix):
    runs, header = load_dtypes(prefix)
    print("| network | input | voxels | " + " | ".join(f"{label} (ms)" for _, label, _ in DTYPE_SERIES)
          + " | fp16 tuned: conv kernels alone (ms) |")
    print("|---|---|---:|" + "---:|" * (len(DTYPE_SERIES) + 1))
    for network in NETWORKS:
        for i, run in enumerate(runs[(network, DTYPE_SERIES[0][0])]["runs"]):
            cells = []
            for key, _, _ in DTYPE_SERIES:
                r = runs[(network, key)]["runs"][i]
                cells.append(f"{r['end_to_end_ms']:.2f} ({r['end_to_end_p10_ms']:.2f}-{r['end_to_end_p90_ms']:.2f})")
            print(f"| {TITLES[network]} | {short(run['input'])} | {run['voxels']:,} | " + " | ".join(cells)
                  + f" | {run['conv_kernels_alone_sum_ms']:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", help="the run beside the peers, e.g. 2026-11-21-h200-network-")
    parser.add_argument("--dtypes", help="the run in every data type, e.g. 2026-12-04-h200-network-")
    args = parser.parse_args()
    if not args.prefix and not args.dtypes:
        parser.error("give --prefix, --dtypes or both")
    if args.prefix:
        results = Results(args.prefix)
        plot_end_to_end(results, "network-end-to-end-h200.png")
        plot_stages(results, "network-stages-h200.png")
        plot_layers(results, "network-layers-h200.png")
        print_tables(results)
    if args.dtypes:
        plot_dtypes(args.dtypes, "network-dtypes-h200.png")
        print_dtype_table(args.dtypes)
