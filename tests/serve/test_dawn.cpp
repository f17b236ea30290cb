// DAWN: a server that changes a keyed fraction of its answers, the same on every
// protocol and repeat, logs them, and turns the log into a key that proves a surrogate
// extracted through it, and not the victim or a clean model; edited logs are refused.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include <torch/torch.h>

#include "../support/dawn_fixture.h"
#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/attack/retraining.h"
#include "wmark/models/registry.h"
#include "wmark/serve/dawn.h"
#include "wmark/serve/server.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/encoding.h"
#include "wmark/util/error.h"
#include "wmark/verify/remote_classifier.h"
#include "wmark/verify/statistics.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/derivation.h"
#include "wmark/watermark/scheme.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void write_lines(const std::filesystem::path& file, const std::vector<std::string>& lines) {
  std::ofstream out(file, std::ios::trunc);
  for (const auto& line : lines) out << line << "\n";
}

// A suspect that gives scores of another width than the key's classes (7 of 10).
class NarrowScores : public Classifier {
 public:
  explicit NarrowScores(NetworkPtr model) : inner_(std::move(model), test::watermarked_mnist().key.normalization) {}
  at::Tensor classify(const at::Tensor& images) override { return answer(images).labels; }
  SuspectAnswers answer(const at::Tensor& images) override {
    queries_ += images.size(0);
    auto answers = inner_.answer(images);
    answers.scores = answers.scores.narrow(1, 0, 7).contiguous();
    return answers;
  }
  std::string describe() const override { return "narrow scores"; }

 private:
  ModuleClassifier inner_;
};

}  // namespace

TEST_CASE("DAWN picks a keyed fraction of inputs, the same on every repeat", "[serve][dawn]") {
  const auto& images = test::watermarked_mnist().test.images;
  const auto key = test::dawn_server_key(0.05), other = test::dawn_server_key(0.05, 2);
  const auto n = std::min<std::int64_t>(images.size(0), 4000);
  std::int64_t changed = 0, both = 0;
  const DawnChooser chooser(key), others(other);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto choice = chooser.choose(images[i]);
    CHECK(choice.shift >= 1);
    CHECK(choice.shift <= 9);
    const auto again = chooser.choose(images[i]);
    CHECK((again.changed == choice.changed && again.shift == choice.shift));
    changed += choice.changed;
    both += choice.changed && others.choose(images[i]).changed;
  }
  // Within 4 standard deviations of the rate; another secret picks other inputs.
  const double fraction = static_cast<double>(changed) / static_cast<double>(n);
  CHECK(std::abs(fraction - 0.05) < 4 * std::sqrt(0.05 * 0.95 / static_cast<double>(n)));
  CHECK(both < changed / 3);
  auto too_high = key;
  too_high.params["rate"] = 0.6;
  CHECK_THROWS_WITH(DawnChooser{too_high}, Contains("(0, 0.5]"));
  CHECK_THROWS_WITH(make_dawn_server_key(0, {1, 28, 28}, 10, {}, "mnist"), Contains("(0, 0.5]"));
}

