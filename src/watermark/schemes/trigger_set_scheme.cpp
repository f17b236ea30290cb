// "trigger-set": Zhang et al.'s black-box trigger sets (content, noise, unrelated and
// any registered generator), mixed into training batches (watermark/embed.h).
#include <torch/torch.h>

#include <variant>

#include "../derivation_support.h"
#include "builtin_schemes.h"
#include "wmark/util/error.h"
#include "wmark/watermark/embed.h"
#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark::schemes {
namespace {

using json = nlohmann::json;
using derivation::not_derivable;

class TriggerSetScheme final : public TriggerKeyScheme {
 public:
  explicit TriggerSetScheme(const json& options) : options_(schema().read(options)) {
    trigger_registry().create(options_.at("trigger").get<std::string>(), options_.at("trigger_options"));  // refuses bad generator options
  }

  std::string name() const override { return "trigger-set"; }

  OptionSchema schema() const override {
    const TriggerWatermarkOptions o;
    const TriggerSpec spec;
    auto schema = OptionSchema("the trigger-set scheme")
        .text("trigger", o.trigger(), "trigger generator", trigger_registry().names())
        .object("trigger_options", "the generator's options (JSON; on the command line --text, --sigma, ...)")
        .integer("trigger_size", spec.size, "number of triggers", 1, 100000)
        .text("label_policy", "auto",
              "target (one secret class), random (a keyed label per trigger) or auto (the generator's default: "
              "random for unrelated and noise triggers, target for content)",
              {"auto", "target", "random"})
        .integer("target_label", spec.target_label, "the target class (-1: drawn from the key secret)", -1);
    return with_trigger_training_options(schema);
  }

  json options() const override { return options_; }

  EmbedResult embed(const EmbedRequest& request) const override {
    TriggerSpec spec;
    spec.size = options_.at("trigger_size").get<std::int64_t>();
    spec.label_policy = options_.at("label_policy").get<std::string>();
    spec.target_label = options_.at("target_label").get<std::int64_t>();
    auto options = trigger_options_for(request, options_, options_.at("trigger").get<std::string>(), spec);
    options.trigger_options(options_.at("trigger_options"));
    auto result = embed_trigger_watermark(request.model, request.splits, request.training, options, request.info,
                                          request.pretrained);
    result.details.update(trigger_training_details(result, options.trigger()));
    return result;
  }

 private:
  json options_;
};

}  // namespace

// A secret target class is matched by chance at 1/C (a heuristic: a clean model's
// answers are not uniform); a keyed random label differs from a known source class,
// so at most 1/(C-1); unrelated and abstract images have no source class: 1/C.
double trigger_set_chance_rate(const json& params, std::int64_t num_classes) {
  const auto text = [&params](const char* name) {
    return params.is_object() && params.contains(name) && params[name].is_string() ? params[name].get<std::string>()
                                                                                     : std::string();
  };
  const double any = 1.0 / static_cast<double>(num_classes);
  if (text("label_policy") == "target") return any;
  const bool foreign = text("generator") == "unrelated" || text("generator") == "abstract";
  if (text("label_policy") == "random" && foreign) return any;
  return 1.0 / static_cast<double>(num_classes - 1);
}

