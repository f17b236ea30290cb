// Internal: what the extraction attacks (distill, retraining,
// cross-architecture-retraining, knockoff, transfer-learning) share: choosing the thief's queries within
// a budget, asking the victim about them (in process or through its serving endpoint),
// and training a fresh surrogate on the answers.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "wmark/attack/attack.h"
#include "wmark/data/dataset.h"

namespace wmark {

/// `budget` samples of `pool` drawn without replacement from `seed` (all of it, in
/// order, for budget 0). Throws wmark::Error naming `attack` when the pool is smaller.
Dataset choose_queries(const Dataset& pool, std::int64_t budget, std::uint64_t seed, const std::string& attack);

/// The training split of dataset `name` (the thief's own folder when it holds it, else
/// the usual search path), its images converted to the shape and normalisation of the
/// thief's data, its labels its own: another task's images for a knockoff thief's
/// queries or a transfer-learning thief's parent network.
Dataset foreign_images(const std::string& name, const AttackContext& context);

/// Class scores [N, classes] as probabilities: kept when every row is already a
/// distribution (non-negative, summing to 1), else their softmax (logits). Throws
/// wmark::Error for scores that are not finite.
at::Tensor as_probabilities(const at::Tensor& scores);

/// How a thief asks each image (the voting options of the extraction attacks).
struct VoteOptions {
  std::int64_t votes = 1;   // times each image is asked
  std::string twin = "nudge";  // the repeats: "nudge", "noise" or "shift"
  double noise = 0.1;       // "noise": standard deviation in pixel range units
  bool unanimous = false;   // drop images whose answers disagree instead of voting
  bool check_own_labels = false;  // drop answers that disagree with the queries' own labels
};

/// `queries` relabelled by the victim: `labels` its predicted classes and, with `soft`,
/// `soft_labels` its class probabilities. Asks context.victim_endpoint when set (soft
/// labels from its class scores, as_probabilities(); an endpoint that gives labels only
/// is an error naming `attack`, as are labels outside 0..queries.num_classes-1 and scores
/// not one per class), else the victim network in process. With `voting.votes` > 1 each
/// image is asked that many times, every repeat a near-twin of it (keyed by the attack
/// seed: one pixel moved by one level, noise, or a one-pixel shift), and the majority
/// label is kept (ties: the unchanged image's answer; soft labels: the mean of the
/// answers that agree with it); `unanimous` keeps only the images whose answers agree,
/// and `check_own_labels` only those whose answer is the query's own label (a thief
/// who holds labelled data).
Dataset ask_victim(Network& victim, const AttackContext& context, Dataset queries, bool soft,
                   const std::string& attack, const VoteOptions& voting = {});

/// A fresh model of `arch` (the victim's when empty or equal), its initial weights
/// drawn from the attack seed.
NetworkPtr fresh_surrogate(const AttackContext& context, const std::string& arch, const std::string& attack);

/// Trains `surrogate` on the victim's answers and returns the attack result with the
/// figures every extraction reports: "surrogate", "queries", "soft_labels",
/// "agreement" (surrogate agrees with the victim's labels on the queries).
AttackResult train_surrogate(NetworkPtr surrogate, const std::string& arch, const Dataset& answers,
                             const TrainerOptions& training, const AttackContext& context);

}  // namespace wmark
