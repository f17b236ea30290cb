// wmark certify: a black-box key read through the model with Gaussian noise on its
// parameters, and the certified l2 radius (watermark/parameter_smoothing.h).
// Exit 0 = the smoothed reading verifies, 1 = it does not, 2 = error.
#include <iostream>
#include <optional>

#include "commands.h"
#include "wmark/models/checkpoint.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/watermark/key.h"
#include "wmark/watermark/parameter_smoothing.h"

namespace wmark::cli {
namespace {

struct CertifyCommand {
  std::string model, key, arch, report, device = "cpu";
  std::optional<double> sigma;
  std::optional<std::uint64_t> seed;
  std::int64_t draws = SmoothingOptions().draws();
  double alpha = SmoothingOptions().alpha();
  bool force = false;
};

int run_certify(const CertifyCommand& c) {
  if (!c.report.empty()) check_writable(c.report, c.force);
  const auto key = WatermarkKey::load(c.key);
  const auto recorded = key.params.value("smoothing_sigma", 0.0);
  WMARK_CHECK(c.sigma || recorded > 0, c.key, ": the key records no smoothing sigma (not a certified key); give --sigma");
  auto loaded = load_network(c.model, c.arch);
  const auto certificate = certify_watermark(
      *loaded.model, key,
      SmoothingOptions().sigma(c.sigma ? *c.sigma : recorded).draws(c.draws).alpha(c.alpha).seed(c.seed),
      parse_device(c.device));
  if (!c.report.empty()) {
    auto report = certificate.to_json();
    report["model"] = c.model;
    report["key_commitment"] = key.commitment();
    write_json(c.report, report, c.force);
  }
  std::cout << certificate.summary() << "\n";
  return certificate.verified ? 0 : 1;
}

}  // namespace

void add_certify_command(CLI::App& app, Dispatch& dispatch) {
  auto c = std::make_shared<CertifyCommand>();
  auto* sub = app.add_subcommand("certify", "Read a black-box key through the model under Gaussian parameter noise "
                                            "and certify an l2 radius in weight space (exit 0 verified, 1 not, 2 error)");
  sub->add_option("--model", c->model, "wmark checkpoint of the model")->required()->check(CLI::ExistingFile);
  sub->add_option("--key", c->key, "black-box key (certified keys record their sigma)")->required()->check(CLI::ExistingFile);
  sub->add_option("--arch", c->arch, "architecture (checked against the file)");
  sub->add_option("--sigma", c->sigma, "parameter noise (default: the key's smoothing_sigma)")->check(CLI::PositiveNumber);
  sub->add_option("--draws", c->draws, "noise draws (more draws, larger radius)")->capture_default_str()->check(CLI::Range(10, 1000000));
  sub->add_option("--alpha", c->alpha, "chance that a Monte Carlo bound is wrong (adds to the p-value)")->capture_default_str()
      ->check(CLI::Range(1e-300, 0.5));
  sub->add_option("--seed", c->seed, "seed of the noise (default: fresh from the OS)");
  sub->add_option("--device", c->device, "cpu or cuda[:N]")->capture_default_str();
  sub->add_option("--report", c->report, "write the certificate as JSON here");
  sub->add_flag("--force", c->force, "overwrite an existing report");
  sub->callback([c, &dispatch] { dispatch.action = [c] { return run_certify(*c); }; });
}

}  // namespace wmark::cli
