// The false accuser's strongest known forgery (Liu et al., "False Claims against Model
// Ownership Resolution", USENIX Security 2024), measured (issue #17): the accuser trains
// surrogate models of their own, crafts targeted transferable adversarial triggers on
// them (wmark attack forge), and claims independently trained clean models with the key.
// For each L-inf budget and forge seed this prints how many victims the key "verifies"
// against (a) when the verifier accepts keys it cannot re-derive and (b) by default.
// Usage: bench_forge [victims=10] [epsilons=0.1,0.2,0.3] [forge_seeds=3] [triggers=100]
//                    [data_dir] [threads=0] [torchscript_victim.pt ...]
// Victims: mnist_cnn and cifar_cnn trained here with other seeds on other images than
// the surrogates, plus any TorchScript files given (e.g. trained in Python).
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "wmark/attack/forge.h"
#include "wmark/data/catalog.h"
#include "wmark/data/subset.h"
#include "wmark/models/registry.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/recipe.h"
#include "wmark/train/trainer.h"
#include "wmark/util/log.h"
#include "wmark/util/runtime.h"
#include "wmark/verify/classifier.h"
#include "wmark/verify/verifier.h"

namespace {

struct Victim {
  std::string name;
  std::unique_ptr<wmark::Classifier> classifier;
  double accuracy = 0;
};

wmark::NetworkPtr train(const std::string& arch, const wmark::Dataset& data, std::uint64_t seed) {
  torch::manual_seed(seed);
  auto model = wmark::model_registry().create(arch, {data.shape(), data.num_classes});
  wmark::Trainer(model, wmark::default_recipe("mnist").options.epochs(1).seed(seed)).fit(data);
  model->eval();
  return model;
}

std::vector<double> parse_list(const std::string& text) {
  std::vector<double> values;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) values.push_back(std::stod(item));
  return values;
}

}  // namespace

int main(int argc, char** argv) try {
  const int victims_trained = argc > 1 ? std::atoi(argv[1]) : 10;
  const auto epsilons = parse_list(argc > 2 ? argv[2] : "0.1,0.2,0.3");
  const int forge_seeds = argc > 3 ? std::atoi(argv[3]) : 3;
  const long triggers = argc > 4 ? std::atol(argv[4]) : 100;
  std::optional<std::filesystem::path> dir;
  if (argc > 5 && std::string(argv[5]) != "-") dir = argv[5];
  const int threads = argc > 6 ? std::atoi(argv[6]) : 0;

  wmark::set_log_level("warn");  // the figures below are the output
  wmark::configure_runtime(wmark::RuntimeOptions().threads(threads));
  const auto data = wmark::load_dataset("mnist", dir);
  // The accuser's and the victims' training images are disjoint halves of the public split.
  auto [accuser_data, victim_data] = wmark::split_holdout(data.train, data.train.size() / 2, 99);
  const c10::Device cpu(c10::kCPU);

  std::vector<wmark::NetworkPtr> surrogates;
  for (std::uint64_t seed : {1001, 1002}) surrogates.push_back(train("mnist_cnn", accuser_data, seed));
  std::cout << "surrogates: 2 mnist_cnn (seeds 1001, 1002) on " << accuser_data.size() << " images, test accuracy";
  for (const auto& s : surrogates) std::cout << " " << wmark::accuracy(*s, data.test, cpu);
  std::cout << "\n";

  std::vector<Victim> victims;
  for (int i = 0; i < victims_trained; ++i) {
    // Mostly mnist_cnn; every fifth a cifar_cnn (another architecture, batch norm).
    const std::string arch = i % 5 == 4 ? "cifar_cnn" : "mnist_cnn";
    const auto seed = static_cast<std::uint64_t>(i + 1);
    auto model = train(arch, victim_data, seed);
    Victim v{arch + " seed " + std::to_string(seed), nullptr, wmark::accuracy(*model, data.test, cpu)};
    v.classifier = std::make_unique<wmark::ModuleClassifier>(model, data.train.normalization, v.name);
    victims.push_back(std::move(v));
  }
  for (int i = 7; i < argc; ++i) {
    Victim v{std::string("torchscript ") + argv[i], nullptr, 0};
    v.classifier = std::make_unique<wmark::TorchScriptClassifier>(argv[i], data.train.normalization);
    const auto predicted = v.classifier->classify(data.test.images);
    v.accuracy = predicted.eq(data.test.labels).to(torch::kDouble).mean().item<double>();
    victims.push_back(std::move(v));
  }
  std::cout << "victims (" << victims.size() << "):";
  for (const auto& v : victims) std::cout << " [" << v.name << ": " << v.accuracy << "]";
  std::cout << "\n";

  const wmark::Verifier strict(wmark::VerifierOptions().require_derivable_key(true));
  const wmark::Verifier lax(wmark::VerifierOptions().require_derivable_key(true).accept_unverifiable_keys(true));
  std::cout << "epsilon seed surrogate_rate claimed_accepting claimed_default match_rate_mean match_rate_sd "
               "match_rate_max per_victim_match_rates\n";
  for (double epsilon : epsilons) {
    for (int seed = 1; seed <= forge_seeds; ++seed) {
      const auto options = wmark::ForgeOptions().triggers(triggers).epsilon(epsilon).seed(seed);
      const auto forged = wmark::forge_trigger_key(surrogates, data.test, options);
      int claimed_lax = 0, claimed_strict = 0;
      std::vector<double> rates;
      for (auto& v : victims) {
        const auto accepted = lax.verify(*v.classifier, forged.key);
        claimed_lax += accepted.verified;
        claimed_strict += strict.verify(*v.classifier, forged.key).verified;
        rates.push_back(accepted.match_rate);
      }
      double mean = 0, sd = 0, max = 0;
      for (double r : rates) mean += r / static_cast<double>(rates.size()), max = std::max(max, r);
      for (double r : rates) sd += (r - mean) * (r - mean) / static_cast<double>(rates.size() - 1);
      double surrogate_rate = 0;
      for (const auto& r : forged.details["surrogate_target_rate"]) surrogate_rate += r.get<double>() / 2;
      std::cout << epsilon << " " << seed << " " << surrogate_rate << " " << claimed_lax << "/" << victims.size() << " "
                << claimed_strict << "/" << victims.size() << " " << mean << " " << std::sqrt(sd) << " " << max;
      for (std::size_t i = 0; i < rates.size(); ++i) std::cout << (i == 0 ? " " : ",") << rates[i];
      std::cout << "\n";
    }
  }
  return 0;
} catch (const std::exception& error) {
  std::cerr << "bench_forge: " << error.what() << "\n";
  return 2;
}
