// atomic.h -- MSL atomics for the emulator: atomic_int / atomic_uint / atomic_float over device or
// threadgroup memory, with the atomic_*_explicit functions. Each object has the size and layout of
// its value type (host code binds plain int/uint/float buffers). Threadgroups run concurrently on
// several OS threads, so every operation is a real std::atomic_ref operation; MSL's only portable
// order is memory_order_relaxed, which is what they use. Included by msl_emu_dialect.h.
#pragma once
#include <atomic>
#include <type_traits>

namespace metal {
enum memory_order {
  memory_order_relaxed,
  memory_order_acquire,
  memory_order_release,
  memory_order_acq_rel,
  memory_order_seq_cst
};

template <class T>
struct atomic {
  static_assert(std::is_same_v<T, int> || std::is_same_v<T, unsigned> || std::is_same_v<T, float>,
                "MSL atomics are int, uint or float");
  T value;
  std::atomic_ref<T> ref() const { return std::atomic_ref<T>(const_cast<T&>(value)); }
};
using atomic_int = atomic<int>;
using atomic_uint = atomic<unsigned>;
using atomic_float = atomic<float>;
static_assert(sizeof(atomic_float) == 4 && alignof(atomic_uint) == 4);

template <class T>
using atomic_arg = std::type_identity_t<T>;  // the operand converts to the object's type
constexpr auto kEmuOrder = std::memory_order_relaxed;

template <class T>
T atomic_load_explicit(const atomic<T>* o, memory_order) {
  return o->ref().load(kEmuOrder);
}
template <class T>
void atomic_store_explicit(atomic<T>* o, atomic_arg<T> v, memory_order) {
  o->ref().store(v, kEmuOrder);
}
template <class T>
T atomic_exchange_explicit(atomic<T>* o, atomic_arg<T> v, memory_order) {
  return o->ref().exchange(v, kEmuOrder);
}
template <class T>
T atomic_fetch_add_explicit(atomic<T>* o, atomic_arg<T> v, memory_order) {
  return o->ref().fetch_add(v, kEmuOrder);
}
template <class T>
T atomic_fetch_sub_explicit(atomic<T>* o, atomic_arg<T> v, memory_order) {
  return o->ref().fetch_sub(v, kEmuOrder);
}
template <class T>
bool atomic_compare_exchange_weak_explicit(atomic<T>* o, T* expected, atomic_arg<T> desired,
                                           memory_order, memory_order) {
  return o->ref().compare_exchange_weak(*expected, desired, kEmuOrder, kEmuOrder);
}
// integer-only read-modify-write operations (as in MSL)
template <class T, class = std::enable_if_t<std::is_integral_v<T>>>
T atomic_fetch_max_explicit(atomic<T>* o, atomic_arg<T> v, memory_order) {
  T cur = o->ref().load(kEmuOrder);
  while (cur < v && !o->ref().compare_exchange_weak(cur, v, kEmuOrder, kEmuOrder)) {
  }
  return cur;
}
template <class T, class = std::enable_if_t<std::is_integral_v<T>>>
T atomic_fetch_min_explicit(atomic<T>* o, atomic_arg<T> v, memory_order) {
  T cur = o->ref().load(kEmuOrder);
  while (v < cur && !o->ref().compare_exchange_weak(cur, v, kEmuOrder, kEmuOrder)) {
  }
  return cur;
}
template <class T, class = std::enable_if_t<std::is_integral_v<T>>>
T atomic_fetch_and_explicit(atomic<T>* o, atomic_arg<T> v, memory_order) {
  return o->ref().fetch_and(v, kEmuOrder);
}
template <class T, class = std::enable_if_t<std::is_integral_v<T>>>
T atomic_fetch_or_explicit(atomic<T>* o, atomic_arg<T> v, memory_order) {
  return o->ref().fetch_or(v, kEmuOrder);
}
template <class T, class = std::enable_if_t<std::is_integral_v<T>>>
T atomic_fetch_xor_explicit(atomic<T>* o, atomic_arg<T> v, memory_order) {
  return o->ref().fetch_xor(v, kEmuOrder);
}
}  // namespace metal