TEST_CASE("a DAWN server answers every protocol alike, changes only the picked inputs and logs them",
          "[serve][dawn]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  const auto key = test::dawn_server_key(0.1);
  auto dawn = std::make_shared<DawnAnswers>(key, dir / "answers.jsonl");
  InferenceServer server(test::served_with_dawn(dawn), test::dawn_loopback());
  server.start();
  const auto queries = f.test.images.narrow(0, 0, 400);
  const auto own = predict_labels(*f.model, queries, f.key.normalization, torch::kCPU);

  std::vector<at::Tensor> answers;
  for (const auto& [protocol, binary] : {std::pair{"v2", false}, std::pair{"v2", true}, std::pair{"v1", false}}) {
    RemoteClassifier remote(RemoteOptions().url(server.url()).model("victim").protocol(protocol).binary(binary),
                            f.key.input_shape, f.key.normalization);
    answers.push_back(remote.classify(queries));
  }
  CHECK(torch::equal(answers[0], answers[1]));
  CHECK(torch::equal(answers[0], answers[2]));
  std::int64_t picked = 0;
  const DawnChooser chooser(key);
  for (std::int64_t i = 0; i < queries.size(0); ++i) {
    const auto choice = chooser.choose(queries[i]);
    const auto expected = choice.changed ? (own[i].item<std::int64_t>() + choice.shift) % 10 : own[i].item<std::int64_t>();
    CHECK(answers[0][i].item<std::int64_t>() == expected);
    picked += choice.changed;
  }
  CHECK(picked > 20);  // 10% of 400, give or take
  CHECK(dawn->changed() == 3 * picked);
  CHECK(lines_of(dir / "answers.jsonl").size() == static_cast<std::size_t>(3 * picked));
  CHECK((std::filesystem::status(dir / "answers.jsonl").permissions() & std::filesystem::perms::others_read) ==
        std::filesystem::perms::none);
  server.stop();

  // The proof key holds each changed answer once, with the model's own class beside it.
  const auto proof = dawn_proof_key(key, dir / "answers.jsonl");
  CHECK(proof.method == "dawn");
  CHECK(proof.tensor("images").size(0) == picked);
  CHECK(proof.params["log_entries"] == 3 * picked);
  CHECK_FALSE(proof.tensor("labels").eq(proof.tensor("model_labels")).any().item<bool>());
  proof.save(dir / "proof.wmk");
  CHECK(WatermarkKey::load(dir / "proof.wmk").commitment() == proof.commitment());
  key.save(dir / "server.wmk");
  CHECK(WatermarkKey::load(dir / "server.wmk").params["rate"] == 0.1);

  // A key for another model shape is refused before serving.
  auto wrong = test::dawn_server_key(0.1);
  wrong.num_classes = 7;
  CHECK_THROWS_WITH(InferenceServer(test::served_with_dawn(std::make_shared<DawnAnswers>(wrong, dir / "other.jsonl")), test::dawn_loopback()),
                    Contains("DAWN key"));
}

TEST_CASE("a surrogate extracted through a DAWN server is provable, the victim and a clean model are not",
          "[serve][dawn][extraction]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  const auto [copy, proof, queries] = test::extract_through_dawn(test::dawn_server_key(0.05), dir.path(), 10);
  CHECK(queries == 1000);
  // Labels alone: a surrogate trained to convergence gives the changed classes themselves.
  const Verifier verifier(VerifierOptions().read_scores(false));
  const auto surrogate = verifier.verify_model(*copy, proof, "surrogate", torch::kCPU);
  INFO("surrogate: " << surrogate.matches << "/" << surrogate.queries << ", p " << surrogate.p_value);
  CHECK(surrogate.chance_rate == Approx(1.0 / 9));
  CHECK(surrogate.verified);
  // The victim gives its own classes, not the changed ones; a clean model neither.
  CHECK_FALSE(verifier.verify_model(*f.model, proof, "victim", torch::kCPU).verified);
  CHECK_FALSE(verifier.verify_model(*test::clean_mnist(), proof, "clean", torch::kCPU).verified);
  // The inputs are the thief's queries: the key is not derivable, and says why.
  const auto derivation = check_key_derivation(proof, std::nullopt);
  CHECK_FALSE(derivation.derivable);
  CHECK_THAT(derivation.reason, Contains("time stamp"));
}

