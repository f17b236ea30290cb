#include "json_reader.h"

#include <simdjson.h>

#include <utility>
#include <vector>

namespace wmark::protocol::internal {
namespace {

using json = nlohmann::json;
using simdjson::dom::element;
using simdjson::dom::element_type;

// A scalar as nlohmann's own parser would store it (a non-negative integer as unsigned);
// false for an array or object, which the caller copies later.
bool copy_scalar(element value, json& target) {
  switch (value.type()) {
    case element_type::ARRAY:
    case element_type::OBJECT: return false;
    case element_type::INT64: {
      const auto x = value.get_int64().value_unsafe();
      target = x >= 0 ? json(static_cast<std::uint64_t>(x)) : json(x);
      return true;
    }
    case element_type::UINT64: target = value.get_uint64().value_unsafe(); return true;
    case element_type::DOUBLE: target = value.get_double().value_unsafe(); return true;
    case element_type::STRING: target = std::string(value.get_string().value_unsafe()); return true;
    case element_type::BOOL: target = value.get_bool().value_unsafe(); return true;
    case element_type::NULL_VALUE: target = nullptr; return true;
  }
  return true;
}

}  // namespace

json read_json(std::string_view text, std::string& error) {
  simdjson::dom::parser parser;
  element root;
  if (const auto code = parser.parse(text.data(), text.size()).get(root); code != simdjson::SUCCESS) {
    error = simdjson::error_message(code);
    return nullptr;
  }
  // Depth-first with an explicit stack: each container is filled completely (so its
  // elements no longer move) before the containers inside it are visited.
  json document;
  std::vector<std::pair<element, json*>> pending;
  if (!copy_scalar(root, document)) pending.emplace_back(root, &document);
  while (!pending.empty()) {
    const auto [source, target] = pending.back();
    pending.pop_back();
    std::vector<std::pair<element, std::size_t>> nested;  // containers inside, by position
    if (source.type() == element_type::ARRAY) {
      *target = json::array();
      auto& items = target->get_ref<json::array_t&>();
      simdjson::dom::array array;  // a named value: iterating a temporary result's member would dangle
      if (source.get_array().get(array) != simdjson::SUCCESS) return error = "not an array", nullptr;
      for (const auto item : array) {
        items.emplace_back();
        if (!copy_scalar(item, items.back())) nested.emplace_back(item, items.size() - 1);
      }
      for (const auto& [item, index] : nested) pending.emplace_back(item, &items[index]);
    } else {
      *target = json::object();
      auto& members = target->get_ref<json::object_t&>();
      simdjson::dom::object object;
      if (source.get_object().get(object) != simdjson::SUCCESS) return error = "not an object", nullptr;
      for (const auto field : object) {
        const auto [slot, fresh] = members.emplace(std::string(field.key), json());
        if (!fresh) {
          error = "a member name appears twice in one object";  // not echoed: the client chose it
          return nullptr;
        }
        if (!copy_scalar(field.value, slot->second)) pending.emplace_back(field.value, &slot->second);
      }
    }
  }
  return document;
}

}  // namespace wmark::protocol::internal
