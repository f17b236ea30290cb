// Model files: Python state dicts (torch.save zip + pickle, wmark's own reader) and
// wmark checkpoints (LibTorch archives).
#include <torch/torch.h>

#include "fuzz_input.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/registry.h"
#include "wmark/models/state_dict.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static auto model = wmark::model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  const auto path = wmark::fuzz::input_file(data + 1, size - 1, ".pt");
  wmark::fuzz::expect_value_or_error([&] {
    if (data[0] % 2 == 0) {
      wmark::load_state_dict(*model, path);
    } else {
      wmark::read_checkpoint_info(path);
    }
  });
  return 0;
}
