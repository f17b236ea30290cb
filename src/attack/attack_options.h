// Internal: the options several attacks share, declared once for their OptionBindings.
#pragma once

#include <string>

#include "extraction.h"
#include "wmark/attack/trigger_reconstruction.h"
#include "wmark/util/option_binding.h"

namespace wmark {

/// Declares the optimiser and learning rate of an attack's training (`what`: "fine-tuning").
template <class Options>
OptionBinding<Options>& declare_optimizer(OptionBinding<Options>& binding, const std::string& what) {
  return binding.text(WMARK_OPTION_FIELD(optimizer), what + " optimiser: sgd (momentum 0.9) or adam", {"sgd", "adam"})
      .number(WMARK_OPTION_FIELD(lr), what + " learning rate (constant)", 1e-9);
}

/// Declares the voting options of an extraction attack (fields votes, vote_twin,
/// vote_noise, vote_unanimous; ask_victim in extraction.h).
template <class Options>
OptionBinding<Options>& declare_votes(OptionBinding<Options>& binding) {
  return binding
      .integer(WMARK_OPTION_FIELD(votes), "times each image is asked (repeats are near-twins of it), keeping the "
               "majority answer", 1, 15)
      .text(WMARK_OPTION_FIELD(vote_twin), "the repeats: nudge (one pixel by one level), noise (vote_noise on every "
            "pixel) or shift (one pixel over)", {"nudge", "noise", "shift"})
      .number(WMARK_OPTION_FIELD(vote_noise), "standard deviation of noise twins (1 = the pixel range)", 0.0, 1.0)
      .boolean(WMARK_OPTION_FIELD(vote_unanimous), "drop the images whose answers disagree instead of voting");
}

/// The voting of an extraction attack's options.
template <class Options>
VoteOptions voting_of(const Options& options) {
  return VoteOptions{options.votes(), options.vote_twin(), options.vote_noise(), options.vote_unanimous()};
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
