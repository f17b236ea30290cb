/// \file
/// A suspect model behind a serving endpoint (Triton, KServe, MLServer, OpenVINO Model
/// Server, TorchServe, TF Serving, `wmark serve`), queried over the Open Inference
/// Protocol (V2 REST, JSON or binary tensor data) or the V1 predict protocol. See
/// docs/remote.md.
///
/// On construction it reads the model's metadata (V2: input name, datatype and shape;
/// V1: that the model exists) and checks them against the key's input shape before a
/// single image is sent. Queries go in batches; connection errors and 5xx answers are
/// retried with exponential backoff, 4xx answers never (they are the client's fault
/// and fail at once with the server's message); a query budget caps the images sent.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <torch/arg.h>

#include "wmark/util/export.h"
#include "wmark/verify/classifier.h"

namespace wmark {

/// Where the suspect is and how to talk to it. Each field is a TORCH_ARG.
struct WMARK_API RemoteOptions {
  /// Base URL of the server, "http://HOST:PORT" or "https://HOST:PORT". An https
  /// server's certificate is verified (chain and host name) against the system's CAs or
  /// `ca_file`, and its SHA-256 recorded (tls_certificate_sha256()).
  TORCH_ARG(std::string, url);
  /// PEM certificates to trust for an https server instead of the system's (a private
  /// or test CA); empty for the system's.
  TORCH_ARG(std::string, ca_file);
  /// The model's name on the server.
  TORCH_ARG(std::string, model);
  /// "v2" (Open Inference Protocol) or "v1" (predict).
  TORCH_ARG(std::string, protocol) = "v2";
  /// V2 only: send inputs and ask for outputs as binary tensor data.
  TORCH_ARG(bool, binary) = false;
  /// Images per request.
  TORCH_ARG(std::int64_t, batch_size) = 64;
  /// Connect, read and write timeout of each request, seconds.
  TORCH_ARG(double, timeout_seconds) = 30;
  /// Retries of a request after a connection error or a 5xx answer.
  TORCH_ARG(int, retries) = 3;
  /// The first retry waits this long, each next one twice as long, seconds.
  TORCH_ARG(double, backoff_seconds) = 0.25;
  /// At most this many images are ever sent; 0 = no limit.
  TORCH_ARG(std::int64_t, max_queries) = 0;
  /// What FP32 inputs hold: "unit" (pixels scaled to [0,1], what `wmark serve` expects
  /// by default), "normalized" (the key's normalisation applied) or "raw" (0..255).
  /// A model whose metadata asks for UINT8 always gets raw pixels.
  TORCH_ARG(std::string, input_scale) = "unit";
  /// A larger response (counted as it arrives, whatever its framing) is cut and the
  /// request fails; its JSON is also bounded in depth and values before it is parsed.
  TORCH_ARG(std::int64_t, max_response_bytes) = 64ll << 20;
};

/// A Classifier over HTTP (see the file comment).
class WMARK_API RemoteClassifier : public Classifier {
 public:
  /// Connects and checks the model's metadata against `input` ([C,H,W] of the key's
  /// images); `normalization` is the key's (for input_scale "normalized"). Throws
  /// wmark::Error naming the server and the problem: unreachable, model not found,
  /// input shape or datatype the key cannot feed, bad options.
  RemoteClassifier(RemoteOptions options, ImageShape input, Normalization normalization);
  ~RemoteClassifier() override;
  /// Labels from the server, in batches. Throws wmark::Error when the budget would be
  /// exceeded, on a 4xx answer, or when retries are exhausted.
  at::Tensor classify(const at::Tensor& images) override;
  /// The labels and, over V2 when the model's response has a floating [N, classes]
  /// output, its class scores (every output is asked for, not only a label output);
  /// over V1 labels only.
  SuspectAnswers answer(const at::Tensor& images) override;
  std::string describe() const override;
  /// HTTP requests sent so far (metadata, inference and retries).
  std::int64_t requests() const;
  /// SHA-256 (hex) of every exchange with the server so far that got an answer, in
  /// order: method, path, request body, status and response body, each prefixed with its
  /// length. Recorded in reports, so that a claim names the exact answers it rests on.
  std::string transcript_sha256() const;
  /// SHA-256 (hex) of the DER certificate the https server presented; several, joined
  /// by ",", if connections saw different ones; empty for plain http. Recorded in
  /// reports, so that a claim names the server it talked to.
  std::string tls_certificate_sha256() const;

 private:
  SuspectAnswers answer_all(const at::Tensor& images, bool scores);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wmark
