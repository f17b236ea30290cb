#include "wmark/util/option_schema.h"

#include <cmath>
#include <iomanip>
#include <sstream>
#include <vector>

#include "wmark/util/error.h"

namespace wmark {
namespace {

using json = nlohmann::json;

}  // namespace

std::string option_kind(const OptionSpec& spec) {
  switch (spec.type) {
    case OptionType::boolean: return "true|false";
    case OptionType::integer: return "INT";
    case OptionType::number: return "X";
    case OptionType::text: return "TEXT";
    case OptionType::integers: return "INT...";
    case OptionType::object: return "JSON";
  }
  return "";
}

namespace {

std::string number_text(double value) {
  std::ostringstream out;
  out << std::setprecision(12) << value;
  return out.str();
}

// The value of `spec` in `value`, checked; throws naming `where`.
json checked(const OptionSpec& spec, const json& value, const std::string& where) {
  const auto in_range = [&spec, &where](double x) {
    WMARK_CHECK(std::isfinite(x), where, ": '", spec.name, "' must be finite");
    WMARK_CHECK(!spec.min || x >= *spec.min, where, ": '", spec.name, "' must be at least ", number_text(*spec.min),
                ", not ", number_text(x));
    WMARK_CHECK(!spec.max || x <= *spec.max, where, ": '", spec.name, "' must be at most ", number_text(*spec.max),
                ", not ", number_text(x));
  };
  const auto wrong_type = [&](const char* wanted) {
    WMARK_FAIL(where, ": '", spec.name, "' must be ", wanted, ", not ", value.type_name(), " ", value.dump());
  };
  switch (spec.type) {
    case OptionType::boolean:
      if (!value.is_boolean()) wrong_type("true or false");
      return value;
    case OptionType::integer:
      if (!value.is_number_integer()) wrong_type("an integer");
      in_range(value.get<double>());
      return value;
    case OptionType::number:
      if (!value.is_number()) wrong_type("a number");
      in_range(value.get<double>());
      return value.get<double>();
    case OptionType::text: {
      if (!value.is_string()) wrong_type("a text");
      const auto text = value.get<std::string>();
      if (spec.choices.empty()) return value;
      std::string list;
      bool found = false;
      for (const auto& choice : spec.choices) {
        found = found || choice == text;
        list += (list.empty() ? "" : ", ") + choice;
      }
      WMARK_CHECK(found, where, ": '", spec.name, "' must be one of ", list, ", not '", text, "'");
      return value;
    }
    case OptionType::integers:
      if (!value.is_array()) wrong_type("a list of integers");
      for (const auto& item : value) {
        if (!item.is_number_integer()) wrong_type("a list of integers");
        in_range(item.get<double>());
      }
      return value;
    case OptionType::object:
      if (!value.is_object()) wrong_type("a JSON object");
      return value;
  }
  return value;
}

}  // namespace

std::string flag_name(const OptionSpec& spec) {
  if (!spec.flag.empty()) return spec.flag;
  auto flag = spec.name;
  for (auto& ch : flag) ch = ch == '_' ? '-' : ch;
  return flag;
}

OptionSchema::OptionSchema(std::string component) : component_(std::move(component)) {}

OptionSpec& OptionSchema::add(OptionSpec spec) {
  WMARK_CHECK(!spec.name.empty() && !find(spec.name), component_, ": option '", spec.name, "' declared twice");
  if (spec.type != OptionType::object) checked(spec, spec.default_value, component_ + " (its default)");
  specs_.push_back(std::move(spec));
  return specs_.back();
}

OptionSchema& OptionSchema::boolean(const std::string& name, bool fallback, const std::string& help) {
  add({name, OptionType::boolean, fallback, help, {}, {}, {}, {}});
  return *this;
}

OptionSchema& OptionSchema::integer(const std::string& name, std::int64_t fallback, const std::string& help,
                                    std::optional<double> min, std::optional<double> max) {
  add({name, OptionType::integer, fallback, help, min, max, {}, {}});
  return *this;
}

OptionSchema& OptionSchema::number(const std::string& name, double fallback, const std::string& help,
                                   std::optional<double> min, std::optional<double> max) {
  add({name, OptionType::number, fallback, help, min, max, {}, {}});
  return *this;
}

OptionSchema& OptionSchema::text(const std::string& name, const std::string& fallback, const std::string& help,
                                 std::vector<std::string> choices) {
  add({name, OptionType::text, fallback, help, {}, {}, std::move(choices), {}});
  return *this;
}

OptionSchema& OptionSchema::integers(const std::string& name, const std::vector<std::int64_t>& fallback,
                                     const std::string& help, std::optional<double> min, std::optional<double> max) {
  add({name, OptionType::integers, fallback, help, min, max, {}, {}});
  return *this;
}

OptionSchema& OptionSchema::object(const std::string& name, const std::string& help) {
  add({name, OptionType::object, json::object(), help, {}, {}, {}, {}});
  return *this;
}

OptionSchema& OptionSchema::flag(const std::string& flag) {
  WMARK_CHECK(!specs_.empty(), component_, ": flag() names the flag of the option declared last");
  specs_.back().flag = flag;
  return *this;
}

const OptionSpec* OptionSchema::find(const std::string& name) const {
  for (const auto& spec : specs_) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

json OptionSchema::read(const json& given) const {
  const json options = given.is_null() ? json::object() : given;
  WMARK_CHECK(options.is_object(), component_, ": options must be a JSON object, not ", options.type_name());
  for (const auto& item : options.items()) {
    if (find(item.key())) continue;
    std::string known;
    for (const auto& spec : specs_) known += (known.empty() ? "" : ", ") + spec.name;
    WMARK_FAIL(component_, ": unknown option '", item.key(), "'; known: ", known.empty() ? "none" : known);
  }
  json out = json::object();
  for (const auto& spec : specs_) {
    out[spec.name] = options.contains(spec.name) ? checked(spec, options.at(spec.name), component_) : spec.default_value;
  }
  return out;
}

json OptionSchema::parse_flag(const std::string& name, const std::vector<std::string>& texts) const {
  const auto* spec = find(name);
  WMARK_CHECK(spec, component_, " has no option '", name, "'");
  const auto where = component_ + ", --" + flag_name(*spec);
  const auto parse_integer = [&where](const std::string& text) -> json {
    std::size_t used = 0;
    std::int64_t value = 0;
    try {
      value = std::stoll(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    WMARK_CHECK(!text.empty() && used == text.size(), where, ": '", text, "' is not an integer");
    return value;
  };
  json value;
  if (spec->type == OptionType::integers) {
    value = json::array();
    for (const auto& text : texts) value.push_back(parse_integer(text));
  } else {
    WMARK_CHECK(texts.size() == 1, where, " takes one value");
    const auto& text = texts.front();
    switch (spec->type) {
      case OptionType::boolean:
        WMARK_CHECK(text == "true" || text == "false", where, ": '", text, "' is not true or false");
        value = text == "true";
        break;
      case OptionType::integer: value = parse_integer(text); break;
      case OptionType::number: {
        std::size_t used = 0;
        double x = 0;
        try {
          x = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        WMARK_CHECK(!text.empty() && used == text.size(), where, ": '", text, "' is not a number");
        value = x;
        break;
      }
      case OptionType::object:
        try {
          value = json::parse(text);
        } catch (const json::exception&) {
          WMARK_FAIL(where, ": not valid JSON");
        }
        break;
      default: value = text;
    }
  }
  return checked(*spec, value, where);
}

std::string OptionSchema::help_text() const {
  std::ostringstream out;
  for (const auto& spec : specs_) {
    out << "  --" << flag_name(spec) << " " << option_kind(spec) << "\n      " << spec.help;
    // A help that explains its default already is not given a second one.
    std::vector<std::string> notes;
    if (spec.type != OptionType::object && spec.help.find("(default") == std::string::npos)
      notes.push_back("default " + spec.default_value.dump());
    if (spec.min || spec.max) {
      notes.push_back("range " + (spec.min ? number_text(*spec.min) : std::string("-inf")) + ".." +
                      (spec.max ? number_text(*spec.max) : std::string("inf")));
    }
    if (!spec.choices.empty()) {
      std::string choices = "one of";
      for (const auto& choice : spec.choices) choices += " " + choice;
      notes.push_back(choices);
    }
    for (std::size_t i = 0; i < notes.size(); ++i) out << (i == 0 ? " (" : "; ") << notes[i];
    out << (notes.empty() ? "\n" : ")\n");
  }
  return out.str();
}

}  // namespace wmark
