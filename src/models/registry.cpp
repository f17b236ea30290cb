#include "wmark/models/registry.h"

#include "wmark/models/architectures.h"
#include "wmark/util/error.h"

namespace wmark {

ModelRegistry& ModelRegistry::add(const std::string& name, const std::string& description,
                                  Factory factory) {
  WMARK_CHECK(!name.empty() && factory, "a model needs a name and a factory");
  entries_[name] = Entry{description, std::move(factory)};
  return *this;
}

NetworkPtr ModelRegistry::create(const std::string& name, const ModelSpec& spec) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    std::string known;
    for (const auto& entry : entries_) known += (known.empty() ? "" : ", ") + entry.first;
    WMARK_FAIL("unknown model architecture '", name, "'; known: ", known);
  }
  return it->second.factory(spec);
}

bool ModelRegistry::contains(const std::string& name) const { return entries_.count(name) > 0; }

std::vector<std::string> ModelRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& entry : entries_) out.push_back(entry.first);
  return out;
}

std::string ModelRegistry::description(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? std::string() : it->second.description;
}

ModelRegistry ModelRegistry::with_builtins() {
  ModelRegistry registry;
  registry.add("mnist_cnn", "2 conv + 2 FC layers (Zhang et al.'s MNIST model)",
               [](const ModelSpec& spec) { return std::make_shared<MnistCnn>(spec); });
  registry.add("cifar_cnn", "VGG-style CNN, 6 conv layers with batch-norm",
               [](const ModelSpec& spec) { return std::make_shared<CifarCnn>(spec); });
  registry.add("resnet18", "ResNet-18, CIFAR variant",
               [](const ModelSpec& spec) { return std::make_shared<ResNet18>(spec); });
  return registry;
}

ModelRegistry& model_registry() {
  static ModelRegistry registry = ModelRegistry::with_builtins();
  return registry;
}

}  // namespace wmark
