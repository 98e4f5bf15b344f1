// Roofline probes (see roofline.h). The FMA loops are compiled per ISA with target attributes
// and picked by cpuid here: they are measuring instruments, not kernels, so they stay out of the
// kernel ISA dispatch.
#include "backend/cpu/roofline.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "backend/cpu/isa.h"
#include "backend/cpu/threadpool.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace ember::cpu {
namespace {

// Each loop keeps kChains independent accumulators, enough to cover FMA latency x pipes
// (4 cycles x 2 pipes on current x86 cores), and returns a value that depends on all of them
// so nothing is optimized away.
constexpr int64_t kIters = int64_t(1) << 22;

#if defined(__x86_64__) || defined(_M_X64)
__attribute__((target("avx2,fma"))) float fma_loop_avx2(float seed) {
  constexpr int kChains = 12;
  __m256 acc[kChains];
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(seed * 1e-7f);
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(seed + float(i));
  for (int64_t it = 0; it < kIters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  __m256 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}
constexpr double kFlopsAvx2 = 2.0 * 8 * 12;  // per iteration

__attribute__((target("avx512f"))) float fma_loop_avx512(float seed) {
  constexpr int kChains = 24;
  __m512 acc[kChains];
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(seed * 1e-7f);
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(seed + float(i));
  for (int64_t it = 0; it < kIters; ++it)
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}
constexpr double kFlopsAvx512 = 2.0 * 16 * 24;

// VDPBF16PS: per 32-bit lane, two bf16 products added to a float accumulator (4 flops).
__attribute__((target("avx512f,avx512bf16"))) float bf16_loop_avx512(float seed) {
  constexpr int kChains = 24;
  __m512 acc[kChains];
  const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f7f3f7f), y = (__m512bh)_mm512_set1_epi32(0x33d633d6);
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(seed + float(i));
  for (int64_t it = 0; it < kIters; ++it)
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}
constexpr double kFlopsBf16 = 4.0 * 16 * 24;

bool has_bf16_dot() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") != 0;
}
#endif

// Any other target: GCC/Clang generic vectors (4 floats; the compiler picks the instructions).
typedef float V4 __attribute__((vector_size(16)));
float fma_loop_portable(float seed) {
  constexpr int kChains = 12;
  V4 acc[kChains];
  const V4 x = {0.999999f, 0.999999f, 0.999999f, 0.999999f};
  const float c = seed * 1e-7f;
  const V4 y = {c, c, c, c};
  for (int i = 0; i < kChains; ++i) acc[i] = V4{seed, seed, seed, seed} + float(i);
  for (int64_t it = 0; it < kIters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * x + y;
  V4 s = acc[0];
  for (int i = 1; i < kChains; ++i) s += acc[i];
  return s[0] + s[3];
}
constexpr double kFlopsPortable = 2.0 * 4 * 12;

using LoopFn = float (*)(float);

LoopFn pick(PeakKind kind, double& flops, const char*& name) {
  name = nullptr;
#if defined(__x86_64__) || defined(_M_X64)
  const Isa isa = cpu_isa();
  if (kind == PeakKind::BF16) {
    if (isa != Isa::Avx512 || !has_bf16_dot()) return nullptr;
    flops = kFlopsBf16;
    name = "avx512_bf16";
    return &bf16_loop_avx512;
  }
  if (isa == Isa::Avx512) {
    flops = kFlopsAvx512;
    name = "avx512";
    return &fma_loop_avx512;
  }
  if (isa == Isa::Avx2) {
    flops = kFlopsAvx2;
    name = "avx2";
    return &fma_loop_avx2;
  }
#endif
  if (kind == PeakKind::BF16) return nullptr;
  flops = kFlopsPortable;
  name = "portable";
  return &fma_loop_portable;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs body(t) for t < nt on nt threads of the pool at once; returns the wall seconds.
template <class F>
double timed_on_threads(int nt, F&& body) {
  const auto t0 = std::chrono::steady_clock::now();
  if (nt <= 1) body(0);
  else parallel_for(0, nt, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) body(t);
  });
  return seconds_since(t0);
}

int resolve_threads(int threads) { return threads > 0 ? threads : num_threads(); }

}  // namespace

const char* fma_peak_isa(PeakKind kind) {
  double flops = 0;
  const char* name = nullptr;
  pick(kind, flops, name);
  return name;
}

double fma_peak_gflops(PeakKind kind, int threads, int reps) {
  double flops = 0;
  const char* name = nullptr;
  const LoopFn fn = pick(kind, flops, name);
  if (!fn) return -1;
  const int nt = resolve_threads(threads);
  volatile float sink = 0;
  double best = 0;
  for (int r = 0; r < std::max(reps, 1); ++r) {
    const double s = timed_on_threads(nt, [&](int64_t t) { sink = sink + fn(float(t + r + 1)); });
    best = std::max(best, flops * double(kIters) * double(nt) / s * 1e-9);
  }
  return best;
}

double triad_gbs(int64_t n, int threads, int reps) {
  const int nt = resolve_threads(threads);
  const size_t bytes = size_t(n) * sizeof(float);
  // 2 MB-aligned and backed by transparent huge pages, as ember's allocator asks for big
  // blocks: with 4 KB pages the triad would also measure TLB misses (costly in a VM)
  constexpr std::align_val_t kHuge{size_t(2) << 20};
  float* a = static_cast<float*>(::operator new(bytes, kHuge));
  float* b = static_cast<float*>(::operator new(bytes, kHuge));
  float* c = static_cast<float*>(::operator new(bytes, kHuge));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  for (float* p : {a, b, c}) madvise(p, (bytes >> 21) << 21, MADV_HUGEPAGE);
#endif
  const int64_t chunk = (n + nt - 1) / nt;
  auto range = [&](int64_t t, auto&& f) {
    const int64_t lo = std::min(n, t * chunk), hi = std::min(n, lo + chunk);
    f(lo, hi);
  };
  // first touch by the thread that later streams each part (NUMA placement, as STREAM does)
  timed_on_threads(nt, [&](int64_t t) {
    range(t, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        a[i] = 0.f;
        b[i] = 1.f;
        c[i] = 2.f;
      }
    });
  });
  const float s = 3.f;
  double best = 0;
  for (int r = 0; r < std::max(reps, 1); ++r) {
    const double sec = timed_on_threads(nt, [&](int64_t t) {
      range(t, [&](int64_t lo, int64_t hi) {
        float* __restrict pa = a;
        const float* __restrict pb = b;
        const float* __restrict pc = c;
        for (int64_t i = lo; i < hi; ++i) pa[i] = pb[i] + s * pc[i];
      });
    });
    best = std::max(best, 12.0 * double(n) / sec * 1e-9);
  }
  volatile float sink = a[n / 2];
  (void)sink;
  ::operator delete(a, kHuge);
  ::operator delete(b, kHuge);
  ::operator delete(c, kHuge);
  return best;
}

}  // namespace ember::cpu
