/// \file
/// `wmark serve`: a model behind the Open Inference Protocol (REST, with the binary
/// tensor data extension) and the V1 predict protocol, as docs/remote.md describes.
///
/// Endpoints: GET /v2/health/live, /v2/health/ready, /v2, /v2/models/NAME[/versions/V],
/// /v2/models/NAME[/versions/V]/ready; POST /v2/models/NAME[/versions/V]/infer;
/// GET /v1/models/NAME; POST /v1/models/NAME:predict. The model has one input "input"
/// ([-1,C,H,W], FP32 or UINT8) and two outputs, "scores" (FP32 logits [-1,classes]) and
/// "label" (INT64 [-1]). UINT8 inputs are raw pixels; FP32 inputs are pixels scaled to
/// [0,1] by default (the server normalises them as the model was trained), or already
/// normalised with ServerOptions::input_scale("normalized").
/// Errors answer {"error": "..."}: 400 malformed request, wrong datatype, shape or a
/// non-finite value; 404 unknown model or path; 405 wrong method; 413 past the body or
/// batch limit; 415 a compressed body; 431 headers too large; 503 too many request
/// bodies held at once.
/// The server is asynchronous: a slow or idle client holds no worker thread. Every
/// request has one deadline for its headers and body; bodies are bounded whatever
/// their framing (Content-Length, chunked or none); connections are capped in total
/// and per client address (docs/remote.md, "Hostile clients"). The model runs one
/// batch at a time, with every intra-op thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <c10/core/Device.h>
#include <torch/arg.h>

#include "wmark/data/dataset.h"
#include "wmark/models/network.h"
#include "wmark/util/export.h"

namespace wmark {

class DawnAnswers;

/// What is served: a network and what its inputs are.
struct WMARK_API ServedModel {
  std::string name;             ///< the model's name in URLs; letters, digits, '-', '_', '.'
  NetworkPtr network;           ///< normalised float [N,C,H,W] in, logits out
  ImageShape input;             ///< one image, [C,H,W]
  std::int64_t num_classes = 0; ///< length of the logits
  Normalization normalization;  ///< what the network expects after scaling to [0,1]
  std::string version = "1";    ///< the model version reported in metadata
  c10::Device device = c10::Device(c10::kCPU);  ///< where `network` runs
  /// When set, DAWN changes a keyed fraction of the answers, on every protocol alike,
  /// and logs them (serve/dawn.h); its key must fit `input` and `num_classes`.
  std::shared_ptr<DawnAnswers> dawn;
};

/// Where and how to serve. Each field is a TORCH_ARG (chained setters).
struct WMARK_API ServerOptions {
  /// Address to listen on; loopback by default.
  TORCH_ARG(std::string, host) = "127.0.0.1";
  /// TCP port; 0 = any free port (InferenceServer::start() returns it).
  TORCH_ARG(int, port) = 8000;
  /// Worker threads that parse and answer requests (the bounded pool); at least 1.
  TORCH_ARG(int, workers) = 4;
  /// Larger request bodies get 413.
  TORCH_ARG(std::int64_t, max_body_bytes) = 32ll << 20;
  /// Larger batches get 413.
  TORCH_ARG(std::int64_t, max_batch) = 256;
  /// FP32 inputs are "unit" (pixels in [0,1]; the server normalises) or "normalized".
  TORCH_ARG(std::string, input_scale) = "unit";
  /// Seconds a client has for a whole request, headers and body together (a slow
  /// client is cut then), and for reading the answer; an idle keep-alive connection is
  /// closed after the same time.
  TORCH_ARG(double, request_timeout_seconds) = 10;
  /// Larger request headers get 431.
  TORCH_ARG(std::int64_t, max_header_bytes) = 16 << 10;
  /// Open connections at most; at the cap a new connection evicts, from the address
  /// holding the most, the one whose request (or wait for one) began longest ago,
  /// unless every one is being answered.
  TORCH_ARG(int, max_connections) = 256;
  /// Open connections from one client address at most; more are closed at once.
  TORCH_ARG(int, max_connections_per_client) = 64;
};

/// Counters of a running server.
struct WMARK_API ServerStats {
  std::int64_t requests = 0;   ///< requests answered
  std::int64_t errors = 0;     ///< of which answered with a 4xx or 5xx status
  std::int64_t images = 0;     ///< images classified
};

/// An HTTP server for one model (see the file comment). Not copyable.
class WMARK_API InferenceServer {
 public:
  /// Checks the model and options; throws wmark::Error naming the bad one.
  InferenceServer(ServedModel model, ServerOptions options = {});
  /// Stops the server if it runs.
  ~InferenceServer();
  InferenceServer(const InferenceServer&) = delete;
  InferenceServer& operator=(const InferenceServer&) = delete;

  /// Binds and starts answering on a background thread; returns the port. Throws
  /// wmark::Error if the address cannot be bound.
  int start();
  /// Stops accepting, finishes the requests in flight and joins the threads.
  void stop();
  /// Blocks until stop() has finished (called from another thread); returns at once
  /// if the server was stopped already.
  void wait();
  /// "http://HOST:PORT" once started.
  std::string url() const;
  /// Requests, errors and images so far.
  ServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wmark
