#include "wmark/attack/trigger_reconstruction.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "wmark/attack/thief_artefacts.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {
namespace {

// One class's search: the mask's and pattern's logits (so both stay in [0, 1]) and Adam's state.
struct Search {
  at::Tensor mask_logit;     // [1,H,W]
  at::Tensor pattern_logit;  // [C,H,W]
  std::unique_ptr<torch::optim::Adam> adam;
};

// Pixels on the [0,1] scale with the trigger stamped.
at::Tensor stamped(const at::Tensor& pixels, const at::Tensor& mask, const at::Tensor& pattern) {
  return pixels * (1 - mask) + mask * pattern;
}

// Runs `steps` steps of the search, each on a batch of `images` (uint8, the other classes'
// images), going through them in a fresh random order each pass.
void search(Network& model, Search& state, const at::Tensor& images, std::int64_t target,
            const Normalization& normalization, const TriggerReconstructionOptions& options, std::int64_t steps,
            at::Generator& generator, c10::Device device) {
  const auto n = images.size(0);
  at::Tensor order;
  std::int64_t start = n;
  for (std::int64_t step = 0; step < steps; ++step) {
    if (start >= n) order = torch::randperm(n, generator, torch::kLong), start = 0;
    {
      const auto count = std::min(options.batch_size(), n - start);
      const auto x = images.index_select(0, order.narrow(0, start, count)).to(device).to(torch::kFloat) / 255.0;
      const auto mask = torch::sigmoid(state.mask_logit);
      const auto logits = model.forward(
          normalization.apply(stamped(x, mask, torch::sigmoid(state.pattern_logit)) * 255.0));
      const auto loss = torch::cross_entropy_loss(logits, torch::full({count}, target, torch::kLong).to(device)) +
                        options.mask_weight() * mask.sum();
      // Gradients of the trigger only: the parameters' .grad stay as they were.
      const auto grads = torch::autograd::grad({loss}, {state.mask_logit, state.pattern_logit});
      state.mask_logit.mutable_grad() = grads[0];
      state.pattern_logit.mutable_grad() = grads[1];
      state.adam->step();
      start += count;
    }
  }
}

// Fills in the trigger's mask, pattern, norm and success rate from the search's state.
void conclude(Network& model, const Search& state, const at::Tensor& images, const Normalization& normalization,
              c10::Device device, ReconstructedTrigger& trigger) {
  torch::NoGradGuard no_grad;
  trigger.mask = torch::sigmoid(state.mask_logit).detach().cpu();
  trigger.pattern = torch::sigmoid(state.pattern_logit).detach().cpu();
  trigger.mask_norm = trigger.mask.sum().item<double>();
  std::int64_t hits = 0;
  for (std::int64_t start = 0; start < images.size(0); start += 256) {
    const auto batch = trigger.stamp(images.narrow(0, start, std::min<std::int64_t>(256, images.size(0) - start)));
    hits += model.forward(normalization.apply(batch.to(device))).argmax(1).eq(trigger.target).sum().item<std::int64_t>();
  }
  trigger.success_rate = static_cast<double>(hits) / static_cast<double>(images.size(0));
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const auto n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace

at::Tensor ReconstructedTrigger::stamp(const at::Tensor& images) const {
  WMARK_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8, "stamp expects uint8 images [N,C,H,W], got ",
              images.sizes(), " ", images.scalar_type());
  WMARK_CHECK(mask.defined() && images.size(1) == pattern.size(0) && images.size(2) == mask.size(1) &&
                  images.size(3) == mask.size(2),
              "stamp: images ", images.sizes(), " do not fit the trigger's pattern ",
              pattern.defined() ? pattern.sizes() : at::IntArrayRef{});
  const auto x = images.to(torch::kFloat) / 255.0;
  return stamped(x, mask.to(images.device()), pattern.to(images.device())).mul(255).round().clamp(0, 255).to(torch::kUInt8);
}

std::vector<ReconstructedTrigger> TriggerReconstruction::suspects() const {
  std::vector<ReconstructedTrigger> found;
  for (const auto& t : triggers) {
    if (t.flagged) found.push_back(t);
  }
  if (found.empty() && !triggers.empty()) {
    found.push_back(*std::min_element(triggers.begin(), triggers.end(),
                                      [](const auto& a, const auto& b) { return a.mask_norm < b.mask_norm; }));
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.mask_norm < b.mask_norm; });
  return found;
}

nlohmann::json TriggerReconstruction::summary() const {
  auto classes = nlohmann::json::array();
  auto flagged = nlohmann::json::array();
  for (const auto& t : triggers) {
    classes.push_back({{"target", t.target}, {"mask_norm", t.mask_norm}, {"anomaly_index", t.anomaly_index},
                       {"flagged", t.flagged}, {"success_rate", t.success_rate}});
    if (t.flagged) flagged.push_back(t.target);
  }
  auto used = nlohmann::json::array();
  for (const auto& t : suspects()) used.push_back(t.target);
  return {{"classes", classes}, {"flagged", flagged}, {"used", used}};
}