TEST_CASE("DAWN's score test ranks the changed class among the other wrong classes, ties and NaN against it",
          "[serve][dawn]") {
  auto key = test::dawn_server_key(0.1);
  key.tensors["images"] = torch::zeros({5, 1, 28, 28}, torch::kUInt8);
  key.tensors["labels"] = torch::tensor({3, 5, 0, 9, 4}, torch::kLong);
  key.tensors["model_labels"] = torch::tensor({1, 1, 2, 8, 3}, torch::kLong);
  const auto scheme = key_scheme(key);
  REQUIRE(scheme->reads_scores());
  CHECK(scheme->score_rank_levels(10) == 9);
  auto scores = torch::zeros({5, 10});
  scores[0][1] = 9;  // the model's class first, the changed one second: rank 0 of the wrong classes
  scores[0][3] = 2;
  scores[1][5] = 2;  // the changed class tied with another wrong class: the tie counts against it
  scores[1][7] = 2;
  scores[2][0] = std::numeric_limits<float>::quiet_NaN();  // NaN: last
  scores[3][9] = -1;  // below every other wrong class: last
  scores[4][4] = 1;   // behind two wrong classes: rank 2
  scores[4][6] = 3;
  scores[4][7] = 2;
  const auto queried = torch::arange(5, torch::kLong);
  CHECK(torch::equal(scheme->score_ranks(key, queried, scores), torch::tensor({0, 1, 8, 8, 2}, torch::kLong)));
  // A subset of the queries reads the rows of those queries.
  CHECK(torch::equal(scheme->score_ranks(key, torch::tensor({4}, torch::kLong), scores.narrow(0, 4, 1)),
                     torch::tensor({2}, torch::kLong)));
  CHECK_THROWS_WITH(scheme->score_ranks(key, queried, torch::zeros({5, 7})), Contains("class scores"));
  CHECK_THROWS_WITH(key_scheme(test::watermarked_mnist().key)->score_ranks(key, queried, scores),
                    Contains("labels, not class scores"));
}

namespace {

// A suspect scripted per DAWN answer: query k (its index written into its first two
// pixels) gets the class scores scores(k, victim's class, served class).
using ScriptedRow = std::function<at::Tensor(std::int64_t k, std::int64_t own, std::int64_t served)>;
class ScriptedSuspect : public Classifier {
 public:
  ScriptedSuspect(WatermarkKey key, ScriptedRow row) : key_(std::move(key)), row_(std::move(row)) {}
  at::Tensor classify(const at::Tensor& images) override { return answer(images).labels; }
  SuspectAnswers answer(const at::Tensor& images) override {
    queries_ += images.size(0);
    std::vector<at::Tensor> rows;
    for (std::int64_t i = 0; i < images.size(0); ++i) {
      const auto k = images[i][0][0][0].item<std::int64_t>() * 256 + images[i][0][0][1].item<std::int64_t>();
      rows.push_back(row_(k, key_.tensor("model_labels")[k].item<std::int64_t>(), key_.tensor("labels")[k].item<std::int64_t>()));
    }
    const auto scores = torch::stack(rows);
    return {scores.argmax(1), scores};
  }
  std::string describe() const override { return "scripted suspect"; }

 private:
  WatermarkKey key_;
  ScriptedRow row_;
};

// Scores with the victim's class first, then the other wrong classes in a fixed order
// with the served one moved to rank(k) among them.
ScriptedSuspect ranked_scores(const WatermarkKey& key, std::function<std::int64_t(std::int64_t)> rank) {
  const auto classes = key.num_classes;
  return ScriptedSuspect(key, [classes, rank](std::int64_t k, std::int64_t own, std::int64_t served) {
    auto row = torch::zeros({classes});
    row[own] = 100;
    std::vector<std::int64_t> wrong;
    for (std::int64_t c = 0; c < classes; ++c)
      if (c != own && c != served) wrong.push_back(c);
    wrong.insert(wrong.begin() + rank(k), served);
    for (std::size_t r = 0; r < wrong.size(); ++r) row[wrong[r]] = 50 - static_cast<float>(r);
    return row;
  });
}

// A DAWN proof key of n answers whose images carry their index.
WatermarkKey indexed_dawn_key(std::int64_t n) {
  auto key = test::dawn_server_key(0.1);
  auto images = torch::zeros({n, 1, 28, 28}, torch::kUInt8);
  for (std::int64_t k = 0; k < n; ++k) {
    images[k][0][0][0] = k / 256;
    images[k][0][0][1] = k % 256;
  }
  const auto model_labels = torch::arange(n, torch::kLong).remainder(10);
  key.tensors["images"] = images;
  key.tensors["model_labels"] = model_labels;
  key.tensors["labels"] = (model_labels + 1 + torch::arange(n, torch::kLong).remainder(9)).remainder(10);
  return key;
}

}  // namespace

