#include "wmark/dist/process_group.h"

#include <chrono>
#include <cstdlib>
#include <map>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <spdlog/spdlog.h>

#include "wmark/util/error.h"
#include "wmark/util/log.h"
#include "../util/text.h"

namespace wmark {
namespace {

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

int env_int(const char* name, int fallback) {
  const auto value = env(name);
  if (!value) return fallback;
  try {
    std::size_t used = 0;
    const int parsed = std::stoi(*value, &used);
    WMARK_CHECK(used == value->size(), "");
    return parsed;
  } catch (const std::exception&) {
    WMARK_FAIL("environment variable ", name, "='", *value, "' is not an integer");
  }
}

bool loopback(const std::string& address) {
  return address == "localhost" || starts_with(address, "127.") || address == "::1";
}

}  // namespace

std::optional<DistributedOptions> distributed_options_from_environment() {
  if (!env("WORLD_SIZE")) return std::nullopt;
  DistributedOptions options;
  options.world_size(env_int("WORLD_SIZE", 1)).rank(env_int("RANK", 0));
  options.master_addr(env("MASTER_ADDR").value_or("127.0.0.1")).master_port(env_int("MASTER_PORT", 29500));
  return options;
}

int local_world_size_from_environment() { return std::max(1, env_int("LOCAL_WORLD_SIZE", 1)); }

struct ProcessGroup::Impl {
  DistributedOptions options;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;

  std::string who() const {
    return "rank " + std::to_string(options.rank()) + " of " + std::to_string(options.world_size());
  }

  // Runs a collective and turns c10d's errors (peer gone, timeout) into one clear error.
  template <typename Start>
  void run(const char* what, Start start) {
    try {
      auto work = start();
      work->wait();
    } catch (const c10::Error& error) {
      WMARK_FAIL(who(), ": ", what, " failed (a peer process died, or did not answer within ",
                 options.timeout_seconds(), " s): ", detail::first_line(error.what_without_backtrace()));
    } catch (const std::exception& error) {
      WMARK_FAIL(who(), ": ", what, " failed: ", detail::first_line(error.what()));
    }
  }
};

ProcessGroup::ProcessGroup(DistributedOptions options) : impl_(std::make_unique<Impl>()) {
  auto& o = options;
  WMARK_CHECK(o.world_size() >= 1, "world size must be at least 1, got ", o.world_size());
  WMARK_CHECK(o.rank() >= 0 && o.rank() < o.world_size(), "rank ", o.rank(), " outside [0, ", o.world_size(), ")");
  WMARK_CHECK(o.master_port() > 0 && o.master_port() <= 65535, "master port ", o.master_port(), " outside 1..65535");
  WMARK_CHECK(o.timeout_seconds() > 0, "distributed timeout must be positive");
  WMARK_CHECK(o.backend() == "gloo" || o.backend() == "nccl", "backend '", o.backend(), "' unknown; use gloo or nccl");
  WMARK_CHECK(o.backend() == "gloo", "backend nccl needs a LibTorch built with NCCL and CUDA tensors; this build "
              "trains on the CPU: use gloo");
  impl_->options = o;
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_seconds() * 1000));
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(o.master_port());
    store_options.isServer = o.rank() == 0;
    store_options.numWorkers = static_cast<std::size_t>(o.world_size());
    store_options.waitWorkers = true;
    store_options.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr(), store_options);
    auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
    if (const auto interface = env("GLOO_SOCKET_IFNAME")) {
      gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*interface));
    } else if (loopback(o.master_addr())) {
      gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      gloo->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    gloo->threads = 2;
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, o.rank(), o.world_size(), gloo);
  } catch (const c10::Error& error) {
    WMARK_FAIL(impl_->who(), ": cannot join the process group at ", o.master_addr(), ":", o.master_port(), " within ",
               o.timeout_seconds(), " s (are all ", o.world_size(), " processes started, with the same MASTER_ADDR "
               "and MASTER_PORT?): ", detail::first_line(error.what_without_backtrace()));
  } catch (const std::exception& error) {
    WMARK_FAIL(impl_->who(), ": cannot join the process group at ", o.master_addr(), ":", o.master_port(), ": ",
               detail::first_line(error.what()));
  }
  logger()->debug("dist: {} joined at {}:{}", impl_->who(), o.master_addr(), o.master_port());
}

