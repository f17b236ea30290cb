// "blackmarks": Chen, Rouhani and Koushanfar, "BlackMarks: Blackbox Multibit Watermarking
// for Deep Neural Networks" (DAC 2019). The classes are split into two clusters by the
// marked model's mean output activations (k-means, k = 2); each bit of the owner's
// signature gets a key image: a training image of the other cluster moved one targeted
// FGSM step towards a class of the bit's cluster, then fine-tuned into that class. The
// suspect's answers decode to bits through the clusters; the proof is the bit error rate
// and the binomial p-value at 1/2 per bit. wmark keeps only key images that the model
// before marking (and every reference model) still decodes as the other bit, so a model
// that was not fine-tuned on them reads about none of the signature (docs/schemes.md).
#include <torch/torch.h>

#include <algorithm>

#include "../derivation_support.h"
#include "../fgsm_step.h"
#include "../key_base.h"
#include "../keyed_finetune.h"
#include "builtin_schemes.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/util/log.h"

namespace wmark::schemes {
namespace {

using json = nlohmann::json;

// Mean softmax output per true class, [C,C], over at most 10,000 training images.
at::Tensor class_activations(Network& model, const Dataset& train, const KeySecret& secret, c10::Device device) {
  const auto count = std::min<std::int64_t>(train.size(), 10000);
  const auto picked = secret.stream("blackmarks-activation-sample").sample(train.size(), count);
  model.eval();
  torch::NoGradGuard no_grad;
  auto sums = torch::zeros({train.num_classes, train.num_classes}, torch::kDouble);
  auto counts = torch::zeros({train.num_classes, 1}, torch::kDouble);
  for (std::int64_t start = 0; start < count; start += 500) {
    const auto index = picked.narrow(0, start, std::min<std::int64_t>(500, count - start));
    const auto images = train.images.index_select(0, index).to(device);
    const auto probabilities = torch::softmax(model.forward(train.normalization.apply(images)), 1).cpu().to(torch::kDouble);
    const auto labels = train.labels.index_select(0, index);
    sums.index_add_(0, labels, probabilities);
    counts.index_add_(0, labels, torch::ones({index.size(0), 1}, torch::kDouble));
  }
  return sums / counts.clamp_min(1);
}

// k-means with k = 2 over the rows (Lloyd's; the first centre is class 0's row, the
// second the row farthest from it): uint8 [C], both clusters non-empty.
at::Tensor two_clusters(const at::Tensor& rows) {
  auto centres = torch::stack({rows[0], rows[(rows - rows[0]).pow(2).sum(1).argmax().item<std::int64_t>()]});
  at::Tensor assignment;
  for (int step = 0; step < 100; ++step) {
    const auto next = torch::cdist(rows, centres).argmin(1);
    if (assignment.defined() && torch::equal(next, assignment)) break;
    assignment = next;
    for (std::int64_t k = 0; k < 2; ++k) {
      const auto members = assignment.eq(k).nonzero().flatten();
      if (members.numel() > 0) centres[k] = rows.index_select(0, members).mean(0);
    }
  }
  const auto ones = assignment.sum().item<std::int64_t>();
  WMARK_CHECK(ones > 0 && ones < rows.size(0), "blackmarks: the model's output activations do not split the classes "
              "into two clusters (is it trained?)");
  return assignment.to(torch::kUInt8);
}

// `count` draws from the int64 list `values` (uniform, keyed).
at::Tensor draw_from(const at::Tensor& values, std::int64_t count, KeyStream& stream) {
  return values.index_select(0, stream.uniform(count, values.size(0)));
}

// How many key images were crafted at epsilon, epsilon/2, ...: [halvings + 1] counts.
json steps_histogram(const std::vector<std::int64_t>& halving_of, std::int64_t halvings) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(halvings + 1), 0);
  for (const auto h : halving_of) ++counts[static_cast<std::size_t>(h)];
  return counts;
}

class BlackMarksScheme final : public Scheme {
 public:
  explicit BlackMarksScheme(const json& options) : options_(schema().read(options)) {}

  std::string name() const override { return "blackmarks"; }