TEST_CASE("DAWN's rank-sum test claims a copy that ranks the changed class second every time, which first "
          "places never show, and no suspect ranking it at random",
          "[serve][dawn][adversary]") {
  const auto key = indexed_dawn_key(300);
  const Verifier verifier;
  // Second among the wrong classes, never first: 0 first places, mean rank 1 of 0..8.
  auto second = ranked_scores(key, [](std::int64_t) { return 1; });
  const auto claimed = verifier.verify(second, key);
  INFO(claimed.summary());
  CHECK(claimed.matches == 0);
  CHECK(claimed.score_test.at("mean_rank") == Approx(1.0));
  CHECK(claimed.score_test.at("first_place_log10_p_value") == 0.0);
  CHECK(claimed.score_test.at("rank_sum_log10_p_value") == Approx(uniform_rank_sum_lower_tail_log10(300, 300, 9)));
  // Two tests read (ranks and labels): twice the smaller p-value decides.
  CHECK(claimed.log10_p_value == Approx(std::log10(2.0) + uniform_rank_sum_lower_tail_log10(300, 300, 9)));
  CHECK(claimed.log10_p_value < -100);
  CHECK(claimed.verified);
  // The false accuser's case: ranks drawn at random, as for any model that never saw the
  // answers. Over 20 draws none is claimed, and the mean rank stays near 4.
  std::mt19937 draw(11);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::int64_t> ranks(300);
    for (auto& r : ranks) r = std::uniform_int_distribution<std::int64_t>(0, 8)(draw);
    auto random = ranked_scores(key, [&](std::int64_t k) { return ranks[static_cast<std::size_t>(k)]; });
    const auto report = verifier.verify(random, key);
    INFO("trial " << trial << ": " << report.summary());
    CHECK(std::abs(report.score_test.at("mean_rank").get<double>() - 4.0) < 4 * std::sqrt(80.0 / 12 / 300));
    CHECK_FALSE(report.verified);
  }
  // Last every time (a suspect that has learnt to avoid the changed class): p-value 1.
  auto last = ranked_scores(key, [](std::int64_t) { return 8; });
  CHECK(verifier.verify(last, key).log10_p_value == 0.0);
}

namespace {

// A scheme whose ranks break the contract (below 0), which would buy a smaller p-value.
class NegativeRanks final : public Scheme {
 public:
  std::string name() const override { return "test-negative-ranks"; }
  OptionSchema schema() const override { return OptionSchema("the test-negative-ranks scheme"); }
  nlohmann::json options() const override { return nlohmann::json::object(); }
  KeyKind key_kind() const override { return KeyKind::black_box; }
  EmbedResult embed(const EmbedRequest&) const override { WMARK_FAIL("no embedding"); }
  bool reads_scores() const override { return true; }
  std::int64_t score_rank_levels(std::int64_t num_classes) const override { return num_classes - 1; }
  at::Tensor score_ranks(const WatermarkKey&, const at::Tensor& queried, const at::Tensor&) const override {
    return torch::full({queried.size(0)}, -1, torch::kLong);
  }
  double chance_rate(const nlohmann::json&, std::int64_t num_classes) const override { return 1.0 / double(num_classes - 1); }
};

}  // namespace

