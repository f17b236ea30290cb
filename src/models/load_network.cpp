#include "wmark/models/load_network.h"

#include "wmark/models/module_adapter.h"
#include "wmark/models/registry.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "checkpoint_screen.h"

namespace wmark {

bool is_checkpoint_file(const std::filesystem::path& path) {
  return passes_checkpoint_screen(read_file(path), path.string());  // runs nothing in the file
}

LoadedNetwork load_network(const std::filesystem::path& path, const std::string& arch,
                           const std::optional<DatasetTraits>& traits, c10::Device device) {
  LoadedNetwork out;
  const auto name = path.string();
  // Without traits only a checkpoint can be opened: no probe. Otherwise the file is read
  // and screened once, and a checkpoint is loaded from those bytes.
  const auto expected = arch.empty() ? std::nullopt : std::optional<std::string>(arch);
  std::string bytes;
  const bool probe = arch.empty() && traits;
  if (probe) {
    WMARK_CHECK(std::filesystem::is_regular_file(path), "model file ", name, " does not exist");
    bytes = read_file(path);
  }
  if (!probe || passes_checkpoint_screen(bytes, name)) {
    auto loaded = probe ? load_screened_checkpoint(bytes, path, expected, model_registry())
                        : load_checkpoint(path, expected);
    out.model = loaded.model;
    out.arch = loaded.info.arch;
    out.spec = loaded.info.spec;
    out.normalization = loaded.info.normalization;
    out.description = "checkpoint " + name + " (" + out.arch + ")";
    out.checkpoint = std::move(loaded.info);
    if (traits) {
      WMARK_CHECK(out.spec.input == traits->input && out.spec.num_classes == traits->num_classes, "model ", name,
                  " was built for ", out.spec.input.str(), " inputs and ", out.spec.num_classes, " classes, not the ",
                  traits->input.str(), " and ", traits->num_classes, " expected");
    }
  } else {
    WMARK_CHECK(traits, name, " is not a wmark checkpoint; opening it as TorchScript needs the dataset it was "
                "trained on (its input shape, class count and normalisation)");
    std::string().swap(bytes);  // not held while LibTorch reads the file its own way
    out.model = load_script_network(path, device);
    out.arch = "torchscript";
    out.spec = {traits->input, traits->num_classes};
    out.normalization = traits->normalization;
    out.description = "TorchScript model " + name;
  }
  out.model->to(device);
  out.model->eval();
  return out;
}

}  // namespace wmark