  OptionSchema schema() const override {
    return OptionSchema("the blackmarks scheme")
        .integer("bits", 64, "signature bits, one key image each", 8, 100000)
        .number("epsilon", 0.1, "targeted FGSM step on the [0,1] pixel scale", 0.001, 1.0)
        .integer("oversample", 10, "candidate key images tried per bit", 1, 1000)
        .integer("step_halvings", 4,
                 "smaller steps tried when every candidate of a bit crosses at the full step: epsilon/2, /4, ...", 0, 20)
        .integer("finetune_epochs", 5, "most fine-tuning epochs (stops once every key image is learnt)", 1, 1000);
  }

  json options() const override { return options_; }
  KeyKind key_kind() const override { return KeyKind::black_box; }
  bool starts_from_clean_model() const override { return true; }

  EmbedResult embed(const EmbedRequest& request) const override {
    const auto& train = request.splits.train;
    const ModelSpec spec{train.shape(), train.num_classes};
    WMARK_CHECK(train.num_classes >= 3, "blackmarks needs at least 3 classes to split into two clusters");
    const auto device = request.training.device();
    const auto bits_wanted = options_.at("bits").get<std::int64_t>();
    const auto tries = options_.at("oversample").get<std::int64_t>();
    const auto clean = train_clean_model(request.model, request.splits, request.training, request.info,
                                         request.pretrained);
    auto& model = *request.model;
    const auto clusters = two_clusters(class_activations(model, train, request.secret, device));
    const auto bits = request.secret.stream("blackmarks-bits").uniform(bits_wanted, 2).to(torch::kUInt8);

    // Candidates: for bit i, `tries` images of the other cluster's classes, each aimed
    // at a class of bit i's cluster.
    auto stream = request.secret.stream("blackmarks-candidates");
    const auto bit_of = torch::arange(bits_wanted, torch::kLong).repeat_interleave(tries);
    const auto wanted = bits.to(torch::kLong).index_select(0, bit_of);
    const auto class_cluster = clusters.to(torch::kLong).index_select(0, train.labels);
    auto sources = torch::empty_like(bit_of);
    auto targets = torch::empty_like(bit_of);
    for (std::int64_t side = 0; side < 2; ++side) {
      const auto slots = wanted.eq(side).nonzero().flatten();  // candidates whose bit is `side`
      if (slots.numel() == 0) continue;
      const auto source_pool = class_cluster.ne(side).nonzero().flatten();
      const auto target_pool = clusters.to(torch::kLong).eq(side).nonzero().flatten();
      sources.index_copy_(0, slots, draw_from(source_pool, slots.size(0), stream));
      targets.index_copy_(0, slots, draw_from(target_pool, slots.size(0), stream));
    }
    // Kept: candidates the model before marking, and every reference, decode as the
    // other bit, so only the fine-tuning makes them read right. A well-trained model is
    // crossed by most full steps (CIFAR-10 at epsilon 0.1: every candidate of some bit),
    // so each bit takes the largest step at which one of its candidates still stays.
    const auto read = [&](Network& net, const at::Tensor& images) {
      return clusters.to(torch::kLong).index_select(0, predict_labels(net, images, train.normalization, device));
    };
    for (const auto& reference : request.references) {
      check_model(*reference, spec, "reference model");
      reference->to(device);
    }
    const auto source_images = train.images.index_select(0, sources);
    const auto halvings = options_.at("step_halvings").get<std::int64_t>();
    const auto epsilon = options_.at("epsilon").get<double>();
    std::vector<std::int64_t> chosen(static_cast<std::size_t>(bits_wanted), -1);
    std::vector<std::int64_t> halving_of(chosen.size(), 0);
    auto moved = torch::empty_like(source_images);
    for (std::int64_t halving = 0; halving <= halvings; ++halving) {
      if (std::count(chosen.begin(), chosen.end(), -1) == 0) break;
      const auto step = epsilon / static_cast<double>(std::int64_t{1} << halving);
      const auto candidate = fgsm_step(model, source_images, targets, train.normalization, -step, device);
      auto usable = read(model, candidate).ne(wanted);
      for (const auto& reference : request.references) usable &= read(*reference, candidate).ne(wanted);
      for (std::int64_t i = 0; i < bits_wanted; ++i) {
        if (chosen[i] >= 0) continue;
        const auto mine = usable.narrow(0, i * tries, tries).nonzero().flatten();
        if (mine.numel() == 0) continue;
        chosen[i] = i * tries + mine[0].item<std::int64_t>();
        halving_of[i] = halving;
        moved[chosen[i]] = candidate[chosen[i]];
      }
    }
    const auto missing = std::find(chosen.begin(), chosen.end(), -1);
    WMARK_CHECK(missing == chosen.end(), "blackmarks: none of the ", tries, " candidates of bit ", missing - chosen.begin(),
                " stays in its source cluster for the model", request.references.empty() ? "" : " and the references",
                " even at epsilon/", std::int64_t{1} << halvings, "; raise oversample or step_halvings");
    const auto at = torch::tensor(chosen, torch::kLong);
    TriggerSet keys;
    keys.images = moved.index_select(0, at).contiguous();
    keys.labels = targets.index_select(0, at).contiguous();
    keys.source_labels = train.labels.index_select(0, sources.index_select(0, at));
    logger()->info("blackmarks: fine-tuning {} key images ({} bits; crafted at epsilon/1, /2, /4, ...: {})",
                   keys.size(), bits_wanted, steps_histogram(halving_of, halvings).dump());

    auto base = key_base(train, request.info.arch);
    base.secret = request.secret;
    base.params.update({{"generator", "blackmarks"},
                        {"epsilon", options_.at("epsilon")},
                        {"step_halvings", options_.at("step_halvings")},
                        {"references", request.references.size()},
                        {"chance_rate", 0.5}});
    auto result = fine_tune_on_keys(request.model, request.splits, request.training, keys, std::move(base),
                                    options_.at("finetune_epochs").get<std::int64_t>(), "blackmarks-finetune",
                                    request.info, clean);
    result.key.method = name();
    result.key.tensors["bits"] = bits.contiguous();
    result.key.tensors["clusters"] = clusters.contiguous();
    result.details.update({{"bits", bits_wanted}, {"key_images_per_halving", steps_histogram(halving_of, halvings)},
                           {"cluster_sizes", {clusters.eq(0).sum().item<std::int64_t>(),
                                                                      clusters.eq(1).sum().item<std::int64_t>()}}});
    return result;
  }