TEST_CASE("a scheme whose ranks fall outside its levels is an error, not a claim", "[serve][dawn][adversary]") {
  if (!scheme_registry().contains("test-negative-ranks"))
    scheme_registry().add("test-negative-ranks", [](const nlohmann::json&) { return std::make_unique<NegativeRanks>(); });
  auto key = indexed_dawn_key(50);
  key.method = "test-negative-ranks";
  auto suspect = ranked_scores(key, [](std::int64_t) { return 4; });
  CHECK_THROWS_WITH(Verifier().verify(suspect, key), Contains("test-negative-ranks scheme ranked 50 answers outside 0..8"));
}

TEST_CASE("a copy served with one-hot scores, which tie every wrong class against DAWN's rank sum, is still claimed "
          "from its labels",
          "[serve][dawn][adversary]") {
  // The copy learnt one changed answer in ten and gives the victim's class elsewhere; its
  // thief serves one-hot probabilities. Ranked, nine answers in ten tie the served class
  // with every other wrong class (rank 8): the rank sum shows nothing. The labels that
  // differ from the victim's are all the changed class.
  const auto key = indexed_dawn_key(300);
  const auto classes = key.num_classes;
  ScriptedSuspect one_hot(key, [classes](std::int64_t k, std::int64_t own, std::int64_t served) {
    return torch::one_hot(torch::tensor(k % 10 == 0 ? served : own), classes).to(torch::kFloat);
  });
  const auto report = Verifier().verify(one_hot, key);
  INFO(report.summary());
  CHECK(report.score_test.at("read") == "class scores");
  CHECK(report.score_test.at("rank_sum_log10_p_value") == 0.0);
  CHECK(report.score_test.at("label_matches") == 30);
  CHECK(report.score_test.at("label_counted") == 30);
  // Twice the labels' p-value (30 of 30 at chance 1/9) decides.
  CHECK(report.log10_p_value == Approx(std::log10(2.0) + 30 * std::log10(1.0 / 9)));
  CHECK(report.verified);
  // An innocent model's labels and ranks, both at chance, are not claimed though two tests are read.
  std::mt19937 draw(5);
  auto innocent = ranked_scores(key, [&](std::int64_t) { return std::uniform_int_distribution<std::int64_t>(0, 8)(draw); });
  CHECK_FALSE(Verifier().verify(innocent, key).verified);
}

TEST_CASE("a DAWN key's chance rate is exact: the p-value alone decides", "[serve][dawn]") {
  // 70 of 300 changed answers at chance 1/9 (33 expected): p ~ 1e-9 at a match rate of
  // 23%. A trigger-set key needs 50% as well; a DAWN key's shift is the secret's,
  // independent of any model, so the rate guard has nothing to guard.
  auto key = test::dawn_server_key(0.1);
  const auto model_labels = torch::arange(300, torch::kLong).remainder(10);
  key.tensors["images"] = torch::zeros({300, 1, 28, 28}, torch::kUInt8);
  key.tensors["model_labels"] = model_labels;
  key.tensors["labels"] = (model_labels + 3).remainder(10);
  const auto report = Verifier().decide(70, 300, key);
  CHECK(report.p_value < 1e-6);
  CHECK(report.min_match_rate == 0);
  CHECK(report.verified);
  const auto& trigger_key = test::watermarked_mnist().key;
  CHECK_FALSE(Verifier().decide(70, 300, trigger_key).verified);
  CHECK(Verifier().decide(70, 300, trigger_key).min_match_rate == 0.5);
}

