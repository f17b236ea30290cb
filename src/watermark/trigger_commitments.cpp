#include "wmark/watermark/trigger_commitments.h"

#include <torch/torch.h>

#include <sodium.h>

#include <array>
#include <cstring>
#include <set>

#include "wmark/util/encoding.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {
namespace {

constexpr std::int64_t kSeed = 32;
constexpr char kDomain[] = "wmark-trigger-commitment-v1";  // hashed with its 0x00
constexpr std::int64_t kMostTriggers = 100000;
constexpr std::int64_t kMostOpenedBytes = std::int64_t(1) << 28;  // 256 MiB of opened trigger images

void check_seeds(const at::Tensor& seeds) {
  WMARK_CHECK(seeds.defined() && seeds.dim() == 2 && seeds.size(1) == kSeed && seeds.scalar_type() == torch::kUInt8,
              "trigger seeds must be uint8 [N,32]");
}

std::int64_t field_integer(const nlohmann::json& doc, const char* field, std::int64_t low, std::int64_t high) {
  WMARK_CHECK(doc.contains(field) && doc[field].is_number_integer(), "published commitments: \"", field,
              "\" must be a whole number");
  const auto value = doc[field].get<std::int64_t>();
  WMARK_CHECK(value >= low && value <= high, "published commitments: \"", field, "\" must be in [", low, ", ", high,
              "], got ", value);
  return value;
}

std::string field_text(const nlohmann::json& doc, const char* field, const char* what) {
  WMARK_CHECK(doc.contains(field) && doc[field].is_string(), what, ": \"", field, "\" must be text");
  return doc[field].get<std::string>();
}

// The text `field` of `doc`, "" when absent; refused when it is anything but text.
std::string optional_text(const nlohmann::json& doc, const char* field, const char* what) {
  return doc.contains(field) ? field_text(doc, field, what) : std::string();
}

// Whether `doc` is a document of `format`.
bool has_format(const nlohmann::json& doc, const char* format) {
  return doc.is_object() && doc.contains("format") && doc["format"].is_string() && doc["format"] == format;
}

std::vector<std::int64_t> distinct_indices(const std::vector<std::int64_t>& indices, std::int64_t total) {
  std::set<std::int64_t> seen;
  for (const auto index : indices) {
    WMARK_CHECK(index >= 0 && index < total, "trigger ", index, " does not exist: ", total, " were committed to");
    WMARK_CHECK(seen.insert(index).second, "trigger ", index, " is opened twice");
  }
  return indices;
}

}  // namespace

at::Tensor trigger_seeds(const KeySecret& secret, std::int64_t count) {
  WMARK_CHECK(count >= 0, "a negative trigger count");
  return secret.stream("adi-trigger-seeds").bytes({count, kSeed});
}

at::Tensor commit_seeds(const at::Tensor& seeds) {
  ensure_sodium();
  check_seeds(seeds);
  const auto bytes = seeds.contiguous().cpu();
  auto out = torch::empty({bytes.size(0), kSeed}, torch::kUInt8);
  for (std::int64_t i = 0; i < bytes.size(0); ++i) {
    crypto_generichash_state state;
    crypto_generichash_init(&state, nullptr, 0, kSeed);
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kDomain), sizeof(kDomain));
    crypto_generichash_update(&state, bytes.data_ptr<std::uint8_t>() + i * kSeed, kSeed);
    crypto_generichash_final(&state, out.data_ptr<std::uint8_t>() + i * kSeed, kSeed);
  }
  return out;
}

TriggerSet triggers_from_seeds(const at::Tensor& seeds, const std::string& owner, const AbstractTriggerOptions& options,
                               const ImageShape& shape, std::int64_t num_classes) {
  check_seeds(seeds);
  const AbstractTrigger generator(options);
  Dataset shape_only;  // the generator reads nothing but the shape and the class count
  shape_only.images = torch::empty({0, shape.channels, shape.height, shape.width}, torch::kUInt8);
  shape_only.labels = torch::empty({0}, torch::kLong);
  shape_only.num_classes = num_classes;
  const auto bytes = seeds.contiguous().cpu();
  std::vector<at::Tensor> images, labels;
  for (std::int64_t i = 0; i < bytes.size(0); ++i) {
    TriggerSpec spec;
    spec.size = 1;
    spec.label_policy = "random";
    std::memcpy(spec.secret.value.data(), bytes.data_ptr<std::uint8_t>() + i * kSeed, kSeed);
    spec.secret.owner_public_key = owner;
    auto one = generator.generate(shape_only, spec);
    images.push_back(one.images);
    labels.push_back(one.labels);
  }
  TriggerSet set;
  set.images = images.empty() ? torch::empty({0, shape.channels, shape.height, shape.width}, torch::kUInt8)
                              : torch::cat(images).contiguous();
  set.labels = labels.empty() ? torch::empty({0}, torch::kLong) : torch::cat(labels).contiguous();
  set.source_labels = torch::full({set.labels.size(0)}, -1, torch::kLong);
  return set;
}

