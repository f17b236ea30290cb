#include "wmark/watermark/key.h"

#include <torch/torch.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <string_view>

#include <spdlog/spdlog.h>

#include "wmark/util/encoding.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/json_limits.h"
#include "wmark/util/log.h"
#include "wmark/util/sha256.h"
#include "wmark/watermark/scheme.h"

namespace fs = std::filesystem;

namespace wmark {
namespace {

constexpr const char* kMagic = "WMARK-KEY 2";
constexpr const char* kCommitmentPrefix = "wmark-key-commitment-v2\n";
// Format 1: a 64-bit seed, no salt, no owner (legacy keys, still read and rewritten as such).
constexpr const char* kLegacyMagic = "WMARK-KEY 1";
constexpr const char* kLegacyCommitmentPrefix = "wmark-key-commitment-v1\n";
constexpr const char* kDerivation = "wmark-key-stream-v1";

std::string fresh_salt() { return KeySecret().hex(); }

std::string dtype_name(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kUInt8: return "uint8";
    case torch::kInt64: return "int64";
    case torch::kFloat: return "float32";
    default: WMARK_FAIL("key tensors must be uint8, int64 or float32, not ", t.scalar_type());
  }
}

torch::ScalarType dtype_from_name(const std::string& name, const fs::path& path) {
  if (name == "uint8") return torch::kUInt8;
  if (name == "int64") return torch::kInt64;
  if (name == "float32") return torch::kFloat;
  WMARK_FAIL(path.string(), ": unknown tensor dtype '", name, "' in key header");
}

// The header without the commitment, and the payload, for a key's current contents.
std::pair<nlohmann::json, std::string> serialize(const WatermarkKey& key) {
  nlohmann::json tensors = nlohmann::json::array();
  std::string payload;
  for (const auto& [name, value] : key.tensors) {
    auto t = value.cpu().contiguous();
    const std::size_t nbytes = t.numel() * t.element_size();
    tensors.push_back({{"name", name}, {"dtype", dtype_name(t)}, {"shape", t.sizes().vec()},
                       {"offset", payload.size()}, {"nbytes", nbytes}});
    payload.append(static_cast<const char*>(t.data_ptr()), nbytes);
  }
  nlohmann::json header = {{"method", key.method}, {"params", key.params}};
  if (key.legacy_seed) {
    header["seed"] = *key.legacy_seed;
  } else {
    header.update({{"secret", key.secret.hex()},
                   {"owner", key.secret.owner_public_key},
                   {"salt", key.salt},
                   {"hash", kHashName},
                   {"derivation", kDerivation}});
  }
  header.update({{"num_classes", key.num_classes},
                 {"input_shape", key.input_shape},
                 {"normalization", key.normalization},
                 {"dataset", key.dataset},
                 {"created", key.created},
                 {"tensors", tensors}});
  return {header, payload};
}

// Keys hold the trigger set, i.e. the secret; wmark writes them 0600. Loading still works
// (a key copied by hand is common), but the owner should know others can read it.
void warn_if_shared(const fs::path& path) {
  std::error_code error;
  const auto perms = fs::status(path, error).permissions();
  if (error || (perms & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none) return;
  logger()->warn("key file {} has mode {:o}: group or others can read the secret trigger set; restrict it with: chmod 600 {}",
                 path.string(), static_cast<unsigned>(perms) & 0777u, path.string());
}

std::string commit(const nlohmann::json& header, const std::string& payload, bool legacy) {
  Sha256 hasher;
  hasher.update(legacy ? kLegacyCommitmentPrefix : kCommitmentPrefix).update(header.dump()).update("\n").update(payload);
  return to_hex(hasher.finish());
}

// The secret, owner and salt of a format-2 header, checked.
void read_secret_fields(const nlohmann::json& header, const fs::path& path, WatermarkKey& key) {
  const auto text = [&](const char* name) { return header.at(name).get<std::string>(); };
  WMARK_CHECK(text("hash") == kHashName, path.string(), ": unsupported key hash (wmark uses ", kHashName, ")");
  WMARK_CHECK(text("derivation") == kDerivation, path.string(), ": unsupported key derivation (wmark uses ", kDerivation,
              ")");
  const auto owner = text("owner");
  WMARK_CHECK(owner.empty() || is_lower_hex(owner, 64), path.string(), ": \"owner\" must be empty or 64 lower-case hex digits");
  auto secret = text("secret");
  WMARK_CHECK(is_lower_hex(secret, 64), path.string(), ": \"secret\" must be 64 lower-case hex digits");
  key.secret = KeySecret::from_hex(secret, owner);
  std::fill(secret.begin(), secret.end(), '0');
  key.salt = text("salt");
  WMARK_CHECK(is_lower_hex(key.salt, 64), path.string(), ": \"salt\" must be 64 lower-case hex digits");
}

}  // namespace

const at::Tensor& WatermarkKey::tensor(const std::string& name) const {
  auto it = tensors.find(name);
  WMARK_CHECK(it != tensors.end(), "the ", method, " key has no tensor '", name, "'");
  return it->second;
}

WatermarkKey::WatermarkKey() : salt(fresh_salt()) {}

std::string WatermarkKey::commitment() const {
  auto [header, payload] = serialize(*this);
  return commit(header, payload, legacy_seed.has_value());
}

void WatermarkKey::save(const fs::path& path, bool force) const {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "key payloads are little-endian");
  auto [header, payload] = serialize(*this);
  header["commitment"] = commit(header, payload, legacy_seed.has_value());
  if (!signature.is_null()) header["signature"] = signature;
  write_file_atomic(path, std::string(legacy_seed ? kLegacyMagic : kMagic) + "\n" + header.dump() + "\n" + payload, force,
                    fs::perms::owner_read | fs::perms::owner_write);
}

