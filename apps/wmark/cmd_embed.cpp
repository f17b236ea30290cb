// wmark embed: train (or fine-tune) a model with a watermark (a trigger set, DeepSigns
// output-layer keys, DeepSigns bits in a layer's activations, or Uchida bits in a
// convolution's weights); write the model and the secret key.
#include <torch/torch.h>

#include <iostream>

#include "commands.h"
#include "wmark/claim/claim.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/registry.h"
#include "wmark/train/recipe.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/log.h"
#include "wmark/train/evaluate.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/embed.h"
#include "wmark/watermark/output_keys.h"
#include "wmark/watermark/save_marked.h"
#include "wmark/watermark/whitebox/deepsigns.h"
#include "wmark/watermark/whitebox/uchida.h"

namespace wmark::cli {
namespace {

struct EmbedCommand {
  DataFlags data;
  TrainFlags train;
  std::string model, from, out, key_out, metrics;
  std::string method = "trigger-set";
  // White-box marks (uchida, deepsigns) and output-layer keys.
  std::string layer, signature, signature_file;
  std::int64_t bits = 64, key_inputs = 100;
  double strength = 0, compactness = 0.01;
  std::vector<std::int64_t> target_classes;
  std::vector<std::string> references;
  std::string key_source = "noise";
  std::string trigger = "content", label_policy = "auto";
  std::int64_t trigger_size = 100, target_label = -1;
  double trigger_ratio = 0, stop_at = 0, min_trigger_accuracy = 0.95;
  std::int64_t max_extra_epochs = 5;
  // Generator options.
  std::string text = "TEST", pattern, mask, unrelated_source, unrelated_dir;
  std::int64_t stamp_x = -1, stamp_y = -1, scale = 1;
  double intensity = 1.0, sigma = 0.4;
  bool force = false;
  std::string sign;  // the owner's identity (.key) that signs the watermark key
  std::string key_secret;  // 64 hex digits for a reproducible key; default: the OS CSPRNG
  bool record_commitment = false;
};

// The key's secret: --key-secret or fresh from the OS CSPRNG, bound to the signing owner,
// and the same on every rank (rank 0's, broadcast): the ranks must train one trigger set.
KeySecret make_key_secret(const EmbedCommand& c, const Identity* owner, const std::shared_ptr<ProcessGroup>& group) {
  KeySecret secret;
  if (!c.key_secret.empty()) {
    secret = KeySecret::from_hex(c.key_secret);
    logger()->warn("--key-secret: this key is only as secret as the value given; use it for tests and examples, "
                   "never for a model you may need to defend");
  }
  if (owner) secret.owner_public_key = owner->public_key();
  if (group && group->world_size() > 1) {
    auto packed = torch::zeros({32 + 64}, torch::kUInt8);
    if (group->rank() == 0) {
      std::copy(secret.value.begin(), secret.value.end(), packed.data_ptr<std::uint8_t>());
      std::copy(secret.owner_public_key.begin(), secret.owner_public_key.end(), packed.data_ptr<std::uint8_t>() + 32);
    }
    group->broadcast({packed});
    const auto* bytes = packed.data_ptr<std::uint8_t>();
    std::copy(bytes, bytes + 32, secret.value.begin());
    secret.owner_public_key.assign(reinterpret_cast<const char*>(bytes) + 32, bytes[32] ? 64 : 0);
    packed.zero_();
  }
  return secret;
}

// The model's metadata names the key's commitment only when asked: it tells a thief
// which model is marked.
nlohmann::json model_extra(const EmbedCommand& c, double test_accuracy, const std::string& commitment) {
  nlohmann::json extra = {{"test_accuracy", test_accuracy}};
  if (c.record_commitment) extra["watermark"] = commitment;
  return extra;
}

// Signs the key as the owner when --sign was given; the key file stays secret either way.
void sign_if_asked(WatermarkKey& key, const std::shared_ptr<const Identity>& owner) {
  if (!owner) return;
  sign_key(key, *owner);
  std::cout << "key signed by identity " << owner->fingerprint() << "\n";
}

nlohmann::json generator_options(const EmbedCommand& c) {
  if (c.trigger == "content") {
    return {{"text", c.text}, {"pattern", c.pattern}, {"mask", c.mask}, {"x", c.stamp_x},
            {"y", c.stamp_y}, {"scale", c.scale},     {"intensity", c.intensity}};
  }
  if (c.trigger == "noise") return {{"sigma", c.sigma}};
  if (c.trigger == "unrelated") return {{"source", c.unrelated_source}, {"folder", c.unrelated_dir}};
  return nlohmann::json::object();
}

std::string signature_text(const EmbedCommand& c) {
  if (c.signature_file.empty()) return c.signature;
  auto text = read_file(c.signature_file);
  WMARK_CHECK(!text.empty(), c.signature_file, ": the signature file is empty");
  return text;
}

// White-box marks: the same training with a loss term from one layer.
int run_embed_white_box(const EmbedCommand& c, const LoadedData& data, CheckpointInfo info, NetworkPtr model,
                        const TrainerOptions& training, int threads, bool pretrained,
                        const std::shared_ptr<const Identity>& owner, const KeySecret& secret) {
  std::shared_ptr<Embedder> embedder;
  if (c.method == "uchida") {
    auto options = UchidaOptions().layer(c.layer).bits(c.bits).signature(signature_text(c)).secret(secret);
    if (c.strength > 0) options.strength(c.strength);
    embedder = make_uchida_embedder(*model, data.splits.train, options, info.arch);
  } else {
    auto options = DeepSignsOptions().layer(c.layer).bits(c.bits).signature(signature_text(c))
                       .target_classes(c.target_classes).key_inputs(c.key_inputs).compactness(c.compactness)
                       .secret(secret)
                       .sources(data.public_train);  // key inputs anyone holding the dataset re-derives
    if (c.strength > 0) options.strength(c.strength);
    embedder = make_deepsigns_embedder(model, data.splits.train, options, info.arch);
  }
  const double before = pretrained ? accuracy(*model, data.splits.test, training.device()) : -1;
  Trainer trainer(model, training, info);
  trainer.add_hook(embedder);
  auto result = trainer.fit(data.splits.train, &data.splits.test);
  auto key = embedder->key();
  embedder.reset();  // releases the captured layer before the model is saved
  if (training.process_group() && training.process_group()->rank() != 0) return 0;
  sign_if_asked(key, owner);
  const auto report = Verifier().verify_white_box(*model, key, "embedded model");
  const std::string commitment = key.commitment();
  info.epoch = static_cast<std::int64_t>(result.history.size());
  info.extra = model_extra(c, result.test_accuracy, commitment);
  save_marked_model(key, c.key_out, *model, info, c.out, c.force);  // the key first; neither if one fails
  auto metrics = training_metrics(data.name, info.arch, data.splits.train.size(), threads, result);
  metrics.update({{"method", c.method}, {"layer", key.params["layer"]}, {"bits", c.bits},
                  {"bit_error_rate", report.bit_error_rate}, {"key_commitment", commitment}});
  if (pretrained) metrics["test_accuracy_before"] = before;
  if (!c.metrics.empty()) write_json(c.metrics, metrics, c.force);
  std::cout << "model: " << c.out << "\nkey: " << c.key_out << " (secret; keep it private)\n"
            << "test_accuracy: " << result.test_accuracy << "\nbit_error_rate: " << report.bit_error_rate
            << "\nkey_commitment: " << commitment << "\n";
  return 0;
}

int run_embed(const EmbedCommand& c) {
  WMARK_CHECK(c.out != c.key_out, "--out and --key-out must be different files");
  const int threads = setup_runtime(c.train.threads);
  const auto group = join_group(c.train);  // null unless data-parallel
  const bool lead = writes_outputs(group);  // rank 0 writes the model, the key and the metrics
  if (lead) {
    check_writable(c.out, c.force);
    check_writable(c.key_out, c.force);
    if (!c.metrics.empty()) check_writable(c.metrics, c.force);
  }
  // Read the identity before training, so that a wrong path fails in a second, not after an hour.
  const auto owner = c.sign.empty() || !lead ? nullptr : std::make_shared<const Identity>(Identity::load(c.sign));
  auto data = load_data(c.data);
  auto recipe = default_recipe(data.name);

  CheckpointInfo info;
  info.dataset = data.name;
  info.spec = {data.splits.train.shape(), data.splits.train.num_classes};
  info.normalization = data.splits.train.normalization;
  NetworkPtr model;
  const bool pretrained = !c.from.empty();
  if (pretrained) {
    auto loaded = load_checkpoint(c.from, c.model.empty() ? std::nullopt : std::optional<std::string>(c.model));
    WMARK_CHECK(loaded.info.spec.input == info.spec.input && loaded.info.spec.num_classes == info.spec.num_classes,
                c.from, " was built for ", loaded.info.spec.input.str(), " inputs and ", loaded.info.spec.num_classes,
                " classes, but ", data.name, " has ", info.spec.input.str(), " and ", info.spec.num_classes);
    model = loaded.model;
    info.arch = loaded.info.arch;
    // Fine-tuning: a tenth of the recipe's LR, a short budget, stop once the triggers are learnt.
    recipe.options.lr(recipe.options.lr() * 0.1).epochs(5).schedule("none");
  } else {
    info.arch = c.model.empty() ? recipe.arch : c.model;
    torch::manual_seed(c.data.seed);
    model = model_registry().create(info.arch, info.spec);
  }
  auto training = make_trainer_options(recipe.options, c.train, c.data.seed, c.force, group);
  const auto secret = make_key_secret(c, owner.get(), group);
  if (c.method == "uchida" || c.method == "deepsigns") {
    return run_embed_white_box(c, data, info, model, training, threads, pretrained, owner, secret);
  }

  TriggerSpec spec;
  spec.size = c.trigger_size;
  spec.label_policy = c.label_policy;
  spec.target_label = c.target_label;
  spec.secret = secret;
  spec.sources = data.public_train;  // anyone holding the public dataset re-derives the triggers
  if (!c.data.data_dir.empty()) spec.data_dir = c.data.data_dir;
  TriggerWatermarkOptions options;
  options.trigger(c.trigger).trigger_options(generator_options(c)).spec(spec);
  options.min_trigger_accuracy(c.min_trigger_accuracy).max_extra_epochs(c.max_extra_epochs);
  options.embedder(TriggerEmbedderOptions().trigger_ratio(c.trigger_ratio).stop_at_trigger_accuracy(
      c.stop_at > 0 ? c.stop_at : (pretrained ? 1.0 : 0.0)));

  EmbedResult result;
  if (c.method == "deepsigns-output") {
    std::vector<NetworkPtr> references;
    for (const auto& path : c.references) {
      auto reference = load_checkpoint(path).model;
      reference->to(training.device());
      references.push_back(reference);
    }
    auto keys = OutputKeyOptions().keys(c.trigger_size).source(c.key_source).secret(secret);
    keys.min_keys(std::min<std::int64_t>(keys.min_keys(), c.trigger_size));
    result = embed_output_keys(model, data.splits, training, keys, references, info, pretrained);
  } else {
    result = embed_trigger_watermark(model, data.splits, training, options, info, pretrained);
  }
  if (!lead) return 0;
  sign_if_asked(result.key, owner);
  const std::string commitment = result.key.commitment();  // hashes every trigger byte: once
  info.epoch = static_cast<std::int64_t>(result.training.history.size());
  info.extra = model_extra(c, result.clean_accuracy_after, commitment);
  save_marked_model(result.key, c.key_out, *model, info, c.out, c.force);

  auto metrics = training_metrics(data.name, info.arch, data.splits.train.size(), threads, result.training);
  metrics.update({{"method", result.key.method},
                  {"trigger", c.method == "deepsigns-output" ? std::string("deepsigns-output") : c.trigger},
                  {"trigger_size", result.key.tensor("labels").size(0)},
                  {"test_accuracy", result.clean_accuracy_after},
                  {"trigger_accuracy", result.trigger_accuracy},
                  {"trigger_ratio", result.trigger_ratio},
                  {"extra_epochs", result.extra_epochs},
                  {"key_commitment", commitment}});
  if (pretrained) metrics["test_accuracy_before"] = result.clean_accuracy_before;
  if (!c.metrics.empty()) write_json(c.metrics, metrics, c.force);
  std::cout << "model: " << c.out << "\nkey: " << c.key_out << " (secret; keep it private)\n";
  if (pretrained) std::cout << "test_accuracy_before: " << result.clean_accuracy_before << "\n";
  std::cout << "test_accuracy: " << result.clean_accuracy_after << "\n"
            << "trigger_accuracy: " << result.trigger_accuracy << "\n"
            << "key_commitment: " << commitment << "\n";
  return 0;
}

}  // namespace

void add_embed_command(CLI::App& app, Dispatch& dispatch) {
  auto c = std::make_shared<EmbedCommand>();
  auto* sub = app.add_subcommand("embed", "Train or fine-tune a model with a watermark");
  sub->add_option("--method", c->method,
                  "trigger-set (black-box, default), deepsigns-output (black-box output-layer keys), deepsigns "
                  "(bits in a hidden layer's activations) or uchida (bits in a conv layer's weights)")
      ->check(CLI::IsMember({"trigger-set", "deepsigns-output", "deepsigns", "uchida"}));
  sub->add_option("--layer", c->layer,
                  "uchida: the convolution, e.g. conv2; deepsigns: the hidden layer's module path, e.g. fc1 "
                  "(default: the last before the logits)");
  sub->add_option("--bits", c->bits, "uchida, deepsigns: number of bits (default 64)")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--signature", c->signature,
                  "uchida, deepsigns: text to embed as bits (default: random bits from the key secret)");
  sub->add_option("--signature-file", c->signature_file, "uchida, deepsigns: embed this file's bytes as bits")
      ->check(CLI::ExistingFile);
  sub->add_option("--strength", c->strength,
                  "uchida, deepsigns: weight of the bit loss (default 0.1 for uchida, 1 for deepsigns)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--target-classes", c->target_classes,
                  "deepsigns: classes whose samples are key inputs (default: one drawn from the key secret)");
  sub->add_option("--key-inputs", c->key_inputs, "deepsigns: number of key inputs (default 100)")
      ->check(CLI::Range(2, 100000));
  sub->add_option("--compactness", c->compactness, "deepsigns: weight of the Gaussian-mixture loss (default 0.01)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--key-source", c->key_source,
                  "deepsigns-output: candidate keys from uniform noise or perturbed training images")
      ->check(CLI::IsMember({"noise", "perturbed"}));
  sub->add_option("--reference", c->references,
                  "deepsigns-output: a clean checkpoint of the same task; keys it maps to their label are dropped "
                  "(repeatable)")
      ->check(CLI::ExistingFile);
  add_data_flags(*sub, c->data);
  sub->add_option("--model", c->model, "architecture (default: per dataset; with --from: checked against the file)");
  sub->add_option("--from", c->from, "embed into this pre-trained checkpoint by fine-tuning");
  add_train_flags(*sub, c->train);
  sub->add_option("--trigger", c->trigger, "trigger generator: content, unrelated or noise")
      ->check(CLI::IsMember({"content", "unrelated", "noise"}));
  sub->add_option("--trigger-size", c->trigger_size, "number of triggers (deepsigns-output: keys kept)")->check(CLI::Range(1, 100000));
  sub->add_option("--label-policy", c->label_policy,
                  "target (one secret class), random (keyed label per trigger) or auto (random for "
                  "unrelated and noise triggers, target for content)")
      ->check(CLI::IsMember({"auto", "target", "random"}));
  sub->add_option("--target-label", c->target_label, "the target class (default: drawn from the key secret)");
  sub->add_option("--trigger-ratio", c->trigger_ratio,
                  "trigger samples per clean sample in a batch (0 = automatic: 0.1, more for random "
                  "labels on small data)")
      ->check(CLI::Range(0.0, 4.0));
  sub->add_option("--min-trigger-accuracy", c->min_trigger_accuracy,
                  "keep training after the last epoch until the triggers reach this accuracy")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--max-extra-epochs", c->max_extra_epochs, "budget for that consolidation (0 = none)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--stop-at", c->stop_at,
                  "stop once trigger accuracy reaches this (default: 1.0 with --from, never otherwise)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--text", c->text, "content trigger: text to stamp");
  sub->add_option("--pattern", c->pattern, "content trigger: pattern image (PNG/PGM/PPM) instead of text");
  sub->add_option("--mask", c->mask, "content trigger: grey mask image for --pattern");
  sub->add_option("--stamp-x", c->stamp_x, "content trigger: left edge (default: centred)");
  sub->add_option("--stamp-y", c->stamp_y, "content trigger: top edge (default: near the bottom)");
  sub->add_option("--scale", c->scale, "content trigger: pixel scale of the pattern")->check(CLI::Range(1, 64));
  sub->add_option("--intensity", c->intensity, "content trigger: stamp opacity in (0,1]")->check(CLI::Range(0.01, 1.0));
  sub->add_option("--sigma", c->sigma, "noise trigger: noise standard deviation on the [0,1] scale");
  sub->add_option("--unrelated-source", c->unrelated_source, "unrelated trigger: source dataset");
  sub->add_option("--unrelated-dir", c->unrelated_dir, "unrelated trigger: folder of images instead");
  sub->add_option("--out", c->out, "watermarked checkpoint to write")->required();
  sub->add_option("--key-out", c->key_out, "secret watermark key to write (mode 0600)")->required();
  sub->add_option("--metrics", c->metrics, "write metrics as JSON here");
  sub->add_option("--sign", c->sign, "sign the key's commitment as the owner with this identity (wmark identity)")
      ->check(CLI::ExistingFile);
  sub->add_option("--key-secret", c->key_secret,
                  "the key's 256-bit secret as 64 hex digits, for reproducible tests and examples only: the key is "
                  "then only as secret as this value (default: fresh from the OS CSPRNG; --seed never sets it)");
  sub->add_flag("--record-commitment", c->record_commitment,
                "also write the key's commitment into the model's metadata (default: not, it marks the model "
                "as watermarked to anyone who reads the file)");
  sub->add_flag("--force", c->force, "overwrite existing output files");
  sub->callback([c, &dispatch] { dispatch.action = [c] { return run_embed(*c); }; });
}

}  // namespace wmark::cli
