// Training steps of whole networks on real scans: forward with batch statistics, cross-entropy
// loss, backward through every node, SGD update, every kernel map rebuilt per step.
//
//   sparsekgen-bench-train --network N.json [--network M.json ...] [--table T.json] [--out R.json]
//                          [--dump DIR] INPUT...
//     times one step per network and batch size (1, 2: consecutive inputs, the second with batch
//     index 1, an input repeated when there are too few): CUDA events around each step, median after warm-up; a
//     profiled step's breakdown (maps, map extras, forward, input and weight gradients, element-wise, optimizer); peak
//     device memory. Labels per output row from the row's height.
//   sparsekgen-bench-train --learn STEPS --network seg.json [--lr LR] [--out R.json] [--dump DIR] scan.bin:COLUMNS...
//     trains from TorchSparse-style initial parameters for STEPS steps (batch 1, cycling through the
//     scans) on a per-voxel class computed from the voxel's mean height and intensity, and records
//     every step's loss. --dump writes what bench/peers/torchsparse_training.py needs to train the
//     same model on the same data: <scan>.coords.i32, .feats.f32, .labels.i32 and
//     <network>.init.safetensors.
//
//   INPUT: scan.bin:COLUMNS (voxelized at --voxel-size, features the voxel's mean point columns) or
//   coords.i32 (int32 [N, 4] = batch, z, y, x; random features). Each network is timed on the inputs
//   of the kind its description's "inputs" name (scans or voxel files).
#include <algorithm>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/tools/CommandLine.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/NetworkTrainer.h"
#include "sparsekgen/RunReport.h"
#include "ApplicationBundles.h"
#include "sparsekgen/Safetensors.h"
#include "sparsekgen/TrainingParameters.h"
#include "sparsekgen/Verification.h"
#include "sparsekgen/Workload.h"

namespace {

using namespace sparsekgen;

struct Options {
  std::vector<std::string> networks, inputs;
  std::string table, out, dumpDir;
  float voxelSize = 0.05f, learningRate = 0.02f;
  int warmup = 5, iterations = 20, learnSteps = 0;
  std::vector<int> batches = {1, 2};
  bool allowMismatch = false;
};

// One scan or voxel file: coordinates (batch 0) and features with `columns` values per voxel.
struct Sample {
  std::string label;
  std::vector<Coordinate> coordinates;
  std::vector<float> features;
  int columns = 0;
};

Sample loadSample(const std::string &spec, float voxelSize, int channels) {
  Sample sample;
  if (auto colon = spec.rfind(':'); colon != std::string::npos) {
    const std::string path = spec.substr(0, colon);
    Voxels voxels =
        voxelizeCpu(loadPointFile(path, std::stoi(spec.substr(colon + 1))), voxelSize, VoxelReduction::MeanFeatures);
    sample.label = reports::baseName(path);
    sample.coordinates = std::move(voxels.coordinates);
    sample.features = std::move(voxels.meanFeatures);
    sample.columns = voxels.columns;
  } else {
    sample.label = reports::baseName(spec);
    sample.coordinates = loadZyxCoordinateFile(spec);
    std::mt19937 random(17);
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    sample.features.resize(sample.coordinates.size() * channels);
    for (auto &f : sample.features)
      f = unit(random);
    sample.columns = channels;
  }
  if (sample.columns != channels)
    throw RuntimeError(fmt::format("{}: {} feature columns, the network takes {}", spec, sample.columns, channels));
  return sample;
}

// Samples side by side as one batch, sample b with batch index b.
Sample batchOf(const std::vector<Sample> &samples) {
  Sample batch;
  batch.columns = samples.front().columns;
  for (size_t b = 0; b < samples.size(); ++b) {
    batch.label += (b ? "+" : "") + samples[b].label;
    for (Coordinate c : samples[b].coordinates) {
      c.batch = static_cast<int32_t>(b);
      batch.coordinates.push_back(c);
    }
    batch.features.insert(batch.features.end(), samples[b].features.begin(), samples[b].features.end());
  }
  return batch;
}

// The learnable target: one of 8 classes from the voxel's mean height (4 bins) and whether its mean
// intensity (the fourth column) is above 0.3.
std::vector<int32_t> heightIntensityClasses(const Sample &sample) {
  std::vector<int32_t> labels;
  for (size_t r = 0; r < sample.coordinates.size(); ++r) {
    const float z = sample.features[r * sample.columns + 2];
    const float intensity = sample.columns > 3 ? sample.features[r * sample.columns + 3] : 0.0f;
    const int height = z < -1.5f ? 0 : z < -0.5f ? 1 : z < 0.5f ? 2 : 3;
    labels.push_back(height * 2 + (intensity > 0.3f ? 1 : 0));
  }
  return labels;
}

// Labels of the output level's rows for timing: the row's z coordinate modulo the classes.
std::vector<int32_t> outputLabels(const Network &network, const std::vector<Coordinate> &coordinates) {
  const TensorShape &output = network.tensors.at(network.outputs.at(0));
  std::vector<int32_t> labels;
  for (const auto &c : levelCoordinatesCpu(network, coordinates, output.level))
    labels.push_back(((c.z % output.channels) + output.channels) % output.channels);
  return labels;
}

template <typename T> void writeRaw(const std::string &path, const std::vector<T> &values) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(T)));
  if (!out)
    throw RuntimeError(fmt::format("{}: cannot write the file", path));
}

