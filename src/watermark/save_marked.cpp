#include "wmark/watermark/save_marked.h"

#include "wmark/util/error.h"
#include "wmark/util/files.h"

namespace fs = std::filesystem;

namespace wmark {

void save_marked_model(const WatermarkKey& key, const fs::path& key_path, torch::nn::Module& model,
                       const CheckpointInfo& info, const fs::path& model_path, bool force) {
  WMARK_CHECK(fs::absolute(key_path).lexically_normal() != fs::absolute(model_path).lexically_normal(),
              "the model and its key must be different files (both are ", model_path.string(), ")");
  check_writable(key_path, force);
  check_writable(model_path, force);
  key.save(key_path, force);
  try {
    save_checkpoint(model_path, model, info, nullptr, force);
  } catch (...) {
    std::error_code ignored;  // the model's error is the one to report
    fs::remove(key_path, ignored);
    throw;
  }
}

}  // namespace wmark