nlohmann::json published_commitments(const WatermarkKey& key) {
  WMARK_CHECK(key.method == "adi", "only adi keys commit to each trigger; this key's method is '", key.method, "'");
  const auto commitments = key.tensor("commitments").contiguous();
  check_seeds(commitments);
  auto list = nlohmann::json::array();
  for (std::int64_t i = 0; i < commitments.size(0); ++i) {
    list.push_back(hex_encode(commitments.data_ptr<std::uint8_t>() + i * kSeed, kSeed));
  }
  return {{"format", "wmark-trigger-commitments-1"},
          {"method", key.method},
          {"num_classes", key.num_classes},
          {"input_shape", key.input_shape},
          {"normalization", key.normalization},
          {"dataset", key.dataset},
          {"owner", key.secret.owner_public_key},
          {"generator_options", key.params.value("generator_options", nlohmann::json::object())},
          {"key_commitment", key.commitment()},
          {"commitments", list}};
}

std::vector<std::int64_t> choose_triggers_to_open(std::int64_t published, std::int64_t count) {
  WMARK_CHECK(count >= 1 && count <= published, "cannot open ", count, " of ", published, " triggers");
  return secure_random_subset(published, count);
}

nlohmann::json open_request(const nlohmann::json& published, std::int64_t count) {
  WMARK_CHECK(has_format(published, "wmark-trigger-commitments-1") && published.contains("commitments") && published["commitments"].is_array(),
              "published commitments: not a wmark-trigger-commitments-1 document");
  return {{"format", "wmark-open-request-1"},
          {"key_commitment", field_text(published, "key_commitment", "published commitments")},
          {"indices", choose_triggers_to_open(static_cast<std::int64_t>(published["commitments"].size()), count)}};
}

std::vector<std::int64_t> requested_triggers(const nlohmann::json& request, const std::string& key_commitment) {
  WMARK_CHECK(has_format(request, "wmark-open-request-1"),
              "not a wmark-open-request-1 document");
  WMARK_CHECK(field_text(request, "key_commitment", "open request") == key_commitment,
              "the open request is for another key (its key_commitment differs)");
  WMARK_CHECK(request.contains("indices") && request["indices"].is_array() && !request["indices"].empty() &&
                  request["indices"].size() <= static_cast<std::size_t>(kMostTriggers),
              "open request: \"indices\" must be a non-empty list of at most ", kMostTriggers);
  std::vector<std::int64_t> indices;
  for (const auto& index : request["indices"]) {
    WMARK_CHECK(index.is_number_integer(), "open request: an index is not a whole number");
    indices.push_back(index.get<std::int64_t>());
  }
  return indices;
}

TriggerOpening open_triggers(const WatermarkKey& key, const std::vector<std::int64_t>& indices) {
  const auto total = key.tensor("commitments").size(0);
  TriggerOpening opening;
  opening.indices = distinct_indices(indices, total);
  opening.seeds = trigger_seeds(key.secret, total).index_select(0, torch::tensor(indices, torch::kLong)).contiguous();
  return opening;
}