struct DeviceBatch {
  DeviceBuffer coordinates, features, labels;
  TrainingBatch batch;
};
DeviceBatch upload(const Sample &sample, const std::vector<int32_t> &labels, uint32_t dtype) {
  DeviceBatch d;
  d.coordinates = DeviceBuffer::from(sample.coordinates);
  d.features = DeviceBuffer::from(encodeElements(sample.features, dtype));
  d.labels = DeviceBuffer::from(labels);
  d.batch = {d.coordinates.get(), d.features.get(), d.labels.get(), static_cast<int>(sample.coordinates.size()),
             static_cast<int>(labels.size())};
  return d;
}

nlohmann::json learn(Context &context, const ConfigTable *table, const Options &o) {
  if (o.networks.size() != 1)
    throw RuntimeError("--learn trains one network: give one --network");
  Network network = loadNetwork(o.networks[0]);
  const uint32_t dtype = dtypeFromName(network.dtype);
  NetworkParameters initial = initialTrainingParameters(network, 2026);
  std::vector<Sample> samples;
  std::vector<DeviceBatch> batches;
  for (const auto &spec : o.inputs) {
    samples.push_back(loadSample(spec, o.voxelSize, network.inputChannels));
    auto labels = heightIntensityClasses(samples.back());
    batches.push_back(upload(samples.back(), labels, dtype));
    if (!o.dumpDir.empty()) {
      const std::string stem = o.dumpDir + "/" + samples.back().label;
      writeRaw(stem + ".coords.i32", samples.back().coordinates);
      writeRaw(stem + ".feats.f32", samples.back().features);
      writeRaw(stem + ".labels.i32", labels);
    }
  }
  if (!o.dumpDir.empty())
    saveSafetensors(o.dumpDir + "/" + network.name + ".init.safetensors", initial, trainingParameterShapes(network));
  TrainerOptions options;
  options.learningRate = o.learningRate;
  NetworkTrainer trainer(context, network, initial, table, options);
  nlohmann::json losses = nlohmann::json::array();
  int skipped = 0;
  for (int step = 0; step < o.learnSteps; ++step) {
    TrainingStepResult r = trainer.step(batches[step % batches.size()].batch);
    losses.push_back(r.loss);
    skipped += !r.applied;
    if (step % 25 == 0 || step + 1 == o.learnSteps)
      fmt::print("step {:4d}/{}: loss {:.4f} (loss scale {:g}{})\n", step + 1, o.learnSteps, r.loss, r.lossScale,
                 r.applied ? "" : ", skipped: overflow");
  }
  nlohmann::json report = reports::reportHeader("training_learning", context);
  report["network"] = network.name;
  report["dtype"] = network.dtype;
  report["inputs"] = nlohmann::json::array();
  for (const auto &s : samples)
    report["inputs"].push_back({{"input", s.label}, {"voxels", s.coordinates.size()}});
  report["steps"] = o.learnSteps;
  report["optimizer"] =
      fmt::format("SGD lr {} momentum {} weight decay {}", options.learningRate, options.momentum, options.weightDecay);
  report["target"] = "8 classes per voxel: 4 bins of mean height (z < -1.5, -0.5, 0.5 m) x mean intensity > 0.3";
  report["skipped_steps"] = skipped;
  report["losses"] = losses;
  return report;
}

