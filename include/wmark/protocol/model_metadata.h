/// \file
/// The Open Inference Protocol's model metadata (`GET /v2/models/NAME`) as the remote
/// client reads it from a server it does not trust.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wmark/protocol/inference_protocol.h"
#include "wmark/util/export.h"

namespace wmark::protocol {

/// What wmark needs of a model's metadata: its one input and, if it has one, an output
/// of one dimension (the class label) to ask for.
struct WMARK_API ModelMetadata {
  std::string input_name;                  ///< the input's name, sent back in requests
  std::string input_datatype;              ///< as the server names it, e.g. "FP32"
  std::vector<std::int64_t> input_shape;   ///< -1 for a variable dimension
  std::optional<std::string> label_output; ///< the last output of shape [N], if any
};

/// Decodes a V2 model metadata body. Depth and size are checked before parsing
/// (`limits`); throws ProtocolError for a body that is not JSON, not a metadata object,
/// or whose model has other than one input or an input without name, datatype and an
/// integer shape of at most 8 dimensions.
WMARK_API ModelMetadata decode_v2_model_metadata(std::string_view body, const DecodeLimits& limits = {});

}  // namespace wmark::protocol
