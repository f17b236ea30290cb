/// \file
/// Options declared once for a TORCH_ARG options struct (attacks, trigger generators):
/// each option's name, help and range are declared beside an accessor of its field, and
/// its default is the field's default in a default-constructed struct. From that one
/// declaration come the OptionSchema (JSON reader, command-line flags, help), the
/// struct read from JSON and the struct written as JSON, so no default, range or help
/// is written twice.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/util/option_schema.h"

/// The JSON name and an accessor of the TORCH_ARG field `name`, for OptionBinding:
/// `.integer(WMARK_OPTION_FIELD(epochs), "epochs over the attacker's data", 1)`.
#define WMARK_OPTION_FIELD(name) #name, [](auto& options) -> auto& { return options.name(); }

namespace wmark {

/// The declared options of one component whose options are the struct `Options`.
template <class Options>
class OptionBinding {
 public:
  /// An empty declaration; `component` names it in errors ("the prune attack").
  explicit OptionBinding(std::string component) : schema_(std::move(component)) {}

  /// One sentence on what the component does (command-line help).
  OptionBinding& describe(const std::string& summary) {
    summary_ = summary;
    return *this;
  }
  /// A true/false field.
  template <class Field>
  OptionBinding& boolean(const std::string& name, Field field, const std::string& help) {
    schema_.boolean(name, field(defaults_), help);
    return bind<bool>(name, field);
  }
  /// An integer field within [min, max].
  template <class Field>
  OptionBinding& integer(const std::string& name, Field field, const std::string& help,
                         std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt) {
    schema_.integer(name, field(defaults_), help, min, max);
    return bind<std::int64_t>(name, field);
  }
  /// A real field within [min, max].
  template <class Field>
  OptionBinding& number(const std::string& name, Field field, const std::string& help,
                        std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt) {
    schema_.number(name, field(defaults_), help, min, max);
    return bind<double>(name, field);
  }
  /// A text field, one of `choices` unless empty.
  template <class Field>
  OptionBinding& text(const std::string& name, Field field, const std::string& help,
                      std::vector<std::string> choices = {}) {
    schema_.text(name, field(defaults_), help, std::move(choices));
    return bind<std::string>(name, field);
  }
  /// A JSON object field (another component's options).
  template <class Field>
  OptionBinding& object(const std::string& name, Field field, const std::string& help) {
    schema_.object(name, help);
    return bind<nlohmann::json>(name, field);
  }
  /// Gives the option declared last another command-line flag name (without "--").
  OptionBinding& flag(const std::string& flag) {
    schema_.flag(flag);
    return *this;
  }

  /// The struct from JSON options (null = {}): unknown keys, wrong types and values out
  /// of range are refused with a wmark::Error naming the component and the option.
  Options read(const nlohmann::json& given) const {
    const auto values = schema_.read(given);
    Options options;
    for (const auto& field : fields_) field.read(options, values);
    return options;
  }
  /// Every option of `options` as JSON (what reports record).
  nlohmann::json write(const Options& options) const {
    auto out = nlohmann::json::object();
    for (const auto& field : fields_) field.write(options, out);
    return out;
  }
  /// `options` checked against the declared ranges and choices (for structs built in C++).
  Options checked(const Options& options) const { return read(write(options)); }

  /// The schema: JSON reader, flags, help.
  const OptionSchema& schema() const { return schema_; }
  /// The one-sentence description.
  const std::string& summary() const { return summary_; }

 private:
  struct Field {
    std::function<void(Options&, const nlohmann::json&)> read;
    std::function<void(const Options&, nlohmann::json&)> write;
  };

  template <class T, class Accessor>
  OptionBinding& bind(const std::string& name, Accessor field) {
    fields_.push_back({[name, field](Options& o, const nlohmann::json& values) { field(o) = values.at(name).template get<T>(); },
                       [name, field](const Options& o, nlohmann::json& out) { out[name] = field(o); }});
    return *this;
  }

  Options defaults_{};
  OptionSchema schema_;
  std::string summary_;
  std::vector<Field> fields_;
};

}  // namespace wmark