ProcessGroup::~ProcessGroup() = default;

int ProcessGroup::rank() const { return impl_->options.rank(); }

int ProcessGroup::world_size() const { return impl_->options.world_size(); }

namespace {

// c10d's list collectives take one tensor per device, all alike; tensors of any shapes
// go through one flat buffer per dtype instead (one collective each), copied back after.
template <typename Collective>
void flat_collective(std::vector<at::Tensor>& tensors, Collective collective) {
  std::map<c10::ScalarType, std::vector<at::Tensor*>> by_type;
  for (auto& t : tensors) by_type[t.scalar_type()].push_back(&t);
  for (auto& [type, group] : by_type) {
    if (group.size() == 1 && group[0]->dim() == 1 && group[0]->is_contiguous()) {
      collective(*group[0]);  // already one flat buffer (the gradient buckets)
      continue;
    }
    std::vector<at::Tensor> flat_parts;
    for (auto* t : group) flat_parts.push_back(t->detach().reshape({-1}));
    auto flat = torch::cat(flat_parts);
    collective(flat);
    std::int64_t offset = 0;
    for (auto* t : group) {
      const auto n = t->numel();
      torch::NoGradGuard no_grad;
      t->detach().copy_(flat.narrow(0, offset, n).view(t->sizes()));
      offset += n;
    }
  }
}

}  // namespace

void ProcessGroup::broadcast(std::vector<at::Tensor> tensors) {
  if (world_size() == 1 || tensors.empty()) return;
  flat_collective(tensors, [this](at::Tensor& flat) {
    std::vector<at::Tensor> one{flat};
    impl_->run("broadcast", [&] { return impl_->group->broadcast(one); });
  });
}

void ProcessGroup::allreduce_sum(std::vector<at::Tensor> tensors) {
  if (world_size() == 1 || tensors.empty()) return;
  flat_collective(tensors, [this](at::Tensor& flat) {
    std::vector<at::Tensor> one{flat};
    impl_->run("allreduce", [&] { return impl_->group->allreduce(one); });
  });
}

void ProcessGroup::barrier() {
  if (world_size() == 1) return;
  impl_->run("barrier", [&] { return impl_->group->barrier(); });
}

GradientAverager::GradientAverager(std::shared_ptr<ProcessGroup> group, std::vector<at::Tensor> parameters,
                                   std::int64_t bucket_bytes)
    : group_(std::move(group)), parameters_(std::move(parameters)) {
  WMARK_CHECK(group_, "GradientAverager needs a process group");
  WMARK_CHECK(bucket_bytes > 0, "bucket size must be positive");
  std::int64_t filled = 0;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const auto bytes = parameters_[i].numel() * static_cast<std::int64_t>(parameters_[i].element_size());
    if (buckets_.empty() || filled + bytes > bucket_bytes) {
      buckets_.emplace_back();
      filled = 0;
    }
    buckets_.back().push_back(i);
    filled += bytes;
  }
}

void GradientAverager::average() {
  const int world = group_->world_size();
  if (world == 1) return;
  torch::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& bucket : buckets_) {
    std::vector<at::Tensor> grads;
    for (auto i : bucket) {
      auto& p = parameters_[i];
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      grads.push_back(p.grad().reshape({-1}));
    }
    auto flat = torch::cat(grads);
    group_->allreduce_sum({flat});
    flat.div_(world);
    std::int64_t offset = 0;
    for (auto i : bucket) {
      auto& p = parameters_[i];
      const auto n = p.numel();
      p.mutable_grad().copy_(flat.narrow(0, offset, n).view_as(p.grad()));
      offset += n;
    }
  }
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace wmark
