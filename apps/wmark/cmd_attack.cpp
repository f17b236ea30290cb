// wmark attack <kind>: run a removal attack on a watermarked checkpoint, write the
// attacked model (never the input), and report clean accuracy and, with --key, whether
// the owner's watermark still verifies. Exit 0 when the attack ran, 2 on an error.
#include <iomanip>
#include <iostream>

#include "commands.h"
#include "option_flags.h"
#include "wmark/attack/attack.h"
#include "wmark/data/catalog.h"
#include "wmark/data/image_file.h"
#include "wmark/data/subset.h"
#include "wmark/eval/attack_report.h"
#include "wmark/models/checkpoint.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/verify/remote_classifier.h"

namespace fs = std::filesystem;

namespace wmark::cli {
namespace {

struct AttackCommand {
  std::string model, arch, key, out, report, dataset, data_dir, device = "cpu";
  std::int64_t attacker_samples = -1;
  std::uint64_t seed = 1;
  int threads = 0;
  bool force = false;
  OptionFlags options;  // the attack's declared options as flags
  // An extraction attack may query the victim as deployed, over HTTP.
  std::string victim_url, victim_model, victim_protocol = "v2";
  bool victim_binary = false;
};

void print_verification(const char* when, const VerificationReport& r) {
  std::cout << "  owner's watermark " << when << ": " << r.summary() << "\n";
}

int run_attack(const std::string& kind, AttackCommand& c) {
  const auto* schema = attack_registry().schema(kind);
  const auto options = schema ? parse_option_flags(*schema, c.options, "") : nlohmann::json::object();
  auto attack = attack_registry().create(kind, options);  // bad options fail before any loading
  const bool writes_model = kind != "inversion";
  WMARK_CHECK(!c.out.empty(), "--out is required: ", writes_model ? "where to write the attacked model"
                                                                   : "a folder for the recovered images");
  WMARK_CHECK(fs::absolute(c.out).lexically_normal() != fs::absolute(c.model).lexically_normal(),
              "--out must differ from --model: an attack never modifies its input");
  if (writes_model) check_writable(c.out, c.force);
  if (!c.report.empty()) check_writable(c.report, c.force);
  const int threads = setup_runtime(c.threads);
  const auto device = parse_device(c.device);

  auto victim = load_network(c.model, c.arch, std::nullopt, device);
  const auto& info = *victim.checkpoint;  // no dataset traits given: a checkpoint or an error
  std::optional<WatermarkKey> key;
  if (!c.key.empty()) key = WatermarkKey::load(c.key);

  // The attacker's data: a seeded part of the test split; the rest measures accuracy.
  std::optional<fs::path> dir;
  if (!c.data_dir.empty()) dir = c.data_dir;
  const auto dataset = c.dataset.empty() ? info.dataset : canonical_dataset_name(c.dataset);
  auto splits = load_dataset(dataset, dir);
  WMARK_CHECK(splits.test.shape() == info.spec.input && splits.test.num_classes == info.spec.num_classes,
              "model ", c.model, " (", info.spec.input.str(), ", ", info.spec.num_classes, " classes) does not fit ",
              dataset, " (", splits.test.shape().str(), ", ", splits.test.num_classes, " classes)");
  const auto samples = c.attacker_samples >= 0 ? c.attacker_samples : splits.test.size() / 2;
  WMARK_CHECK(samples >= 2 && samples < splits.test.size(), "--attacker-samples must be in [2, ",
              splits.test.size() - 1, "] so that some test data remains for measuring accuracy");
  auto [test, attacker] = split_holdout(splits.test, samples, c.seed);

  auto context = registered_attack_context(info.arch, info.spec, attacker, c.seed);
  context.training = make_trainer_options(TrainerOptions().batch_size(64), TrainFlags{}, c.seed, false).device(device);
  context.data_dir = dir;
  std::shared_ptr<RemoteClassifier> endpoint;
  if (!c.victim_url.empty()) {
    WMARK_CHECK(!c.victim_model.empty(), "--victim-url needs --victim-model, the victim's name on that server");
    endpoint = std::make_shared<RemoteClassifier>(
        RemoteOptions().url(c.victim_url).model(c.victim_model).protocol(c.victim_protocol).binary(c.victim_binary),
        info.spec.input, splits.test.normalization);
    context.victim_endpoint = endpoint;
  }

  AttackResult result;
  const auto report = evaluate_attack(*attack, *victim.model, context, test, key ? &*key : nullptr, Verifier(), &result);
  if (writes_model) {
    CheckpointInfo out_info = info;
    out_info.arch = result.arch;
    out_info.epoch = 0;
    out_info.extra = {{"attack", kind}, {"attack_options", attack->options()}, {"attacked_model", c.model}};
    if (result.deployment)  // what the thief's clients query is more than these weights
      out_info.extra["deployment"] = "the model behind the attack's " + kind + " deployment (not in this file); "
                                     "the report measures the deployment";
    save_checkpoint(c.out, *result.model, out_info, nullptr, c.force);
  } else {
    fs::create_directories(c.out);
    for (std::int64_t i = 0; i < result.images.size(0); ++i) {
      const auto name = "class" + std::to_string(result.image_labels[i].item<std::int64_t>()) + "_" +
                        std::to_string(i) + ".png";
      write_png(fs::path(c.out) / name, result.images[i], c.force);
    }
  }
  auto document = report.to_json();
  document["model"] = c.model;
  document["attacked_model"] = writes_model ? c.out : "";
  document["attacker_samples"] = attacker.size();
  document["test_samples"] = test.size();
  document["threads"] = threads;
  if (endpoint) {
    document["victim_endpoint"] = {{"url", c.victim_url}, {"model", c.victim_model}, {"protocol", c.victim_protocol},
                                   {"binary", c.victim_binary}, {"queries", endpoint->queries()},
                                   {"requests", endpoint->requests()},
                                   {"transcript_sha256", endpoint->transcript_sha256()}};
  }
  if (!c.report.empty()) write_json(c.report, document, c.force);

  std::cout << kind << " attack on " << c.model << " (" << info.arch << "), " << attacker.size()
            << " attacker samples, " << std::fixed << std::setprecision(1) << report.seconds << " s\n"
            << std::setprecision(2) << "  clean test accuracy: " << 100 * report.test_accuracy_before << "%";
  if (report.test_accuracy_after >= 0) std::cout << " -> " << 100 * report.test_accuracy_after << "%";
  std::cout << std::defaultfloat << "\n";
  if (report.verification_before) print_verification("before", *report.verification_before);
  if (report.verification_after) print_verification("after ", *report.verification_after);
  if (!report.inversion.empty()) {
    std::cout << "  recovered images resembling the triggers: " << 100 * report.inversion.value("revealed_rate", 0.0)
              << "% (mean NCC to triggers " << report.inversion.value("mean_ncc_trigger", 0.0) << ", to clean images "
              << report.inversion.value("mean_ncc_clean", 0.0) << ")\n";
  }
  std::cout << "  " << (writes_model ? "attacked model: " : "recovered images: ") << c.out << "\n";
  return 0;
}

// Adds an attack's subcommand: the flags every attack shares and its declared options.
void add_attack_kind(CLI::App& parent, Dispatch& dispatch, const std::string& kind) {
  auto c = std::make_shared<AttackCommand>();
  const auto summary = attack_registry().summary(kind);
  auto* sub = parent.add_subcommand(kind, summary.empty() ? "the " + kind + " attack" : summary);
  sub->add_option("--model", c->model, "the watermarked wmark checkpoint (read only)")->required();
  sub->add_option("--arch", c->arch, "expected architecture of the checkpoint");
  sub->add_option("--out", c->out, kind == "inversion" ? "folder for the recovered PNG images"
                                                       : "where to write the attacked model")->required();
  sub->add_option("--key", c->key, "the owner's key: report whether the watermark still verifies");
  sub->add_option("--report", c->report, "write the attack report as JSON here");
  sub->add_option("--dataset", c->dataset, "the attacker's data source (default: the checkpoint's dataset)");
  sub->add_option("--data-dir", c->data_dir, "folder holding the dataset");
  sub->add_option("--attacker-samples", c->attacker_samples,
                  "test-split samples the attacker holds (default: half; the rest measures accuracy)");
  sub->add_option("--seed", c->seed, "seed of the attacker's data split and of the attack");
  sub->add_option("--device", c->device, "cpu or cuda[:N]");
  sub->add_option("--threads", c->threads, "intra-op threads (default: all available cores)");
  sub->add_flag("--force", c->force, "overwrite existing outputs");
  if (attack_registry().create(kind)->queries_victim()) {
    sub->add_option("--victim-url", c->victim_url,
                    "query the victim as deployed at http[s]://HOST:PORT (hard labels) instead of in process");
    sub->add_option("--victim-model", c->victim_model, "the victim's model name on that server");
    sub->add_option("--victim-protocol", c->victim_protocol, "v2 (Open Inference Protocol) or v1 (predict)")
        ->check(CLI::IsMember({"v2", "v1"}));
    sub->add_flag("--victim-binary", c->victim_binary, "v2: binary tensor data");
  }
  if (const auto* schema = attack_registry().schema(kind)) add_option_flags(*sub, {{kind, *schema}}, c->options, true);
  sub->callback([&dispatch, kind, c] { dispatch.action = [kind, c] { return run_attack(kind, *c); }; });
}

}  // namespace

void add_attack_command(CLI::App& app, Dispatch& dispatch) {
  auto* attack = app.add_subcommand("attack", "Run a removal attack on a watermarked model, or forge a key (the false accuser)")->require_subcommand(1);
  for (const auto& kind : attack_registry().names()) add_attack_kind(*attack, dispatch, kind);
  add_forge_command(*attack, dispatch);
}

}  // namespace wmark::cli