WatermarkKey opened_key(const nlohmann::json& published, const TriggerOpening& opening,
                        const std::vector<std::int64_t>& requested) {
  WMARK_CHECK(has_format(published, "wmark-trigger-commitments-1"),
              "published commitments: not a wmark-trigger-commitments-1 document");
  WMARK_CHECK(opening.indices == requested, "the opening does not open the triggers the verifier requested (",
              opening.indices.size(), " opened, ", requested.size(), " requested): an owner who picks the triggers "
              "to open can pick the ones a suspect happens to match");
  WMARK_CHECK(!requested.empty(), "the opening opens no trigger");
  WMARK_CHECK(published.contains("commitments") && published["commitments"].is_array() &&
                  published["commitments"].size() <= static_cast<std::size_t>(kMostTriggers),
              "published commitments: \"commitments\" must be a list of at most ", kMostTriggers);
  const auto& list = published["commitments"];
  distinct_indices(opening.indices, static_cast<std::int64_t>(list.size()));
  check_seeds(opening.seeds);
  WMARK_CHECK(opening.seeds.size(0) == static_cast<std::int64_t>(opening.indices.size()), "the opening holds ",
              opening.seeds.size(0), " seeds for ", opening.indices.size(), " triggers");

  WatermarkKey key;
  key.method = field_text(published, "method", "published commitments");
  WMARK_CHECK(key.method == "adi", "published commitments: method '", key.method, "' is not adi");
  key.num_classes = field_integer(published, "num_classes", 2, 100000);
  WMARK_CHECK(published.contains("input_shape") && published["input_shape"].is_array() &&
                  published["input_shape"].size() == 3,
              "published commitments: \"input_shape\" must be [C,H,W]");
  const auto& dims = published["input_shape"];
  for (const auto& dim : dims)
    WMARK_CHECK(dim.is_number_integer() && dim.get<std::int64_t>() >= 1 && dim.get<std::int64_t>() <= 1024,
                "published commitments: \"input_shape\" must hold whole numbers in [1, 1024]");
  key.input_shape = ImageShape({dims[0].get<std::int64_t>(), dims[1].get<std::int64_t>(), dims[2].get<std::int64_t>()});
  WMARK_CHECK(key.input_shape.channels <= 4, "published commitments: at most 4 channels");
  try {
    key.normalization = published.at("normalization").get<Normalization>();
  } catch (const nlohmann::json::exception& error) {
    WMARK_FAIL("published commitments: bad \"normalization\" (", error.what(), ")");
  }
  // Each opened trigger is an image the verifier draws: their pixels are bounded.
  WMARK_CHECK(static_cast<std::int64_t>(opening.indices.size()) * key.input_shape.channels * key.input_shape.height *
                  key.input_shape.width <=
                  kMostOpenedBytes,
              "published commitments: ", opening.indices.size(), " opened triggers of ", key.input_shape.str(),
              " pixels exceed the limit of ", kMostOpenedBytes, " bytes");
  key.dataset = optional_text(published, "dataset", "published commitments");
  const auto owner = optional_text(published, "owner", "published commitments");
  WMARK_CHECK(owner.empty() || is_lower_hex(owner, 64), "published commitments: \"owner\" must be empty or 64 hex digits");
  const auto& generator = published.value("generator_options", nlohmann::json::object());
  WMARK_CHECK(generator.is_object(), "published commitments: \"generator_options\" must be an object");
  const auto shapes = generator.contains("shapes") ? field_integer(generator, "shapes", 1, 64) : AbstractTriggerOptions().shapes();

  const auto digests = commit_seeds(opening.seeds);
  for (std::size_t i = 0; i < opening.indices.size(); ++i) {
    const auto index = opening.indices[i];
    const auto& entry = list[static_cast<std::size_t>(index)];
    std::array<unsigned char, kSeed> expected{};
    WMARK_CHECK(entry.is_string() && hex_decode(entry.get<std::string>(), expected.data(), expected.size()),
                "published commitments: commitment ", index, " is not 64 hex digits");
    WMARK_CHECK(sodium_memcmp(expected.data(), digests[static_cast<std::int64_t>(i)].data_ptr<std::uint8_t>(), kSeed) == 0,
                "opened trigger ", index, " does not open its published commitment");
  }
  auto triggers = triggers_from_seeds(opening.seeds, owner, AbstractTriggerOptions().shapes(shapes), key.input_shape,
                                      key.num_classes);
  key.params = {{"generator", "abstract"},
                {"label_policy", "random"},
                {"opened", opening.indices.size()},
                {"published", list.size()},
                {"key_commitment", optional_text(published, "key_commitment", "published commitments")}};
  key.tensors["images"] = triggers.images;
  key.tensors["labels"] = triggers.labels;
  return key;
}

WatermarkKey key_from_exchange(const nlohmann::json& published, const nlohmann::json& request,
                               const nlohmann::json& opening) {
  WMARK_CHECK(published.is_object(), "published commitments: not a JSON object");
  const auto requested = requested_triggers(request, field_text(published, "key_commitment", "published commitments"));
  return opened_key(published, opening_from_json(opening), requested);
}

nlohmann::json opening_to_json(const TriggerOpening& opening) {
  check_seeds(opening.seeds);
  auto seeds = nlohmann::json::array();
  const auto bytes = opening.seeds.contiguous().cpu();
  for (std::int64_t i = 0; i < bytes.size(0); ++i) seeds.push_back(hex_encode(bytes.data_ptr<std::uint8_t>() + i * kSeed, kSeed));
  return {{"format", "wmark-trigger-opening-1"}, {"indices", opening.indices}, {"seeds", seeds}};
}

TriggerOpening opening_from_json(const nlohmann::json& document) {
  WMARK_CHECK(has_format(document, "wmark-trigger-opening-1"),
              "not a wmark-trigger-opening-1 document");
  WMARK_CHECK(document.contains("indices") && document["indices"].is_array() && document.contains("seeds") &&
                  document["seeds"].is_array() && document["indices"].size() == document["seeds"].size() &&
                  document["seeds"].size() <= static_cast<std::size_t>(kMostTriggers),
              "trigger opening: \"indices\" and \"seeds\" must be lists of the same length (at most ", kMostTriggers, ")");
  TriggerOpening opening;
  opening.seeds = torch::empty({static_cast<std::int64_t>(document["seeds"].size()), kSeed}, torch::kUInt8);
  for (std::size_t i = 0; i < document["seeds"].size(); ++i) {
    const auto& index = document["indices"][i];
    const auto& seed = document["seeds"][i];
    WMARK_CHECK(index.is_number_integer(), "trigger opening: index ", i, " is not a whole number");
    opening.indices.push_back(index.get<std::int64_t>());
    WMARK_CHECK(seed.is_string() && hex_decode(seed.get<std::string>(),
                                               opening.seeds.data_ptr<std::uint8_t>() + static_cast<std::int64_t>(i) * kSeed,
                                               kSeed),
                "trigger opening: seed ", i, " is not 64 hex digits");
  }
  return opening;
}

}  // namespace wmark