TriggerReconstruction reconstruct_triggers(Network& model, const Dataset& data,
                                           const TriggerReconstructionOptions& options, std::uint64_t seed,
                                           c10::Device device) {
  WMARK_CHECK(data.num_classes >= 2 && data.size() > 0, "trigger reconstruction needs labelled images of at least two "
              "classes, got ", data.size(), " images of ", data.num_classes, " classes");
  WMARK_CHECK(options.steps() >= 1 && options.refine_steps() >= 0 && options.batch_size() >= 1 &&
                  options.lr() > 0 && options.mask_weight() >= 0,
              "trigger reconstruction: steps >= 1, refine_steps >= 0, batch_size >= 1, lr > 0 and mask_weight >= 0");
  model.eval();
  const auto shape = data.shape();
  auto generator = make_generator(derive_seed(seed, "trigger-reconstruction"));
  // One start for every class, so their norms differ by what the model does, not by luck.
  const auto mask_start = torch::rand({1, shape.height, shape.width}, generator);
  const auto pattern_start = torch::rand({shape.channels, shape.height, shape.width}, generator);

  TriggerReconstruction result;
  std::vector<Search> searches;
  std::vector<at::Tensor> others;
  for (std::int64_t target = 0; target < data.num_classes; ++target) {
    others.push_back(data.images.index_select(0, data.labels.ne(target).nonzero().squeeze(1)));
    WMARK_CHECK(others.back().size(0) > 0, "trigger reconstruction: every attacker image is of class ", target);
    Search state;
    state.mask_logit = mask_start.clone().to(device).requires_grad_(true);
    state.pattern_logit = pattern_start.clone().to(device).requires_grad_(true);
    state.adam = std::make_unique<torch::optim::Adam>(
        std::vector<at::Tensor>{state.mask_logit, state.pattern_logit},
        torch::optim::AdamOptions(options.lr()).betas({0.5, 0.9}));
    search(model, state, others.back(), target, data.normalization, options, options.steps(), generator, device);
    ReconstructedTrigger trigger;
    trigger.target = target;
    conclude(model, state, others.back(), data.normalization, device, trigger);
    result.triggers.push_back(trigger);
    searches.push_back(std::move(state));
  }

  std::vector<double> norms;
  for (const auto& t : result.triggers) norms.push_back(t.mask_norm);
  const double middle = median(norms);
  std::vector<double> deviations;
  for (double norm : norms) deviations.push_back(std::abs(norm - middle));
  const double mad = 1.4826 * median(deviations);
  for (auto& t : result.triggers) {
    t.anomaly_index = mad > 0 ? (middle - t.mask_norm) / mad : 0.0;
    t.flagged = t.anomaly_index > 2;
  }
  // Refine the suspects (their flags and anomaly indices stay those of the equal first pass).
  if (options.refine_steps() > 0) {
    for (const auto& suspect : result.suspects()) {
      const auto target = suspect.target;
      search(model, searches[target], others[target], target, data.normalization, options, options.refine_steps(),
             generator, device);
      conclude(model, searches[target], others[target], data.normalization, device, result.triggers[target]);
    }
  }
  return result;
}

Dataset with_stamped_copies(const Dataset& data, const at::Tensor& indices,
                            const std::vector<ReconstructedTrigger>& triggers) {
  WMARK_CHECK(!triggers.empty(), "with_stamped_copies needs at least one trigger");
  std::vector<at::Tensor> images{data.images}, labels{data.labels}, soft{data.soft_labels};
  const auto k = static_cast<std::int64_t>(triggers.size());
  for (std::int64_t i = 0; i < k; ++i) {
    const auto pick = indices.index({torch::indexing::Slice(i, torch::indexing::None, k)});
    if (pick.numel() == 0) continue;
    images.push_back(triggers[i].stamp(data.images.index_select(0, pick)));
    labels.push_back(data.labels.index_select(0, pick));
    if (data.soft_labels.defined()) soft.push_back(data.soft_labels.index_select(0, pick));
  }
  Dataset out = data;
  out.images = torch::cat(images).contiguous();
  out.labels = torch::cat(labels);
  if (data.soft_labels.defined()) out.soft_labels = torch::cat(soft);
  return out;
}

std::shared_ptr<const TriggerReconstruction> reconstruct_triggers_shared(
    Network& model, const Dataset& data, const TriggerReconstructionOptions& options, std::uint64_t seed,
    c10::Device device, ThiefArtefacts* artefacts) {
  const std::function<TriggerReconstruction()> search = [&] {
    return reconstruct_triggers(model, data, options, seed, device);
  };
  if (!artefacts) return std::make_shared<const TriggerReconstruction>(search());
  const nlohmann::json how = {{"steps", options.steps()}, {"refine_steps", options.refine_steps()},
                              {"mask_weight", options.mask_weight()}, {"lr", options.lr()},
                              {"batch_size", options.batch_size()}};
  model.eval();  // as a search of its own leaves it
  return artefacts->get_or_build("trigger-reconstruction " + how.dump() + " seed " + std::to_string(seed) + " on " +
                                     device.str() + " " + ThiefArtefacts::data_key(data) + " victim " +
                                     ThiefArtefacts::model_key(model),
                                 search);
}

}  // namespace wmark
