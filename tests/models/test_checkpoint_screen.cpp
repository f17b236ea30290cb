// Hostile checkpoints: LibTorch opens an archive by compiling and running its TorchScript,
// so wmark screens a file's bytes first. A file that carries code, nests its pickles
// without bound or promises gigabytes is refused (and, in verify, goes to the sandbox as
// TorchScript) before LibTorch sees it; every real checkpoint still opens.
#include <catch2/catch.hpp>

#include <torch/script.h>
#include <torch/torch.h>

#include "../support/test_support.h"
#include "../support/zip_archive.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/load_network.h"
#include "wmark/models/registry.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"

using namespace wmark;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const CheckpointInfo kInfo{"mnist_cnn", {{1, 28, 28}, 10}, "mnist", {{0.1307}, {0.3081}}, 1, nlohmann::json::object()};

// A checkpoint with Adam's state, the largest kind wmark writes (nested archives).
fs::path write_checkpoint(const fs::path& dir) {
  torch::manual_seed(5);
  auto model = model_registry().create(kInfo.arch, kInfo.spec);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3));
  model->forward(torch::randn({4, 1, 28, 28})).sum().backward();
  adam.step();
  save_checkpoint(dir / "real.pt", *model, kInfo, &adam);
  return dir / "real.pt";
}

// The real checkpoint with one record replaced.
fs::path with_record(const fs::path& dir, const std::string& name, const std::string& record,
                     const std::string& content) {
  auto records = test::read_archive(dir / "real.pt");
  records[record] = content;
  test::write_archive(dir / name, records);
  return dir / name;
}


}  // namespace

TEST_CASE("a real checkpoint passes the screen and opens, optimizer state included", "[models]") {
  test::TempDir dir;
  const auto path = write_checkpoint(dir.path());
  CHECK(is_checkpoint_file(path));
  auto loaded = load_checkpoint(path);
  CHECK(loaded.info.arch == "mnist_cnn");
  torch::optim::Adam adam(loaded.model->parameters(), torch::optim::AdamOptions(1e-3));
  CHECK_NOTHROW(load_optimizer_state(path, adam));
}

TEST_CASE("an archive that carries code is not opened as a checkpoint: its code never runs in wmark", "[models]") {
  test::TempDir dir;
  // A TorchScript module dressed as a checkpoint, whose loading runs the thief's code.
  torch::jit::Module trap("Module");
  trap.register_attribute("wmark_meta", c10::StringType::get(), std::string("{}"));
  trap.define(R"(
def __getstate__(self):
    return self.wmark_meta
def __setstate__(self, state: str):
    self.wmark_meta = state
    assert len(state) == 0, "the suspect's code ran"
)");
  trap.save((dir / "trap.pt").string());
  // The attack is real: LibTorch's loader runs it.
  CHECK_THROWS_WITH(torch::jit::load((dir / "trap.pt").string()), Contains("the suspect's code ran"));

  CHECK_FALSE(is_checkpoint_file(dir / "trap.pt"));  // verify sends it to the sandbox
  CHECK_THROWS_WITH(load_checkpoint(dir / "trap.pt"),
                    Contains("trap.pt") && Contains("is code, not a declaration") && !Contains("ran"));
  CHECK_THROWS_WITH(read_checkpoint_info(dir / "trap.pt"), Contains("is code, not a declaration"));

  write_checkpoint(dir.path());
  const auto root = test::read_archive(dir / "real.pt").at("code/__torch__.py");
  CHECK_THROWS_WITH(load_checkpoint(with_record(dir.path(), "def.pt", "code/__torch__.py", root + "  def forward(self, x):\n    return x\n")),
                    Contains("def.pt") && Contains("line"));
  const std::string deep_type = "  __annotations__[\"t\"] = Tuple[Tuple[Tuple[Tuple[Tuple[Tuple[Tuple[Tuple[Tuple[int]]]]]]]]]\n";
  CHECK_THROWS_WITH(load_checkpoint(with_record(dir.path(), "type.pt", "code/__torch__.py", root + deep_type)),
                    Contains("type.pt") && Contains("is code"));
  CHECK_THROWS_WITH(load_checkpoint(with_record(dir.path(), "extra.pt", "bytecode.pkl", "\x80\x02N.")),
                    Contains("extra.pt") && Contains("bytecode.pkl"));
  // A TorchScript file a user exports is TorchScript, not a checkpoint.
  CHECK_THROWS_WITH(load_checkpoint(with_record(dir.path(), "nometa.pt", "code/__torch__.py",
                                                "class Module(Module):\n  __parameters__ = []\n  __buffers__ = []\n")),
                    Contains("nometa.pt") && Contains("no metadata"));
}

