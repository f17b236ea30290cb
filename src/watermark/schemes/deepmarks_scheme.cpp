// "deepmarks": Chen et al., "DeepMarks: A Secure Fingerprinting Framework for Digital
// Rights Management of Deep Learning Models" (ICMR 2019). Each user's copy carries the
// user's anti-collusion code word (watermark/fingerprint.h) in one convolution: code bit
// p is the +1 or -1 target of `repeat` secret projections of the layer's kernel averaged
// over its filters (the projections of Uchida et al., shared by all users of one key
// secret). A single copy verifies like a white-box key; an average of colluders' copies
// is traced with trace_colluders().
#include <torch/torch.h>

#include "../derivation_support.h"
#include "../key_base.h"
#include "builtin_schemes.h"
#include "wmark/util/error.h"
#include "wmark/watermark/fingerprint.h"
#include "wmark/watermark/whitebox/uchida.h"

namespace wmark::schemes {
namespace {

using json = nlohmann::json;

// The key's projections, [v * repeat, m], from the secret (all users of a secret share them).
at::Tensor deepmarks_projection(const KeySecret& secret, std::int64_t rows, std::int64_t m) {
  return secret.stream("deepmarks-projection").normal({rows, m});
}

// User `user`'s code word, each bit repeated `repeat` times: uint8 [v * repeat].
at::Tensor expanded_code(std::int64_t order, std::int64_t user, std::int64_t repeat) {
  const auto codes = anti_collusion_codes(order);
  WMARK_CHECK(user >= 0 && user < codes.size(0), "deepmarks: user ", user, " does not exist: a code of order ", order,
              " has users 0 to ", codes.size(0) - 1);
  return codes[user].repeat_interleave(repeat).contiguous();
}

// Pulls the projections of the layer's mean kernel to the user's +1/-1 targets (squared
// error: linear in the weights, so averaged copies average their targets).
class DeepMarksEmbedder final : public Embedder {
 public:
  DeepMarksEmbedder(WatermarkKey key, double strength)
      : key_(std::move(key)),
        strength_(strength),
        layer_(key_.params.at("layer").get<std::string>()),
        projection_(key_.tensor("projection")),
        targets_(key_.tensor("bits").to(torch::kFloat) * 2 - 1) {}

  std::string method() const override { return "deepmarks"; }
  WatermarkKey key() const override { return key_; }

  at::Tensor loss_term(const Batch&, const at::Tensor&, Network& model) override {
    auto params = model.named_parameters();
    auto* weight = params.find(layer_);
    WMARK_CHECK(weight, "deepmarks: the model being trained has no parameter '", layer_, "'");
    if (projection_.device() != weight->device()) {
      projection_ = projection_.to(weight->device());
      targets_ = targets_.to(weight->device());
    }
    const auto scores = projection_.matmul(weight->mean(0).flatten());  // Uchida's mean kernel
    return strength_ * torch::mse_loss(scores, targets_);
  }

  void on_epoch_end(EpochStats& stats, Network& model) override {
    const auto read = projected_kernel(model, layer_, key_.tensor("projection")).gt(0).to(torch::kUInt8);
    stats.metrics["bit_error_rate"] = read.ne(key_.tensor("bits")).to(torch::kDouble).mean().item<double>();
  }

 private:
  WatermarkKey key_;
  double strength_;
  std::string layer_;
  at::Tensor projection_;
  at::Tensor targets_;
};

// The code's order: `order` if given (checked to have `users` codewords), else the
// smallest prime whose projective plane has `users` lines, else 3 (13 users).
std::int64_t code_order(std::int64_t order, std::int64_t users) {
  const auto is_prime = [](std::int64_t q) {
    for (std::int64_t d = 2; d * d <= q; ++d) {
      if (q % d == 0) return false;
    }
    return q >= 2;
  };
  if (order > 0) {
    WMARK_CHECK(order * order + order + 1 >= users, "the deepmarks scheme: order ", order, " has ",
                order * order + order + 1, " users, fewer than the ", users, " asked for");
    return order;
  }
  if (users == 0) return 3;
  for (std::int64_t q = 2;; ++q) {
    if (is_prime(q) && q * q + q + 1 >= users) return q;
  }
}

class DeepMarksScheme final : public Scheme {
 public:
  explicit DeepMarksScheme(const json& options) : options_(schema().read(options)) {
    options_["order"] = code_order(options_.at("order").get<std::int64_t>(), options_.at("users").get<std::int64_t>());
    expanded_code(options_.at("order").get<std::int64_t>(), options_.at("user").get<std::int64_t>(), 1);  // checks
  }

