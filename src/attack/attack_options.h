// Internal: the options several attacks share, declared once for their OptionBindings.
#pragma once

#include <string>

#include "wmark/util/option_binding.h"

namespace wmark {

/// Declares the optimiser and learning rate of an attack's training (`what`: "fine-tuning").
template <class Options>
OptionBinding<Options>& declare_optimizer(OptionBinding<Options>& binding, const std::string& what) {
  return binding.text(WMARK_OPTION_FIELD(optimizer), what + " optimiser: sgd (momentum 0.9) or adam", {"sgd", "adam"})
      .number(WMARK_OPTION_FIELD(lr), what + " learning rate (constant)", 1e-9);
}

}  // namespace wmark