TEST_CASE("under the null DAWN's score and label tests match at their chance rate: the victim, a clean and an "
          "untrained model on 1,000 changed answers",
          "[serve][dawn][adversary]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  const auto key = test::dawn_server_key(0.5);
  DawnAnswers dawn(key, dir / "answers.jsonl");
  const auto queries = f.test.images.narrow(0, 0, std::min<std::int64_t>(2000, f.test.images.size(0)));
  auto logits = predict_logits(*f.model, queries, f.key.normalization, torch::kCPU);
  dawn.apply(queries, logits, "127.0.0.1");
  const auto proof = dawn_proof_key(key, dir / "answers.jsonl");
  const auto n = proof.tensor("labels").size(0);
  REQUIRE(n >= 800);
  // Neither model saw the changed answers: each matches about 1/9 of them, within 4
  // standard deviations, and is not claimed.
  const double sd = std::sqrt((1.0 / 9) * (8.0 / 9) / static_cast<double>(n));
  for (const auto& [name, model] : {std::pair{"victim", f.model}, std::pair{"clean", test::clean_mnist()}}) {
    const auto report = Verifier().verify_model(*model, proof, name, torch::kCPU);
    INFO(name << ": " << report.summary());
    CHECK(report.score_test.at("read") == "class scores");
    CHECK(std::abs(report.match_rate - 1.0 / 9) < 4 * sd);
    // The rank sum's null: mean rank (9 - 1) / 2, variance (81 - 1) / 12 per answer.
    CHECK(std::abs(report.score_test.at("mean_rank").get<double>() - 4.0) < 4 * std::sqrt(80.0 / 12 / static_cast<double>(n)));
    CHECK_FALSE(report.verified);
  }
  // The labels' test counts only answers other than the victim's class: the victim
  // gives none, and an untrained network, which differs from it almost everywhere,
  // matches about 1/9 of the counted answers and is not claimed.
  const Verifier by_labels(VerifierOptions().read_scores(false));
  const auto victim = by_labels.verify_model(*f.model, proof, "victim", torch::kCPU);
  CHECK(victim.score_test.at("counted") == 0);
  CHECK(victim.matches == 0);
  CHECK_FALSE(victim.verified);
  torch::manual_seed(7);
  const auto untrained = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  const auto random = by_labels.verify_model(*untrained, proof, "untrained", torch::kCPU);
  INFO("untrained: " << random.summary());
  REQUIRE(random.queries >= n / 2);
  CHECK(std::abs(random.match_rate - 1.0 / 9) < 4 * std::sqrt((1.0 / 9) * (8.0 / 9) / static_cast<double>(random.queries)));
  CHECK_FALSE(random.verified);
  // Scores that are not one per class are not read: the labels decide, and the report says why.
  NarrowScores narrow(f.model);
  const auto labels_only = Verifier().verify(narrow, proof);
  CHECK(labels_only.score_test.at("read") == "labels");
  CHECK_THAT(labels_only.score_test.at("why").get<std::string>(), Contains("7 scores per image"));
  CHECK(labels_only.matches == Verifier(VerifierOptions().read_scores(false)).verify(narrow, proof).matches);
}

TEST_CASE("a thief who asks every image three times, twice with one pixel moved by one level, and keeps the "
          "majority escapes DAWN, at three times the queries",
          "[serve][dawn][extraction]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  // The thief of the test above (claimed from its labels after 10 epochs), voting.
  const auto [copy, proof, queries] = test::extract_through_dawn(test::dawn_server_key(0.05), dir.path(), 10, RetrainingOptions().votes(3));
  CHECK(queries == 3000);
  // Each asked image is picked independently: about 5% of the 3,000 answers were changed
  // and logged, but a changed answer is outvoted unless two of an image's three were.
  CHECK(proof.tensor("images").size(0) > 100);
  const auto scored = Verifier().verify_model(*copy, proof, "surrogate", torch::kCPU);
  const auto labelled = Verifier(VerifierOptions().read_scores(false)).verify_model(*copy, proof, "surrogate", torch::kCPU);
  INFO("scores: " << scored.summary() << "\nlabels: " << labelled.summary());
  CHECK_FALSE(scored.verified);
  CHECK_FALSE(labelled.verified);
  CHECK(accuracy(*copy, f.test, torch::kCPU) > 0.85);  // the copy works
}