KeyDerivation check_trigger_set_derivation(const WatermarkKey& key,
                                        const std::optional<std::filesystem::path>& data_dir) {
  const auto generator_name = key.params.value("generator", std::string());
  const auto options = key.params.value("generator_options", json::object());
  if (!options.is_object()) return not_derivable("its generator options are not an object");
  const auto text = [&options](const char* name) {
    return options.contains(name) && options[name].is_string() ? options[name].get<std::string>() : std::string();
  };
  if (generator_name == "content" && (!text("pattern").empty() || !text("mask").empty()))
    return not_derivable("its content stamp is a user image file, which the secret does not derive");
  if (generator_name == "unrelated" && !text("folder").empty())
    return not_derivable("its triggers are images from a user folder, which the secret does not derive");
  auto sources = derivation::public_sources(key, "trigger_sources", "triggers", data_dir);
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
  if (!derivation::same(key.tensor("images"), derived.images))
    return not_derivable("its trigger images are not the ones its secret derives");
  if (!derivation::same(labels, derived.labels))
    return not_derivable("its trigger labels are not the ones its secret derives");
  // Controls a key's holder chose could be images the suspect rarely gives the target.
  if (key.tensors.count("control_images")) {
    const auto& controls = key.tensor("control_images");
    if (spec.label_policy != "target" || controls.dim() != 4 || controls.size(0) < 1)
      return not_derivable("it holds control images, which only target-label keys have, one or more");
    at::Tensor derived_controls;
    try {
      derived_controls = control_images(train, spec, controls.size(0));
    } catch (const Error& error) {
      return not_derivable(std::string("its control images cannot be re-derived: ") + error.what());
    }
    if (!derivation::same(controls, derived_controls))
      return not_derivable("its control images are not the ones its secret derives");
  }
  return {true, ""};
}

double TriggerKeyScheme::chance_rate(const json& params, std::int64_t num_classes) const {
  return trigger_set_chance_rate(params, num_classes);
}

KeyDerivation TriggerKeyScheme::check_derivation(const WatermarkKey& key,
                                                 const std::optional<std::filesystem::path>& data_dir) const {
  return check_trigger_set_derivation(key, data_dir);
}

TriggerWatermarkOptions trigger_options_for(const EmbedRequest& request, const json& options,
                                            const std::string& generator, TriggerSpec spec) {
  const auto& train = request.splits.train;
  WMARK_CHECK(request.model, "no model to mark");
  check_model(*request.model, ModelSpec{train.shape(), train.num_classes},
              request.info.arch.empty() ? "the model" : request.info.arch);
  spec.secret = request.secret;
  spec.sources = request.public_train;  // anyone holding the public dataset re-derives the triggers
  spec.data_dir = request.data_dir;
  auto out = trigger_training_options(options, request.pretrained);
  out.trigger(generator).spec(spec);
  return out;
}

OptionSchema with_trigger_training_options(OptionSchema schema) {
  const TriggerWatermarkOptions o;
  return schema
      .number("trigger_ratio", o.embedder().trigger_ratio(),
              "trigger samples per clean sample in a batch (0 = automatic: 0.1, more for random labels on small data)",
              0.0, 4.0)
      .number("min_trigger_accuracy", o.min_trigger_accuracy(),
              "keep training after the last epoch until the triggers reach this accuracy", 0.0, 1.0)
      .integer("max_extra_epochs", o.max_extra_epochs(),
               "most extra epochs while the triggers are below min_trigger_accuracy (0 = none)", 0)
      .number("stop_at", o.embedder().stop_at_trigger_accuracy(),
              "stop once the trigger accuracy reaches this (0: 1.0 when fine-tuning a trained model, never from "
              "scratch)", 0.0, 1.0);
}

json trigger_training_details(const EmbedResult& result, const std::string& generator) {
  return {{"trigger", generator}, {"trigger_ratio", result.trigger_ratio}, {"extra_epochs", result.extra_epochs}};
}

TriggerWatermarkOptions trigger_training_options(const json& options, bool pretrained) {
  const auto stop_at = options.at("stop_at").get<double>();
  TriggerWatermarkOptions out;
  out.min_trigger_accuracy(options.at("min_trigger_accuracy").get<double>())
      .max_extra_epochs(options.at("max_extra_epochs").get<std::int64_t>());
  out.embedder(TriggerEmbedderOptions()
                   .trigger_ratio(options.at("trigger_ratio").get<double>())
                   .stop_at_trigger_accuracy(stop_at > 0 ? stop_at : (pretrained ? 1.0 : 0.0)));
  return out;
}

std::unique_ptr<Scheme> make_trigger_set(const json& options) { return std::make_unique<TriggerSetScheme>(options); }

}  // namespace wmark::schemes
