// Internal: the reader of torch.save files behind read_state_dict() (models/state_dict.h).
#pragma once

#include <map>
#include <string>

#include <ATen/Tensor.h>

namespace wmark {

/// The dict of tensors pickled in `bytes`, a torch.save file (a zip archive holding
/// data.pkl and the storages); `file` names it in errors. The file is the attacker's:
/// every size is checked before anything is inflated or allocated, and anything but a
/// dict mapping names to tensors is refused with a wmark::Error.
std::map<std::string, at::Tensor> read_torch_save_dict(const std::string& bytes, const std::string& file);

}  // namespace wmark
