#include "wmark/watermark/whitebox/uchida.h"

#include <torch/torch.h>

#include <algorithm>

#include "wmark/models/network.h"
#include "wmark/models/parameters.h"
#include "wmark/util/error.h"
#include "../../util/text.h"
#include "../key_base.h"

namespace wmark {
namespace {

// w: the kernel averaged over output filters, flattened to [M].
at::Tensor mean_kernel(const at::Tensor& weight) { return weight.mean(0).flatten(); }

}  // namespace

std::string resolve_conv_weight(Network& model, const std::string& layer) {
  if (layer.empty()) {  // the convolution with the most weights: room for the most bits
    std::string largest;
    std::int64_t most = 0;
    auto params = model.named_parameters();
    for (const auto& name : weight_names(model, {4})) {
      if (params[name].numel() > most) {
        most = params[name].numel();
        largest = name;
      }
    }
    WMARK_CHECK(!largest.empty(), "the model has no convolution weights for an Uchida watermark");
    return largest;
  }
  const std::string weight = ends_with(layer, ".weight") ? layer : layer + ".weight";
  std::string flat = weight;  // ScriptNetwork registers "conv2.weight" as "conv2_weight"
  std::replace(flat.begin(), flat.end(), '.', '_');
  std::string found;
  std::string known;
  for (const auto& name : weight_names(model, {4})) {
    known += (known.empty() ? "" : ", ") + name;
    if (name == weight || name == "module." + weight || name == flat) found = name;
  }
  WMARK_CHECK(!found.empty(), "the model has no convolution '", layer, "'; its convolution weights: ",
              known.empty() ? "none" : known);
  return found;
}

at::Tensor text_bits(const std::string& text, std::int64_t count) {
  WMARK_CHECK(!text.empty() && count >= 1, "a signature needs text and at least one bit");
  auto bits = torch::empty({count}, torch::kUInt8);
  auto* out = bits.data_ptr<std::uint8_t>();
  for (std::int64_t i = 0; i < count; ++i) {
    const auto byte = static_cast<unsigned char>(text[(i / 8) % text.size()]);
    out[i] = (byte >> (7 - i % 8)) & 1;
  }
  return bits;
}

UchidaEmbedder::UchidaEmbedder(Network& model, UchidaOptions options, WatermarkKey key_base)
    : options_(std::move(options)), key_base_(std::move(key_base)) {
  WMARK_CHECK(options_.bits() >= 1, "uchida: bits must be at least 1, got ", options_.bits());
  WMARK_CHECK(options_.strength() > 0, "uchida: strength must be positive, got ", options_.strength());
  weight_name_ = resolve_conv_weight(model, options_.layer());
  const auto weight = model.named_parameters()[weight_name_];
  const auto m = weight.numel() / weight.size(0);
  projection_ = uchida_projection(options_.secret(), options_.bits(), m);
  bits_ = watermark_bits(options_.secret(), options_.signature(), options_.bits(), "uchida-bits");
}

at::Tensor uchida_projection(const KeySecret& secret, std::int64_t bits, std::int64_t m) {
  return secret.stream("uchida-projection").normal({bits, m});
}

at::Tensor watermark_bits(const KeySecret& secret, const std::string& signature, std::int64_t count,
                          const std::string& purpose) {
  if (!signature.empty()) return text_bits(signature, count).to(torch::kFloat);
  return secret.stream(purpose).uniform(count, 2).to(torch::kFloat);
}

WatermarkKey UchidaEmbedder::key() const {
  WatermarkKey key = key_base_;
  key.method = method();
  key.secret = options_.secret();
  key.params["layer"] = weight_name_;
  key.params["bits"] = options_.bits();
  key.params["strength"] = options_.strength();
  key.params["signature"] = options_.signature();  // the text the bits spell; empty = bits from the secret
  key.params["chance_rate"] = 0.5;  // a model never trained with X agrees with b by chance
  key.tensors["projection"] = projection_;
  key.tensors["bits"] = bits_.to(torch::kUInt8);
  if (key.created.empty()) key.created = utc_now_iso8601();
  return key;
}

at::Tensor UchidaEmbedder::loss_term(const Batch&, const at::Tensor&, Network& model) {
  auto params = model.named_parameters();
  auto* weight = params.find(weight_name_);
  WMARK_CHECK(weight, "uchida: the model being trained has no parameter '", weight_name_, "'");
  if (projection_.device() != weight->device()) {
    projection_ = projection_.to(weight->device());
    bits_ = bits_.to(weight->device());
  }
  auto scores = projection_.matmul(mean_kernel(*weight));
  return options_.strength() * torch::binary_cross_entropy_with_logits(scores, bits_);
}

void UchidaEmbedder::on_epoch_end(EpochStats& stats, Network& model) {
  auto extracted = extract_uchida_bits(model, key());
  stats.metrics["bit_error_rate"] =
      extracted.ne(bits_.to(torch::kCPU).to(torch::kUInt8)).to(torch::kDouble).mean().item<double>();
}

std::shared_ptr<UchidaEmbedder> make_uchida_embedder(Network& model, const Dataset& train, const UchidaOptions& options,
                                                     const std::string& arch) {
  auto base = key_base(train, arch);
  return std::make_shared<UchidaEmbedder>(model, options, std::move(base));
}

at::Tensor extract_uchida_bits(Network& model, const WatermarkKey& key) {
  WMARK_CHECK(key.method == "uchida", "not an Uchida key (method '", key.method, "')");
  return projected_kernel(model, key.params.value("layer", std::string()), key.tensor("projection")).gt(0).to(torch::kUInt8);
}

at::Tensor projected_kernel(Network& model, const std::string& name, const at::Tensor& projection) {
  auto params = model.named_parameters();
  auto* weight = params.find(name);
  if (!weight) weight = params.find(resolve_conv_weight(model, name));
  const auto m = weight->numel() / weight->size(0);
  WMARK_CHECK(projection.dim() == 2 && projection.size(1) == m, "the key's projection is ", projection.sizes(),
              " but layer '", name, "' has ", m, " weights per filter: another architecture?");
  torch::NoGradGuard no_grad;
  return projection.to(weight->device()).matmul(mean_kernel(weight->detach().to(torch::kFloat))).cpu();
}

}  // namespace wmark
