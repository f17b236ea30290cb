#include "wmark/models/load_network.h"

#include "wmark/models/module_adapter.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "checkpoint_screen.h"

namespace wmark {

bool is_checkpoint_file(const std::filesystem::path& path) {
  try {
    screen_checkpoint(read_file(path), path.string());  // runs nothing in the file
    return true;
  } catch (const Error&) {
    return false;
  }
}

LoadedNetwork load_network(const std::filesystem::path& path, const std::string& arch,
                           const std::optional<DatasetTraits>& traits, c10::Device device) {
  LoadedNetwork out;
  const auto name = path.string();
  // Without traits only a checkpoint can be opened: load it once, no probe first (a probe
  // is a full read of the file).
  if (!arch.empty() || !traits || is_checkpoint_file(path)) {
    auto loaded = load_checkpoint(path, arch.empty() ? std::nullopt : std::optional<std::string>(arch));
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