TEST_CASE("a surrogate trained too briefly to give DAWN's changed answers mostly gives the victim's class, and the "
          "changed one where it differs: claimed from its scores and from its labels, in process and served",
          "[serve][dawn][extraction]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  // Five epochs on the thief's 1,000 images: about 93% accurate, but seldom the changed class itself.
  const auto [copy, proof, queries] = test::extract_through_dawn(test::dawn_server_key(0.05), dir.path(), 5);

  const auto scored = Verifier().verify_model(*copy, proof, "surrogate", torch::kCPU);
  const auto labelled = Verifier(VerifierOptions().read_scores(false)).verify_model(*copy, proof, "surrogate", torch::kCPU);
  INFO("scores: " << scored.summary() << "\nlabels: " << labelled.summary());
  CHECK(scored.verified);
  CHECK(scored.score_test.at("read") == "class scores");
  CHECK(scored.score_test.at("label_matches") == labelled.matches);
  CHECK(scored.score_test.at("label_counted") == labelled.queries);
  CHECK(scored.chance_rate == Approx(1.0 / 9));
  // Its labels give the victim's own class for most answers, which can never match, and
  // the changed class for most of those where they differ from the victim's.
  const auto asked = proof.tensor("labels").size(0);
  CHECK(labelled.score_test.at("read") == "labels");
  CHECK(labelled.score_test.at("asked") == asked);
  CHECK(labelled.queries < asked / 2);
  CHECK_THAT(labelled.summary(), Contains("counted " + std::to_string(labelled.queries) + " of " +
                                          std::to_string(asked) + " answers, those that could match"));
  CHECK(labelled.verified);
  // Counted over every answer asked, the same matches would not have shown it.
  CHECK_FALSE(Verifier().decide(labelled.matches, asked, proof).verified);
  // Neither the victim nor a clean model ranks the changed classes first.
  for (const auto& [name, model] : {std::pair{"victim", f.model}, std::pair{"clean", test::clean_mnist()}}) {
    const auto report = Verifier().verify_model(*model, proof, name, torch::kCPU);
    INFO(name << ": " << report.summary());
    CHECK(report.score_test.at("read") == "class scores");
    CHECK_FALSE(report.verified);
  }

  // Served: over V2 the scores come back and decide; V1 gives labels only, says so, and they decide.
  InferenceServer thief(test::served_mnist(copy, "copy"), test::dawn_loopback());
  thief.start();
  RemoteClassifier v2(RemoteOptions().url(thief.url()).model("copy").binary(true), f.key.input_shape,
                      f.key.normalization);
  const auto remote = Verifier().verify(v2, proof);
  CHECK(remote.verified);
  CHECK(remote.matches == scored.matches);
  RemoteClassifier v1(RemoteOptions().url(thief.url()).model("copy").protocol("v1"), f.key.input_shape,
                      f.key.normalization);
  const auto labels_only = Verifier().verify(v1, proof);
  CHECK(labels_only.verified);
  CHECK(labels_only.matches == labelled.matches);
  CHECK(labels_only.queries == labelled.queries);
  CHECK_THAT(labels_only.score_test.at("why").get<std::string>(), Contains("labels only"));
  thief.stop();
}

