// Hostile torch.save files: every limit of wmark's own pickle/zip reader holds and is a
// wmark::Error naming the file and the limit, never a crash or a huge allocation.
#include <catch2/catch.hpp>

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <fstream>
#include <map>

#include "../support/test_support.h"
#include "../support/zip_archive.h"
#include "wmark/models/state_dict.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"

using namespace wmark;
using test::declare_size;
using test::write_archive;
using Catch::Matchers::Contains;
using namespace std::string_literals;  // "\x00"s keeps its NUL
namespace fs = std::filesystem;

namespace {

std::string unicode(const std::string& s) { return test::pickle_unicode(s); }

// Pickle protocol 2 of {name: float tensor of `numel` elements viewing storage "0"} for
// every name: one storage, named again by each tensor, as tensors sharing memory are.
std::string shared_storage_pickle(const std::vector<std::string>& names, int numel) {
  std::string p = "\x80\x02}(";
  for (const auto& name : names) {
    p += unicode(name);
    p += "ctorch._utils\n_rebuild_tensor_v2\n(";
    p += "(" + unicode("storage") + "ctorch\nFloatStorage\n" + unicode("0") + unicode("cpu") + "M" +
         std::string{char(numel & 255), char(numel >> 8)} + "tQ";   // persistent id
    p += "K\x00"s;                                                   // offset
    p += "M" + std::string{char(numel & 255), char(numel >> 8)} + "\x85";  // size
    p += "K\x01\x85";                                                // stride
    p += "\x89tR";                                                   // requires_grad; REDUCE
  }
  return p + "u.";
}

}  // namespace

TEST_CASE("a state dict pickle nested 100,000 deep is refused at the depth limit, without a crash", "[models]") {
  test::TempDir dir;
  const std::string deep = std::string("\x80\x02)") + std::string(100000, '\x85') + ".";  // ((((),),),)...
  write_archive(dir / "deep.pt", {{"data.pkl", deep}});
  CHECK_THROWS_WITH(read_state_dict(dir / "deep.pt"), Contains("deep.pt") && Contains("nested deeper than 100"));
  // Lists, too, even when the depth is built through memo references after the fact:
  // a list already inside another can no longer change, so no cycle or chain forms.
  const std::string cycle = "\x80\x02]q\x00]q\x01h\x00h\x01" "a0h\x01h\x00" "a."s;
  write_archive(dir / "cycle.pt", {{"data.pkl", cycle}});
  CHECK_THROWS_WITH(read_state_dict(dir / "cycle.pt"), Contains("cycle.pt") && Contains("changed after it was put"));
}

TEST_CASE("a storage named by 10,000 tensors is read once and shared", "[models]") {
  test::TempDir dir;
  std::vector<std::string> names;
  for (int k = 0; k < 10000; ++k) names.push_back("w" + std::to_string(k));
  const auto values = torch::arange(1000, torch::kFloat);
  write_archive(dir / "shared.pt", {{"data.pkl", shared_storage_pickle(names, 1000)},
                                    {"data/0", std::string(static_cast<const char*>(values.data_ptr()), 4000)}});
  const auto loaded = read_state_dict(dir / "shared.pt");
  REQUIRE(loaded.size() == 10000);
  const auto* memory = loaded.at("w0").storage().data();
  std::size_t shared = 0;
  for (const auto& [name, tensor] : loaded) shared += tensor.storage().data() == memory;
  CHECK(shared == 10000);  // one read: a copy per reference would be 10,000 storages
  CHECK(torch::equal(loaded.at("w9999"), values));
}

TEST_CASE("zip entries declaring more than the size limit are refused before inflating", "[models]") {
  test::TempDir dir;
  const auto values = torch::arange(10, torch::kFloat);
  write_archive(dir / "sd.pt", {{"data.pkl", shared_storage_pickle({"w"}, 10)},
                                {"data/0", std::string(static_cast<const char*>(values.data_ptr()), 40)}});
  REQUIRE(read_state_dict(dir / "sd.pt").size() == 1);
  const auto good = read_file(dir / "sd.pt");

  auto huge = good;
  declare_size(huge, "data/0", 0xF0000000u);  // 3.75 GiB promised by a file of a few hundred bytes
  test::write_bytes(dir / "huge.pt", huge, true);
  CHECK_THROWS_WITH(read_state_dict(dir / "huge.pt"),
                    Contains("huge.pt") && Contains("declares 4026531840 bytes") && Contains("limit of 2147483648"));
  // Each entry under the limit, together over it.
  auto total = good;
  declare_size(total, "data/0", 0x60000000u);
  declare_size(total, "data.pkl", 0x60000000u);
  test::write_bytes(dir / "total.pt", total, true);
  CHECK_THROWS_WITH(read_state_dict(dir / "total.pt"), Contains("total.pt") && Contains("limit of 2147483648"));
}
