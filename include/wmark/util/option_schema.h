/// \file
/// Options declared once: names, types, defaults, ranges and help of a pluggable part's
/// options, from which its JSON reader, its JSON writer (the normalised options) and its
/// command-line flags are all derived, so that a default or a help text exists in one
/// place (after mlpack's parameter declarations).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/util/export.h"

namespace wmark {

/// The type of one option's value.
enum class OptionType { boolean, integer, number, text, integers, object };

/// One declared option.
struct OptionSpec {
  std::string name;                  ///< JSON key, e.g. "key_inputs"
  OptionType type = OptionType::text;  ///< what its value is
  nlohmann::json default_value;      ///< the value when not given
  std::string help;                  ///< one sentence, without the default (added when shown)
  std::optional<double> min;         ///< inclusive lower bound of a number, an integer or each integer of a list
  std::optional<double> max;         ///< inclusive upper bound, likewise
  std::vector<std::string> choices;  ///< allowed texts (empty = any)
  std::string flag;                  ///< command-line flag without "--" (default: name with '-' for '_')
};

/// The declared options of one component (a scheme, a generator, an attack).
class WMARK_API OptionSchema {
 public:
  /// An empty schema; `component` names it in error messages ("the uchida scheme").
  explicit OptionSchema(std::string component);

  /// Declares a true/false option.
  OptionSchema& boolean(const std::string& name, bool fallback, const std::string& help);
  /// Declares an integer option within [min, max].
  OptionSchema& integer(const std::string& name, std::int64_t fallback, const std::string& help,
                        std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt);
  /// Declares a real option within [min, max].
  OptionSchema& number(const std::string& name, double fallback, const std::string& help,
                       std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt);
  /// Declares a text option, one of `choices` unless empty.
  OptionSchema& text(const std::string& name, const std::string& fallback, const std::string& help,
                     std::vector<std::string> choices = {});
  /// Declares a list of integers, each within [min, max].
  OptionSchema& integers(const std::string& name, const std::vector<std::int64_t>& fallback, const std::string& help,
                         std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt);
  /// Declares a JSON object option (another component's own options).
  OptionSchema& object(const std::string& name, const std::string& help);
  /// Gives the option declared last another command-line flag name (without "--").
  OptionSchema& flag(const std::string& flag);

  /// `given` (null = {}) checked and completed: every declared option present, with its
  /// default when not given. Throws wmark::Error naming the component and the option
  /// for an unknown key (listing the known ones), a wrong type, a value out of range or
  /// not among the choices.
  nlohmann::json read(const nlohmann::json& given) const;
  /// The value of option `name` parsed from command-line text (one text per element of
  /// a list); throws wmark::Error naming the flag when it does not parse.
  nlohmann::json parse_flag(const std::string& name, const std::vector<std::string>& texts) const;
  /// Every option with its default.
  nlohmann::json defaults() const { return read(nlohmann::json::object()); }
  /// The declared options, in declaration order.
  const std::vector<OptionSpec>& specs() const { return specs_; }
  /// The option `name`, or null.
  const OptionSpec* find(const std::string& name) const;
  /// The component's name.
  const std::string& component() const { return component_; }
  /// One line per option: flag, value kind, help, default and range.
  std::string help_text() const;

 private:
  OptionSpec& add(OptionSpec spec);
  std::string component_;
  std::vector<OptionSpec> specs_;
};

/// The command-line flag of `spec` without "--".
WMARK_API std::string flag_name(const OptionSpec& spec);
/// What a flag of `spec` takes, for help texts: "INT", "X", "TEXT", "INT...", ...
WMARK_API std::string option_kind(const OptionSpec& spec);

}  // namespace wmark
