// Winograd 3x3 convolution: ISA dispatch and the applicability rule. Kernels: winograd_impl.h,
// compiled per ISA by cmake/isa.cmake.
#include "backend/cpu/winograd.h"

#include <atomic>

#include "backend/cpu/isa.h"
#include "backend/kernels_winograd.h"

namespace ember::cpu {

// One entry point pair per compiled ISA (defined in winograd_impl.h).
EMBER_ISA_DECLARE(
  void winograd_forward(const float* x, const float* w, const float* bias, float* y, int64_t N, int64_t C,
                        int64_t H, int64_t W, int64_t K, int64_t ph, int64_t pw);
  void winograd_grad_weight(const float* x, const float* dy, float* dw, int64_t N, int64_t C, int64_t H,
                            int64_t W, int64_t K, int64_t ph, int64_t pw);
)

namespace {
std::atomic<bool> g_enabled{true};
}
bool winograd3x3_set_enabled(bool on) { return g_enabled.exchange(on); }
bool winograd3x3_enabled() { return g_enabled.load(std::memory_order_relaxed); }

bool winograd3x3_applicable(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t ph, int64_t pw) {
  if (ph < 0 || ph > 2 || pw < 0 || pw > 2 || N < 1 || C < 1 || K < 1) return false;
  const int64_t Ho = H + 2 * ph - 2, Wo = W + 2 * pw - 2;
  if (Ho < 1 || Wo < 1) return false;
  // Measured against the GEMM alone (im2col not counted) on AVX-512 and AVX2: Winograd wins from
  // 16 channels in and out (0.6x at 16, 0.3x at 32+), given enough tiles to amortize the weight
  // transform and fill the kernel's strips, and tiles mostly inside the output (a 5x5 output
  // computes 8x8).
  const int64_t th = (Ho + 3) / 4, tw = (Wo + 3) / 4;
  const bool full_enough = 2 * Ho * Wo >= 16 * th * tw;
  // Measured against batched im2col (AVX2, 7x7 and 14x14 images, 1 thread): Winograd wins from
  // 32 tiles (two blocks of 16: both threads busy), e.g. 512->512 on 8 7x7 images 18 vs 26 ms;
  // at 8 tiles it loses (256->256, 2 images: 2.7 vs 1.9 ms).
  return C >= 16 && K >= 16 && N * th * tw >= 32 && full_enough;
}

bool winograd3x3_grad_weight_applicable(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t ph,
                                        int64_t pw) {
  if (!winograd3x3_applicable(N, C, H, W, K, ph, pw)) return false;
  // The weight gradient reads and writes 36 * C * K sums per block of tiles: with few tiles for
  // C * K it loses to im2col (512->512 7x7: 16 images 52 vs 44 ms, 32 images 83 vs 107 ms).
  const int64_t tiles = N * ((H + 2 * ph - 2 + 3) / 4) * ((W + 2 * pw - 2 + 3) / 4);
  return tiles * 2048 >= C * K;
}

void winograd3x3_forward(const float* x, const float* w, const float* bias, float* y, int64_t N, int64_t C,
                         int64_t H, int64_t W, int64_t K, int64_t ph, int64_t pw) {
  static const auto run = EMBER_ISA_PICK(winograd_forward);
  run(x, w, bias, y, N, C, H, W, K, ph, pw);
}

void winograd3x3_grad_weight(const float* x, const float* dy, float* dw, int64_t N, int64_t C, int64_t H,
                             int64_t W, int64_t K, int64_t ph, int64_t pw) {
  static const auto run = EMBER_ISA_PICK(winograd_grad_weight);
  run(x, dy, dw, N, C, H, W, K, ph, pw);
}

}  // namespace ember::cpu

// The kernel slots (backend/kernels_winograd.h): tensors -> the pointer entry points above.
namespace ember::cpu {
namespace {

void forward_slot(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias, int64_t ph, int64_t pw) {
  const Shape& s = x.shape();
  winograd3x3_forward(x.data<float>(), w.data<float>(), bias.defined() ? bias.data<float>() : nullptr,
                      y.data<float>(), s[0], s[1], s[2], s[3], w.shape()[0], ph, pw);
}

void grad_weight_slot(const Tensor& dw, const Tensor& x, const Tensor& dy, int64_t ph, int64_t pw) {
  const Shape& s = x.shape();
  winograd3x3_grad_weight(x.data<float>(), dy.data<float>(), dw.data<float>(), s[0], s[1], s[2], s[3],
                          dy.shape()[1], ph, pw);
}

}  // namespace

EMBER_REGISTER_KERNEL(winograd3x3_forward, CPU, &forward_slot);
EMBER_REGISTER_KERNEL(winograd3x3_grad_weight, CPU, &grad_weight_slot);
EMBER_REGISTER_KERNEL(winograd3x3_applicable, CPU, &winograd3x3_applicable);
EMBER_REGISTER_KERNEL(winograd3x3_set_enabled, CPU, &winograd3x3_set_enabled);

}  // namespace ember::cpu
