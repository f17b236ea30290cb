#include "wmark/serve/dawn.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "wmark/util/encoding.h"
#include "wmark/util/error.h"
#include "wmark/util/log.h"
#include "wmark/util/sha256.h"

namespace wmark {
namespace {

constexpr std::size_t kMaxLineBytes = 1 << 20;

}  // namespace

struct DawnAnswers::Impl {
  explicit Impl(WatermarkKey server_key) : key(std::move(server_key)), chooser(key) {}
  WatermarkKey key;
  DawnChooser chooser;
  std::filesystem::path log_path;
  std::int64_t max_entries = 0;
  int fd = -1;
  mutable std::mutex mutex;  // guards the log and the counters
  std::int64_t changed = 0, logged = 0;
  bool warned_full = false;
};

DawnAnswers::DawnAnswers(WatermarkKey server_key, std::filesystem::path log, std::int64_t max_log_entries)
    : impl_(std::make_unique<Impl>(std::move(server_key))) {
  auto& i = *impl_;
  i.log_path = std::move(log);
  i.max_entries = max_log_entries;
  WMARK_CHECK(max_log_entries >= 1, "the DAWN log must hold at least 1 entry");
  WMARK_CHECK(!i.log_path.empty(), "DAWN needs a log file for the changed answers");
  // Entries of earlier runs count towards the cap.
  if (std::filesystem::exists(i.log_path)) {
    std::ifstream in(i.log_path, std::ios::binary);
    WMARK_CHECK(in, "cannot read the DAWN log ", i.log_path.string());
    char buffer[1 << 16];
    while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
      for (std::streamsize k = 0; k < in.gcount(); ++k) i.logged += buffer[k] == '\n';
    }
  }
  i.fd = ::open(i.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  WMARK_CHECK(i.fd >= 0, "cannot open the DAWN log ", i.log_path.string(), ": ", std::strerror(errno));
}

DawnAnswers::~DawnAnswers() {
  if (impl_ && impl_->fd >= 0) ::close(impl_->fd);
}

std::int64_t DawnAnswers::apply(const at::Tensor& images, at::Tensor& logits, const std::string& client) {
  auto& i = *impl_;
  const auto n = images.size(0);
  const auto classes = i.key.num_classes;
  WMARK_CHECK(logits.dim() == 2 && logits.size(0) == n && logits.size(1) == classes,
              "DAWN: logits of shape ", logits.sizes(), " for ", n, " images of a ", classes, "-class key");
  const auto pixels = images.contiguous();
  const auto model_classes = logits.argmax(1);
  std::string lines;
  std::int64_t rows = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    const auto choice = i.chooser.choose(pixels[r]);
    if (!choice.changed) continue;
    const auto model_class = model_classes[r].item<std::int64_t>();
    const auto served = choice.served(model_class, classes);
    auto row = logits[r];
    const auto top = row[model_class].item<float>();
    row[model_class] = row[served].item<float>();
    row[served] = top;
    ++rows;
    const auto image = pixels[r];
    nlohmann::json entry{{"image", base64_encode(std::string_view(reinterpret_cast<const char*>(image.data_ptr<std::uint8_t>()),
                                                                  static_cast<std::size_t>(image.numel())))},
                         {"label", served},
                         {"model_label", model_class},
                         {"time", utc_now_iso8601()},
                         {"client", client}};
    lines += entry.dump() + "\n";
  }
  if (rows == 0) return 0;
  std::lock_guard<std::mutex> lock(i.mutex);
  i.changed += rows;
  std::size_t begin = 0;
  while (begin < lines.size() && i.logged < i.max_entries) {
    const auto end = lines.find('\n', begin) + 1;
    const auto* data = lines.data() + begin;
    std::size_t left = end - begin;
    while (left > 0) {
      const auto written = ::write(i.fd, data, left);
      if (written < 0 && errno == EINTR) continue;
      WMARK_CHECK(written > 0, "cannot append to the DAWN log ", i.log_path.string(), ": ", std::strerror(errno));
      data += written;
      left -= static_cast<std::size_t>(written);
    }
    ++i.logged;
    begin = end;
  }
  if (begin < lines.size() && !i.warned_full) {
    i.warned_full = true;
    logger()->warn("dawn: the log {} holds {} entries, its cap; further changed answers are not logged",
                   i.log_path.string(), i.max_entries);
  }
  return rows;
}

std::int64_t DawnAnswers::changed() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->changed;
}

std::int64_t DawnAnswers::logged() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->logged;
}

