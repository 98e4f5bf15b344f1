#pragma once
// The only include a kernel file needs. Apple's Metal compiler defines __METAL_VERSION__: there the
// kernel is plain MSL. Anywhere else it compiles as C++20 against the CPU emulator
// (csrc/backend/metal/emu/), so Linux tests run the same source.
//
// Conventions the emulator imposes (each breaks the C++ build visibly, never silently):
// - threadgroup arrays in a kernel body, program-scope function constants and host-name
//   instantiation go through the EMBER_ macros below;
// - don't name a parameter after a builtin attribute; no `[[buffer(n), function_constant(x)]]`
//   (bind a dummy buffer instead); no `[[threadgroup(n)]]` arguments; no swizzles (.xy);
// - parameter structs shared with the host live in `<family>_params.h`: plain 32-bit members
//   (uint32_t / int32_t / float spelled `uint` / `int` / `float`), no pointers, no bool, no
//   vectors, so the host and MSL layouts are the same; include them after this header.
#if defined(__METAL_VERSION__)
#include <metal_stdlib>

// a threadgroup array declared in a kernel body
#define EMBER_THREADGROUP(T, name, dims) threadgroup T name dims
// a program-scope function constant, set per pipeline (MTLFunctionConstantValues)
#define EMBER_FUNCTION_CONSTANT(T, name, index) constant T name [[function_constant(index)]]
// publish func<Args...> under a host name
#define EMBER_INSTANTIATE(host_name_str, func, ...)                                   \
  template [[host_name(host_name_str)]] [[kernel]] decltype(func<__VA_ARGS__>) func< \
      __VA_ARGS__>;
// a non-template kernel is found by its function name: nothing to do
#define EMBER_EXPORT(func)

#else
#include "backend/metal/emu/dialect.h"

#define EMBER_CAT2(a, b) a##b
#define EMBER_CAT(a, b) EMBER_CAT2(a, b)
// one copy per OS thread == per running threadgroup; poisoned when a group first reaches it
#define EMBER_THREADGROUP(T, name, dims) \
  static thread_local T name dims;       \
  ::ember::emu::tg_touch(&name, sizeof(name))
#define EMBER_FUNCTION_CONSTANT(T, name, index) \
  static const ::ember::emu::FunctionConstant<T, index> name {}
#define EMBER_INSTANTIATE(host_name_str, func, ...)                     \
  static ::ember::emu::Registrar EMBER_CAT(ember_reg_, __COUNTER__)( \
      host_name_str, [] { func<__VA_ARGS__>(); });
#define EMBER_EXPORT(func) \
  static ::ember::emu::Registrar EMBER_CAT(ember_reg_, __COUNTER__)(#func, [] { func(); });
#endif

