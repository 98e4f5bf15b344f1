// The Metal runtime over the MSL-on-CPU emulator (Linux tests). Like a GPU queue, dispatches are
// only recorded when encoded and run when the command buffer is committed (every kBatch dispatches
// or at synchronize()), so a host read that forgets to synchronize sees stale data here as on a Mac.
// Memory is host memory (unified, as on Apple silicon); a buffer freed while commands that may use
// it are queued is released after they ran, as Metal retains the buffers a command buffer uses.
#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "backend/metal/emu/runtime.h"
#include "backend/metal/runtime.h"
#include "core/device.h"
#include "core/error.h"

namespace ember::metal {
namespace {

constexpr size_t kBatch = 64;  // dispatches per command buffer
constexpr size_t kAlign = 256;

struct Queue {
  std::recursive_mutex mu;
  std::vector<Command> pending;
  std::vector<void*> deferred_free;
  std::set<std::string> executed;
  std::map<void*, size_t> sizes;  // live allocations, for the memory ceiling
  emu::Options options;
  int64_t allocated = 0;
};
Queue& queue() {
  static auto* q = new Queue();  // leaked: tensors may be freed during static destruction
  return *q;
}

// The emulator checks the 32 KiB / 1024-thread limits like pipeline creation on a GPU; keep a
// device-memory ceiling too so "out of memory" is testable (EMBER_METAL_EMULATOR_MEMORY bytes).
int64_t memory_limit() {
  static int64_t lim = [] {
    const char* s = std::getenv("EMBER_METAL_EMULATOR_MEMORY");
    return s ? std::atoll(s) : int64_t(8) << 30;
  }();
  return lim;
}

void run(const Command& c) {
  emu::Encoder enc(c.kernel);
  for (const Constant& k : c.constants) {
    if (k.type == Constant::Type::Bool) enc.set_constant<bool>(k.index, k.bits != 0);
    else enc.set_constant_bytes(k.index, &k.bits, 4);
  }
  for (const Binding& b : c.bindings) {
    if (b.ptr) enc.set_buffer(b.index, const_cast<void*>(b.ptr));
    else enc.set_bytes(b.index, b.bytes.data(), b.bytes.size());
  }
  emu::Result r = enc.dispatch_threadgroups({c.grid.x, c.grid.y, c.grid.z},
                                            {c.threads.x, c.threads.y, c.threads.z}, queue().options);
  if (!r.ok) EMBER_RUNTIME_ERROR("metal (emulated): kernel ", c.kernel, " failed: ", r.error);
}

void commit_locked(Queue& q) {
  std::vector<Command> cmds;
  cmds.swap(q.pending);
  std::vector<void*> frees;
  frees.swap(q.deferred_free);
  try {
    for (const Command& c : cmds) run(c);
  } catch (...) {
    for (void* p : frees) std::free(p);
    throw;
  }
  for (void* p : frees) std::free(p);
}

void sync_hook() { synchronize(); }
void* alloc_hook(size_t n) { return allocate(n); }
void free_hook(void* p) { free(p); }
const DeviceRuntime kRuntime{alloc_hook, free_hook, sync_hook};
const bool kRegistered = (register_device_runtime(Device::Metal, &kRuntime), true);

}  // namespace

void enqueue(Command cmd) {
  Queue& q = queue();
  std::lock_guard<std::recursive_mutex> g(q.mu);
  if (!emu::registry().count(cmd.kernel)) EMBER_RUNTIME_ERROR("metal: no kernel named ", cmd.kernel);
  q.executed.insert(cmd.kernel);
  q.pending.push_back(std::move(cmd));
  if (q.pending.size() >= kBatch) commit_locked(q);
}

void synchronize() {
  Queue& q = queue();
  std::lock_guard<std::recursive_mutex> g(q.mu);
  commit_locked(q);
}

void* allocate(size_t nbytes) {
  Queue& q = queue();
  size_t n = (std::max<size_t>(nbytes, 1) + kAlign - 1) / kAlign * kAlign;
  std::lock_guard<std::recursive_mutex> g(q.mu);
  void* p = q.allocated + int64_t(n) <= memory_limit() ? std::aligned_alloc(kAlign, n) : nullptr;
  if (!p)
    EMBER_RUNTIME_ERROR("metal: out of memory allocating ", nbytes, " bytes (", q.allocated,
                        " bytes in use, limit ", memory_limit(), ")");
  q.allocated += int64_t(n);
  q.sizes[p] = n;
  return p;
}

void free(void* p) {
  if (!p) return;
  Queue& q = queue();
  std::lock_guard<std::recursive_mutex> g(q.mu);
  auto it = q.sizes.find(p);
  if (it != q.sizes.end()) {
    q.allocated -= int64_t(it->second);
    q.sizes.erase(it);
  }
  if (q.pending.empty()) std::free(p);
  else q.deferred_free.push_back(p);  // a queued command may still use it
}

bool has_kernel(const std::string& name) { return emu::registry().count(name) > 0; }
uint32_t max_threads_per_threadgroup(const std::string&) { return emu::kMaxThreadsPerThreadgroup; }
const char* runtime_name() { return "emulator"; }

std::set<std::string> executed_kernels() {
  Queue& q = queue();
  std::lock_guard<std::recursive_mutex> g(q.mu);
  return q.executed;
}
void clear_executed_kernels() {
  Queue& q = queue();
  std::lock_guard<std::recursive_mutex> g(q.mu);
  q.executed.clear();
}
std::vector<std::string> registered_kernels() {
  std::vector<std::string> names;
  for (const auto& kv : emu::registry()) names.push_back(kv.first);
  return names;
}

void set_emulator_options(int schedule, uint64_t seed, int poison) {
  Queue& q = queue();
  std::lock_guard<std::recursive_mutex> g(q.mu);
  commit_locked(q);  // queued work runs under the options it was queued with
  static constexpr emu::Schedule kSchedules[] = {emu::Schedule::Forward, emu::Schedule::Reverse,
                                                 emu::Schedule::Random, emu::Schedule::RunAhead};
  q.options.schedule = schedule >= 1 && schedule <= 3 ? kSchedules[schedule] : emu::Schedule::Forward;
  q.options.seed = seed;
  q.options.poison = (unsigned char)poison;
}

}  // namespace ember::metal
