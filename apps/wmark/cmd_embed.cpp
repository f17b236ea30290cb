// wmark embed: train (or fine-tune) a model with a watermark of any registered scheme
// (watermark/scheme.h), its options as flags generated from the scheme's schema; write
// the model and the secret key.
#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <sstream>

#include "commands.h"
#include "option_flags.h"
#include "wmark/claim/claim.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/registry.h"
#include "wmark/train/recipe.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/log.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/option_schema.h"
#include "wmark/watermark/save_marked.h"
#include "wmark/watermark/scheme.h"
#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark::cli {
namespace {

struct EmbedCommand {
  DataFlags data;
  TrainFlags train;
  std::string model, from, out, key_out, metrics;
  std::string method = "trigger-set";
  OptionFlags scheme;     // every registered scheme's options as flags
  OptionFlags generator;  // every trigger generator's options as flags (trigger_options)
  std::string signature_file;
  std::vector<std::string> references;
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

// The trigger generator options given as flags: each parsed by the generator that declares
// it; the chosen generator refuses the others' when the scheme builds it.
nlohmann::json generator_options(const EmbedCommand& c) {
  auto options = nlohmann::json::object();
  for (const auto& name : trigger_registry().names()) {
    if (const auto* schema = trigger_registry().schema(name)) options.update(parse_option_flags(*schema, c.generator, ""));
  }
  return options;
}

// The chosen scheme's options from the flags given: each parsed by its schema; a flag of
// another scheme is refused, naming the scheme whose options it is.
nlohmann::json scheme_options(const EmbedCommand& c) {
  const auto schema = scheme_registry().create(c.method)->schema();
  auto options = parse_option_flags(schema, c.scheme, " (wmark embed --method " + c.method + " --help lists its options)");
  if (!c.signature_file.empty()) {
    WMARK_CHECK(schema.find("signature"), "--signature-file: the ", c.method, " scheme embeds no signature");
    WMARK_CHECK(!options.contains("signature"), "give --signature or --signature-file, not both");
    auto text = read_file(c.signature_file);
    WMARK_CHECK(!text.empty(), c.signature_file, ": the signature file is empty");
    options["signature"] = text;
  }
  const auto given = generator_options(c);
  if (!given.empty()) {
    WMARK_CHECK(schema.find("trigger_options"), "trigger generator flags (--text, --sigma, ...) are options of "
                "trigger-set schemes, not of ", c.method);
    options["trigger_options"] = given;
  }
  return schema.read(options);  // the whole set checked before any training
}

// Loads the --reference checkpoints (clean models of the task); the scheme places them.
std::vector<NetworkPtr> load_references(const EmbedCommand& c) {
  std::vector<NetworkPtr> references;
  for (const auto& path : c.references) references.push_back(load_network(path).model);
  return references;
}

int run_embed(const EmbedCommand& c) {
  WMARK_CHECK(c.out != c.key_out, "--out and --key-out must be different files");
  const auto options = scheme_options(c);  // a bad value fails in a second, not after an hour
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

  EmbedRequest request;
  request.info.dataset = data.name;
  request.info.spec = {data.splits.train.shape(), data.splits.train.num_classes};
  request.info.normalization = data.splits.train.normalization;
  request.pretrained = !c.from.empty();
  if (request.pretrained) {
    auto loaded = load_network(c.from, c.model);  // a checkpoint (wmark import makes one from a state_dict), read once
    const auto& spec = request.info.spec;
    WMARK_CHECK(loaded.spec.input == spec.input && loaded.spec.num_classes == spec.num_classes, c.from,
                " was built for ", loaded.spec.input.str(), " inputs and ", loaded.spec.num_classes, " classes, but ",
                data.name, " has ", spec.input.str(), " and ", spec.num_classes);
    request.model = loaded.model;
    request.info.arch = loaded.arch;
    recipe.options = fine_tuning_recipe(recipe.options);
  } else {
    request.info.arch = c.model.empty() ? recipe.arch : c.model;
    torch::manual_seed(c.data.seed);
    request.model = model_registry().create(request.info.arch, request.info.spec);
  }
  request.training = make_trainer_options(recipe.options, c.train, c.data.seed, c.force, group);
  request.splits = data.splits;
  request.public_train = data.public_train;  // anyone holding the public dataset re-derives the key's images
  if (!c.data.data_dir.empty()) request.data_dir = c.data.data_dir;
  request.secret = make_key_secret(c, owner.get(), group);
  request.references = load_references(c);

  auto result = embed_watermark(c.method, options, request);
  if (!lead) return 0;
  sign_if_asked(result.key, owner);
  const std::string commitment = result.key.commitment();  // hashes every key byte: once
  auto info = request.info;
  info.epoch = static_cast<std::int64_t>(result.training.history.size());
  info.extra = model_extra(c, result.clean_accuracy_after, commitment);
  save_marked_model(result.key, c.key_out, *request.model, info, c.out, c.force);  // the key first; neither if one fails

  const bool black_box = result.key.black_box();
  auto metrics = training_metrics(data.name, info.arch, data.splits.train.size(), threads, result.training);
  metrics.update(result.details);
  metrics.update({{"method", result.key.method},
                  {"options", options},
                  {"test_accuracy", result.clean_accuracy_after},
                  {"key_commitment", commitment}});
  if (black_box) {
    metrics["trigger_size"] = result.key.tensor("labels").size(0);
    metrics["trigger_accuracy"] = result.trigger_accuracy;
  } else {
    metrics["bits"] = result.key.tensor("bits").size(0);
    metrics["layer"] = result.key.params.value("layer", std::string());
  }
  if (request.pretrained) metrics["test_accuracy_before"] = result.clean_accuracy_before;
  if (!c.metrics.empty()) write_json(c.metrics, metrics, c.force);
  std::cout << "model: " << c.out << "\nkey: " << c.key_out << " (secret; keep it private)\n";
  if (request.pretrained) std::cout << "test_accuracy_before: " << result.clean_accuracy_before << "\n";
  std::cout << "test_accuracy: " << result.clean_accuracy_after << "\n";
  if (black_box) {
    std::cout << "trigger_accuracy: " << result.trigger_accuracy << "\n";
  } else {
    std::cout << "bit_error_rate: " << result.details.value("bit_error_rate", 1.0) << "\n";
  }
  std::cout << "key_commitment: " << commitment << "\n";
  return 0;
}

// One flag per option name across the registry's schemes, and across its trigger generators.
void add_component_flags(CLI::App& sub, EmbedCommand& c) {
  std::vector<std::pair<std::string, OptionSchema>> schemes, generators;
  for (const auto& name : scheme_registry().names()) schemes.emplace_back(name, scheme_registry().create(name)->schema());
  for (const auto& name : trigger_registry().names()) {
    if (const auto* schema = trigger_registry().schema(name)) generators.emplace_back(name + " trigger", *schema);
  }
  add_option_flags(sub, schemes, c.scheme, false);  // trigger_options comes from the generator flags
  add_option_flags(sub, generators, c.generator, false);
}

// `wmark embed --method NAME --help`: that scheme's options with defaults and ranges.
std::string scheme_help(const EmbedCommand& c) {
  if (!scheme_registry().contains(c.method)) return "";
  const auto schema = scheme_registry().create(c.method)->schema();
  auto help = "\nOptions of the " + c.method + " scheme (defaults as used when the flag is not given):\n" +
              schema.help_text();
  if (!schema.find("trigger_options")) return help;
  for (const auto& name : trigger_registry().names()) {  // its generator's options are flags too
    if (const auto* generator = trigger_registry().schema(name)) {
      help += "\nOptions of the " + name + " trigger (--trigger " + name + "):\n" + generator->help_text();
    }
  }
  return help;
}

}  // namespace

void add_embed_command(CLI::App& app, Dispatch& dispatch) {
  auto c = std::make_shared<EmbedCommand>();
  auto* sub = app.add_subcommand("embed", "Train or fine-tune a model with a watermark");
  std::string methods;
  for (const auto& name : scheme_registry().names()) methods += (methods.empty() ? "" : ", ") + name;
  sub->add_option("--method", c->method,
                  "the watermark scheme: " + methods + " (default trigger-set; --method NAME --help lists its options)")
      ->check(CLI::IsMember(scheme_registry().names()));
  add_component_flags(*sub, *c);
  sub->add_option("--signature-file", c->signature_file, "embed this file's bytes as the signature's bits")
      ->check(CLI::ExistingFile);
  sub->add_option("--reference", c->references,
                  "a clean checkpoint of the same task, for schemes that drop keys clean models answer alike "
                  "(deepsigns-output; repeatable)")
      ->check(CLI::ExistingFile);
  add_data_flags(*sub, c->data);
  sub->add_option("--model", c->model, "architecture (default: per dataset; with --from: checked against the file)");
  const auto fine_tuning = fine_tuning_recipe(TrainerOptions().lr(1.0));
  std::ostringstream from_help;
  from_help << "embed into this pre-trained checkpoint by fine-tuning (" << fine_tuning.lr() << " x the recipe's LR, "
            << fine_tuning.epochs() << " epochs)";
  sub->add_option("--from", c->from, from_help.str());
  add_train_flags(*sub, c->train);
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
  sub->footer([c] { return scheme_help(*c); });
  sub->callback([c, &dispatch] { dispatch.action = [c] { return run_embed(*c); }; });
}

}  // namespace wmark::cli
