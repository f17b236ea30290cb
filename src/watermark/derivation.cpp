#include "wmark/watermark/derivation.h"

#include <torch/torch.h>

#include <algorithm>
#include <variant>

#include "wmark/data/catalog.h"
#include "wmark/util/error.h"
#include "wmark/watermark/trigger/trigger_generator.h"
#include "wmark/watermark/whitebox/deepsigns.h"
#include "wmark/watermark/whitebox/uchida.h"

namespace wmark {
namespace {

using json = nlohmann::json;

KeyDerivation not_derivable(std::string reason) { return {false, std::move(reason)}; }

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
  auto train = load_dataset(dataset, data_dir).train;  // a missing dataset is an error, not a verdict
  if (train.size() != sources["size"].get<std::int64_t>())
    return not_derivable("its " + std::string(what) + " were drawn from " +
                         std::to_string(sources["size"].get<std::int64_t>()) + " images of " + dataset +
                         ", not from its full public training split of " + std::to_string(train.size()) +
                         " (a private subset cannot be re-derived)");
  return train;
}

KeyDerivation trigger_set(const WatermarkKey& key, const std::optional<std::filesystem::path>& data_dir) {
  const auto generator_name = key.params.value("generator", std::string());
  if (generator_name == "deepsigns-output")
    return not_derivable("deepsigns-output keys take their labels from the model they were made with; nothing "
                         "re-derives them from the secret");
  const auto options = key.params.value("generator_options", json::object());
  if (!options.is_object()) return not_derivable("its generator options are not an object");
  const auto text = [&options](const char* name) {
    return options.contains(name) && options[name].is_string() ? options[name].get<std::string>() : std::string();
  };
  if (generator_name == "content" && (!text("pattern").empty() || !text("mask").empty()))
    return not_derivable("its content stamp is a user image file, which the secret does not derive");
  if (generator_name == "unrelated" && !text("folder").empty())
    return not_derivable("its triggers are images from a user folder, which the secret does not derive");
  auto sources = public_sources(key, "trigger_sources", "triggers", data_dir);
  if (auto* problem = std::get_if<KeyDerivation>(&sources)) return *problem;
  const auto& train = std::get<Dataset>(sources);
  const auto& labels = key.tensor("labels");
  TriggerSpec spec;
  spec.size = labels.size(0);
  spec.label_policy = key.params.value("label_policy", std::string());
  spec.target_label = key.params.value("target_label", std::int64_t{-1});
  spec.secret = key.secret;
  spec.data_dir = data_dir;
  spec.sources = train;
  TriggerSet derived;
  try {
    derived = trigger_registry().create(generator_name, options)->generate(train, spec);
  } catch (const Error& error) {
    return not_derivable(std::string("its triggers cannot be re-derived: ") + error.what());
  }
  if (!same(key.tensor("images"), derived.images))
    return not_derivable("its trigger images are not the ones its secret derives");
  if (!same(labels, derived.labels)) return not_derivable("its trigger labels are not the ones its secret derives");
  return {true, ""};
}

KeyDerivation uchida(const WatermarkKey& key) {
  const auto& projection = key.tensor("projection");
  const auto& bits = key.tensor("bits");
  if (projection.dim() != 2 || bits.dim() != 1 || projection.size(0) != bits.size(0))
    return not_derivable("its projection and bits do not have the shapes of an Uchida key");
  if (!same(projection, uchida_projection(key.secret, projection.size(0), projection.size(1))))
    return not_derivable("its projection is not the one its secret derives");
  return check_bits(key, "uchida-bits").value_or(KeyDerivation{true, ""});
}

KeyDerivation deepsigns(const WatermarkKey& key, const std::optional<std::filesystem::path>& data_dir) {
  const auto& projection = key.tensor("projection");
  const auto& bits = key.tensor("bits");
  const auto& labels = key.tensor("labels");
  if (projection.dim() != 2 || bits.dim() != 1 || projection.size(1) != bits.size(0) || labels.dim() != 1)
    return not_derivable("its projection, bits and key inputs do not have the shapes of a DeepSigns key");
  if (!same(projection, deepsigns_projection(key.secret, projection.size(0), projection.size(1))))
    return not_derivable("its projection is not the one its secret derives");
  if (auto problem = check_bits(key, "deepsigns-bits")) return *problem;
  const auto targets = key.params.value("target_classes", json());
  if (!targets.is_array() || targets.empty() || !std::all_of(targets.begin(), targets.end(), [&key](const json& t) {
        return t.is_number_integer() && t.get<std::int64_t>() >= 0 && t.get<std::int64_t>() < key.num_classes;
      }))
    return not_derivable("it does not record its target classes");
  auto sources = public_sources(key, "key_sources", "key inputs", data_dir);
  if (auto* problem = std::get_if<KeyDerivation>(&sources)) return *problem;
  const auto& train = std::get<Dataset>(sources);
  at::Tensor chosen;
  try {
    chosen = draw_deepsigns_inputs(train, targets.get<std::vector<std::int64_t>>(), labels.size(0), key.secret);
  } catch (const Error& error) {
    return not_derivable(std::string("its key inputs cannot be re-derived: ") + error.what());
  }
  if (!same(key.tensor("images"), train.images.index_select(0, chosen)) ||
      !same(labels, train.labels.index_select(0, chosen)))
    return not_derivable("its key inputs are not the ones its secret derives");
  return {true, ""};
}

}  // namespace

KeyDerivation check_key_derivation(const WatermarkKey& key, const std::optional<std::filesystem::path>& data_dir) {
  if (key.legacy_seed) return not_derivable("a format-1 key: nothing derives its contents from a secret");
  if (key.method == "trigger-set" || key.method == "deepsigns-output") return trigger_set(key, data_dir);
  if (key.method == "uchida") return uchida(key);
  if (key.method == "deepsigns") return deepsigns(key, data_dir);
  return not_derivable("no derivation is known for this key's method");
}

}  // namespace wmark
