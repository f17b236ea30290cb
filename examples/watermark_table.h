// Shared by the paper-style examples: trains a clean model and one watermarked model
// per trigger generator with the same seed (same initialisation and data order),
// verifies both against each key, and prints the table of Zhang et al.
//   --subset N     training samples (0 = all)      --epochs E   (default: the recipe's)
//   --trigger-size K (100)   --seed S (1)   --data-dir D   --threads T
#pragma once

#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include <torch/torch.h>

#include "wmark/data/catalog.h"
#include "wmark/data/subset.h"
#include "wmark/models/registry.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/recipe.h"
#include "wmark/train/trainer.h"
#include "wmark/util/runtime.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/embed.h"

namespace example {

inline std::string percent(double x) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << 100 * x << "%";
  return os.str();
}

inline int run_watermark_table(const std::string& dataset, int argc, char** argv) {
  std::int64_t subset = 0, test_subset = 0, epochs = 0, trigger_size = 100;
  std::uint64_t seed = 1;
  int threads = 0;
  std::optional<std::filesystem::path> data_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--subset") subset = std::atoll(value);
    else if (flag == "--test-subset") test_subset = std::atoll(value);  // quick runs: fewer test images
    else if (flag == "--epochs") epochs = std::atoll(value);
    else if (flag == "--trigger-size") trigger_size = std::atoll(value);
    else if (flag == "--seed") seed = std::strtoull(value, nullptr, 10);
    else if (flag == "--data-dir") data_dir = value;
    else if (flag == "--threads") threads = std::atoi(value);
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  try {
    wmark::configure_runtime(wmark::RuntimeOptions().threads(threads));
    auto splits = wmark::load_dataset(dataset, data_dir);
    splits.train = wmark::balanced_subset(splits.train, subset, seed);
    splits.test = wmark::balanced_subset(splits.test, test_subset, seed + 1);
    auto recipe = wmark::default_recipe(dataset);
    auto options = recipe.options.seed(seed);
    if (epochs > 0) options.epochs(epochs);
    const wmark::ModelSpec spec{splits.train.shape(), splits.train.num_classes};
    wmark::CheckpointInfo info{recipe.arch, spec, dataset, splits.train.normalization, 0, nlohmann::json::object()};

    const auto start = std::chrono::steady_clock::now();
    torch::manual_seed(seed);
    auto clean = wmark::model_registry().create(recipe.arch, spec);
    const double clean_accuracy = wmark::Trainer(clean, options, info).fit(splits.train, &splits.test).test_accuracy;
    wmark::ModuleClassifier clean_suspect(clean, splits.train.normalization, "clean model");
    wmark::Verifier verifier;

    std::cout << "\n" << dataset << ", " << recipe.arch << ", " << splits.train.size() << " training samples, "
              << options.epochs() << " epochs, " << trigger_size << " triggers, seed " << seed << "\n\n"
              << "| trigger | clean model test acc | watermarked test acc | trigger acc (watermarked) "
                 "| trigger acc (clean) | watermarked: decision, p-value | clean: decision, p-value |\n"
              << "|---|---|---|---|---|---|---|\n";
    int failures = 0;
    for (const std::string trigger : {"content", "unrelated", "noise"}) {
      wmark::TriggerSpec tspec;
      tspec.size = trigger_size;
      tspec.secret = wmark::experiment_secret(seed, "watermark-table");  // a reproducible table, not a defensible key
      tspec.data_dir = data_dir;
      tspec.label_policy = "auto";
      torch::manual_seed(seed);  // same initial weights as the clean model
      auto marked = wmark::model_registry().create(recipe.arch, spec);
      auto result = wmark::embed_trigger_watermark(
          marked, splits, options, wmark::TriggerWatermarkOptions().trigger(trigger).spec(tspec), info);
      wmark::ModuleClassifier marked_suspect(marked, splits.train.normalization, "watermarked model");
      const auto on_marked = verifier.verify(marked_suspect, result.key);
      const auto on_clean = verifier.verify(clean_suspect, result.key);
      failures += !on_marked.verified + on_clean.verified;
      std::cout << "| " << trigger << " | " << percent(clean_accuracy) << " | "
                << percent(result.clean_accuracy_after) << " | " << percent(on_marked.match_rate) << " | "
                << percent(on_clean.match_rate) << " | " << (on_marked.verified ? "verified" : "NOT verified")
                << ", " << on_marked.p_value << " | " << (on_clean.verified ? "VERIFIED (false positive)" : "not verified")
                << ", " << on_clean.p_value << " |\n";
    }
    const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60;
    std::cout << "\ntotal time: " << std::fixed << std::setprecision(1) << minutes << " min on "
              << at::get_num_threads() << " threads\n";
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\n";
    return 2;
  }
}

}  // namespace example
