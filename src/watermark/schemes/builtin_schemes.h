// Internal: the factories of the built-in schemes, one per file of this folder.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "wmark/watermark/embed.h"
#include "wmark/watermark/scheme.h"

namespace wmark::schemes {

std::unique_ptr<Scheme> make_trigger_set(const nlohmann::json& options);
std::unique_ptr<Scheme> make_output_keys(const nlohmann::json& options);
std::unique_ptr<Scheme> make_uchida(const nlohmann::json& options);
std::unique_ptr<Scheme> make_deepsigns(const nlohmann::json& options);
std::unique_ptr<Scheme> make_adi(const nlohmann::json& options);
std::unique_ptr<Scheme> make_frontier_stitching(const nlohmann::json& options);
std::unique_ptr<Scheme> make_blackmarks(const nlohmann::json& options);
std::unique_ptr<Scheme> make_deepmarks(const nlohmann::json& options);
std::unique_ptr<Scheme> make_dawn(const nlohmann::json& options);
std::unique_ptr<Scheme> make_margin(const nlohmann::json& options);
std::unique_ptr<Scheme> make_certified(const nlohmann::json& options);
std::unique_ptr<Scheme> make_ewe(const nlohmann::json& options);

// The options of schemes that mix triggers into training (trigger_ratio,
// min_trigger_accuracy, max_extra_epochs, stop_at), declared once for all of them.
OptionSchema with_trigger_training_options(OptionSchema schema);

// A scheme whose keys are trigger sets (trigger-set, margin, certified): black-box, with
// the trigger-set chance rate and derivation below.
class TriggerKeyScheme : public Scheme {
 public:
  KeyKind key_kind() const override { return KeyKind::black_box; }
  double chance_rate(const nlohmann::json& params, std::int64_t num_classes) const override;
  KeyDerivation check_derivation(const WatermarkKey& key,
                                 const std::optional<std::filesystem::path>& data_dir) const override;
};

// The trigger-training options of `options` (with_trigger_training_options) for
// `generator` and `spec`, whose secret, public sources and data folder come from
// `request`; the request's model is checked against its training data first.
TriggerWatermarkOptions trigger_options_for(const EmbedRequest& request, const nlohmann::json& options,
                                            const std::string& generator, TriggerSpec spec);

// The chance rate of a trigger-set key's params: 1/C for one target class or random
// labels on foreign images, else 1/(C-1) (schemes whose keys are trigger sets share it).
double trigger_set_chance_rate(const nlohmann::json& params, std::int64_t num_classes);

// Whether a trigger-set key (any generator) is what its secret derives from the public
// training split its params name.
KeyDerivation check_trigger_set_derivation(const WatermarkKey& key,
                                          const std::optional<std::filesystem::path>& data_dir);

// Those options, read from a scheme's options, as TriggerWatermarkOptions (stop_at 0:
// 1.0 when fine-tuning a trained model, never from scratch).
TriggerWatermarkOptions trigger_training_options(const nlohmann::json& options, bool pretrained);

// The details every scheme that mixes triggers into training reports: its generator,
// the trigger ratio and the consolidation epochs.
nlohmann::json trigger_training_details(const EmbedResult& result, const std::string& generator);

}  // namespace wmark::schemes
