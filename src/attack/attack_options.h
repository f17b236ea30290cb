// Internal: the options several attacks share, declared once for their OptionBindings.
#pragma once

#include <string>

#include "wmark/attack/trigger_reconstruction.h"
#include "wmark/util/option_binding.h"

namespace wmark {

/// Declares the optimiser and learning rate of an attack's training (`what`: "fine-tuning").
template <class Options>
OptionBinding<Options>& declare_optimizer(OptionBinding<Options>& binding, const std::string& what) {
  return binding.text(WMARK_OPTION_FIELD(optimizer), what + " optimiser: sgd (momentum 0.9) or adam", {"sgd", "adam"})
      .number(WMARK_OPTION_FIELD(lr), what + " learning rate (constant)", 1e-9);
}

/// Declares the `votes` of an extraction attack (ask_victim in extraction.h).
template <class Options>
OptionBinding<Options>& declare_votes(OptionBinding<Options>& binding) {
  return binding.integer(WMARK_OPTION_FIELD(votes),
                         "times each image is asked (repeats with one pixel moved by one level), keeping the majority "
                         "answer",
                         1, 15);
}

/// Declares the trigger-reconstruction options of a backdoor-removal attack (fields
/// reverse_steps, refine_steps, mask_weight, reverse_lr).
template <class Options>
OptionBinding<Options>& declare_reconstruction(OptionBinding<Options>& binding) {
  return binding
      .integer(WMARK_OPTION_FIELD(reverse_steps), "trigger reconstruction: Adam steps per class", 1, 1000000)
      .integer(WMARK_OPTION_FIELD(refine_steps), "trigger reconstruction: further steps for the suspect classes", 0,
               1000000)
      .number(WMARK_OPTION_FIELD(mask_weight), "trigger reconstruction: weight of the mask's L1 norm", 0.0)
      .number(WMARK_OPTION_FIELD(reverse_lr), "trigger reconstruction: Adam learning rate", 1e-9);
}

/// The trigger-reconstruction options of a backdoor-removal attack's options.
template <class Options>
TriggerReconstructionOptions reconstruction_of(const Options& options) {
  return TriggerReconstructionOptions()
      .steps(options.reverse_steps())
      .refine_steps(options.refine_steps())
      .mask_weight(options.mask_weight())
      .lr(options.reverse_lr());
}

}  // namespace wmark
