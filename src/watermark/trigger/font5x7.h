// A 5x7 bitmap font (upper-case letters, digits, a little punctuation), shipped in
// the library so that text triggers need no font files at run time.
#pragma once

#include <array>
#include <string_view>

namespace wmark::font5x7 {

constexpr int kWidth = 5;
constexpr int kHeight = 7;

/// Rows of a glyph, '#' = ink; nullptr for characters the font does not have.
const std::array<std::string_view, kHeight>* glyph(char c);

}  // namespace wmark::font5x7
