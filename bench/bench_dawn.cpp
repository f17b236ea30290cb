// DAWN against extraction (issue #20): serves a victim with DAWN over loopback, lets a
// thief extract it (retraining on 5,000 held-out test images with hard or soft labels, on
// 1,000 of them, into another architecture, knockoff on another dataset's training
// split, and on request: knockoff into another architecture, retraining that drops the
// answers disagreeing with the thief's own labels, and retraining or knockoff that asks
// each image several times, the repeats near twins of it, and votes; soft labels come
// from the served class scores, which DAWN swaps too), makes the proof key from the
// server's log, and verifies the surrogate and a zoo of clean models with it, from their
// labels and from their class scores (DAWN's rank sum test, and beside it the count of
// first places it replaced). Prints one line per seed and attack, and the accuracy a
// legitimate client sees.
//
//   bench_dawn --model victim.pt --zoo clean1.pt --zoo clean2.pt [--rate 0.005]
//              [--keying perceptual [--bits 16] [--grid 8]]
//              [--seeds 3] [--first-seed 1] [--budget 20000] [--epochs 5] [--query-dataset fashion]
//              [--other-arch cifar_cnn] [--attacks knockoff knockoff-cross-arch ...] [--augment]
//              [--votes 3] [--vote-twin nudge|noise|shift] [--vote-noise 0.1] [--vote-unanimous]
//              [--keep DIR]   (each surrogate and its proof key, for `wmark verify` later)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "wmark/attack/knockoff.h"
#include "wmark/attack/retraining.h"
#include "wmark/data/catalog.h"
#include "wmark/data/subset.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/load_network.h"
#include "wmark/serve/dawn.h"
#include "wmark/serve/server.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/util/runtime.h"
#include "wmark/verify/remote_classifier.h"
#include "wmark/verify/verifier.h"

using namespace wmark;
namespace fs = std::filesystem;