  // A suspect's answer is a bit: the cluster of the class it names.
  at::Tensor query_matches(const WatermarkKey& key, const at::Tensor& queried, const at::Tensor& answers) const override {
    const auto& clusters = key.tensor("clusters");
    const auto& bits = key.tensor("bits");
    WMARK_CHECK(clusters.dim() == 1 && clusters.size(0) == key.num_classes && bits.dim() == 1 &&
                    bits.size(0) == key.tensor("labels").size(0),
                "malformed blackmarks key: clusters ", clusters.sizes(), " for ", key.num_classes, " classes, bits ",
                bits.sizes());
    if (answers.numel() == 0) return torch::zeros({0}, torch::kBool);
    WMARK_CHECK(answers.min().item<std::int64_t>() >= 0 && answers.max().item<std::int64_t>() < key.num_classes,
                "an answer is not one of the key's ", key.num_classes, " classes");
    const auto read = clusters.to(torch::kLong).index_select(0, answers.to(torch::kLong).cpu());
    return read.eq(bits.to(torch::kLong).index_select(0, queried.cpu()));
  }

  // Bits are uniform from the secret: a model whose answers ignore the key reads each
  // right with probability 1/2.
  double chance_rate(const json&, std::int64_t) const override { return 0.5; }

  KeyDerivation check_derivation(const WatermarkKey&, const std::optional<std::filesystem::path>&) const override {
    return derivation::not_derivable(
        "blackmarks key images and class clusters come from the model they were made with; nothing re-derives them "
        "from the secret");
  }

 private:
  json options_;
};

}  // namespace

std::unique_ptr<Scheme> make_blackmarks(const json& options) { return std::make_unique<BlackMarksScheme>(options); }

}  // namespace wmark::schemes
