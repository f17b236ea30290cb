// Times training epochs of mnist_cnn on MNIST with the library's Trainer.
// Prints one line per epoch and `cpp_samples_per_second=X` (mean of the timed epochs).
// Usage: bench_train [epochs=2] [threads=0 (all cores)] [batch=64] [data_dir] [samples=0 (all)]
// `samples` trains on a class-balanced subset, for short rounds that bench/compare_train.sh
// interleaves with the Python ones (throughput does not depend on which images).
#include <cstdlib>
#include <iostream>
#include <optional>

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

  wmark::set_log_level("warn");  // the figures below are the output
  const int used = wmark::configure_runtime(wmark::RuntimeOptions().threads(threads));
  auto data = wmark::load_dataset("mnist", dir);
  data.train = wmark::balanced_subset(data.train, samples, 0);
  torch::manual_seed(0);
  auto model = wmark::model_registry().create("mnist_cnn", {data.train.shape(), 10});
  auto options = wmark::default_recipe("mnist").options.epochs(epochs).batch_size(batch).seed(0);
  wmark::Trainer trainer(model, options);
  const auto result = trainer.fit(data.train);
  double total = 0;
  for (const auto& epoch : result.history) {
    std::cout << "cpp epoch " << epoch.epoch << ": " << epoch.samples_per_second << " samples/s, "
              << epoch.seconds << " s\n";
    total += epoch.samples_per_second;
  }
  std::cout << "cpp threads=" << used << " batch=" << batch << " samples=" << data.train.size() << "\n";
  std::cout << "cpp_samples_per_second=" << total / static_cast<double>(result.history.size()) << "\n";
  return 0;
} catch (const std::exception& error) {
  std::cerr << "bench_train: " << error.what() << "\n";
  return 2;
}