  std::string name() const override { return "deepmarks"; }

  OptionSchema schema() const override {
    return OptionSchema("the deepmarks scheme")
        .integer("users", 0, "users to tell apart: the code is the smallest with that many (0: as --order gives)", 0,
                 993)
        .integer("order", 0, "prime order q of the code: q^2+q+1 users, resists q colluders (0: from --users, else 3)",
                 0, 31)
        .integer("user", 0, "the user whose copy this is, from 0 to q^2+q", 0)
        .integer("repeat", 8, "projections per code bit", 1, 4096)
        .text("layer", "", "the convolution, e.g. conv2 (default: the one with the most weights)")
        .number("strength", 0.5, "weight of the fingerprint loss", 1e-9);
  }

  json options() const override { return options_; }
  KeyKind key_kind() const override { return KeyKind::white_box; }

  EmbedResult embed(const EmbedRequest& request) const override {
    const auto order = options_.at("order").get<std::int64_t>();
    const auto user = options_.at("user").get<std::int64_t>();
    const auto repeat = options_.at("repeat").get<std::int64_t>();
    auto& model = *request.model;
    const auto layer = resolve_conv_weight(model, options_.at("layer").get<std::string>());
    const auto weight = model.named_parameters()[layer];
    const auto bits = expanded_code(order, user, repeat);
    auto key = key_base(request.splits.train, request.info.arch);
    key.method = name();
    key.secret = request.secret;
    key.params.update({{"layer", layer},
                       {"order", order},
                       {"user", user},
                       {"repeat", repeat},
                       {"strength", options_.at("strength")},
                       {"chance_rate", 0.5}});
    key.tensors["projection"] = deepmarks_projection(request.secret, bits.size(0), weight.numel() / weight.size(0));
    key.tensors["bits"] = bits;
    auto result =
        train_with_embedder(std::make_shared<DeepMarksEmbedder>(std::move(key), options_.at("strength").get<double>()),
                            request);
    result.details.update({{"user", user}, {"users", anti_collusion_codes(order).size(0)}, {"resists", order}});
    return result;
  }

  at::Tensor extract_bits(Network& model, const WatermarkKey& key) const override {
    WMARK_CHECK(key.method == name(), "not a deepmarks key (method '", key.method, "')");
    return projected_kernel(model, key.params.value("layer", std::string()), key.tensor("projection"))
        .gt(0)
        .to(torch::kUInt8);
  }

  KeyDerivation check_derivation(const WatermarkKey& key, const std::optional<std::filesystem::path>&) const override {
    const auto& projection = key.tensor("projection");
    const auto& bits = key.tensor("bits");
    if (projection.dim() != 2 || bits.dim() != 1 || projection.size(0) != bits.size(0))
      return derivation::not_derivable("its projection and bits do not have the shapes of a deepmarks key");
    if (!derivation::same(projection, deepmarks_projection(key.secret, projection.size(0), projection.size(1))))
      return derivation::not_derivable("its projection is not the one its secret derives");
    try {
      const auto code = expanded_code(key.params.value("order", std::int64_t{0}), key.params.value("user", std::int64_t{-1}),
                                      key.params.value("repeat", std::int64_t{0}));
      if (!derivation::same(bits, code)) return derivation::not_derivable("its bits are not its user's code word");
    } catch (const Error& error) {
      return derivation::not_derivable(std::string("its code cannot be rebuilt: ") + error.what());
    } catch (const c10::Error&) {
      return derivation::not_derivable("its code parameters are malformed");
    }
    return {true, ""};
  }

 private:
  json options_;
};

}  // namespace

std::unique_ptr<Scheme> make_deepmarks(const json& options) { return std::make_unique<DeepMarksScheme>(options); }

}  // namespace wmark::schemes
