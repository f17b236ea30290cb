#include "wmark/attack/combined.h"

#include <torch/torch.h>

#include "wmark/attack/input_transform.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {
namespace {

// Two input transforms, one after the other (each image by itself, as each of them).
class ChainedTransform : public InputTransform {
 public:
  ChainedTransform(std::shared_ptr<const InputTransform> first, std::shared_ptr<const InputTransform> then)
      : first_(std::move(first)), then_(std::move(then)) {}
  std::string name() const override { return first_->name() + "+" + then_->name(); }
  nlohmann::json options() const override {
    return {{first_->name(), first_->options()}, {then_->name(), then_->options()}};
  }
  at::Tensor apply(const at::Tensor& pixels) const override { return then_->apply(first_->apply(pixels)); }

 private:
  std::shared_ptr<const InputTransform> first_, then_;
};

}  // namespace

const OptionBinding<CombinedOptions>& CombinedAttack::declared_options() {
  static const auto binding = OptionBinding<CombinedOptions>("the combined attack")
      .describe("Stack attacks: each stage attacks the model of the stage before")
      .object(WMARK_OPTION_FIELD(first), "the first stage, {\"attack\": NAME, \"options\": {...}}")
      .object(WMARK_OPTION_FIELD(second), "the second stage, on the first one's model")
      .object(WMARK_OPTION_FIELD(third), "an optional third stage (empty: none)");
  return binding;
}

CombinedAttack::CombinedAttack(CombinedOptions options) : options_(declared_options().checked(options)) {
  const std::vector<std::pair<const char*, nlohmann::json>> given = {
      {"first", options_.first()}, {"second", options_.second()}, {"third", options_.third()}};
  for (const auto& [position, stage] : given) {
    if (stage.empty()) continue;
    WMARK_CHECK(stage.contains("attack") && stage.at("attack").is_string(), "combined: the ", position,
                " stage needs \"attack\": NAME, got ", stage.dump());
    for (const auto& item : stage.items()) {
      WMARK_CHECK(item.key() == "attack" || item.key() == "options", "combined: the ", position,
                  " stage has an unknown key '", item.key(), "' (use attack and options)");
    }
    const auto name = stage.at("attack").get<std::string>();
    WMARK_CHECK(name != "combined", "combined: a stage cannot itself be combined");
    stages_.push_back(attack_registry().create(name, stage.value("options", nlohmann::json::object())));
  }
  WMARK_CHECK(options_.third().empty() || !options_.second().empty(), "combined: a third stage needs a second");
  WMARK_CHECK(options_.second().empty() || !options_.first().empty(), "combined: a second stage needs a first");
}

bool CombinedAttack::queries_victim() const {
  for (const auto& stage : stages_) {
    if (!stage->queries_victim()) return false;
  }
  return true;
}

nlohmann::json CombinedAttack::options() const { return declared_options().write(options_); }

AttackResult CombinedAttack::run(Network& victim, const AttackContext& context) const {
  WMARK_CHECK(stages_.size() >= 2, "combined needs at least a first and a second stage, e.g. --first "
              "'{\"attack\":\"weight-shifting\"}' --second '{\"attack\":\"input-gaussian-smoothing\"}'");
  AttackResult result;
  result.arch = context.arch;
  auto stages = nlohmann::json::array();
  Network* input = &victim;
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    const auto& stage = *stages_[i];
    WMARK_CHECK(!result.deployment, "combined: the evasion stage must be the last one");
    AttackContext step = context;
    step.seed = derive_seed(context.seed, "combined-stage-" + std::to_string(i));
    if (result.arch != context.arch) {  // an earlier stage moved to another architecture
      WMARK_CHECK(context.make_arch, "combined: stage ", stage.name(), " follows a ", result.arch,
                  " copy but the context cannot build that architecture");
      step.arch = result.arch;
      step.make_model = [make = context.make_arch, arch = result.arch] { return make(arch); };
    }
    if (i > 0) step.victim_endpoint = nullptr;  // later stages attack the copy, not the deployed victim
    auto out = stage.run(*input, step);
    WMARK_CHECK(out.model, "combined: stage ", stage.name(), " yields no model to attack further");
    WMARK_CHECK(!out.deployment || !result.preprocess, "combined: an evasion stage cannot follow an input transform");
    if (out.preprocess) {
      result.preprocess =
          result.preprocess ? std::make_shared<ChainedTransform>(result.preprocess, out.preprocess) : out.preprocess;
    }
    result.deployment = out.deployment;
    result.model = out.model;
    result.arch = out.arch;
    input = result.model.get();
    stages.push_back({{"attack", stage.name()}, {"options", stage.options()}, {"details", out.details}});
  }
  result.details = {{"stages", stages}};
  return result;
}

}  // namespace wmark
