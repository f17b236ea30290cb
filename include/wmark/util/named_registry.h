/// \file
/// A table of factories by name, the shape shared by the pluggable parts that are built
/// from JSON options (trigger generators, attacks), with their declared options.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/util/error.h"
#include "wmark/util/option_binding.h"

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
    declared_.erase(name);
    return *this;
  }

  /// Adds or replaces `name`, an `Implementation` built from `Options` read through
  /// `binding` (which must outlive the registry: a function-local static). Its options
  /// then have a schema (see schema()), from which command lines and help are made.
  template <class Implementation, class Options>
  NamedRegistry& add(const std::string& name, const OptionBinding<Options>& binding) {
    return add(
        name,
        [&binding](const nlohmann::json& options) -> std::unique_ptr<Interface> {
          return std::make_unique<Implementation>(binding.read(options));
        },
        binding.schema(), binding.summary());
  }

  /// Adds or replaces `name` built by `factory`, whose options `schema` (which must
  /// outlive the registry) declares: for an implementation that wraps another
  /// registry's part and takes its options (an attack made of an input transform).
  NamedRegistry& add(const std::string& name, Factory factory, const OptionSchema& schema,
                     const std::string& summary) {
    add(name, std::move(factory));
    declared_[name] = {&schema, summary};
    return *this;
  }

  /// The declared options of `name`, or null when it was added with a bare factory.
  const OptionSchema* schema(const std::string& name) const {
    auto it = declared_.find(name);
    return it == declared_.end() ? nullptr : it->second.first;
  }

  /// The one-sentence description of `name` (empty when none was declared).
  std::string summary(const std::string& name) const {
    auto it = declared_.find(name);
    return it == declared_.end() ? std::string() : it->second.second;
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
  std::map<std::string, std::pair<const OptionSchema*, std::string>> declared_;
};

}  // namespace wmark
