/// \file
/// What a thief builds once and uses again: artefacts that depend on the thief's own
/// data, the attack's options and its seed (the autoencoder of `input-reconstruction`,
/// trained on the thief's images, serves every victim), and artefacts of one victim that
/// several attacks start from (Neural Cleanse's trigger search, keyed on a digest of the
/// victim's weights too). `wmark evaluate` hands every cell of a grid one
/// ThiefArtefacts, so such an artefact is built once instead of once per cell, with the
/// same result: an artefact is reused only under the same key, and its key names
/// everything it was built from.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <typeindex>
#include <utility>

#include "wmark/util/error.h"
#include "wmark/util/export.h"

namespace wmark {

struct Dataset;
}  // namespace wmark

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace wmark {

/// Artefacts by key, built on first use (thread-safe; a build runs outside the lock, and
/// when two threads build one key at once the first stored wins).
class WMARK_API ThiefArtefacts {
 public:
  /// The artefact stored under `key`, or `build()`'s result, stored under it. The key
  /// must name all that the artefact depends on (see data_key()); asking for one key as
  /// two types is an error.
  template <class T>
  std::shared_ptr<const T> get_or_build(const std::string& key, const std::function<T()>& build) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (auto found = find(key, typeid(T))) {
        ++hits_;
        return std::static_pointer_cast<const T>(found);
      }
    }
    auto built = std::make_shared<const T>(build());
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto found = find(key, typeid(T))) return std::static_pointer_cast<const T>(found);
    entries_.emplace(key, Entry{std::type_index(typeid(T)), built});
    return built;
  }

  /// A key part naming the thief's data: its size, shape and a SHA-256 of its images and
  /// labels (the attacker's data of one grid is fixed; another dataset must not match).
  static std::string data_key(const Dataset& data);

  /// A key part naming a victim: a SHA-256 of its parameters and buffers (names, dtypes,
  /// shapes and bytes), for artefacts built from one victim (Neural Cleanse's search).
  static std::string model_key(torch::nn::Module& model);

  /// Artefacts stored.
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
  }
  /// Requests answered from the store.
  std::size_t hits() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return hits_;
  }

 private:
  struct Entry {
    std::type_index type;
    std::shared_ptr<const void> value;
  };
  std::shared_ptr<const void> find(const std::string& key, const std::type_info& type) const {
    const auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    WMARK_CHECK(it->second.type == std::type_index(type), "thief artefact '", key, "' was stored as another type");
    return it->second.value;
  }

  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::size_t hits_ = 0;
};

}  // namespace wmark