TEST_CASE("a DAWN log that was edited, truncated or made with another key is refused, naming the line",
          "[serve][dawn]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  const auto key = test::dawn_server_key(0.2);
  DawnAnswers dawn(key, dir / "answers.jsonl");
  const auto queries = f.test.images.narrow(0, 0, 64);
  auto logits = f.model->forward(f.key.normalization.apply(queries)).detach().contiguous();
  REQUIRE(dawn.apply(queries, logits, "127.0.0.1") >= 3);
  const auto lines = lines_of(dir / "answers.jsonl");

  // A served class changed by hand.
  auto edited = lines;
  auto entry = nlohmann::json::parse(edited[1]);
  entry["label"] = (entry["label"].get<int>() + 1) % 10;
  edited[1] = entry.dump();
  write_lines(dir / "edited.jsonl", edited);
  CHECK_THROWS_WITH(dawn_proof_key(key, dir / "edited.jsonl"), Contains("line 2") && Contains("not one the server key"));
  // Another server's key.
  CHECK_THROWS_WITH(dawn_proof_key(test::dawn_server_key(0.2, 9), dir / "answers.jsonl"), Contains("line 1"));
  // Not JSON; cut short; an image of another size; too long a line.
  write_lines(dir / "junk.jsonl", {lines[0], "{\"image\": 1"});
  CHECK_THROWS_WITH(dawn_proof_key(key, dir / "junk.jsonl"), Contains("line 2"));
  {
    std::ofstream out(dir / "cut.jsonl");
    out << lines[0] << "\n" << lines[1].substr(0, 40);
  }
  CHECK_THROWS_WITH(dawn_proof_key(key, dir / "cut.jsonl"), Contains("truncated"));
  entry = nlohmann::json::parse(lines[0]);
  entry["image"] = "AAAA";
  write_lines(dir / "small.jsonl", {entry.dump()});
  CHECK_THROWS_WITH(dawn_proof_key(key, dir / "small.jsonl"), Contains("base64 pixels"));
  write_lines(dir / "long.jsonl", {std::string(2 << 20, ' ')});
  CHECK_THROWS_WITH(dawn_proof_key(key, dir / "long.jsonl"), Contains("1 MiB"));
  CHECK_THROWS_WITH(dawn_proof_key(key, dir / "answers.jsonl", 2), Contains("more than 2 entries"));
  CHECK_THROWS_WITH(dawn_proof_key(f.key, dir / "answers.jsonl"), Contains("not a DAWN key"));
}

TEST_CASE("a false accuser who holds a DAWN secret can write a log that fits an innocent model; only a time "
          "stamp stops it, and wmark verify refuses the key without one",
          "[serve][dawn][adversary]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  const auto key = test::dawn_server_key(0.2);
  // The accuser never served the innocent model: it queries it and, for the inputs its
  // secret picks, logs the innocent model's class as "served" and back-computes the
  // "model's class" the shift would have come from. Every line checks out.
  auto innocent = test::clean_mnist();
  const auto queries = f.test.images.narrow(0, 0, 500);
  const auto answers = predict_labels(*innocent, queries, f.key.normalization, torch::kCPU);
  std::vector<std::string> lines;
  const DawnChooser chooser(key);
  for (std::int64_t i = 0; i < queries.size(0); ++i) {
    const auto choice = chooser.choose(queries[i]);
    if (!choice.changed) continue;
    const auto served = answers[i].item<std::int64_t>();
    const auto image = queries[i].contiguous();
    lines.push_back(nlohmann::json{{"image", base64_encode({reinterpret_cast<const char*>(image.data_ptr<std::uint8_t>()),
                                                            static_cast<std::size_t>(image.numel())})},
                                   {"label", served},
                                   {"model_label", (served - choice.shift + 10) % 10}}
                        .dump());
  }
  write_lines(dir / "forged.jsonl", lines);
  const auto forged = dawn_proof_key(key, dir / "forged.jsonl");
  // The forgery "verifies" whenever the key is taken at its word...
  const auto naive = Verifier().verify_model(*innocent, forged, "innocent", torch::kCPU);
  CHECK(naive.verified);
  CHECK(naive.matches == naive.queries);
  // ...so wmark verify's policy refuses it as not derivable, and when told to accept
  // it anyway reports it forgeable.
  const auto strict = Verifier(VerifierOptions().require_derivable_key(true)).verify_model(*innocent, forged, "innocent",
                                                                                          torch::kCPU);
  CHECK_FALSE(strict.verified);
  CHECK(strict.refused_key());
  const auto accepted = Verifier(VerifierOptions().require_derivable_key(true).accept_unverifiable_keys(true))
                            .verify_model(*innocent, forged, "innocent", torch::kCPU);
  CHECK(accepted.key_forgeable);
}
