// Dataset files: IDX (MNIST, Fashion-MNIST) image and label files, CIFAR-10 batches, and
// image files (PGM/PPM/PNG) for unrelated triggers. The first byte picks the reader.
#include "fuzz_input.h"
#include "wmark/data/image_file.h"
#include "wmark/data/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto body = wmark::fuzz::input_file(data + 1, size - 1, data[0] % 4 == 3 ? ".png" : ".bin");
  wmark::fuzz::expect_value_or_error([&] {
    switch (data[0] % 4) {
      case 0: {
        // The input as the images file, with a valid 1-label file beside it.
        static const std::uint8_t labels[] = {0, 0, 8, 1, 0, 0, 0, 1, 3};
        const auto label_path = wmark::fuzz::input_file(labels, sizeof(labels), ".labels");
        wmark::read_idx(body, label_path);
        break;
      }
      case 1: {
        // The input as the labels file, with a valid 1-image file beside it.
        std::uint8_t images[16 + 4] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4};
        const auto image_path = wmark::fuzz::input_file(images, sizeof(images), ".images");
        wmark::read_idx(image_path, body);
        break;
      }
      case 2: wmark::read_cifar10({body}); break;
      default: wmark::read_image(body); break;
    }
  });
  return 0;
}
