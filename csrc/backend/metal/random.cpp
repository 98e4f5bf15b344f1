// Metal launch code of the counter-based random kernels (metal/random.metal): float32 / float16
// / bfloat16, contiguous outputs; float64 and outputs of 2^31 elements or more run the CPU kernel
// of the slot (the same Philox stream).
#include "backend/kernels_random.h"
#include "backend/metal/family_util.h"
#include "random_params.h"

namespace ember::metal {
namespace {

constexpr uint32_t kThreads = 256, kMaxGroups = 1024;

const char* random_declines(const Tensor& out, const Tensor&, const RandomDraw&) {
  return float_suffix(out.dtype()) && out.numel() < (int64_t(1) << 31) ? nullptr : "random";
}

void random_metal(const Tensor& out, const Tensor& probs, const RandomDraw& d) {
  const int64_t n = out.numel();
  if (n == 0) return;
  RandomParams p{};
  p.key0 = uint32_t(d.key), p.key1 = uint32_t(d.key >> 32);
  p.n = uint32_t(n), p.kind = uint32_t(d.kind);
  p.bits = out.dtype() == Dtype::Float16 ? 11 : out.dtype() == Dtype::BFloat16 ? 8 : 24;
  p.a = float(d.a), p.b = float(d.b);
  const uint32_t groups4 = uint32_t((n + 3) / 4);
  Dispatch(std::string("random_") + float_suffix(out.dtype()))
      .buffer(0, out.raw_data())
      .buffer(1, probs.defined() ? probs.raw_data() : unused_binding(out))
      .value(2, p)
      .threadgroups({std::min<uint32_t>((groups4 + kThreads - 1) / kThreads, kMaxGroups)},
                    {kThreads});
}

}  // namespace

EMBER_REGISTER_KERNEL(random_fill, Metal, random_metal);
EMBER_REGISTER_DECLINES(random_fill, Metal, random_declines);

}  // namespace ember::metal
