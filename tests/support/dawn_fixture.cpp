#include "dawn_fixture.h"

#include "test_support.h"
#include "watermarked_fixture.h"
#include "wmark/verify/remote_classifier.h"

namespace wmark::test {

WatermarkKey dawn_server_key(double rate, std::uint64_t seed, const DawnKeying& keying) {
  const auto& f = watermarked_mnist();
  auto key = make_dawn_server_key(rate, f.key.input_shape, 10, f.key.normalization, "mnist", keying);
  key.secret = experiment_secret(seed, "dawn-test");
  return key;
}

ServedModel served_with_dawn(std::shared_ptr<DawnAnswers> dawn) {
  auto m = served_mnist(watermarked_mnist().model, "victim");
  m.dawn = std::move(dawn);
  return m;
}

ServerOptions dawn_loopback() { return ServerOptions().port(0).workers(2).max_batch(64).max_body_bytes(4 << 20); }

DawnExtraction extract_through_dawn(const WatermarkKey& key, const std::filesystem::path& dir, std::int64_t epochs,
                                    const RetrainingOptions& thief) {
  const auto& f = watermarked_mnist();
  InferenceServer server(served_with_dawn(std::make_shared<DawnAnswers>(key, dir / "answers.jsonl")), dawn_loopback());
  server.start();
  auto context = f.context;
  context.victim_endpoint = std::make_shared<RemoteClassifier>(
      RemoteOptions().url(server.url()).model("victim").binary(true), f.key.input_shape, f.key.normalization);
  auto copy = RetrainingAttack(RetrainingOptions(thief).soft_labels(false).epochs(epochs)).run(*f.model, context);
  server.stop();
  return {copy.model, dawn_proof_key(key, dir / "answers.jsonl"), context.victim_endpoint->queries()};
}

}  // namespace wmark::test
