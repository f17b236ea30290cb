// One small watermarked mnist_cnn shared by the attack, conformance and evaluation tests
// (trained once per test process), with an attacker context over held-out test data.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "wmark/attack/attack.h"
#include "wmark/claim/identity.h"
#include "wmark/serve/server.h"
#include "wmark/watermark/embed.h"

namespace wmark::test {

struct WatermarkedFixture {
  NetworkPtr model;        ///< mnist_cnn with a content watermark; do not modify (attacks clone it)
  WatermarkKey key;        ///< its key, bound to `owner` (not signed)
  std::shared_ptr<const Identity> owner;  ///< the identity the key's secret is bound to
  Dataset test;            ///< held-out test data for accuracy
  AttackContext context;   ///< attacker data: 1000 other test images
};

/// Trained on a 4000-image MNIST subset for 2 epochs, 50 content triggers.
const WatermarkedFixture& watermarked_mnist();

/// The fixture's report on its own model, as `wmark verify --report` writes it: the key
/// re-derived from its secret, ownership verified (required).
nlohmann::json verified_report();

/// A clean mnist_cnn (no watermark) trained 1 epoch on the fixture's attacker data; do not modify.
NetworkPtr clean_mnist();

/// `network` (the fixture's model or one of its shape) as `wmark serve` serves it, as `name`.
ServedModel served_mnist(NetworkPtr network, const std::string& name = "mnist");

/// An attacker holding `data` against a victim of `arch` (batch size 64, the given seed).
AttackContext attack_context(const std::string& arch, const Dataset& data, std::uint64_t seed);

/// A parameter-by-parameter copy, to check later that a model was not modified.
std::vector<at::Tensor> snapshot(Network& model);
bool same_as(Network& model, const std::vector<at::Tensor>& snapshot);

}  // namespace wmark::test
