/// \file
/// The linear assignment problem: pair each row with its own column so that the total
/// score is as high as possible (Kuhn-Munkres, in the shortest-augmenting-path form with
/// potentials, O(rows^2 cols)). Unit alignment uses it to match a suspect's hidden units
/// to a marked model's.
#pragma once

#include <cstdint>
#include <vector>

#include "wmark/util/export.h"

namespace wmark {

/// For a rows x cols matrix `score` (row-major, rows <= cols, finite values), the
/// column of each row in an assignment of maximal total score: distinct columns.
/// Throws wmark::Error for rows > cols, a size that does not match, or a non-finite score.
WMARK_API std::vector<std::int64_t> max_score_assignment(const std::vector<double>& score, std::int64_t rows,
                                                         std::int64_t cols);

}  // namespace wmark
