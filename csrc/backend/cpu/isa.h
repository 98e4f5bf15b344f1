#pragma once
// The instruction set the hot kernels use, picked once from cpuid (EMBER_CPU_ISA=scalar|avx2|avx512
// may lower it, e.g. to test the portable path).
namespace ember::cpu {

enum class Isa { Scalar, Avx2, Avx512, Neon };
Isa cpu_isa();
const char* isa_name(Isa isa);

}  // namespace ember::cpu
