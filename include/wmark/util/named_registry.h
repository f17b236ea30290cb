/// \file
/// A table of factories by name, the shape shared by the pluggable parts that are built
/// from JSON options (trigger generators, attacks).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/util/error.h"

namespace wmark {

/// Name -> factory(options JSON) of implementations of `Interface`. `kind` names the
/// family in error messages ("trigger generator", "attack").
template <class Interface>
class NamedRegistry {
 public:
  /// Makes an implementation from its options; it must refuse unknown option keys.
  using Factory = std::function<std::unique_ptr<Interface>(const nlohmann::json&)>;

  /// An empty registry of `kind`.
  explicit NamedRegistry(std::string kind) : kind_(std::move(kind)) {}

  /// Adds or replaces `name`. Requires a name and a factory; throws wmark::Error otherwise.
  NamedRegistry& add(const std::string& name, Factory factory) {
    WMARK_CHECK(!name.empty() && factory, "a ", kind_, " needs a name and a factory");
    factories_[name] = std::move(factory);
    return *this;
  }

  /// Builds `name` with `options` (null = defaults). Throws wmark::Error listing the
  /// known names for an unknown one, and naming the option for bad options.
  std::unique_ptr<Interface> create(const std::string& name,
                                    const nlohmann::json& options = nlohmann::json::object()) const {
    auto it = factories_.find(name);
    if (it == factories_.end()) {
      std::string known;
      for (const auto& entry : factories_) known += (known.empty() ? "" : ", ") + entry.first;
      WMARK_FAIL("unknown ", kind_, " '", name, "'; known: ", known);
    }
    try {
      return it->second(options.is_null() ? nlohmann::json::object() : options);
    } catch (const nlohmann::json::exception& error) {
      WMARK_FAIL("bad options for the ", name, " ", kind_, ": ", error.what());
    }
  }

  /// True if `name` is registered.
  bool contains(const std::string& name) const { return factories_.count(name) > 0; }

  /// The registered names, sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& entry : factories_) out.push_back(entry.first);
    return out;
  }

 private:
  std::string kind_;
  std::map<std::string, Factory> factories_;
};

}  // namespace wmark
