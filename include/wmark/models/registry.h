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
#include "wmark/util/export.h"

namespace wmark {

/// A name -> factory table of architectures.
class WMARK_API ModelRegistry {
 public:
  /// Builds a network for a spec (see the contract above).
  using Factory = std::function<NetworkPtr(const ModelSpec&)>;

  /// Adds or replaces an architecture. Requires a non-empty name and a factory; throws
  /// wmark::Error otherwise.
  ModelRegistry& add(const std::string& name, const std::string& description, Factory factory);
  /// Builds `name` for `spec`; throws wmark::Error listing the known names if unknown.
  NetworkPtr create(const std::string& name, const ModelSpec& spec) const;
  /// True if `name` is registered.
  bool contains(const std::string& name) const;
  /// The registered names, sorted.
  std::vector<std::string> names() const;
  /// The description `name` was added with; empty if it is unknown.
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
/// the CLI resolves `--model`/`--arch` names here.
WMARK_API ModelRegistry& model_registry();

}  // namespace wmark