const WatermarkKey& DawnAnswers::server_key() const { return impl_->key; }

WatermarkKey dawn_proof_key(const WatermarkKey& server_key, const std::filesystem::path& log,
                            std::int64_t max_entries) {
  const DawnChooser chooser(server_key);
  const auto& shape = server_key.input_shape;
  const auto classes = server_key.num_classes;
  const auto image_bytes = static_cast<std::size_t>(shape.channels * shape.height * shape.width);
  std::ifstream in(log, std::ios::binary);
  WMARK_CHECK(in, "cannot read the DAWN log ", log.string());

  // bucket -> (pixels, served, model's), the first logged image of each bucket
  std::map<std::string, std::tuple<std::string, std::int64_t, std::int64_t>> entries;
  std::vector<std::string> order;
  Sha256 digest;
  std::string line;
  std::int64_t number = 0;
  const auto fail = [&](const std::string& why) { WMARK_FAIL("DAWN log ", log.string(), " line ", number, ": ", why); };
  const auto take_line = [&] {
    ++number;
    if (number > max_entries) WMARK_FAIL("DAWN log ", log.string(), " holds more than ", max_entries, " entries");
    digest.update(line + "\n");
    const auto entry = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    line.clear();
    if (!entry.is_object() || !entry.contains("image") || !entry["image"].is_string() || !entry.contains("label") ||
        !entry["label"].is_number_integer() || !entry.contains("model_label") ||
        !entry["model_label"].is_number_integer())
      fail("not a DAWN entry {\"image\", \"label\", \"model_label\"}");
    const auto pixels = base64_decode(entry["image"].get<std::string>(), image_bytes);
    if (!pixels || pixels->size() != image_bytes) fail("the image is not " + std::to_string(image_bytes) + " base64 pixels");
    const auto served = entry["label"].get<std::int64_t>(), model = entry["model_label"].get<std::int64_t>();
    if (served < 0 || served >= classes || model < 0 || model >= classes) fail("a class outside 0.." + std::to_string(classes - 1));
    const auto image = torch::from_blob(const_cast<char*>(pixels->data()), {shape.channels, shape.height, shape.width},
                                        torch::kUInt8);
    auto bucket = chooser.bucket(image);
    const auto choice = chooser.choice_of(bucket);
    if (!choice.changed || choice.served(model, classes) != served)
      fail("this answer is not one the server key changes: the log does not belong to this key, or was edited");
    if (entries.emplace(bucket, std::tuple{*pixels, served, model}).second) order.push_back(std::move(bucket));
  };
  // Read in blocks: a log of a million entries is ~1 GB.
  std::vector<char> block(1 << 16);
  while (in.read(block.data(), static_cast<std::streamsize>(block.size())) || in.gcount() > 0) {
    const char* at = block.data();
    const char* const end = at + in.gcount();
    while (at < end) {
      const auto* newline = static_cast<const char*>(std::memchr(at, '\n', static_cast<std::size_t>(end - at)));
      line.append(at, newline ? newline : end);
      if (line.size() > kMaxLineBytes) {
        ++number;
        fail("longer than 1 MiB");
      }
      if (!newline) break;
      take_line();
      at = newline + 1;
    }
  }
  if (!line.empty()) ++number, fail("truncated (no final newline)");
  WMARK_CHECK(!entries.empty(), "DAWN log ", log.string(), " holds no changed answer yet");

  const auto n = static_cast<std::int64_t>(order.size());
  auto images = torch::empty({n, shape.channels, shape.height, shape.width}, torch::kUInt8);
  auto labels = torch::empty({n}, torch::kLong), model_labels = torch::empty({n}, torch::kLong);
  for (std::int64_t k = 0; k < n; ++k) {
    const auto& [pixels, served, model] = entries.at(order[static_cast<std::size_t>(k)]);
    std::memcpy(images[k].data_ptr<std::uint8_t>(), pixels.data(), image_bytes);
    labels[k] = served;
    model_labels[k] = model;
  }
  WatermarkKey key = server_key;
  key.salt = WatermarkKey().salt;  // a fresh salt: each proof key is its own commitment
  key.created = utc_now_iso8601();
  key.params = server_key.params;  // the rate and the keying
  key.params["log_entries"] = number;
  key.params["log_sha256"] = to_hex(digest.finish());
  key.tensors = {{"images", images}, {"labels", labels}, {"model_labels", model_labels}};
  return key;
}

}  // namespace wmark
