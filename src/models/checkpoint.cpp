#include "wmark/models/checkpoint.h"

#include <torch/torch.h>

#include <sstream>

#include "wmark/models/hidden_units.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/json_limits.h"
#include "checkpoint_screen.h"

namespace fs = std::filesystem;

namespace wmark {
namespace {

constexpr const char* kMetaKey = "wmark_meta";
constexpr const char* kFormat = "wmark-checkpoint-1";

nlohmann::json info_to_json(const CheckpointInfo& info) {
  return {{"format", kFormat},          {"arch", info.arch},
          {"input", info.spec.input},   {"num_classes", info.spec.num_classes},
          {"dataset", info.dataset},    {"normalization", info.normalization},
          {"epoch", info.epoch},        {"extra", info.extra}};
}

// `bytes` (the contents of `path`, screened) as a LibTorch archive.
torch::serialize::InputArchive open_screened_archive(const std::string& bytes, const fs::path& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(bytes.data(), bytes.size());
  } catch (const c10::Error& error) {
    WMARK_FAIL(path.string(), " is not a wmark checkpoint (LibTorch cannot read it as an archive)",
               "; a TorchScript model is verified without --arch");
  }
  return archive;
}

// Read once and screened before LibTorch sees it: loading an archive runs its code.
std::string read_screened(const fs::path& path) {
  WMARK_CHECK(fs::is_regular_file(path), "model file ", path.string(), " does not exist");
  auto bytes = read_file(path);
  screen_checkpoint(bytes, path.string());
  return bytes;
}

torch::serialize::InputArchive open_archive(const fs::path& path) {
  return open_screened_archive(read_screened(path), path);
}

CheckpointInfo read_info(torch::serialize::InputArchive& archive, const fs::path& path) {
  c10::IValue meta;
  WMARK_CHECK(archive.try_read(kMetaKey, meta) && meta.isString(), path.string(),
              " is a LibTorch archive but not a wmark checkpoint (no metadata record)");
  nlohmann::json j;
  try {
    check_json_nesting(meta.toStringRef(), kMaxJsonDepth, path.string());
    j = nlohmann::json::parse(meta.toStringRef());
    WMARK_CHECK(j.value("format", "") == kFormat, path.string(), ": unsupported checkpoint format '",
                j.value("format", ""), "'");
    CheckpointInfo info;
    info.arch = j.at("arch").get<std::string>();
    info.spec.input = j.at("input").get<ImageShape>();
    info.spec.num_classes = j.at("num_classes").get<std::int64_t>();
    info.dataset = j.at("dataset").get<std::string>();
    info.normalization = j.at("normalization").get<Normalization>();
    info.epoch = j.at("epoch").get<std::int64_t>();
    info.extra = j.at("extra");
    return info;
  } catch (const nlohmann::json::exception& error) {
    WMARK_FAIL(path.string(), ": damaged checkpoint metadata: ", error.what());
  }
}

std::string shape_str(const torch::Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? "," : "") + std::to_string(t.size(i));
  return out + "]";
}

void read_tensors(torch::serialize::InputArchive& archive, const fs::path& path,
                  torch::nn::Module& model, const std::string& arch) {
  torch::NoGradGuard no_grad;
  auto copy = [&](const std::string& name, torch::Tensor& target, bool is_buffer) {
    torch::Tensor stored;
    WMARK_CHECK(archive.try_read("model." + name, stored, is_buffer), path.string(),
                " does not match architecture '", arch, "': it has no tensor '", name, "'");
    WMARK_CHECK(stored.sizes() == target.sizes(), path.string(), " does not match architecture '",
                arch, "': '", name, "' is ", shape_str(stored), " in the file but ",
                shape_str(target), " in the model");
    target.copy_(stored);
  };
  for (auto& item : model.named_parameters()) copy(item.key(), item.value(), false);
  for (auto& item : model.named_buffers()) copy(item.key(), item.value(), true);
}

}  // namespace

void save_checkpoint(const fs::path& path, torch::nn::Module& model, const CheckpointInfo& info,
                     torch::optim::Optimizer* optimizer, bool force) {
  check_writable(path, force);
  torch::serialize::OutputArchive archive;
  archive.write(kMetaKey, c10::IValue(info_to_json(info).dump()));
  for (const auto& item : model.named_parameters()) archive.write("model." + item.key(), item.value());
  for (const auto& item : model.named_buffers()) archive.write("model." + item.key(), item.value(), true);
  if (optimizer) {
    torch::serialize::OutputArchive state;
    optimizer->save(state);
    archive.write("optimizer", state);
  }
  // Serialised in memory, then written by write_file_atomic: LibTorch's own file writer
  // would follow a symlink planted at the temporary path.
  std::ostringstream bytes;
  try {
    archive.save_to(bytes);
  } catch (const c10::Error& error) {
    WMARK_FAIL("cannot write ", path.string(), ": ", error.what_without_backtrace());
  }
  write_file_atomic(path, bytes.str(), force);
}

CheckpointInfo read_checkpoint_info(const fs::path& path) {
  auto archive = open_archive(path);
  return read_info(archive, path);
}

void load_weights(const fs::path& path, torch::nn::Module& model) {
  auto archive = open_archive(path);
  auto info = read_info(archive, path);
  read_tensors(archive, path, model, info.arch);
}

void load_optimizer_state(const fs::path& path, torch::optim::Optimizer& optimizer) {
  auto archive = open_archive(path);
  torch::serialize::InputArchive state;
  WMARK_CHECK(archive.try_read("optimizer", state), path.string(),
              " has no optimizer state; it cannot be resumed from");
  try {
    optimizer.load(state);
  } catch (const c10::Error& error) {
    WMARK_FAIL(path.string(), ": optimizer state does not match this optimizer: ",
               error.what_without_backtrace());
  }
}

LoadedModel load_screened_checkpoint(const std::string& bytes, const fs::path& path,
                                     const std::optional<std::string>& expected_arch, const ModelRegistry& registry) {
  auto archive = open_screened_archive(bytes, path);
  LoadedModel loaded;
  loaded.info = read_info(archive, path);
  WMARK_CHECK(!expected_arch || *expected_arch == loaded.info.arch, path.string(),
              " holds a '", loaded.info.arch, "' model, not '", *expected_arch, "'");
  loaded.model = registry.create(loaded.info.arch, loaded.info.spec);
  // A thief's added units (dummy neurons) widen layers: build at the file's widths.
  match_unit_widths(
      *loaded.model,
      [&](const std::string& weight) -> std::optional<std::int64_t> {
        torch::Tensor stored;
        if (!archive.try_read("model." + weight, stored) || stored.dim() < 1) return std::nullopt;
        return stored.size(0);
      },
      path.string());
  read_tensors(archive, path, *loaded.model, loaded.info.arch);
  loaded.model->eval();
  return loaded;
}

LoadedModel load_checkpoint(const fs::path& path, const std::optional<std::string>& expected_arch,
                            const ModelRegistry& registry) {
  return load_screened_checkpoint(read_screened(path), path, expected_arch, registry);
}

}  // namespace wmark
