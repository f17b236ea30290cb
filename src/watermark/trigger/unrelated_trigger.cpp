#include "wmark/watermark/trigger/unrelated_trigger.h"

#include <torch/torch.h>

#include "wmark/data/catalog.h"
#include "wmark/data/image_file.h"
#include "wmark/util/error.h"

namespace wmark {

const OptionBinding<UnrelatedTriggerOptions>& UnrelatedTrigger::declared_options() {
  static const auto binding = OptionBinding<UnrelatedTriggerOptions>("the unrelated trigger")
      .describe("images of another dataset or a folder (Zhang et al.)")
      .text(WMARK_OPTION_FIELD(source), "source dataset (default: fashion for MNIST models, else mnist)")
      .flag("unrelated-source")
      .text(WMARK_OPTION_FIELD(folder), "a folder of images instead of a dataset")
      .flag("unrelated-dir");
  return binding;
}

UnrelatedTrigger::UnrelatedTrigger(UnrelatedTriggerOptions options) : options_(declared_options().checked(options)) {
  if (!options_.source().empty()) options_.source(canonical_dataset_name(options_.source()));
}

nlohmann::json UnrelatedTrigger::options() const { return declared_options().write(options_); }

std::string UnrelatedTrigger::source_for(const std::string& dataset) const {
  if (!options_.source().empty()) return options_.source();
  return dataset == "mnist" ? "fashion" : "mnist";
}

TriggerSet UnrelatedTrigger::generate(const Dataset& train, const TriggerSpec& spec) const {
  WMARK_CHECK(spec.size >= 1, "trigger set size must be at least 1, got ", spec.size);
  const auto shape = train.shape();
  torch::Tensor pool;  // uint8 [M,C',H',W'] candidates
  if (!options_.folder().empty()) {
    const auto files = list_images(options_.folder());
    WMARK_CHECK(static_cast<std::int64_t>(files.size()) >= spec.size, "folder ", options_.folder(), " has ",
                files.size(), " images, fewer than the ", spec.size, " triggers asked for");
    std::vector<torch::Tensor> images;
    for (const auto& file : files) {
      images.push_back(convert_images(read_image(file).unsqueeze(0), shape.channels, shape.height, shape.width));
    }
    pool = torch::cat(images);
  } else {
    const auto source = source_for(train.name);
    WMARK_CHECK(source != train.name, "unrelated triggers must come from another dataset than '", train.name, "'");
    // The given data folder first, the standard lookup otherwise: the source domain is
    // often not beside the model's own dataset.
    const bool in_dir = spec.data_dir && locate_dataset(source, spec.data_dir);
    pool = load_training_split(source, in_dir ? spec.data_dir : std::nullopt).images;
  }
  WMARK_CHECK(pool.size(0) >= spec.size, "only ", pool.size(0), " unrelated images for ", spec.size, " triggers");
  auto index = spec.secret.stream("unrelated-sources").sample(pool.size(0), spec.size);
  TriggerSet set;
  set.images = convert_images(pool.index_select(0, index), shape.channels, shape.height, shape.width);
  set.source_labels = torch::full({spec.size}, -1, torch::kLong);
  set.labels = assign_labels(set.source_labels, spec, train.num_classes);
  return set;
}

}  // namespace wmark
