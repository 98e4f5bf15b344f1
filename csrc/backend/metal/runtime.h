#pragma once
// The Metal runtime interface the per-family launch code (<family>.cpp) talks to. Two
// implementations, one linked: runtime_apple.mm (Metal.framework) and runtime_emulated.cpp (the
// MSL-on-CPU emulator, for Linux tests). Both see unified memory: a buffer is host memory the
// GPU shares, so a kernel argument is just a pointer into an allocation (any offset).
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ember::metal {

struct Dim3 {
  uint32_t x = 1, y = 1, z = 1;
};

// A function constant of a pipeline ([[function_constant(index)]] in MSL).
struct Constant {
  enum class Type : uint8_t { Bool, Int, UInt, Float };
  uint32_t index;
  Type type;
  uint32_t bits;  // the value's bytes (bool: 0 / 1)
  static Constant boolean(uint32_t i, bool v) { return {i, Type::Bool, v ? 1u : 0u}; }
  static Constant uint(uint32_t i, uint32_t v) { return {i, Type::UInt, v}; }
  static Constant integer(uint32_t i, int32_t v) { return {i, Type::Int, uint32_t(v)}; }
  bool operator<(const Constant& o) const { return index < o.index; }
};

// One argument slot of a dispatch: a buffer pointer, or bytes copied at encode time.
struct Binding {
  uint32_t index;
  const void* ptr = nullptr;
  std::vector<unsigned char> bytes;
};

// Everything one dispatch needs; queued into the current command buffer.
struct Command {
  std::string kernel;  // host name, e.g. "binary_add_float32"
  std::vector<Constant> constants;
  std::vector<Binding> bindings;
  Dim3 grid, threads;  // threadgroups per grid, threads per threadgroup
};

// Encodes one dispatch. Usage:
//   Dispatch("unary_relu_float32").buffer(0, x.raw_data()).buffer(1, out.raw_data())
//       .value(2, params).threadgroups({groups}, {256});
class Dispatch {
 public:
  explicit Dispatch(std::string kernel, std::vector<Constant> constants = {}) {
    cmd_.kernel = std::move(kernel);
    cmd_.constants = std::move(constants);
  }
  Dispatch& buffer(uint32_t index, const void* p) {
    cmd_.bindings.push_back({index, p, {}});
    return *this;
  }
  Dispatch& bytes(uint32_t index, const void* p, size_t n) {
    auto* b = static_cast<const unsigned char*>(p);
    cmd_.bindings.push_back({index, nullptr, std::vector<unsigned char>(b, b + n)});
    return *this;
  }
  template <class T>
  Dispatch& value(uint32_t index, const T& v) {
    return bytes(index, &v, sizeof v);
  }
  void threadgroups(Dim3 grid, Dim3 threads);  // queues the dispatch (commit happens in batches)

 private:
  Command cmd_;
};

// Implemented by the linked runtime.
void enqueue(Command cmd);
void synchronize();  // commits the current command buffer and waits for every queued one
void* allocate(size_t nbytes);  // a shared (unified-memory) buffer; ember::Error when out of memory
void free(void* p);  // may be called with commands in flight: released once they completed
bool has_kernel(const std::string& name);
uint32_t max_threads_per_threadgroup(const std::string& name);
const char* runtime_name();  // "Metal (<GPU name>)" or "emulator"

inline void Dispatch::threadgroups(Dim3 grid, Dim3 threads) {
  if (uint64_t(grid.x) * grid.y * grid.z == 0) return;  // nothing to do
  cmd_.grid = grid;
  cmd_.threads = threads;
  enqueue(std::move(cmd_));
}

// Host names of every kernel that ran since start-up (tests check that each registered one did).
std::set<std::string> executed_kernels();
void clear_executed_kernels();  // (scripts/metal_coverage.py: kernels per op)
std::vector<std::string> registered_kernels();

// The emulator's race exposure (no-ops on a GPU): fiber schedule 0 forward, 1 reverse, 2 random
// (seeded), 3 run-ahead (one SIMD-group at a time to its next barrier, seeded order), and the
// byte that fresh threadgroup memory is filled with.
void set_emulator_options(int schedule, uint64_t seed, int poison);

}  // namespace ember::metal
