/// \file
/// Input transformations a thief's deployment applies to every query before the stolen
/// model (the Watermark-Robustness-Toolbox's input-preprocessing attacks): the model is
/// untouched, but triggers may no longer reach it as trained. Each transform is chosen
/// by name from input_transform_registry(); each is also an attack of the same name
/// (InputPreprocessingAttack), and `wmark serve --preprocess NAME` serves through it.
///
/// Contract for a transform: apply() maps float pixels [N,C,H,W] in [0,1] to the same
/// shape in [0,1], image by image (no image affects another's result), and its
/// randomness, if any, comes from its options' seed.
#pragma once

#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "wmark/util/export.h"
#include "wmark/util/named_registry.h"

namespace wmark {

/// A transformation of input images (see the contract above).
class WMARK_API InputTransform {
 public:
  virtual ~InputTransform() = default;
  /// Registry name: "jpeg-compression", "input-median-smoothing", ...
  virtual std::string name() const = 0;
  /// The options in effect (recorded in reports).
  virtual nlohmann::json options() const = 0;
  /// The transformed pixels: float [N,C,H,W] in [0,1] in and out. Throws wmark::Error
  /// for another shape or type.
  virtual at::Tensor apply(const at::Tensor& pixels) const = 0;
};

/// Name -> factory(options JSON) table of input transforms (see NamedRegistry).
class WMARK_API InputTransformRegistry : public NamedRegistry<InputTransform> {
 public:
  /// An empty registry.
  InputTransformRegistry() : NamedRegistry("input transform") {}
  /// A registry holding the built-in transforms (input_transforms.h).
  static InputTransformRegistry with_builtins();
};

/// The process's default registry of input transforms.
WMARK_API InputTransformRegistry& input_transform_registry();

/// Throws wmark::Error unless `pixels` is float [N,C,H,W]; `what` names the transform.
WMARK_API void check_pixels(const at::Tensor& pixels, const std::string& what);

}  // namespace wmark
