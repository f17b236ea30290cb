/// \file
/// The serving protocols as wmark speaks them, shared by the server (serve/) and the
/// remote client (verify/remote_classifier.h): encode and decode only, no sockets.
///
/// Open Inference Protocol (KServe V2, as Triton, KServe, MLServer and OpenVINO Model
/// Server speak it), REST form: an infer request is a JSON object
///   {"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "data"}], "outputs"?}
/// whose `data` is flat row-major or nested as the shape; with the binary tensor data
/// extension, an input carries `"parameters": {"binary_data_size": B}` instead of `data`
/// and its B little-endian bytes follow the JSON in the body, whose JSON part is
/// `Inference-Header-Content-Length` bytes long. Responses mirror this with `outputs`.
/// V1 ("TF-Serving predict"): {"instances": [...]} in, {"predictions": [...]} out.
///
/// Decoders treat their input as hostile: every size is checked before anything is
/// allocated or read, and every problem is a ProtocolError with the HTTP status the
/// protocol prescribes (400 malformed, 413 too large) and a message naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

#include "wmark/util/error.h"
#include "wmark/util/export.h"

namespace wmark::protocol {

/// A request or response the protocol rejects, with its HTTP status (400 or 413).
class WMARK_API ProtocolError : public Error {
 public:
  /// `status` is the HTTP status to answer with.
  ProtocolError(int status, const std::string& message) : Error(message), status_(status) {}
  /// The HTTP status: 400 for malformed input, 413 past a size limit.
  int status() const { return status_; }

 private:
  int status_;
};

/// The HTTP header that gives the JSON part's length when binary tensor data follows.
inline constexpr const char* kInferenceHeaderContentLength = "Inference-Header-Content-Length";

/// A named tensor of a request or response. `data` is a contiguous CPU tensor whose
/// sizes are the protocol shape and whose dtype is one of the supported datatypes.
struct WMARK_API NamedTensor {
  std::string name;     ///< tensor name, e.g. "input"
  at::Tensor data;      ///< contiguous, on the CPU
  bool binary = false;  ///< encode as binary tensor data (V2 binary extension)
};

/// An output the client asks for.
struct WMARK_API RequestedOutput {
  std::string name;     ///< output name, e.g. "label"
  bool binary = false;  ///< ask for it as binary tensor data
};

/// A V2 infer request.
struct WMARK_API InferRequest {
  std::string id;                        ///< optional request id, echoed back
  std::vector<NamedTensor> inputs;       ///< at least one
  std::vector<RequestedOutput> outputs;  ///< empty = every output of the model
  bool binary_output = false;            ///< request parameter binary_data_output
};

/// A V2 infer response.
struct WMARK_API InferResponse {
  std::string model_name;            ///< the model that answered
  std::string model_version;         ///< its version ("" if the server gives none)
  std::string id;                    ///< the request's id
  std::vector<NamedTensor> outputs;  ///< the outputs
};

/// An HTTP body of the protocol: JSON, possibly followed by binary tensor data.
struct WMARK_API Body {
  std::string bytes;                       ///< the whole body
  std::optional<std::size_t> json_length;  ///< Inference-Header-Content-Length, if binary data follows
  /// "application/octet-stream" when binary data follows, else "application/json".
  std::string content_type() const;
};

/// Limits a decoder enforces before allocating (413 past them).
struct WMARK_API DecodeLimits {
  std::int64_t max_elements = 64ll << 20;  ///< elements in any one tensor
  std::int64_t max_tensors = 16;           ///< tensors in one request or response
  std::int64_t max_json_values = 64ll << 20;  ///< values in the JSON part (checked before parsing: 413)
  std::int64_t max_json_depth = 32;           ///< nesting of the JSON part (checked before parsing: 400)
};

/// The protocol's name of a dtype: "FP32", "UINT8", "INT64", ... Throws ProtocolError
/// (400) for a dtype the protocol has no name for.
WMARK_API std::string datatype_name(c10::ScalarType type);
/// The dtype of a protocol datatype name; supported: BOOL, UINT8, INT8, INT16, INT32,
/// INT64, FP32, FP64. Throws ProtocolError (400) for anything else.
WMARK_API c10::ScalarType datatype_from_name(const std::string& name);

/// V2 request body: inputs marked `binary` go after the JSON as binary tensor data.
WMARK_API Body encode_infer_request(const InferRequest& request);
/// Parses a V2 request body (JSON or JSON + binary data). Throws ProtocolError.
WMARK_API InferRequest decode_infer_request(const Body& body, const DecodeLimits& limits = {});
/// V2 response body: outputs marked binary go after the JSON.
WMARK_API Body encode_infer_response(const InferResponse& response);
/// Parses a V2 response body. Throws ProtocolError.
WMARK_API InferResponse decode_infer_response(const Body& body, const DecodeLimits& limits = {});

/// V1 request: {"instances": [one nested array per sample]} for a batch [N, ...].
WMARK_API std::string encode_v1_request(const at::Tensor& batch);
/// Parses a V1 request into a float32 batch [N, ...] (the shape of the nested arrays);
/// every instance must have the same shape. Accepts {"instances": [...]} and the
/// columnar {"inputs": [...]}. Throws ProtocolError.
WMARK_API at::Tensor decode_v1_request(std::string_view body, const DecodeLimits& limits = {});
/// V1 response: {"predictions": [{"scores": [...], "label": k}, ...]}.
WMARK_API std::string encode_v1_response(const at::Tensor& scores, const at::Tensor& labels);
/// The predicted labels (int64 [N]) of a V1 response. A prediction may be a label, an
/// array of class scores (argmax taken) or an object with "label", "class" or
/// "classes" (a label) or "scores", "probabilities" or "logits" (argmax taken).
/// Throws ProtocolError.
WMARK_API at::Tensor decode_v1_predictions(std::string_view body, const DecodeLimits& limits = {});

/// Checks JSON text before it is parsed, in one iterative pass: nesting deeper than
/// `limits.max_json_depth` is a ProtocolError 400, more than `limits.max_json_values`
/// values a 413. `what` names the document in the message.
WMARK_API void check_json_limits(std::string_view text, const DecodeLimits& limits, const char* what);

/// The JSON error body of the protocol: {"error": "<message>"}.
WMARK_API std::string error_body(const std::string& message);

}  // namespace wmark::protocol
