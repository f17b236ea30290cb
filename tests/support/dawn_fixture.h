// DAWN over loopback for the serving tests: a repeatable server key for the shared
// watermarked mnist_cnn, the server that changes its answers, and a thief who extracts
// the model through it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "wmark/attack/retraining.h"
#include "wmark/serve/dawn.h"
#include "wmark/serve/server.h"

namespace wmark::test {

/// A DAWN server key for the shared watermarked mnist_cnn, its secret derived from
/// `seed` (repeatable; a real one comes from the OS).
WatermarkKey dawn_server_key(double rate, std::uint64_t seed = 1, const DawnKeying& keying = {});

/// The shared watermarked mnist_cnn served as "victim" with `dawn` changing its answers.
ServedModel served_with_dawn(std::shared_ptr<DawnAnswers> dawn);

/// Loopback options of the DAWN tests' servers.
ServerOptions dawn_loopback();

/// A thief's surrogate, the proof key from the server's log, and the queries it answered.
struct DawnExtraction {
  NetworkPtr surrogate;  ///< the thief's copy
  WatermarkKey proof;    ///< dawn_proof_key over the log
  std::int64_t queries = 0;  ///< answers the server gave
};

/// The fixture's 1,000 attacker images labelled by the victim served with DAWN under
/// `key` (hard labels, asked as `thief` says: votes and twins), a surrogate trained
/// `epochs` on them, the log in `dir`.
DawnExtraction extract_through_dawn(const WatermarkKey& key, const std::filesystem::path& dir, std::int64_t epochs,
                                    const RetrainingOptions& thief = RetrainingOptions());

}  // namespace wmark::test
