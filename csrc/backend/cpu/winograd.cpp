// Winograd 3x3 convolution: ISA dispatch and the applicability rule. Kernels: winograd_impl.h,
// compiled per ISA by winograd_isa_*.cpp.
#include "backend/cpu/winograd.h"

#include <atomic>

#include "backend/cpu/isa.h"

namespace ember::cpu {

// One entry point pair per compiled ISA (defined in winograd_impl.h).
#define EMBER_WINOGRAD_DECLARE(ns)                                                                              \
  namespace ns {                                                                                                \
  void winograd_forward(const float* x, const float* w, const float* bias, float* y, int64_t N, int64_t C,      \
                        int64_t H, int64_t W, int64_t K, int64_t ph, int64_t pw);                               \
  void winograd_grad_weight(const float* x, const float* dy, float* dw, int64_t N, int64_t C, int64_t H,        \
                            int64_t W, int64_t K, int64_t ph, int64_t pw);                                      \
  }
EMBER_WINOGRAD_DECLARE(base)
#if defined(__x86_64__) || defined(_M_X64)
EMBER_WINOGRAD_DECLARE(avx2)
EMBER_WINOGRAD_DECLARE(avx512)
#endif
#undef EMBER_WINOGRAD_DECLARE

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
#if defined(__x86_64__) || defined(_M_X64)
  const Isa isa = cpu_isa();
  if (isa == Isa::Avx512) return avx512::winograd_forward(x, w, bias, y, N, C, H, W, K, ph, pw);
  if (isa == Isa::Avx2) return avx2::winograd_forward(x, w, bias, y, N, C, H, W, K, ph, pw);
#endif
  base::winograd_forward(x, w, bias, y, N, C, H, W, K, ph, pw);
}

void winograd3x3_grad_weight(const float* x, const float* dy, float* dw, int64_t N, int64_t C, int64_t H,
                             int64_t W, int64_t K, int64_t ph, int64_t pw) {
#if defined(__x86_64__) || defined(_M_X64)
  const Isa isa = cpu_isa();
  if (isa == Isa::Avx512) return avx512::winograd_grad_weight(x, dy, dw, N, C, H, W, K, ph, pw);
  if (isa == Isa::Avx2) return avx2::winograd_grad_weight(x, dy, dw, N, C, H, W, K, ph, pw);
#endif
  base::winograd_grad_weight(x, dy, dw, N, C, H, W, K, ph, pw);
}

}  // namespace ember::cpu
