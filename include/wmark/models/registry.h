/// \file
/// Architectures by name, chosen at run time ("mnist_cnn", "cifar_cnn", "resnet18").
///
/// Contract for a factory: given a ModelSpec it returns a freshly initialised network
/// whose forward accepts [N, spec.input...] and returns [N, spec.num_classes]; it
/// throws wmark::Error for a spec it cannot serve. Initialisation draws from the
/// global LibTorch generator, so callers seed it (torch::manual_seed) first.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "wmark/models/network.h"

namespace wmark {

/// A name -> factory table of architectures.
class ModelRegistry {
 public:
  using Factory = std::function<NetworkPtr(const ModelSpec&)>;

  /// Adds or replaces an architecture.
  ModelRegistry& add(const std::string& name, const std::string& description, Factory factory);
  /// Builds `name` for `spec`; throws wmark::Error listing the known names if unknown.
  NetworkPtr create(const std::string& name, const ModelSpec& spec) const;
  bool contains(const std::string& name) const;
  std::vector<std::string> names() const;
  std::string description(const std::string& name) const;

  /// A registry holding the built-in architectures.
  static ModelRegistry with_builtins();

 private:
  struct Entry {
    std::string description;
    Factory factory;
  };
  std::map<std::string, Entry> entries_;
};

/// The process's default registry (the built-ins plus whatever the application adds);
/// the CLI resolves --model/--arch names here.
ModelRegistry& model_registry();

}  // namespace wmark