WatermarkKey WatermarkKey::load(const fs::path& path) {
  warn_if_shared(path);
  const std::string bytes = read_file(path);
  const bool legacy = bytes.compare(0, std::strlen(kLegacyMagic) + 1, std::string(kLegacyMagic) + "\n") == 0;
  const std::string magic = std::string(legacy ? kLegacyMagic : kMagic) + "\n";
  WMARK_CHECK(bytes.compare(0, magic.size(), magic) == 0, path.string(),
              ": not a wmark key file (it does not start with '", kMagic, "')");
  const auto header_end = bytes.find('\n', magic.size());
  WMARK_CHECK(header_end != std::string::npos, path.string(), ": truncated key file (no end of header)");
  const std::string_view header_text(bytes.data() + magic.size(), header_end - magic.size());
  check_json_nesting(header_text, kMaxJsonDepth, path.string());  // params is copied and dumped below
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_text);
  } catch (const nlohmann::json::exception& error) {  // parse_error, or out_of_range for a number overflow
    WMARK_FAIL(path.string(), ": malformed JSON header in key file: ", error.what());
  }
  const std::string payload = bytes.substr(header_end + 1);
  WatermarkKey key;
  std::string stored;
  try {
    WMARK_CHECK(header.is_object(), path.string(), ": key header is not a JSON object");
    key.method = header.at("method").get<std::string>();
    key.params = header.at("params");
    if (legacy) {
      key.legacy_seed = header.at("seed").get<std::uint64_t>();
    } else {
      read_secret_fields(header, path, key);
    }
    key.num_classes = header.at("num_classes").get<std::int64_t>();
    key.input_shape = header.at("input_shape").get<ImageShape>();
    key.normalization = header.at("normalization").get<Normalization>();
    key.dataset = header.at("dataset").get<std::string>();
    key.created = header.at("created").get<std::string>();
    stored = header.at("commitment").get<std::string>();
    if (header.contains("signature")) {
      key.signature = header["signature"];
      WMARK_CHECK(key.signature.is_object(), path.string(), ": key signature must be a JSON object");
    }
    WMARK_CHECK(key.num_classes >= 2, path.string(), ": key has ", key.num_classes, " classes");
    std::size_t expected_offset = 0;
    for (const auto& entry : header.at("tensors")) {
      const auto name = entry.at("name").get<std::string>();
      const auto dtype = dtype_from_name(entry.at("dtype").get<std::string>(), path);
      const auto shape = entry.at("shape").get<std::vector<std::int64_t>>();
      const auto offset = entry.at("offset").get<std::size_t>();
      const auto nbytes = entry.at("nbytes").get<std::size_t>();
      // The shape, dtype, nbytes and the bytes present must all agree before anything is
      // allocated: the header is the attacker's, the payload's size is a fact.
      WMARK_CHECK(offset == expected_offset && nbytes <= payload.size() - offset, path.string(),
                  ": truncated key file or inconsistent offset (tensor '", name, "' needs ", nbytes, " bytes at ",
                  offset, ", the payload has ", payload.size() - expected_offset, " left)");
      std::size_t size = c10::elementSize(dtype);  // bytes; stays <= nbytes, so never overflows
      for (auto d : shape) {
        WMARK_CHECK(d >= 0, path.string(), ": bad shape for tensor '", name, "'");
        WMARK_CHECK(d == 0 || size <= nbytes / static_cast<std::size_t>(d), path.string(), ": the shape of tensor '",
                    name, "' needs more than its ", nbytes, " bytes");
        size *= static_cast<std::size_t>(d);
      }
      WMARK_CHECK(size == nbytes, path.string(), ": inconsistent size for tensor '", name, "' in key header (its shape needs ",
                  size, " bytes, nbytes says ", nbytes, ")");
      auto tensor = torch::empty(shape, torch::TensorOptions().dtype(dtype));
      std::memcpy(tensor.data_ptr(), payload.data() + offset, nbytes);
      WMARK_CHECK(key.tensors.emplace(name, tensor).second, path.string(), ": tensor '", name, "' appears twice");
      expected_offset += nbytes;
    }
    WMARK_CHECK(expected_offset == payload.size(), path.string(), ": ", payload.size() - expected_offset,
                " unexpected bytes after the key's tensors");
  } catch (const nlohmann::json::exception& error) {
    WMARK_FAIL(path.string(), ": malformed key header: ", error.what());
  }
  WMARK_CHECK(key.commitment() == stored, path.string(),
              ": commitment mismatch: the key's contents were altered or damaged; refusing to use it");
  return key;
}

