/// \file
/// Per-trigger seeds and commitments for `adi` keys (Adi et al., USENIX Security 2018):
/// ownership is shown by opening a few triggers while the others stay secret for the
/// next dispute, and each opened trigger is checked against a commitment published
/// before the dispute.
///
/// Every trigger is drawn from a seed of its own, 32 bytes of the key secret's stream
/// "adi-trigger-seeds": an abstract image and a label uniform over the classes
/// (AbstractTrigger with the seed as its secret, bound to the key's owner). The key
/// commits to each seed separately:
///   commitment_i = BLAKE2b-256("wmark-trigger-commitment-v1" 0x00 seed_i)
/// (hiding: the seed is 256 uniform bits; binding: BLAKE2b's collision resistance).
/// Opening trigger i reveals seed_i alone, from which the verifier draws the image and
/// label again: an opened trigger is thereby proven to be an abstract image with a label
/// of chance, not an image chosen to fool models (a transferable adversarial example),
/// and the seeds of the other triggers stay unknown.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "wmark/util/export.h"
#include "wmark/watermark/key.h"
#include "wmark/watermark/trigger/abstract_trigger.h"

namespace wmark {

/// Triggers opened for one verification: their positions in the key and their seeds.
struct TriggerOpening {
  std::vector<std::int64_t> indices;  ///< positions in the key, distinct
  at::Tensor seeds;                   ///< uint8 [K,32], the seed of each opened trigger
};

/// The seeds of the first `count` triggers of `secret`, uint8 [count,32].
WMARK_API at::Tensor trigger_seeds(const KeySecret& secret, std::int64_t count);

/// The commitments to `seeds` (uint8 [N,32]): uint8 [N,32].
WMARK_API at::Tensor commit_seeds(const at::Tensor& seeds);

/// The triggers drawn from `seeds` (uint8 [N,32]) for a model of `shape` and
/// `num_classes`: abstract images drawn with `options` and keyed random labels, each
/// from its own seed bound to `owner` (the owner's public key, hex; may be empty).
WMARK_API TriggerSet triggers_from_seeds(const at::Tensor& seeds, const std::string& owner,
                                         const AbstractTriggerOptions& options, const ImageShape& shape,
                                         std::int64_t num_classes);

/// What the owner publishes before any dispute (e.g. in a time-stamped claim): the key's
/// public description (method, classes, input shape, normalisation, dataset, owner, the
/// abstract images' options, key commitment) and its per-trigger commitments as hex.
/// Reveals no trigger, label, seed or secret. Requires an adi key.
WMARK_API nlohmann::json published_commitments(const WatermarkKey& key);

/// The verifier's choice of `count` of `published` triggers for the owner to open:
/// distinct, uniformly at random from the OS CSPRNG, in increasing order. The verifier
/// chooses, not the owner: an owner free to choose would open exactly the triggers a
/// suspect happens to answer with their labels and prove ownership of any model.
/// Requires 1 <= count <= published.
WMARK_API std::vector<std::int64_t> choose_triggers_to_open(std::int64_t published, std::int64_t count);

/// The verifier's request to open `count` triggers of the key `published` describes, as
/// a document to hand to the owner and keep: {"format": "wmark-open-request-1",
/// "key_commitment": ..., "indices": choose_triggers_to_open(...)}.
WMARK_API nlohmann::json open_request(const nlohmann::json& published, std::int64_t count);

/// The trigger indices `request` (an open_request() document) asks for, checked to be
/// for the key with commitment `key_commitment`. Throws wmark::Error naming the problem.
WMARK_API std::vector<std::int64_t> requested_triggers(const nlohmann::json& request, const std::string& key_commitment);

/// Opens the triggers at `indices` of an adi key (their seeds, from its secret). Throws
/// wmark::Error for an index out of range or repeated.
WMARK_API TriggerOpening open_triggers(const WatermarkKey& key, const std::vector<std::int64_t>& indices);

/// A key holding only the opened triggers, drawn again from their seeds and described
/// as `published` describes its key, for the Verifier (verify/verifier.h), after checking
/// that the opening opens exactly the `requested` triggers (choose_triggers_to_open())
/// and each seed its published commitment. Throws wmark::Error naming the first trigger
/// that is not requested or does not open its commitment, or a malformed `published`.
WMARK_API WatermarkKey opened_key(const nlohmann::json& published, const TriggerOpening& opening,
                                  const std::vector<std::int64_t>& requested);

/// The key a verifier checks at the end of a dispute: opened_key() of the `opening`
/// document for the triggers the verifier's `request` (for the key `published`
/// describes) asked for. Every document may come from the other side: anything
/// malformed, for another key, or opening other triggers is a wmark::Error naming it.
WMARK_API WatermarkKey key_from_exchange(const nlohmann::json& published, const nlohmann::json& request,
                                         const nlohmann::json& opening);

/// An opening as JSON: {"format": "wmark-trigger-opening-1", "indices": [...], "seeds": [hex...]}.
WMARK_API nlohmann::json opening_to_json(const TriggerOpening& opening);

/// The opening in `document` (as opening_to_json() writes it). Throws wmark::Error
/// naming the problem for anything else.
WMARK_API TriggerOpening opening_from_json(const nlohmann::json& document);

}  // namespace wmark
