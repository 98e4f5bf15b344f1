#include "backend/cpu/isa.h"

#include <cstdlib>
#include <cstring>

namespace ember::cpu {
namespace {

Isa detect() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
  return Isa::Scalar;
#elif defined(__aarch64__)
  return Isa::Neon;
#else
  return Isa::Scalar;
#endif
}

Isa choose() {
  Isa hw = detect();
  const char* want = std::getenv("EMBER_CPU_ISA");
  if (!want) return hw;
  Isa w = hw;
  if (!std::strcmp(want, "scalar") || !std::strcmp(want, "portable")) w = Isa::Scalar;
  else if (!std::strcmp(want, "avx2")) w = Isa::Avx2;
  else if (!std::strcmp(want, "avx512")) w = Isa::Avx512;
  else if (!std::strcmp(want, "neon")) w = Isa::Neon;
  // never pick more than the hardware has
  if (hw == Isa::Neon) return w == Isa::Neon ? w : Isa::Scalar;
  if (w == Isa::Neon) return Isa::Scalar;
  return int(w) <= int(hw) ? w : hw;
}

}  // namespace

Isa cpu_isa() {
  static const Isa isa = choose();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
    default: return "scalar";
  }
}

}  // namespace ember::cpu