nlohmann::json timeNetwork(Context &context, const ConfigTable *table, const std::string &path,
                           const std::vector<Sample> &samples, const Options &o) {
  Network network = loadNetwork(path);
  const uint32_t dtype = dtypeFromName(network.dtype);
  NetworkTrainer trainer(context, network, initialTrainingParameters(network, 2026), table);
  nlohmann::json runs = nlohmann::json::array();
  for (int batchSize : o.batches) {
    // Consecutive inputs, repeated when there are fewer than the batch size (the label says so).
    std::vector<Sample> members;
    for (int b = 0; b < batchSize; ++b)
      members.push_back(samples[b % samples.size()]);
    Sample sample = batchOf(members);
    DeviceBatch batch = upload(sample, outputLabels(network, sample.coordinates), dtype);
    context.resetPeakPoolBytes();
    for (int i = 0; i < o.warmup; ++i)
      trainer.step(batch.batch);
    const double stepMs = medianMilliseconds([&] { trainer.step(batch.batch); }, 0, o.iterations);
    trainer.step(batch.batch, {.update = true, .profile = true});
    const TrainingStageTimes &t = trainer.stageTimes();
    const double peakMiB = context.peakPoolBytes() / 1048576.0;
    fmt::print("{} batch {} ({} voxels): step {:.2f} ms (maps {:.2f}, extras {:.2f}, forward {:.2f}, dgrad {:.2f}, "
               "wgrad {:.2f}, element-wise {:.2f}, optimizer {:.2f}), peak {:.0f} MiB\n",
               network.name, batchSize, sample.coordinates.size(), stepMs, t.maps, t.mapExtras, t.forward, t.inputGrad,
               t.weightGrad, t.elementwise, t.optimizer, peakMiB);
    nlohmann::json operations = nlohmann::json::array();
    std::vector<TrainingDispatch> slowest = trainer.dispatches();
    for (const auto &d : slowest)
      operations.push_back({{"layer", d.layer},
                            {"operation", d.operation},
                            {"kernel", d.kernel},
                            {"splits", d.splits},
                            {"ms", d.milliseconds}});
    std::sort(slowest.begin(), slowest.end(),
              [](const auto &a, const auto &b) { return a.milliseconds > b.milliseconds; });
    for (size_t i = 0; i < std::min<size_t>(5, slowest.size()); ++i)
      fmt::print("  {:7.3f} ms  {} {} ({})\n", slowest[i].milliseconds, slowest[i].layer, slowest[i].operation,
                 slowest[i].kernel);
    runs.push_back({{"batch", batchSize},
                    {"inputs", sample.label},
                    {"voxels", sample.coordinates.size()},
                    {"step_ms", stepMs},
                    {"profiled_step",
                     {{"total_ms", t.total},
                      {"maps_ms", t.maps},
                      {"map_extras_ms", t.mapExtras},
                      {"forward_ms", t.forward},
                      {"input_grad_ms", t.inputGrad},
                      {"weight_grad_ms", t.weightGrad},
                      {"elementwise_ms", t.elementwise},
                      {"optimizer_ms", t.optimizer}}},
                    {"peak_pool_mib", peakMiB},
                    {"convolution_operations", operations},
                    {"loss_scale", trainer.lossScale()}});
  }
  return {{"network", network.name}, {"dtype", network.dtype}, {"runs", runs}};
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  CLI::App app{"Times training steps of whole networks on real scans, or trains one for --learn steps and "
               "records its losses."};
  tools::applyConventions(app, "sparsekgen-bench-train");
  app.add_option("--network", o.networks, "network description (bench/networks/*.json); repeatable")->required();
  app.add_option("--table", o.table, "config table for dispatch (default: the heuristic)");
  app.add_flag("--allow-mismatch", o.allowMismatch, "accept a table tuned on another GPU or bundle");
  app.add_option("--out", o.out, "JSON results");
  app.add_option("--dump", o.dumpDir, "--learn: write inputs, labels and initial parameters for bench/peers/");
  app.add_option("--learn", o.learnSteps, "train for this many steps and record the losses")
      ->check(CLI::PositiveNumber);
  app.add_option("--lr", o.learningRate, "--learn: SGD learning rate")->capture_default_str();
  app.add_option("--batches", o.batches, "batch sizes to time")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--voxel-size", o.voxelSize, "voxel size for scans, metres")->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed steps first")->capture_default_str();
  app.add_option("--iterations", o.iterations, "timed steps per batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("inputs", o.inputs, "scan.bin:COLUMNS or coords.i32 (batch, z, y, x)")->required();
  if (int status = tools::parseCommandLine(app, argc, argv); status >= 0)
    return status;
  return tools::runReportingErrors("sparsekgen-bench-train", [&]() -> int {
    Context context(0, applicationBundles());
    ConfigTable table;
    if (!o.table.empty()) {
      table = ConfigTable::load(o.table);
      table.requireMatch(context.device().name, context.device().sm, context.bundleHash(), o.allowMismatch);
    }
    const ConfigTable *dispatchTable = o.table.empty() ? nullptr : &table;
    nlohmann::json report;
    if (o.learnSteps > 0) {
      report = learn(context, dispatchTable, o);
    } else {
      report = reports::reportHeader("training_step", context);
      report["networks"] = nlohmann::json::array();
      for (const auto &path : o.networks) {
        // Each network trains on the kind of input its description names: scans or voxel files.
        const Network network = loadNetwork(path);
        const bool scans = network.inputs.empty() || !network.inputs.front().scan.empty();
        std::vector<Sample> samples;
        for (const auto &spec : o.inputs)
          if ((spec.rfind(':') != std::string::npos) == scans)
            samples.push_back(loadSample(spec, o.voxelSize, network.inputChannels));
        if (samples.empty())
          throw RuntimeError(fmt::format("{}: none of the inputs is a {}", path, scans ? "scan" : "voxel file"));
        report["networks"].push_back(timeNetwork(context, dispatchTable, path, samples, o));
      }
      report["method"] = fmt::format(
          "one training step (maps rebuilt, forward with batch statistics, cross-entropy, backward, SGD with "
          "momentum on fp32 master weights, dynamic loss scaling for fp16): CUDA events around each step, median "
          "of {} after {} warm-up steps; breakdown from one profiled step (events around each stage, so launch "
          "gaps count); peak memory from the stream-ordered pool's high-water mark",
          o.iterations, o.warmup);
    }
    report["table"] = o.table.empty() ? "" : reports::baseName(o.table);
    report["bundle_hash"] = context.bundleHash();
    report["bundles"] = describeBundles(context.bundles());
    reports::writeReport(report, o.out);
    return 0;
  });
}
