// "uchida": Uchida et al.'s bits in a convolution's weights (watermark/whitebox/uchida.h).
#include <torch/torch.h>

#include "../derivation_support.h"
#include "builtin_schemes.h"
#include "wmark/watermark/whitebox/uchida.h"

namespace wmark::schemes {
namespace {

using json = nlohmann::json;

class UchidaScheme final : public Scheme {
 public:
  explicit UchidaScheme(const json& options) : options_(schema().read(options)) {}

  std::string name() const override { return "uchida"; }

  OptionSchema schema() const override {
    const UchidaOptions o;
    return OptionSchema("the uchida scheme")
        .text("layer", o.layer(), "the convolution, e.g. conv2 (default: the one with the most weights)")
        .integer("bits", o.bits(), "number of bits", 1, 1 << 20)
        .text("signature", o.signature(), "text to embed as bits (default: random bits from the key secret)")
        .number("strength", o.strength(), "weight of the bit loss", 1e-9);
  }

  json options() const override { return options_; }
  KeyKind key_kind() const override { return KeyKind::white_box; }

  EmbedResult embed(const EmbedRequest& request) const override {
    WMARK_CHECK(request.model, "the uchida scheme needs a model");
    auto options = UchidaOptions()
                       .layer(options_.at("layer").get<std::string>())
                       .bits(options_.at("bits").get<std::int64_t>())
                       .signature(options_.at("signature").get<std::string>())
                       .strength(options_.at("strength").get<double>())
                       .secret(request.secret);
    return train_with_embedder(make_uchida_embedder(*request.model, request.splits.train, options, request.info.arch),
                               request);
  }

  at::Tensor extract_bits(Network& model, const WatermarkKey& key) const override {
    return extract_uchida_bits(model, key);
  }

  KeyDerivation check_derivation(const WatermarkKey& key,
                                 const std::optional<std::filesystem::path>&) const override {
    const auto& projection = key.tensor("projection");
    const auto& bits = key.tensor("bits");
    if (projection.dim() != 2 || bits.dim() != 1 || projection.size(0) != bits.size(0))
      return derivation::not_derivable("its projection and bits do not have the shapes of an Uchida key");
    if (!derivation::same(projection, uchida_projection(key.secret, projection.size(0), projection.size(1))))
      return derivation::not_derivable("its projection is not the one its secret derives");
    return derivation::check_bits(key, "uchida-bits").value_or(KeyDerivation{true, ""});
  }

 private:
  json options_;
};

}  // namespace

std::unique_ptr<Scheme> make_uchida(const json& options) { return std::make_unique<UchidaScheme>(options); }

}  // namespace wmark::schemes
