// Times training epochs of a built-in architecture with the library's Trainer: mnist_cnn
// on MNIST with its recipe (Adam 2e-3), cifar_cnn or resnet18 on CIFAR-10 with its
// recipe's optimiser (SGD 0.05, momentum 0.9, weight decay 5e-4), no augmentation and
// no schedule either way, as the Python twin in bench/train_python.py.
// Prints one line per epoch and `cpp_samples_per_second=X` (mean of the timed epochs).
// Usage: bench_train [epochs=2] [threads=0 (all cores)] [batch=64] [data_dir] [samples=0 (all)]
//                    [arch=mnist_cnn]
// With WMARK_PROFILE=trace.json set, the autograd profiler records every op of the run
// into that Chrome trace (bench/profile_ops.py sums it per op, beside Python's).
// `samples` trains on a class-balanced subset, for short rounds that bench/compare_train.sh
// interleaves with the Python ones (throughput does not depend on which images).
#include <cstdlib>
#include <iostream>
#include <optional>

#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include "wmark/data/catalog.h"
#include "wmark/data/subset.h"
#include "wmark/models/registry.h"
#include "wmark/train/recipe.h"
#include "wmark/train/trainer.h"
#include "wmark/util/log.h"
#include "wmark/util/runtime.h"

int main(int argc, char** argv) try {
  const int epochs = argc > 1 ? std::atoi(argv[1]) : 2;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 0;
  const int batch = argc > 3 ? std::atoi(argv[3]) : 64;
  std::optional<std::filesystem::path> dir;
  if (argc > 4) dir = argv[4];
  const long samples = argc > 5 ? std::atol(argv[5]) : 0;
  const std::string arch = argc > 6 ? argv[6] : "mnist_cnn";
  const std::string dataset = arch == "mnist_cnn" ? "mnist" : "cifar10";

  wmark::set_log_level("warn");  // the figures below are the output
  const int used = wmark::configure_runtime(wmark::RuntimeOptions().threads(threads));
  const auto train = wmark::balanced_subset(wmark::load_training_split(dataset, dir), samples, 0);
  torch::manual_seed(0);
  auto model = wmark::model_registry().create(arch, {train.shape(), train.num_classes});
  auto options = wmark::default_recipe(dataset)
                     .options.epochs(epochs).batch_size(batch).seed(0).augment(false).schedule("none");
  wmark::Trainer trainer(model, options);
  std::optional<torch::autograd::profiler::RecordProfile> profile;
  if (const char* trace = std::getenv("WMARK_PROFILE")) profile.emplace(std::string(trace));
  const auto result = trainer.fit(train);
  profile.reset();  // writes the trace
  double total = 0;
  for (const auto& epoch : result.history) {
    std::cout << "cpp epoch " << epoch.epoch << ": " << epoch.samples_per_second << " samples/s, "
              << epoch.seconds << " s\n";
    total += epoch.samples_per_second;
  }
  std::cout << "cpp arch=" << arch << " threads=" << used << " batch=" << batch << " samples=" << train.size() << "\n";
  std::cout << "cpp_samples_per_second=" << total / static_cast<double>(result.history.size()) << "\n";
  return 0;
} catch (const std::exception& error) {
  std::cerr << "bench_train: " << error.what() << "\n";
  return 2;
}
