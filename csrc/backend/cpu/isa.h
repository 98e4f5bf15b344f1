#pragma once
// The instruction set the hot kernels use, picked once from cpuid (EMBER_CPU_ISA=scalar|avx2|avx512
// may lower it, e.g. to test the portable path).
namespace ember::cpu {

enum class Isa { Scalar, Avx2, Avx512, Neon };
Isa cpu_isa();
const char* isa_name(Isa isa);

}  // namespace ember::cpu

// One ISA dispatch idiom for every kernel family: cmake/isa.cmake compiles the family's
// <family>_impl.h once per ISA into namespace ember::cpu::base (and ::avx2, ::avx512 on
// x86-64). Inside namespace ember::cpu, the family's .cpp declares its entry points in every
// build with EMBER_ISA_DECLARE(declarations;) and takes the build for an ISA with
// EMBER_ISA_SELECT(isa, name), or for this CPU with EMBER_ISA_PICK(name), once at start-up (a
// kernel registration or a function-local static), never per call.
#if defined(__x86_64__) || defined(_M_X64)
#define EMBER_ISA_DECLARE(...)   \
  namespace base {               \
  __VA_ARGS__                    \
  }                              \
  namespace avx2 {               \
  __VA_ARGS__                    \
  }                              \
  namespace avx512 {             \
  __VA_ARGS__                    \
  }
#define EMBER_ISA_SELECT(isa, name)                   \
  ((isa) == ::ember::cpu::Isa::Avx512 ? &avx512::name \
   : (isa) == ::ember::cpu::Isa::Avx2 ? &avx2::name   \
                                      : &base::name)
#else
#define EMBER_ISA_DECLARE(...) \
  namespace base {             \
  __VA_ARGS__                  \
  }
#define EMBER_ISA_SELECT(isa, name) (&base::name)
#endif
#define EMBER_ISA_PICK(name) EMBER_ISA_SELECT(::ember::cpu::cpu_isa(), name)
