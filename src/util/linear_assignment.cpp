#include "wmark/util/linear_assignment.h"

#include <cmath>
#include <limits>

#include "wmark/util/error.h"

namespace wmark {

std::vector<std::int64_t> max_score_assignment(const std::vector<double>& score, std::int64_t rows,
                                               std::int64_t cols) {
  WMARK_CHECK(rows >= 0 && rows <= cols, "an assignment needs at most as many rows as columns, got ", rows, " x ",
              cols);
  WMARK_CHECK(static_cast<std::int64_t>(score.size()) == rows * cols, "an assignment score of ", score.size(),
              " values is not ", rows, " x ", cols);
  for (const double s : score) WMARK_CHECK(std::isfinite(s), "an assignment score must be finite, got ", s);
  // Minimises cost = -score. Rows and columns are 1-based below; column 0 is the virtual
  // start of each augmenting path. u, v are the dual potentials; way[] the path back.
  const double inf = std::numeric_limits<double>::infinity();
  const auto cost = [&](std::int64_t i, std::int64_t j) { return -score[(i - 1) * cols + (j - 1)]; };
  std::vector<double> u(rows + 1, 0), v(cols + 1, 0);
  std::vector<std::int64_t> row_of(cols + 1, 0), way(cols + 1, 0);
  for (std::int64_t i = 1; i <= rows; ++i) {
    row_of[0] = i;
    std::int64_t j0 = 0;
    std::vector<double> reach(cols + 1, inf);
    std::vector<char> used(cols + 1, 0);
    do {  // grow the tree of tight edges until it reaches a free column
      used[j0] = 1;
      const auto i0 = row_of[j0];
      double delta = inf;
      std::int64_t j1 = 0;
      for (std::int64_t j = 1; j <= cols; ++j) {
        if (used[j]) continue;
        const double reduced = cost(i0, j) - u[i0] - v[j];
        if (reduced < reach[j]) reach[j] = reduced, way[j] = j0;
        if (reach[j] < delta) delta = reach[j], j1 = j;
      }
      for (std::int64_t j = 0; j <= cols; ++j) {
        if (used[j]) {
          u[row_of[j]] += delta;
          v[j] -= delta;
        } else {
          reach[j] -= delta;
        }
      }
      j0 = j1;
    } while (row_of[j0] != 0);
    do {  // flip the path
      const auto j1 = way[j0];
      row_of[j0] = row_of[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<std::int64_t> column(rows, -1);
  for (std::int64_t j = 1; j <= cols; ++j)
    if (row_of[j] != 0) column[row_of[j] - 1] = j - 1;
  return column;
}

}  // namespace wmark
