// SandboxedClassifier: the same answers as in-process on honest models; hostile models
// and hostile workers are stopped with a clear error, always within bounded time.
#include <catch2/catch.hpp>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <functional>

#include <torch/script.h>
#include <torch/torch.h>

#include "../support/test_support.h"
#include "../support/torchscript_fixture.h"
#include "../support/watermarked_fixture.h"
#include "wmark/util/error.h"
#include "wmark/verify/sandboxed_classifier.h"
#include "wmark/verify/verifier.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace wmark {
namespace {

SandboxOptions worker() { return SandboxOptions().worker_path(test::wmark_binary()); }

// A TorchScript file whose forward is `source`, written as an attacker would.
fs::path hostile_model(const test::TempDir& dir, const std::string& name, const std::string& source) {
  torch::jit::Module module("Hostile");
  module.define(source);
  const auto path = dir / name;
  module.save(path.string());
  return path;
}

// A stand-in worker: a shell script (the protocol's other end, misbehaving).
SandboxOptions fake_worker(const test::TempDir& dir, const std::string& name, const std::string& script) {
  const auto path = dir / name;
  std::ofstream(path) << "#!/bin/sh\n" << script << "\n";
  fs::permissions(path, fs::perms::owner_all);
  return SandboxOptions().worker_path(path.string()).timeout_seconds(20);
}

struct Outcome {
  std::string message;  // the wmark::Error's, "" if none was thrown
  double seconds = 0;
};

Outcome run(const std::function<void()>& action) {
  const auto start = std::chrono::steady_clock::now();
  Outcome outcome;
  try {
    action();
  } catch (const Error& error) {
    outcome.message = error.what();
  }
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return outcome;
}

// Starts the sandbox on `model` and classifies two images; returns what stopped it.
Outcome classify_in_sandbox(const fs::path& model, const SandboxOptions& options, int* pid = nullptr) {
  return run([&] {
    SandboxedClassifier suspect(model, Normalization{}, options);
    if (pid != nullptr) *pid = suspect.worker_pid();
    suspect.classify(torch::zeros({2, 1, 4, 4}, torch::kUInt8));
  });
}

// Runs `model` in the sandbox, reports how long stopping it took and checks the reason.
void expect_stopped(const std::string& what, const fs::path& model, const SandboxOptions& options,
                    const std::string& reason, double max_seconds, int* pid = nullptr) {
  const auto outcome = classify_in_sandbox(model, options, pid);
  WARN(what << ": stopped after " << outcome.seconds << " s: " << outcome.message);
  CHECK_THAT(outcome.message, Contains("suspect model " + model.string() + " was stopped: " + reason));
  CHECK(outcome.seconds < max_seconds);
}

const char* const kLoopForever = R"JIT(
def forward(self, x):
    i = 0
    while True:
        i += 1
    return x
)JIT";

}  // namespace

TEST_CASE("sandboxed verification decides as in-process on a watermarked and a clean TorchScript model", "[verify]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  test::save_mnist_cnn_as_torchscript(*f.model, dir / "marked.ts");
  test::save_mnist_cnn_as_torchscript(*test::clean_mnist(), dir / "clean.ts");
  const Verifier verifier;
  for (const std::string name : {"marked.ts", "clean.ts"}) {
    INFO(name);
    TorchScriptClassifier in_process(dir / name, f.key.normalization);
    SandboxedClassifier sandboxed(dir / name, f.key.normalization, worker().batch_size(32));
    const auto expected = verifier.verify(in_process, f.key);
    const auto got = verifier.verify(sandboxed, f.key);
    CHECK(got.matches == expected.matches);
    CHECK(got.queries == expected.queries);
    CHECK(got.p_value == expected.p_value);
    CHECK(got.log10_p_value == expected.log10_p_value);
    CHECK(got.verified == expected.verified);
    CHECK(got.verified == (name == "marked.ts"));
    CHECK_THAT(got.model, Contains("(sandboxed)"));
    // Label for label on ordinary images too, across several batches.
    const auto images = f.test.images.narrow(0, 0, 200);
    CHECK(torch::equal(sandboxed.classify(images), in_process.classify(images)));
  }
}

TEST_CASE("a TorchScript model that loops forever is stopped at the wall-clock deadline or the CPU limit", "[verify]") {
  test::TempDir dir;
  const auto model = hostile_model(dir, "loop.ts", kLoopForever);
  int pid = -1;
  expect_stopped("infinite loop, 2 s deadline", model, worker().timeout_seconds(2).cpu_seconds(120), "timeout", 15, &pid);
  if (pid > 0) CHECK(::kill(pid, 0) != 0);  // killed and reaped, not left running (-1: stopped while loading)
  expect_stopped("infinite loop, 2 s CPU limit", model, worker().timeout_seconds(60).cpu_seconds(2),
                 "killed by CPU limit (2 s of CPU time)", 30);
}

