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
  scheduled_lr(o, 1);  // rejects an unknown schedule before any work
}

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
  const auto& o = options_;
  validate(o, train);
  auto log = logger();
  ProcessGroup* group = o.process_group().get();
  const int rank = group ? group->rank() : 0;
  const int world = group ? group->world_size() : 1;
  const bool lead = rank == 0;  // only rank 0 logs, reports progress and writes checkpoints
  Network& model = *model_;
  model.to(o.device());
  check_model(model, ModelSpec{train.shape(), train.num_classes}, info_.arch.empty() ? "the model" : info_.arch);
  if (o.channels_last()) to_channels_last(model);
  auto optimizer = make_optimizer(model, o);
  const auto parameters = model.parameters();  // once: the per-step gradient reset needs them

  std::int64_t first_epoch = 1;
  if (!o.resume_from().empty()) {
    const auto info = read_checkpoint_info(o.resume_from());
    load_weights(o.resume_from(), model);
    load_optimizer_state(o.resume_from(), *optimizer);
    first_epoch = info.epoch + 1;
    if (lead) log->info("resuming from {} after epoch {}", o.resume_from(), info.epoch);
  }
  if (lead && !o.checkpoint_path().empty() && o.checkpoint_path() != o.resume_from()) {
    check_writable(o.checkpoint_path(), o.force());
  }
  // Every rank starts from rank 0's weights (and buffers); gradients are then averaged.
  std::unique_ptr<GradientAverager> averager;
  if (world > 1) {
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> state;
    for (const auto& p : model.parameters()) state.push_back(p.data());
    for (const auto& b : model.buffers()) state.push_back(b);
    group->broadcast(state);
    averager = std::make_unique<GradientAverager>(o.process_group(), parameters, o.bucket_bytes());
  }

  const auto n = train.size();
  const auto batch = o.batch_size();
  // A trailing batch that would leave a process fewer than 2 samples (batch-norm needs
  // 2; an empty shard fails or averages NaN gradients into every rank) is dropped.
  const auto steps = n / batch + ((n % batch) >= 2 * world ? 1 : 0);

  TrainResult result;
  std::int64_t samples_total = 0;
  for (std::int64_t epoch = first_epoch; epoch <= o.epochs(); ++epoch) {
    const double lr = scheduled_lr(o, epoch);
    set_lr(*optimizer, lr);
    model.train();
    StepContext context{epoch, 0, steps, rank, world};
    for (auto& hook : hooks_) hook->on_epoch_begin(context);

    // The order depends only on (seed, epoch), so a resumed run sees the same batches.
    auto order_generator = make_generator(derive_seed(o.seed(), "epoch-" + std::to_string(epoch)));
    auto order = torch::randperm(n, order_generator, torch::kLong);
    auto augment_generator = make_generator(derive_seed(
        o.seed(), "augment-" + std::to_string(epoch) + (world > 1 ? "-rank-" + std::to_string(rank) : "")));

    const double allreduce_before = averager ? averager->communication_seconds() : 0;
    double loss_sum = 0, correct = 0;
    std::int64_t seen = 0, samples = 0;
    const auto start = Clock::now();
    auto last_progress = start;
    for (std::int64_t step = 0; step < steps; ++step) {
      context.step = step;
      const auto global_len = std::min(batch, n - step * batch);
      // This rank's shard of the global batch (all of it in a single process).
      const auto [offset, len] = shard(global_len, rank, world);
      auto index = order.narrow(0, step * batch + offset, len);
      Batch b{train.images.index_select(0, index), train.labels.index_select(0, index), len};
      if (o.augment()) b.images = random_crop_flip(b.images, o.crop_padding(), true, augment_generator);
      for (auto& hook : hooks_) hook->extend_batch(b, context);

      auto x = train.normalization.apply(b.images).to(o.device());
      if (o.channels_last()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      auto y = b.labels.to(o.device());
      auto logits = model.forward(x);
      auto loss = torch::nn::functional::cross_entropy(logits, y);
      for (auto& hook : hooks_) {
        auto extra = hook->extra_loss(b, logits, model, context);
        if (extra.defined()) loss = loss + extra;
      }
      for (auto p : parameters) p.mutable_grad() = torch::Tensor();  // set to none
      loss.backward();
      if (averager) averager->average();
      optimizer->step();
      for (auto& hook : hooks_) hook->on_step_end(model, context);

      loss_sum += loss.item<double>() * static_cast<double>(len);
      correct += logits.narrow(0, 0, len).argmax(1).eq(y.narrow(0, 0, len)).sum().item<double>();
      seen += len;
      samples += b.images.size(0);
      if (lead && o.on_progress() && (seconds_since(last_progress) > 0.5 || step + 1 == steps)) {
        last_progress = Clock::now();
        const double elapsed = seconds_since(start);
        Progress p{epoch, o.epochs(), step + 1, steps, loss_sum / seen, samples / elapsed,
                   elapsed / (step + 1) * (steps - step - 1)};
        o.on_progress()(p);
      }
    }
    if (world > 1) {
      // Epoch figures over the whole group.
      auto totals = torch::tensor({loss_sum, correct, static_cast<double>(seen), static_cast<double>(samples)},
                                  torch::kDouble);
      group->allreduce_sum({totals});
      loss_sum = totals[0].item<double>();
      correct = totals[1].item<double>();
      seen = static_cast<std::int64_t>(totals[2].item<double>());
      samples = static_cast<std::int64_t>(totals[3].item<double>());
    }
    EpochStats stats;
    stats.epoch = epoch;
    stats.seconds = seconds_since(start);
    stats.train_loss = loss_sum / static_cast<double>(seen);
    stats.train_accuracy = correct / static_cast<double>(seen);
    stats.samples_per_second = samples / stats.seconds;
    stats.lr = lr;
    result.train_seconds += stats.seconds;
    samples_total += samples;

    model.eval();
    if (test) stats.test_accuracy = group_accuracy(model, *test, o, group);
    // Time this rank spent averaging gradients in the epoch (part of stats.seconds).
    if (averager) stats.metrics["allreduce_s"] = averager->communication_seconds() - allreduce_before;
    for (auto& hook : hooks_) hook->on_epoch_end(stats, model);

    std::string line = fmt::format("epoch {}/{} loss {:.4f} train_acc {:.2f}%", epoch, o.epochs(),
                                   stats.train_loss, 100 * stats.train_accuracy);
    if (stats.test_accuracy >= 0) line += fmt::format(" test_acc {:.2f}%", 100 * stats.test_accuracy);
    for (const auto& [name, value] : stats.metrics) line += fmt::format(" {} {:.4g}", name, value);
    line += fmt::format(" {:.0f} samples/s {} ETA {}", stats.samples_per_second,
                        format_duration(stats.seconds),
                        format_duration(stats.seconds * static_cast<double>(o.epochs() - epoch)));
    if (lead) log->info("{}", line);
    result.history.push_back(stats);

    if (lead && !o.checkpoint_path().empty()) {
      CheckpointInfo info = info_;
      info.epoch = epoch;
      save_checkpoint(o.checkpoint_path(), model, info, optimizer.get(), /*force=*/true);
    }
    if (stats.stop) {
      if (lead) log->info("stopping after epoch {} (requested by a hook)", epoch);
      break;
    }
  }
  model.eval();
  if (!result.history.empty()) result.test_accuracy = result.history.back().test_accuracy;
  result.samples_per_second =
      result.train_seconds > 0 ? static_cast<double>(samples_total) / result.train_seconds : 0;
  return result;
}

}  // namespace wmark
