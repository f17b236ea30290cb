#include "wmark/train/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "wmark/data/augment.h"
#include "wmark/dist/process_group.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/log.h"
#include "wmark/util/random.h"

namespace wmark {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(Network& model, const TrainerOptions& o) {
  if (o.optimizer() == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        model.parameters(),
        torch::optim::SGDOptions(o.lr()).momentum(o.momentum()).weight_decay(o.weight_decay()));
  }
  if (o.optimizer() == "adam") {
    return std::make_unique<torch::optim::Adam>(
        model.parameters(), torch::optim::AdamOptions(o.lr()).weight_decay(o.weight_decay()));
  }
  WMARK_FAIL("unknown optimizer '", o.optimizer(), "'; use sgd or adam");
}

double scheduled_lr(const TrainerOptions& o, std::int64_t epoch) {
  if (o.schedule() == "none") return o.lr();
  if (o.schedule() == "step") {
    return o.lr() * std::pow(o.lr_gamma(), static_cast<double>((epoch - 1) / o.lr_step()));
  }
  if (o.schedule() == "cosine") {
    const double progress = static_cast<double>(epoch - 1) / static_cast<double>(o.epochs());
    return 0.5 * o.lr() * (1.0 + std::cos(M_PI * progress));
  }
  WMARK_FAIL("unknown LR schedule '", o.schedule(), "'; use none, step or cosine");
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

std::string format_duration(double seconds) {
  const auto s = static_cast<long>(std::lround(seconds));
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

// Shard `rank` of `world` of a range of `n`: [n*rank/world, n*(rank+1)/world).
std::pair<std::int64_t, std::int64_t> shard(std::int64_t n, int rank, int world) {
  const auto begin = n * rank / world;
  return {begin, n * (rank + 1) / world - begin};
}

// Test accuracy over the group: each rank classifies its shard; the counts are summed.
double group_accuracy(Network& model, const Dataset& test, const TrainerOptions& o, ProcessGroup* group) {
  if (!group || group->world_size() == 1) return accuracy(model, test, o.device(), o.eval_batch_size());
  const auto [begin, len] = shard(test.size(), group->rank(), group->world_size());
  double correct = 0;
  if (len > 0) {
    correct = accuracy(model, test.images.narrow(0, begin, len), test.labels.narrow(0, begin, len), test.normalization,
                       o.device(), o.eval_batch_size()) *
              static_cast<double>(len);
  }
  auto counts = torch::tensor({correct, static_cast<double>(len)}, torch::kDouble);
  group->allreduce_sum({counts});
  return counts[0].item<double>() / counts[1].item<double>();
}

void validate(const TrainerOptions& o, const Dataset& train) {
  WMARK_CHECK(o.epochs() >= 1, "epochs must be at least 1, got ", o.epochs());
  WMARK_CHECK(o.batch_size() >= 2, "batch size must be at least 2, got ", o.batch_size());
  WMARK_CHECK(o.lr() > 0, "learning rate must be positive, got ", o.lr());
  WMARK_CHECK(o.lr_step() >= 1, "LR step must be at least 1 epoch");
  if (o.process_group()) {
    WMARK_CHECK(o.batch_size() >= 2 * o.process_group()->world_size(), "a global batch of ", o.batch_size(),
                " cannot give each of ", o.process_group()->world_size(), " processes 2 samples; raise the batch size");
  }
  WMARK_CHECK(train.size() >= 2, "training set '", train.name, "' has ", train.size(), " samples");
  WMARK_CHECK(train.images.scalar_type() == torch::kUInt8, "training images must be uint8");
  if (train.soft_labels.defined()) {
    WMARK_CHECK(train.soft_labels.dim() == 2 && train.soft_labels.size(0) == train.size() &&
                    train.soft_labels.size(1) == train.num_classes && train.soft_labels.is_floating_point(),
                "soft labels of '", train.name, "' must be floats [", train.size(), ", ", train.num_classes, "], got ",
                train.soft_labels.sizes());
  }
  scheduled_lr(o, 1);  // rejects an unknown schedule before any work
}

// Running sums of one epoch on this rank.
struct EpochSums {
  double loss = 0, correct = 0;
  std::int64_t seen = 0, samples = 0;  // clean samples; samples with the hooks' additions
};

// One call of Trainer::fit, in named steps: prepare the model and optimiser, resume,
// start the ranks from one state, then epochs of steps, each epoch reduced over the
// group, reported to the hooks, logged and checkpointed.
class FitRun {
 public:
  FitRun(Network& model, const TrainerOptions& o, const CheckpointInfo& info,
         const std::vector<std::shared_ptr<TrainerHook>>& hooks, const Dataset& train)
      : model_(model), o_(o), info_(info), hooks_(hooks), train_(train), group_(o.process_group().get()),
        rank_(group_ ? group_->rank() : 0), world_(group_ ? group_->world_size() : 1), lead_(rank_ == 0) {}

  // The model on its device, checked against the data, and its optimiser.
  void prepare() {
    model_.to(o_.device());
    check_model(model_, ModelSpec{train_.shape(), train_.num_classes}, info_.arch.empty() ? "the model" : info_.arch);
    if (o_.channels_last()) to_channels_last(model_);
    optimizer_ = make_optimizer(model_, o_);
    parameters_ = model_.parameters();  // once: the per-step gradient reset needs them
  }

  // The first epoch to run: after the resumed checkpoint's, else 1.
  std::int64_t resume() {
    std::int64_t first_epoch = 1;
    if (!o_.resume_from().empty()) {
      const auto info = read_checkpoint_info(o_.resume_from());
      load_weights(o_.resume_from(), model_);
      load_optimizer_state(o_.resume_from(), *optimizer_);
      first_epoch = info.epoch + 1;
      if (lead_) logger()->info("resuming from {} after epoch {}", o_.resume_from(), info.epoch);
    }
    if (lead_ && !o_.checkpoint_path().empty() && o_.checkpoint_path() != o_.resume_from()) {
      check_writable(o_.checkpoint_path(), o_.force());
    }
    return first_epoch;
  }

  // Every rank starts from rank 0's weights (and buffers); gradients are then averaged.
  void start_ranks_together() {
    if (world_ == 1) return;
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> state;
    for (const auto& p : model_.parameters()) state.push_back(p.data());
    for (const auto& b : model_.buffers()) state.push_back(b);
    group_->broadcast(state);
    averager_ = std::make_unique<GradientAverager>(o_.process_group(), parameters_, o_.bucket_bytes());
  }

  // Trains one epoch and returns its figures over the whole group.
  EpochStats train_epoch(std::int64_t epoch) {
    const auto n = train_.size();
    const auto batch = o_.batch_size();
    // A trailing batch that would leave a process fewer than 2 samples (batch-norm needs
    // 2; an empty shard fails or averages NaN gradients into every rank) is dropped.
    const auto steps = n / batch + ((n % batch) >= 2 * world_ ? 1 : 0);
    const double lr = scheduled_lr(o_, epoch);
    set_lr(*optimizer_, lr);
    model_.train();
    StepContext context{epoch, 0, steps, rank_, world_};
    for (auto& hook : hooks_) hook->on_epoch_begin(context);

    // The order depends only on (seed, epoch), so a resumed run sees the same batches.
    auto order_generator = make_generator(derive_seed(o_.seed(), "epoch-" + std::to_string(epoch)));
    const auto order = torch::randperm(n, order_generator, torch::kLong);
    auto augment_generator = make_generator(derive_seed(
        o_.seed(), "augment-" + std::to_string(epoch) + (world_ > 1 ? "-rank-" + std::to_string(rank_) : "")));

    const double allreduce_before = averager_ ? averager_->communication_seconds() : 0;
    EpochSums sums;
    const auto start = Clock::now();
    auto last_progress = start;
    for (std::int64_t step = 0; step < steps; ++step) {
      context.step = step;
      const auto global_len = std::min(batch, n - step * batch);
      // This rank's shard of the global batch (all of it in a single process).
      const auto [offset, len] = shard(global_len, rank_, world_);
      const auto index = order.narrow(0, step * batch + offset, len);
      Batch b = make_batch(index, augment_generator, context);
      const auto soft = train_.soft_labels.defined() ? train_.soft_labels.index_select(0, index) : at::Tensor();
      train_step(b, soft, context, sums);
      if (lead_ && o_.on_progress() && (seconds_since(last_progress) > 0.5 || step + 1 == steps)) {
        last_progress = Clock::now();
        const double elapsed = seconds_since(start);
        o_.on_progress()(Progress{epoch, o_.epochs(), step + 1, steps, sums.loss / sums.seen, sums.samples / elapsed,
                                  elapsed / (step + 1) * (steps - step - 1)});
      }
    }
    reduce_over_group(sums);
    EpochStats stats;
    stats.epoch = epoch;
    stats.seconds = seconds_since(start);
    stats.train_loss = sums.loss / static_cast<double>(sums.seen);
    stats.train_accuracy = sums.correct / static_cast<double>(sums.seen);
    stats.samples_per_second = sums.samples / stats.seconds;
    stats.lr = lr;
    samples_total_ += sums.samples;
    // Time this rank spent averaging gradients in the epoch (part of stats.seconds).
    if (averager_) stats.metrics["allreduce_s"] = averager_->communication_seconds() - allreduce_before;
    return stats;
  }

  // Test accuracy, the hooks' epoch-end figures, the log line and the checkpoint.
  void finish_epoch(EpochStats& stats, const Dataset* test) {
    model_.eval();
    if (test) stats.test_accuracy = group_accuracy(model_, *test, o_, group_);
    for (auto& hook : hooks_) hook->on_epoch_end(stats, model_);
    if (lead_) logger()->info("{}", epoch_line(stats));
    if (lead_ && !o_.checkpoint_path().empty()) {
      CheckpointInfo info = info_;
      info.epoch = stats.epoch;
      save_checkpoint(o_.checkpoint_path(), model_, info, optimizer_.get(), /*force=*/true);
    }
    if (stats.stop && lead_) logger()->info("stopping after epoch {} (requested by a hook)", stats.epoch);
  }

  bool lead() const { return lead_; }
  std::int64_t samples_total() const { return samples_total_; }

 private:
  // The batch of `index`: clean images, augmented if asked, then the hooks' additions.
  Batch make_batch(const at::Tensor& index, at::Generator& augment_generator, const StepContext& context) {
    Batch b{train_.images.index_select(0, index), train_.labels.index_select(0, index), index.size(0)};
    if (o_.augment()) b.images = random_crop_flip(b.images, o_.crop_padding(), true, augment_generator);
    for (auto& hook : hooks_) hook->extend_batch(b, context);
    return b;
  }

  // Mean cross-entropy over the batch: against `soft` probabilities for the clean rows
  // when the data has soft labels, against the hard labels otherwise and for the rows
  // the hooks added.
  static at::Tensor batch_loss(const at::Tensor& logits, const at::Tensor& y, const at::Tensor& soft,
                               std::int64_t clean_size) {
    if (!soft.defined()) return torch::nn::functional::cross_entropy(logits, y);
    const auto n = logits.size(0);
    auto total = -(soft.to(logits.device(), logits.scalar_type()) *
                   torch::log_softmax(logits.narrow(0, 0, clean_size), 1)).sum();
    if (n > clean_size) {
      total = total + torch::nn::functional::cross_entropy(
                          logits.narrow(0, clean_size, n - clean_size), y.narrow(0, clean_size, n - clean_size),
                          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    }
    return total / static_cast<double>(n);
  }

  // Forward, loss (with the hooks' terms), backward, gradient averaging, optimiser step.
  void train_step(const Batch& b, const at::Tensor& soft, const StepContext& context, EpochSums& sums) {
    auto x = train_.normalization.apply(b.images).to(o_.device());
    if (o_.channels_last()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    auto y = b.labels.to(o_.device());
    auto logits = model_.forward(x);
    auto loss = batch_loss(logits, y, soft, b.clean_size);
    for (auto& hook : hooks_) {
      auto extra = hook->extra_loss(b, logits, model_, context);
      if (extra.defined()) loss = loss + extra;
    }
    for (auto p : parameters_) p.mutable_grad() = torch::Tensor();  // set to none
    loss.backward();
    if (averager_) averager_->average();
    optimizer_->step();
    for (auto& hook : hooks_) hook->on_step_end(model_, context);

    const auto len = b.clean_size;
    sums.loss += loss.item<double>() * static_cast<double>(len);
    sums.correct += logits.narrow(0, 0, len).argmax(1).eq(y.narrow(0, 0, len)).sum().item<double>();
    sums.seen += len;
    sums.samples += b.images.size(0);
  }

  // The epoch's sums over the whole group.
  void reduce_over_group(EpochSums& sums) const {
    if (world_ == 1) return;
    auto totals = torch::tensor({sums.loss, sums.correct, static_cast<double>(sums.seen),
                                 static_cast<double>(sums.samples)}, torch::kDouble);
    group_->allreduce_sum({totals});
    sums.loss = totals[0].item<double>();
    sums.correct = totals[1].item<double>();
    sums.seen = static_cast<std::int64_t>(totals[2].item<double>());
    sums.samples = static_cast<std::int64_t>(totals[3].item<double>());
  }

  std::string epoch_line(const EpochStats& stats) const {
    std::string line = fmt::format("epoch {}/{} loss {:.4f} train_acc {:.2f}%", stats.epoch, o_.epochs(),
                                   stats.train_loss, 100 * stats.train_accuracy);
    if (stats.test_accuracy >= 0) line += fmt::format(" test_acc {:.2f}%", 100 * stats.test_accuracy);
    for (const auto& [name, value] : stats.metrics) line += fmt::format(" {} {:.4g}", name, value);
    line += fmt::format(" {:.0f} samples/s {} ETA {}", stats.samples_per_second, format_duration(stats.seconds),
                        format_duration(stats.seconds * static_cast<double>(o_.epochs() - stats.epoch)));
    return line;
  }

  Network& model_;
  const TrainerOptions& o_;
  const CheckpointInfo& info_;
  const std::vector<std::shared_ptr<TrainerHook>>& hooks_;
  const Dataset& train_;
  ProcessGroup* group_;
  const int rank_, world_;
  const bool lead_;  // only rank 0 logs, reports progress and writes checkpoints
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<at::Tensor> parameters_;
  std::unique_ptr<GradientAverager> averager_;
  std::int64_t samples_total_ = 0;
};

}  // namespace

Trainer::Trainer(NetworkPtr model, TrainerOptions options, CheckpointInfo info)
    : model_(std::move(model)), options_(std::move(options)), info_(std::move(info)) {
  WMARK_CHECK(model_, "Trainer needs a model");
}

Trainer& Trainer::add_hook(std::shared_ptr<TrainerHook> hook) {
  WMARK_CHECK(hook, "null trainer hook");
  hooks_.push_back(std::move(hook));
  return *this;
}

TrainResult Trainer::fit(const Dataset& train, const Dataset* test) {
  validate(options_, train);
  FitRun run(*model_, options_, info_, hooks_, train);
  run.prepare();
  const auto first_epoch = run.resume();
  run.start_ranks_together();
  TrainResult result;
  for (std::int64_t epoch = first_epoch; epoch <= options_.epochs(); ++epoch) {
    auto stats = run.train_epoch(epoch);
    result.train_seconds += stats.seconds;
    run.finish_epoch(stats, test);
    result.history.push_back(stats);
    if (stats.stop) break;
  }
  model_->eval();
  if (!result.history.empty()) result.test_accuracy = result.history.back().test_accuracy;
  result.samples_per_second =
      result.train_seconds > 0 ? static_cast<double>(run.samples_total()) / result.train_seconds : 0;
  return result;
}

}  // namespace wmark
