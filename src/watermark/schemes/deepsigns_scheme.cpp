// "deepsigns": DeepSigns' bits in a hidden layer's activations over secret key inputs
// (watermark/whitebox/deepsigns.h).
#include <torch/torch.h>

#include <algorithm>
#include <variant>

#include "../derivation_support.h"
#include "builtin_schemes.h"
#include "wmark/util/error.h"
#include "wmark/watermark/whitebox/deepsigns.h"

namespace wmark::schemes {
namespace {

using json = nlohmann::json;

class DeepSignsScheme final : public Scheme {
 public:
  explicit DeepSignsScheme(const json& options) : options_(schema().read(options)) {}

  std::string name() const override { return "deepsigns"; }

  OptionSchema schema() const override {
    const DeepSignsOptions o;
    return OptionSchema("the deepsigns scheme")
        .text("layer", o.layer(), "the hidden layer's module path, e.g. fc1 (default: the last before the logits)")
        .integer("bits", o.bits(), "number of bits", 1, 1 << 20)
        .text("signature", o.signature(), "text to embed as bits (default: random bits from the key secret)")
        .integers("target_classes", o.target_classes(),
                  "classes whose samples are key inputs (default: one drawn from the key secret)", 0)
        .integer("key_inputs", o.key_inputs(), "number of key inputs", 2, 100000)
        .integer("key_batch", o.key_batch(), "key inputs appended to every training batch", 1, 100000)
        .number("strength", o.strength(), "weight of the bit loss", 1e-9)
        .number("compactness", o.compactness(), "weight of the Gaussian-mixture loss", 0.0)
        .number("separation", o.separation(), "smallest mean squared distance per feature between class centres",
                0.0);
  }

  json options() const override { return options_; }
  KeyKind key_kind() const override { return KeyKind::white_box; }

  EmbedResult embed(const EmbedRequest& request) const override {
    auto options = DeepSignsOptions()
                       .layer(options_.at("layer").get<std::string>())
                       .bits(options_.at("bits").get<std::int64_t>())
                       .signature(options_.at("signature").get<std::string>())
                       .target_classes(options_.at("target_classes").get<std::vector<std::int64_t>>())
                       .key_inputs(options_.at("key_inputs").get<std::int64_t>())
                       .key_batch(options_.at("key_batch").get<std::int64_t>())
                       .strength(options_.at("strength").get<double>())
                       .compactness(options_.at("compactness").get<double>())
                       .separation(options_.at("separation").get<double>())
                       .secret(request.secret)
                       .sources(request.public_train);  // key inputs anyone holding the dataset re-derives
    return train_with_embedder(
        make_deepsigns_embedder(request.model, request.splits.train, options, request.info.arch), request);
  }

  at::Tensor extract_bits(Network& model, const WatermarkKey& key) const override {
    return extract_deepsigns_bits(model, key);
  }

  KeyDerivation check_derivation(const WatermarkKey& key,
                                 const std::optional<std::filesystem::path>& data_dir) const override {
    const auto& projection = key.tensor("projection");
    const auto& bits = key.tensor("bits");
    const auto& labels = key.tensor("labels");
    if (projection.dim() != 2 || bits.dim() != 1 || projection.size(1) != bits.size(0) || labels.dim() != 1)
      return derivation::not_derivable("its projection, bits and key inputs do not have the shapes of a DeepSigns key");
    if (!derivation::same(projection, deepsigns_projection(key.secret, projection.size(0), projection.size(1))))
      return derivation::not_derivable("its projection is not the one its secret derives");
    if (auto problem = derivation::check_bits(key, "deepsigns-bits")) return *problem;
    const auto targets = key.params.value("target_classes", json());
    if (!targets.is_array() || targets.empty() || !std::all_of(targets.begin(), targets.end(), [&key](const json& t) {
          return t.is_number_integer() && t.get<std::int64_t>() >= 0 && t.get<std::int64_t>() < key.num_classes;
        }))
      return derivation::not_derivable("it does not record its target classes");
    auto sources = derivation::public_sources(key, "key_sources", "key inputs", data_dir);
    if (auto* problem = std::get_if<KeyDerivation>(&sources)) return *problem;
    const auto& train = std::get<Dataset>(sources);
    at::Tensor chosen;
    try {
      chosen = draw_deepsigns_inputs(train, targets.get<std::vector<std::int64_t>>(), labels.size(0), key.secret);
    } catch (const Error& error) {
      return derivation::not_derivable(std::string("its key inputs cannot be re-derived: ") + error.what());
    }
    if (!derivation::same(key.tensor("images"), train.images.index_select(0, chosen)) ||
        !derivation::same(labels, train.labels.index_select(0, chosen)))
      return derivation::not_derivable("its key inputs are not the ones its secret derives");
    return {true, ""};
  }

 private:
  json options_;
};

}  // namespace

std::unique_ptr<Scheme> make_deepsigns(const json& options) { return std::make_unique<DeepSignsScheme>(options); }

}  // namespace wmark::schemes
