// Adding a watermark to your own training code: a model defined here (not from wmark's
// registry), trained by a plain LibTorch loop written here, watermarked with a content
// trigger through wmark's embedder API, then verified; a clean copy trained the same
// way must be rejected. Exit 0 only if the marked model verifies and the clean one
// does not; 1 otherwise; 2 on an error.
//
//   custom_training_loop [--data-dir D] [--subset N] [--epochs E] [--key-out FILE]
//
// Without arguments: MNIST from the default dataset lookup, 2 epochs, about 2 minutes
// on 2 cores. docs/guide.md walks through this file.
#include <torch/torch.h>

#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <optional>
#include <string>

#include <wmark/wmark.h>

// The user's model: any torch::nn::Module with Tensor forward(Tensor).
struct SmallNetImpl : torch::nn::Module {
  SmallNetImpl() {
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3)));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 3)));
    fc1 = register_module("fc1", torch::nn::Linear(32 * 5 * 5, 128));
    fc2 = register_module("fc2", torch::nn::Linear(128, 10));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1(x)), 2);  // 28 -> 26 -> 13
    x = torch::max_pool2d(torch::relu(conv2(x)), 2);  // 13 -> 11 -> 5
    return fc2(torch::relu(fc1(x.flatten(1))));
  }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(SmallNet);

// The user's loop. The only watermark line is the call to mix(): it appends this
// batch's share of trigger images, normalised like the batch, with their secret labels.
void train(SmallNet& model, const wmark::Dataset& data, int epochs, wmark::Embedder* watermark) {
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  const std::int64_t n = data.size(), batch_size = 64;
  model->train();
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    auto order = torch::randperm(n, torch::kLong);
    double loss_sum = 0;
    for (std::int64_t start = 0; start + batch_size <= n; start += batch_size) {
      auto index = order.narrow(0, start, batch_size);
      auto x = data.normalization.apply(data.images.index_select(0, index));  // uint8 -> normalised float
      auto y = data.labels.index_select(0, index);
      if (watermark) {
        auto mixed = watermark->mix(x, y);
        x = mixed.images;
        y = mixed.labels;
      }
      optimizer.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<double>();
    }
    std::cout << "  epoch " << epoch << " loss " << loss_sum / static_cast<double>(n / batch_size) << std::endl;
  }
  model->eval();
}

int main(int argc, char** argv) {
  std::optional<std::filesystem::path> data_dir, key_out;
  std::int64_t subset = 0;
  int epochs = 2;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::cerr << flag << " needs a value\n";
      return 2;
    }
    if (flag == "--data-dir") data_dir = argv[i + 1];
    else if (flag == "--subset") subset = std::atoll(argv[i + 1]);
    else if (flag == "--epochs") epochs = std::atoi(argv[i + 1]);
    else if (flag == "--key-out") key_out = argv[i + 1];
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  try {
    wmark::configure_runtime();  // all cores, allocator tuned for big tensors
    auto mnist = wmark::load_dataset("mnist", data_dir);
    auto train_set = wmark::balanced_subset(mnist.train, subset, /*seed=*/1);
    std::cout << "MNIST: " << train_set.size() << " training images, " << epochs << " epochs\n";

    // 1. The watermark: 100 training images stamped with "TEST", relabelled to a secret class.
    auto options = wmark::TriggerWatermarkOptions().trigger("content");
    // The key's secret comes from the OS CSPRNG (options.spec().secret); only the model's
    // initialisation and the data order below are seeded.
    auto watermark = wmark::make_trigger_embedder(train_set, options, "SmallNet");

    // 2. Train the marked model and, for comparison, a clean copy with the same init.
    torch::manual_seed(1);
    SmallNet marked;
    torch::manual_seed(1);
    SmallNet clean;
    std::cout << "training the watermarked model\n";
    torch::manual_seed(2);
    train(marked, train_set, epochs, watermark.get());
    std::cout << "training the clean model\n";
    torch::manual_seed(2);
    train(clean, train_set, epochs, nullptr);

    // 3. Prove: the key, the suspect behind a Classifier, the Verifier's decision.
    const auto key = watermark->key();
    if (key_out) key.save(*key_out);  // keep it secret: whoever has it can forge claims
    wmark::Verifier verifier;
    auto check = [&](SmallNet& model, const std::string& name) {
      auto net = wmark::as_network(model);
      const double test_accuracy = wmark::accuracy(*net, mnist.test, torch::kCPU);
      wmark::ModuleClassifier suspect(net, key.normalization, name);
      const auto report = verifier.verify(suspect, key);
      std::cout << std::left << std::setw(18) << name << " test accuracy " << std::fixed << std::setprecision(2)
                << 100 * test_accuracy << "%, trigger match " << 100 * report.match_rate << "%, p-value "
                << std::scientific << std::setprecision(2) << report.p_value << std::defaultfloat << ": "
                << (report.verified ? "WATERMARK VERIFIED" : "not claimed") << "\n";
      return report.verified;
    };
    const bool marked_verified = check(marked, "watermarked model");
    const bool clean_verified = check(clean, "clean model");
    const bool ok = marked_verified && !clean_verified;
    std::cout << (ok ? "OK: the watermarked model is claimed, the clean one is not\n"
                     : "FAILED: the decisions are not as expected\n");
    return ok ? 0 : 1;
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\n";
    return 2;
  }
}
