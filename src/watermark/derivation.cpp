#include "wmark/watermark/derivation.h"

#include <torch/torch.h>

#include <algorithm>
#include <variant>

#include "wmark/data/catalog.h"
#include "wmark/util/error.h"
#include "wmark/watermark/whitebox/uchida.h"
#include "wmark/watermark/scheme.h"
#include "derivation_support.h"

namespace wmark {
namespace derivation {

using json = nlohmann::json;

bool same(const at::Tensor& stored, const at::Tensor& derived) {
  return stored.sizes() == derived.sizes() && torch::equal(stored.to(derived.scalar_type()), derived);
}

// The bits of a white-box key: from the secret, or spelling its recorded signature text.
std::optional<KeyDerivation> check_bits(const WatermarkKey& key, const std::string& purpose) {
  const auto& bits = key.tensor("bits");
  const auto signature = key.params.value("signature", std::string());
  if (same(bits, watermark_bits(key.secret, signature, bits.size(0), purpose).to(bits.scalar_type())))
    return std::nullopt;
  return not_derivable(signature.empty() ? "its bits are not the ones its secret derives"
                                         : "its bits do not spell its recorded signature text");
}

// The public dataset `field` names ({dataset, size}), loaded in full; or why not.
std::variant<Dataset, KeyDerivation> public_sources(const WatermarkKey& key, const char* field, const char* what,
                                                    const std::optional<std::filesystem::path>& data_dir) {
  const auto sources = key.params.value(field, json());
  if (!sources.is_object() || !sources.contains("dataset") || !sources["dataset"].is_string() ||
      !sources.contains("size") || !sources["size"].is_number_integer())
    return not_derivable(std::string("the key does not record the public images its ") + what + " were drawn from");
  const auto dataset = sources["dataset"].get<std::string>();
  auto train = load_training_split(dataset, data_dir);  // a missing dataset is an error, not a verdict
  if (train.size() != sources["size"].get<std::int64_t>())
    return not_derivable("its " + std::string(what) + " were drawn from " +
                         std::to_string(sources["size"].get<std::int64_t>()) + " images of " + dataset +
                         ", not from its full public training split of " + std::to_string(train.size()) +
                         " (a private subset cannot be re-derived)");
  return train;
}

}  // namespace derivation

KeyDerivation check_key_derivation(const WatermarkKey& key, const std::optional<std::filesystem::path>& data_dir) {
  if (key.legacy_seed) return derivation::not_derivable("a format-1 key: nothing derives its contents from a secret");
  if (!scheme_registry().contains(key.method))
    return derivation::not_derivable("no scheme named '" + key.method + "' is registered to derive it");
  return key_scheme(key)->check_derivation(key, data_dir);
}

}  // namespace wmark