TEST_CASE("checkpoint pickles nested without bound, or referring to themselves, are refused without a crash", "[models]") {
  test::TempDir dir;
  write_checkpoint(dir.path());
  const std::string proto = "\x80\x02";
  const auto deep = proto + std::string(100000, ']') + std::string(99999, 'a') + ".";
  CHECK_THROWS_WITH(load_checkpoint(with_record(dir.path(), "deep.pt", "data.pkl", deep)),
                    Contains("deep.pt") && Contains("data.pkl") && Contains("64 levels"));
  // Nesting built through the memo: each list is appended to the next after both were
  // stored, so no value on the stack is ever deep; the containment is.
  std::string chain = proto;
  for (std::uint32_t i = 0; i < 100; ++i) chain += "]r" + test::le32(i) + "0";
  for (std::uint32_t i = 0; i + 1 < 100; ++i) chain += "j" + test::le32(i + 1) + "j" + test::le32(i) + "a0";
  chain += "j" + test::le32(99) + ".";
  CHECK_THROWS_WITH(load_checkpoint(with_record(dir.path(), "chain.pt", "data.pkl", chain)),
                    Contains("chain.pt") && Contains("64 levels"));
  CHECK_THROWS_WITH(load_checkpoint(with_record(dir.path(), "cycle.pt", "constants.pkl", proto + "]q\x01" "h\x01" "a.")),
                    Contains("cycle.pt") && Contains("contains itself"));
  CHECK_THROWS_WITH(load_checkpoint(with_record(dir.path(), "op.pt", "data.pkl", proto + "S'x'\n.")),
                    Contains("op.pt") && Contains("opcode 0x53"));
  CHECK_THROWS_WITH(load_checkpoint(with_record(dir.path(), "cut.pt", "data.pkl", proto + "X\xff\xff\xff\x7f")),
                    Contains("cut.pt") && Contains("ends inside"));
  CHECK_THROWS_WITH(load_checkpoint(with_record(dir.path(), "empty.pt", "data.pkl", proto + "a.")),
                    Contains("empty.pt") && Contains("empty stack"));
}

TEST_CASE("checkpoint entries promising more than the size limits are refused before inflating", "[models]") {
  test::TempDir dir;
  const auto good = read_file(write_checkpoint(dir.path()));
  auto huge = good;  // 2 x 3.75 GiB promised by a file of a few megabytes
  test::declare_size(huge, "data/0", 0xF0000000u);
  test::declare_size(huge, "data/1", 0xF0000000u);
  test::write_bytes(dir / "huge.pt", huge, true);
  CHECK_THROWS_WITH(load_checkpoint(dir / "huge.pt"), Contains("huge.pt") && Contains("more than 4 GiB"));
  CHECK_FALSE(is_checkpoint_file(dir / "huge.pt"));
  auto code = good;
  test::declare_size(code, "code/__torch__.py", 0x01000000u);
  test::write_bytes(dir / "code.pt", code, true);
  CHECK_THROWS_WITH(load_checkpoint(dir / "code.pt"), Contains("code.pt") && Contains("exceed 8 MiB"));
}
