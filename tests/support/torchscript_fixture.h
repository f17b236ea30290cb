// Writes an mnist_cnn's weights as a standalone TorchScript module, defined from
// TorchScript source in C++: what a thief who re-implemented the model would ship.
#pragma once

#include <filesystem>

#include "wmark/models/network.h"

namespace wmark::test {

void save_mnist_cnn_as_torchscript(Network& model, const std::filesystem::path& path);

}  // namespace wmark::test