namespace {

// The voting thief's options (votes, vote_twin, vote_noise, vote_unanimous of RetrainingOptions and KnockoffOptions).
struct VotingThief {
  std::int64_t votes = 3;
  std::string twin = "nudge";
  double noise = 0.1;
  bool unanimous = false;
};

// `options` (RetrainingOptions or KnockoffOptions) with the voting thief's choices set.
template <typename Options>
Options with_votes(Options options, const VotingThief& thief) {
  options.votes(thief.votes).vote_twin(thief.twin).vote_noise(thief.noise).vote_unanimous(thief.unanimous);
  return options;
}

// The accuracy a legitimate client sees on `test`: the model's answers with DAWN's changes.
double served_accuracy(Network& model, const WatermarkKey& key, const Dataset& test) {
  const auto own = predict_labels(model, test.images, test.normalization, torch::kCPU);
  const DawnChooser chooser(key);
  std::int64_t right = 0;
  for (std::int64_t i = 0; i < test.size(); ++i) {
    const auto choice = chooser.choose(test.images[i]);
    const auto served = choice.served(own[i].item<std::int64_t>(), key.num_classes);
    right += served == test.labels[i].item<std::int64_t>();
  }
  return static_cast<double>(right) / static_cast<double>(test.size());
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app("DAWN against extraction over loopback");
  std::string model_path;
  std::vector<std::string> zoo_paths;
  double rate = 0.005;
  int seeds = 3, first_seed = 1, threads = 0;
  std::int64_t budget = 20000, epochs = 5;
  std::string query_dataset = "fashion", other_arch, keep_dir;
  // Short names of the thieves, in the order they run.
  const std::vector<std::string> all_attacks{"retraining", "retraining-soft", "retraining-1000", "cross-arch",
                                             "knockoff", "retraining-checked", "retraining-votes",
                                             "knockoff-votes", "knockoff-cross-arch"};
  // The voting and label-checking thieves only on request: they beat DAWN (docs/dawn.md).
  std::vector<std::string> chosen{"retraining", "retraining-soft", "retraining-1000", "cross-arch", "knockoff"};
  bool augment = false;
  DawnKeying keying;
  VotingThief thief;
  app.add_option("--model", model_path, "the victim (a wmark checkpoint)")->required();
  app.add_option("--zoo", zoo_paths, "clean models of the same task, for false claims");
  app.add_option("--rate", rate, "DAWN's rate")->check(CLI::Range(1e-6, 0.5));
  app.add_option("--seeds", seeds, "seeds (thief's data split, queries, surrogate)")->check(CLI::Range(1, 100));
  app.add_option("--first-seed", first_seed, "the first seed (runs seeds first..first+seeds-1)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--budget", budget, "knockoff queries")->check(CLI::Range(1ll, 60000ll));
  app.add_option("--query-dataset", query_dataset, "knockoff's query images (its training split)");
  app.add_option("--other-arch", other_arch,
                 "the cross-architecture thieves' surrogate (default: cifar_cnn, or resnet18 for a cifar_cnn victim)");
  app.add_option("--epochs", epochs, "surrogate training epochs")->check(CLI::Range(1ll, 1000ll));
  app.add_option("--attacks", chosen, "the thieves to run")->check(CLI::IsMember(all_attacks));
  app.add_flag("--augment", augment, "the thieves train with crops and flips (a CIFAR-10 thief aiming at the victim's accuracy)");
  app.add_option("--keying", keying.keying, "DAWN's keying")->check(CLI::IsMember({"pixels", "perceptual"}));
  app.add_option("--bits", keying.bits, "perceptual keying: sign bits")->check(CLI::Range(1ll, 64ll));
  app.add_option("--grid", keying.grid, "perceptual keying: cells per side")->check(CLI::Range(1ll, 64ll));
  app.add_option("--votes", thief.votes, "the voting thief's votes")->check(CLI::Range(2ll, 15ll));
  app.add_option("--vote-twin", thief.twin, "the voting thief's repeats")->check(CLI::IsMember({"nudge", "noise", "shift"}));
  app.add_option("--vote-noise", thief.noise, "noise twins' standard deviation (1 = the pixel range)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("--vote-unanimous", thief.unanimous, "the voting thief drops images whose answers disagree");
  app.add_option("--threads", threads, "intra-op threads (0: all cores)");
  app.add_option("--keep", keep_dir, "a folder to keep each surrogate (seed-S-ATTACK.pt) and its proof key (.wmk) in");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line as it is measured, even if the run is cut short
  configure_runtime(RuntimeOptions().threads(threads));

  auto victim = load_network(model_path);
  const auto& info = *victim.checkpoint;
  if (other_arch.empty()) other_arch = info.arch == "cifar_cnn" ? "resnet18" : "cifar_cnn";
  const auto splits = load_dataset(info.dataset);
  std::vector<NetworkPtr> zoo;
  for (const auto& path : zoo_paths) zoo.push_back(load_network(path).model);
  // The decision from the surrogate's labels, and from its class scores (DAWN's rank-sum test).
  const Verifier by_labels(VerifierOptions().accept_unverifiable_keys(true).read_scores(false));
  const Verifier by_scores(VerifierOptions().accept_unverifiable_keys(true));

  std::printf("victim %s, rate %g, keying %s, knockoff budget %lld, %lld epochs%s\n", model_path.c_str(), rate,
              keying.keying == "pixels" ? "pixels"
                                        : ("perceptual (" + std::to_string(keying.bits) + " bits, grid " +
                                           std::to_string(keying.grid) + ")").c_str(),
              static_cast<long long>(budget), static_cast<long long>(epochs), augment ? ", crops and flips" : "");
  std::printf("voting thief: %lld votes, %s twins%s%s\n", static_cast<long long>(thief.votes), thief.twin.c_str(),
              thief.twin == "noise" ? (" (sd " + std::to_string(thief.noise) + ")").c_str() : "",
              thief.unanimous ? ", drops disagreements" : ", majority");
  std::printf("%-4s %-22s %8s %8s %9s | %-33s | %-33s | %-33s\n", "seed", "attack", "queries", "changed", "copy acc",
              "labels: match p-value verified zoo", "scores, first places: p-value...",
              "scores, rank sum: mean p-value claimed (with labels)");
  for (int seed = first_seed; seed < first_seed + seeds; ++seed) {
    auto [test, attacker] = split_holdout(splits.test, 5000, static_cast<std::uint64_t>(seed));
    auto server_key = make_dawn_server_key(rate, victim.spec.input, victim.spec.num_classes, victim.normalization,
                                           info.dataset, keying);
    server_key.secret = experiment_secret(static_cast<std::uint64_t>(seed), "bench-dawn");
    // Perceptual keys change a share that varies with the key (whole buckets at a time).
    std::printf("seed %d, legitimate client: %.2f%% served vs %.2f%% the model's own\n", seed,
                100 * served_accuracy(*victim.model, server_key, test), 100 * accuracy(*victim.model, test, torch::kCPU));
    const auto retraining = RetrainingOptions().soft_labels(false).epochs(epochs).augment(augment);
    const auto knockoff =
        KnockoffOptions().soft_labels(false).query_dataset(query_dataset).budget(budget).epochs(epochs).augment(augment);
    const std::vector<std::tuple<std::string, std::string, std::shared_ptr<Attack>>> thieves{
        {"retraining", "retraining (5,000)", std::make_shared<RetrainingAttack>(retraining)},
        {"retraining-soft", "retraining, soft labels",
         std::make_shared<RetrainingAttack>(RetrainingOptions(retraining).soft_labels(true))},
        {"retraining-1000", "retraining (1,000)",
         std::make_shared<RetrainingAttack>(RetrainingOptions(retraining).budget(1000))},
        {"cross-arch", "cross-arch (" + other_arch + ")",
         std::make_shared<CrossArchitectureRetrainingAttack>(RetrainingOptions(retraining).surrogate(other_arch))},
        {"knockoff", "knockoff (" + query_dataset + ")",
         std::make_shared<KnockoffAttack>(knockoff)},
        {"knockoff-cross-arch", "knockoff into " + other_arch,
         std::make_shared<KnockoffAttack>(KnockoffOptions(knockoff).surrogate(other_arch))},
        {"knockoff-votes", "knockoff, " + std::to_string(thief.votes) + " votes",
         std::make_shared<KnockoffAttack>(with_votes(knockoff, thief))},
        {"retraining-checked", "retraining, own labels",
         std::make_shared<RetrainingAttack>(RetrainingOptions(retraining).check_own_labels(true))},
        {"retraining-votes", "retraining, " + std::to_string(thief.votes) + " votes",
         std::make_shared<RetrainingAttack>(with_votes(retraining, thief))}};
    for (const auto& [name, label, attack] : thieves) {
      if (std::find(chosen.begin(), chosen.end(), name) == chosen.end()) continue;
      const auto log = fs::temp_directory_path() / ("bench_dawn_" + std::to_string(::getpid()) + ".jsonl");
      fs::remove(log);
      ServedModel served;
      served.name = "victim";
      served.network = victim.model;
      served.input = victim.spec.input;
      served.num_classes = victim.spec.num_classes;
      served.normalization = victim.normalization;
      served.dawn = std::make_shared<DawnAnswers>(server_key, log);
      InferenceServer server(served, ServerOptions().port(0).workers(2).max_batch(256).max_body_bytes(64 << 20));
      server.start();
      auto context = registered_attack_context(info.arch, info.spec, attacker, static_cast<std::uint64_t>(seed));
      context.victim_endpoint = std::make_shared<RemoteClassifier>(
          RemoteOptions().url(server.url()).model("victim").binary(true).batch_size(256), victim.spec.input,
          victim.normalization);
      const auto result = attack->run(*victim.model, context);
      server.stop();
      const auto proof = dawn_proof_key(server_key, log);
      fs::remove(log);
      if (!keep_dir.empty()) {
        fs::create_directories(keep_dir);
        const auto stem = fs::path(keep_dir) / ("seed-" + std::to_string(seed) + "-" + name);
        CheckpointInfo copy_info{result.arch.empty() ? info.arch : result.arch, info.spec, info.dataset,
                                 victim.normalization};
        save_checkpoint(stem.string() + ".pt", *result.model, copy_info);
        proof.save(stem.string() + ".wmk");
      }
      std::printf("%-4d %-22s %8lld %8lld %8.2f%%", seed, label.c_str(),
                  static_cast<long long>(context.victim_endpoint->queries()),
                  static_cast<long long>(proof.tensor("labels").size(0)), 100 * accuracy(*result.model, test, torch::kCPU));
      const auto print = [&](double rate, double log10_p, bool claimed, int claims) {
        std::printf(" | %6.2f %9.2e %8s %d/%zu", rate, std::pow(10.0, log10_p), claimed ? "yes" : "no", claims, zoo.size());
      };
      const auto labels = by_labels.verify_model(*result.model, proof, "surrogate", torch::kCPU);
      const auto scores = by_scores.verify_model(*result.model, proof, "surrogate", torch::kCPU);
      // The first places' binomial test, decided as the rank sum is (no match-rate guard).
      const double threshold = std::log10(scores.p_threshold);
      const auto first_place = [&](const VerificationReport& r) {
        return r.score_test.at("first_place_log10_p_value").get<double>() < threshold;
      };
      int label_claims = 0, first_claims = 0, rank_claims = 0;
      for (const auto& clean : zoo) {
        label_claims += by_labels.verify_model(*clean, proof, "clean", torch::kCPU).verified;
        const auto report = by_scores.verify_model(*clean, proof, "clean", torch::kCPU);
        first_claims += first_place(report);
        rank_claims += report.verified;
      }
      print(100 * labels.match_rate, labels.log10_p_value, labels.verified, label_claims);
      print(100 * scores.match_rate, scores.score_test.at("first_place_log10_p_value").get<double>(), first_place(scores),
            first_claims);
      // The rank sum's own p-value; the claim is the Verifier's (with the labels, Bonferroni).
      print(scores.score_test.at("mean_rank").get<double>(), scores.score_test.at("rank_sum_log10_p_value").get<double>(),
            scores.verified, rank_claims);
      std::printf("\n");
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_dawn: %s\n", error.what());
    return 2;
  }
}
