// The serving protocols' codecs alone (issue #22): how long encoding and decoding one
// batch of images takes as JSON (Open Inference Protocol V2 and V1) and as V2 binary
// tensor data, without sockets or a model. A batch of 100 colour 32x32 images is what
// verifying a key of 100 triggers sends a cifar_cnn server; the figures say how much of
// a remote verification is the text format.
//
//   bench_codec [--images 100] [--channels 3] [--side 32] [--repeat 20]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "wmark/protocol/inference_protocol.h"

using namespace wmark;
using namespace wmark::protocol;
using Clock = std::chrono::steady_clock;

namespace {

// The median of `repeat` timed runs of `once`, in ms.
double median_ms(int repeat, const std::function<void()>& once) {
  std::vector<double> ms;
  for (int i = 0; i < repeat; ++i) {
    const auto start = Clock::now();
    once();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time the serving protocols' codecs on one batch of normalised images"};
  std::int64_t images = 100, channels = 3, side = 32;
  int repeat = 20;
  app.add_option("--images", images, "images in the batch")->check(CLI::Range(1, 100000));
  app.add_option("--channels", channels, "channels per image")->check(CLI::Range(1, 4));
  app.add_option("--side", side, "image side in pixels")->check(CLI::Range(1, 1024));
  app.add_option("--repeat", repeat, "timed runs per codec (median printed)")->check(CLI::Range(1, 100000));
  CLI11_PARSE(app, argc, argv);

  // Normalised pixels, as a client sends them: 8-bit values through a mean and deviation.
  torch::manual_seed(1);
  const auto batch = ((torch::randint(0, 256, {images, channels, side, side}).to(torch::kFloat) / 255.0 - 0.47) / 0.25)
                         .contiguous();
  for (const bool binary : {false, true}) {
    InferRequest request;
    request.inputs.push_back({"input", batch, binary});
    Body body;
    const double encode = median_ms(repeat, [&] { body = encode_infer_request(request); });
    const double decode = median_ms(repeat, [&] { decode_infer_request(body); });
    std::printf("V2 %-7s request of %zu bytes: encode %8.2f ms   decode %8.2f ms\n", binary ? "binary" : "JSON",
                body.bytes.size(), encode, decode);
  }
  std::string v1;
  const double encode = median_ms(repeat, [&] { v1 = encode_v1_request(batch); });
  const double decode = median_ms(repeat, [&] { decode_v1_request(v1); });
  std::printf("V1 JSON    request of %zu bytes: encode %8.2f ms   decode %8.2f ms\n", v1.size(), encode, decode);
  return 0;
}
