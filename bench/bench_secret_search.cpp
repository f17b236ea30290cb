// The false accuser's search over secrets (issue #17): with derivable keys, the only way
// to make a key that "verifies" against an innocent model is to try secrets until the
// triggers one derives happen to get their labels from that model. This program plays
// that accuser against a clean mnist_cnn (trained here, 1 epoch on MNIST) and prints the
// best key found among N fresh secrets next to what the binomial null predicts.
// Usage: bench_secret_search [secrets=10000] [trigger=content] [label_policy=random]
//                            [triggers=100] [data_dir] [threads=0]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "wmark/data/catalog.h"
#include "wmark/models/registry.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/recipe.h"
#include "wmark/train/trainer.h"
#include "wmark/util/log.h"
#include "wmark/util/runtime.h"
#include "wmark/verify/statistics.h"
#include "wmark/watermark/scheme.h"
#include "wmark/watermark/trigger/trigger_generator.h"

int main(int argc, char** argv) try {
  const long secrets = argc > 1 ? std::atol(argv[1]) : 10000;
  const std::string trigger = argc > 2 ? argv[2] : "content";
  const std::string policy = argc > 3 ? argv[3] : "random";
  const long triggers = argc > 4 ? std::atol(argv[4]) : 100;
  std::optional<std::filesystem::path> dir;
  if (argc > 5) dir = argv[5];
  const int threads = argc > 6 ? std::atoi(argv[6]) : 0;

  wmark::set_log_level("warn");  // the figures below are the output
  wmark::configure_runtime(wmark::RuntimeOptions().threads(threads));
  const auto data = wmark::load_dataset("mnist", dir);
  torch::manual_seed(0);
  auto victim = wmark::model_registry().create("mnist_cnn", {data.train.shape(), 10});
  wmark::Trainer(victim, wmark::default_recipe("mnist").options.epochs(1).seed(0)).fit(data.train);
  victim->eval();
  const double accuracy = wmark::accuracy(*victim, data.test, c10::Device(c10::kCPU));

  auto generator = wmark::trigger_registry().create(trigger);
  const double chance = wmark::chance_rate_floor("trigger-set", {{"label_policy", policy}, {"generator", trigger}}, 10);
  std::vector<long> histogram(static_cast<std::size_t>(triggers) + 1, 0);
  long best = 0, verifying = 0;
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < secrets; ++i) {
    wmark::TriggerSpec spec;  // a fresh secret from the OS CSPRNG, as a forger would draw
    spec.size = triggers;
    spec.label_policy = policy;
    spec.sources = data.train;
    spec.data_dir = dir;
    const auto set = generator->generate(data.train, spec);
    const auto predicted = wmark::predict_labels(*victim, set.images, data.train.normalization, c10::Device(c10::kCPU));
    const long matches = predicted.eq(set.labels).sum().item<long>();
    ++histogram[static_cast<std::size_t>(matches)];
    best = std::max(best, matches);
    const double log10_p = wmark::binomial_upper_tail_log10(matches, triggers, chance);
    if (log10_p < -6 && static_cast<double>(matches) >= 0.5 * static_cast<double>(triggers)) ++verifying;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double mean = 0;
  for (std::size_t k = 0; k < histogram.size(); ++k) mean += static_cast<double>(k * histogram[k]);
  mean /= static_cast<double>(secrets) * static_cast<double>(triggers);
  // Under the null each key's count is at most Binomial(n, chance) (a union bound over N tries).
  const double expected_tail = std::log10(static_cast<double>(secrets)) +
                               wmark::binomial_upper_tail_log10(best, triggers, chance);
  std::cout << "victim: clean mnist_cnn, test accuracy " << accuracy << "\n"
            << "secrets tried: " << secrets << " (" << trigger << " triggers, " << policy << " labels, " << triggers
            << " per key), " << seconds << " s\n"
            << "mean match rate: " << mean << " (policy chance rate " << chance << ")\n"
            << "best key: " << best << "/" << triggers << " matched, p-value 10^"
            << wmark::binomial_upper_tail_log10(best, triggers, chance) << "\n"
            << "keys that would verify (p < 1e-6, rate >= 0.5): " << verifying << "\n"
            << "log10 of N times the null tail at the best count: " << expected_tail << "\n"
            << "match-count histogram:";
  for (std::size_t k = 0; k < histogram.size(); ++k)
    if (histogram[k] > 0) std::cout << " " << k << ":" << histogram[k];
  std::cout << "\n";
  return 0;
} catch (const std::exception& error) {
  std::cerr << "bench_secret_search: " << error.what() << "\n";
  return 2;
}