nlohmann::json WatermarkKey::public_info() const {
  nlohmann::json info = {{"method", method},          {"num_classes", num_classes},
                         {"input_shape", input_shape}, {"normalization", normalization},
                         {"dataset", dataset},         {"created", created},
                         {"commitment", commitment()}, {"owner", secret.owner_public_key},
                         {"format", legacy_seed ? 1 : 2}};
  nlohmann::json shapes = nlohmann::json::object();
  for (const auto& [name, t] : tensors) shapes[name] = t.sizes().vec();
  info["tensors"] = shapes;
  if (!signature.is_null()) info["signature"] = signature;
  if (params.contains("generator")) info["generator"] = params["generator"];
  if (params.contains("label_policy")) info["label_policy"] = params["label_policy"];
  return info;
}

bool WatermarkKey::black_box() const { return is_black_box_method(method); }

bool WatermarkKey::one_target_class() const {
  return params.is_object() && params.value("label_policy", nlohmann::json()) == "target";
}

std::optional<KeyControls> WatermarkKey::controls() const {
  const auto found = tensors.find("control_images");
  if (found == tensors.end()) return std::nullopt;
  const auto& images = found->second;
  WMARK_CHECK(one_target_class(), "malformed key: control images belong to target-label trigger sets");
  const auto target = params.value("target_label", nlohmann::json());
  WMARK_CHECK(target.is_number_integer() && target.get<std::int64_t>() >= 0 && target.get<std::int64_t>() < num_classes,
              "malformed key: its control images need a target label in [0, ", num_classes, ")");
  WMARK_CHECK(images.dim() == 4 && images.size(0) >= 1 &&
                  ImageShape({images.size(1), images.size(2), images.size(3)}) == input_shape,
              "malformed trigger-set key: control images ", images.sizes(), " do not match its input shape");
  return KeyControls{images, target.get<std::int64_t>()};
}

std::string utc_now_iso8601() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

}  // namespace wmark