TEST_CASE("a TorchScript model that allocates without bound is stopped by the memory limit", "[verify]") {
  test::TempDir dir;
  const auto model = hostile_model(dir, "hog.ts", R"JIT(
def forward(self, x):
    hoard = [x]
    while len(hoard) > 0:
        hoard.append(x.new_zeros([1 << 24]))  # from x: not folded into one constant
    return hoard[0]
)JIT");
  expect_stopped("unbounded allocation, 256 MB limit", model, worker().memory_mb(256).timeout_seconds(60),
                 "killed by memory limit (an allocation beyond 256 MB failed)", 30);
  // Growth outside tensors (a list of one constant tensor: the interpreter's own
  // vector) fails as std::bad_alloc, the same stop.
  const auto list = hostile_model(dir, "list.ts", R"JIT(
def forward(self, x):
    hoard = [torch.zeros(1)]
    while len(hoard) > 0:
        hoard.append(torch.zeros(1))
    return hoard[0]
)JIT");
  expect_stopped("unbounded list growth, 128 MB limit", list, worker().memory_mb(128).timeout_seconds(60),
                 "killed by memory limit (an allocation beyond 128 MB failed)", 60);
}

TEST_CASE("a model that rejects the input is an error and the worker lives on", "[verify]") {
  test::TempDir dir;
  const auto model = hostile_model(dir, "identity.ts", "def forward(self, x):\n    return x\n");
  SandboxedClassifier suspect(model, Normalization{}, worker());
  const auto images = torch::zeros({2, 1, 4, 4}, torch::kUInt8);
  for (int round = 0; round < 2; ++round) {
    const auto outcome = run([&] { suspect.classify(images); });
    CHECK_THAT(outcome.message, Contains("rejected input of shape [2, 1, 4, 4]"));
    CHECK_THAT(outcome.message, Contains("expected [N, classes] logits"));
    CHECK(suspect.worker_pid() > 0);
  }
  const auto garbage = dir / "garbage.ts";
  test::write_bytes(garbage, "this is not a zip archive", true);
  CHECK_THAT(classify_in_sandbox(garbage, worker()).message, Contains("is not a TorchScript model"));
}

TEST_CASE("a model whose class count changes between batches is stopped, and stays stopped", "[verify]") {
  test::TempDir dir;
  // Ten classes for a full batch, seven for the last, short one: its scores cannot be stacked.
  const auto model = hostile_model(dir, "shifty.ts", R"JIT(
def forward(self, x):
    n = x.size(0)
    if n > 1:
        return torch.zeros([n, 10])
    return torch.zeros([n, 7])
)JIT");
  SandboxedClassifier suspect(model, Normalization{}, worker().batch_size(2));
  const auto three = torch::zeros({3, 1, 4, 4}, torch::kUInt8);
  CHECK_THAT(run([&] { suspect.answer(three); }).message,
             Contains("suspect model " + model.string() + " was stopped: it changed its class count between batches"));
  CHECK_THAT(run([&] { suspect.classify(three.narrow(0, 0, 2)); }).message, Contains("was stopped earlier"));
  // The same model queried in batches of one size answers: the stop is about the change, not the count.
  SandboxedClassifier steady(model, Normalization{}, worker().batch_size(2));
  CHECK(steady.answer(three.narrow(0, 0, 2)).scores.size(1) == 10);
}

TEST_CASE("a worker that crashes, exits or writes garbage is stopped with a clear error", "[verify]") {
  test::TempDir dir;
  const auto model = hostile_model(dir, "identity.ts", "def forward(self, x):\n    return x\n");
  const std::string ready = R"(printf 'WMR1\002\000\000\000\000\000\000\000\000\000\000\000' >&3)";
  struct Case {
    std::string name, script, expected;
  };
  const std::vector<Case> cases{
      {"crash", "kill -SEGV $$", "was stopped: crashed with signal 11"},
      {"crash-later", ready + "\nsleep 0.2\nkill -ABRT $$", "was stopped: crashed with signal 6"},
      {"exit", "exit 0", "was stopped: it exited with status 0 before answering"},
      {"garbage", "printf 'garbage, garbage, garbage' >&3\nsleep 30", "was stopped: it sent a malformed answer (bad magic)"},
      {"huge-message", R"(printf 'WMR1\001\000\000\000\377\377\377\377\377\377\377\177' >&3; sleep 30)",
       "it sent a malformed answer (a 9223372036854775807-byte error message)"},
      {"huge-logits",
       ready + R"(; printf 'WMR1\000\000\000\000\040\000\000\000\000\000\000\000\002\000\000\000\000\000\000\000)"
               R"(\377\377\377\377\377\377\377\177' >&3; sleep 30)",
       "it sent a malformed answer (logits [2, 9223372036854775807] for a batch of 2)"},
      {"wrong-count",
       ready + R"(; printf 'WMR1\000\000\000\000\030\000\000\000\000\000\000\000\003\000\000\000\000\000\000\000)"
               R"(\001\000\000\000\000\000\000\000' >&3; sleep 30)",
       "it sent a malformed answer (logits [3, 1] for a batch of 2)"},
      {"silent", ready + "; sleep 30", "was stopped: timeout"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto options = fake_worker(dir, c.name + ".sh", c.script);
    if (c.name == "silent") options.timeout_seconds(1);
    const auto outcome = classify_in_sandbox(model, options);
    CHECK_THAT(outcome.message, Contains(c.expected));
    CHECK(outcome.seconds < 10);  // never waits for the script's sleep
  }
  CHECK_THAT(classify_in_sandbox(model, SandboxOptions().worker_path((dir / "missing").string())).message,
             Contains("is not an executable program"));
}

}  // namespace wmark
