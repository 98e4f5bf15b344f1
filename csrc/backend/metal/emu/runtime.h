#pragma once
// The host half of the MSL-on-CPU emulator: kernel registry, a Metal-like encoder (set_buffer /
// set_bytes / function constants / dispatch_threadgroups) and a scheduler that runs the threads of
// ONE threadgroup as cooperative ucontext fibers on one OS thread, so threadgroup_barrier and the
// SIMD-group functions are real rendezvous points. Threadgroups run on a small pool of OS threads.
// Defines no MSL macros: host code may include it. A test oracle for small shapes, never a fast path.
#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <source_location>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace ember::emu {

using u32 = uint32_t;
struct dim3 {
  u32 x = 1, y = 1, z = 1;
};
constexpr u32 kSimdWidth = 32;                   // Apple GPU SIMD-group width
constexpr size_t kMaxThreadgroupMemory = 32768;  // bytes per threadgroup (pipeline creation fails above)
constexpr u32 kMaxThreadsPerThreadgroup = 1024;

// Race exposure comes from running the same dispatch under several fiber orders and threadgroup
// memory poisons: a race-free kernel gives bit-identical output under all of them. RunAhead runs
// one SIMD-group (in a seeded order) until all its lanes block at a barrier or exit before the next
// starts, so a SIMD-group that finishes its reads early overwrites threadgroup memory another one
// has yet to read: a missing write-after-read barrier shows, which the round-robin orders (each
// SIMD-group advancing one SIMD-group function per pass, in lockstep) hide.
enum class Schedule { Forward, Reverse, Random, RunAhead };
struct Options {
  Schedule schedule = Schedule::Forward;  // order in which ready fibers (and threadgroups) run
  uint64_t seed = 1;                      // for Schedule::Random and RunAhead
  unsigned workers = 0;                   // OS threads for threadgroups (0 = all cores)
  unsigned char poison = 0xFF;            // fresh threadgroup memory (0xFF: NaN, 0x7F: ~3e38)
#if defined(__SANITIZE_ADDRESS__)
  size_t stack_bytes = 256 * 1024;  // ASan redzones make stack frames several times larger
#else
  size_t stack_bytes = 64 * 1024;  // per fiber; a guard page sits below it
#endif
};
struct Result {
  bool ok = true;
  std::string error;
  uint64_t barriers = 0, simd_ops = 0, divergent_simd_ops = 0, switches = 0;
};

enum class Builtin {
  bi_thread_position_in_grid, bi_thread_position_in_threadgroup, bi_threadgroup_position_in_grid,
  bi_threads_per_threadgroup, bi_threadgroups_per_grid, bi_threads_per_grid, bi_thread_index_in_threadgroup,
  bi_thread_index_in_simdgroup, bi_simdgroup_index_in_threadgroup, bi_threads_per_simdgroup,
  bi_simdgroups_per_threadgroup, bi_thread_execution_width
};

// Kernels register by host name from static initializers in the compiled .metal files.
using KernelFn = void (*)();
inline std::map<std::string, KernelFn>& registry() {
  static std::map<std::string, KernelFn> m;
  return m;
}
struct Registrar {
  Registrar(const char* name, KernelFn f) { registry()[name] = f; }
};

enum class FState { Ready, AtBarrier, AtSimd, Done };
struct Site {  // a barrier or SIMD-group call site: lanes must meet at the same one
  const char* file = nullptr;
  u32 line = 0;
  bool operator==(const Site& o) const { return line == o.line && std::strcmp(file, o.file) == 0; }
};

struct Fiber {
  ucontext_t ctx;
  void* stack = nullptr;
  FState state = FState::Ready;
  dim3 lid;
  u32 linear = 0;
  Site site;                  // where it is blocked
  void* asan_fake = nullptr;  // ASan's fake stack of this fiber while it is switched out
};

// Rendezvous state of one SIMD-group; two banks so a lane can enter op k+1 while others still read op k.
struct SimdGroup {
  u32 arrived = 0, arrived_mask = 0, gen = 0, mask[2] = {0, 0};
  Site site;
  alignas(16) unsigned char slots[2][kSimdWidth][32];
};

struct Encoder;
struct GroupCtx {  // one per worker OS thread, reused for every threadgroup that worker runs
  const Encoder* enc = nullptr;
  const Options* opt = nullptr;
  dim3 tg_id;
  u32 nthreads = 0;
  std::vector<Fiber> fibers;
  std::vector<SimdGroup> sgs;
  ucontext_t sched{};  // zeroed: ASan's swapcontext reads uc_stack of the context it enters
  const void* sched_stack = nullptr;  // the scheduler's stack, for ASan's fiber-switch annotations
  size_t sched_stack_bytes = 0;
  void* sched_fake = nullptr;
  Fiber* cur = nullptr;
  std::vector<const void*> tg_seen;  // threadgroup arrays already poisoned in this group
  size_t tg_bytes = 0;
  std::string error;
  Result stats;
};
inline thread_local GroupCtx* t_group = nullptr;

// ASan tracks one stack per thread: every switch between the scheduler and a fiber stack is
// announced (start) and confirmed (finish), or it reports false stack errors on fiber stacks.
inline void asan_start_switch([[maybe_unused]] void** fake, [[maybe_unused]] const void* bottom,
                              [[maybe_unused]] size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(fake, bottom, size);
#endif
}
inline void asan_finish_switch([[maybe_unused]] void* fake, [[maybe_unused]] const void** bottom,
                               [[maybe_unused]] size_t* size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(fake, bottom, size);
#endif
}

[[noreturn]] inline void fail(const std::string& msg) {
  GroupCtx* g = t_group;
  if (!g || !g->cur) throw std::runtime_error(msg);
  g->error = msg;
  g->cur->state = FState::Done;
  asan_start_switch(nullptr, g->sched_stack, g->sched_stack_bytes);  // drops this fiber's stack
  setcontext(&g->sched);  // abandon this fiber; the scheduler reports the error
  __builtin_unreachable();
}

inline void block(FState s, Site site) {
  GroupCtx& g = *t_group;
  g.cur->state = s;
  g.cur->site = site;
  g.stats.switches++;
  Fiber* self = g.cur;
  asan_start_switch(&self->asan_fake, g.sched_stack, g.sched_stack_bytes);
  swapcontext(&self->ctx, &g.sched);
  asan_finish_switch(self->asan_fake, &g.sched_stack, &g.sched_stack_bytes);
}

// threadgroup barrier: the fiber parks; the scheduler releases everybody at once
inline void barrier(std::source_location loc) {
  block(FState::AtBarrier, Site{loc.file_name(), loc.line()});
}

// SIMD-group rendezvous: every active lane deposits a value, then reads all lanes' values.
inline u32 active_lanes(const GroupCtx& g, u32 sg) {
  u32 n = 0, end = std::min<u32>((sg + 1) * kSimdWidth, g.nthreads);
  for (u32 i = sg * kSimdWidth; i < end; ++i) n += g.fibers[i].state != FState::Done;
  return n;
}
inline void complete_simd(GroupCtx& g, u32 sg_index, bool divergent) {
  SimdGroup& s = g.sgs[sg_index];
  s.mask[s.gen & 1] = s.arrived_mask;
  s.gen++;
  s.arrived = 0;
  s.arrived_mask = 0;
  g.stats.simd_ops++;
  if (divergent) g.stats.divergent_simd_ops++;
  u32 end = std::min<u32>((sg_index + 1) * kSimdWidth, g.nthreads);
  for (u32 i = sg_index * kSimdWidth; i < end; ++i)
    if (g.fibers[i].state == FState::AtSimd) g.fibers[i].state = FState::Ready;
}
template <class T>
struct SimdView {
  const unsigned char (*bank)[32];
  u32 mask, lane;
  bool active(u32 j) const { return j < kSimdWidth && ((mask >> j) & 1u); }
  T get(u32 j) const {
    T v;
    std::memcpy(&v, bank[j], sizeof(T));
    return v;
  }
  T undefined() const {  // reading an inactive lane is undefined in MSL: poison bytes
    T v;
    std::memset(&v, t_group->opt->poison, sizeof(T));
    return v;
  }
};
template <class T>
SimdView<T> simd_exchange(const T& v, std::source_location loc) {
  static_assert(sizeof(T) <= 32 && std::is_trivially_copyable_v<T>, "unsupported SIMD-group operand");
  GroupCtx& g = *t_group;
  Fiber& f = *g.cur;
  u32 sg = f.linear / kSimdWidth, lane = f.linear % kSimdWidth;
  SimdGroup& s = g.sgs[sg];
  Site site{loc.file_name(), loc.line()};
  if (s.arrived == 0) s.site = site;
  else if (!(s.site == site))
    fail("SIMD-group lanes are in different SIMD-group functions at the same time (" +
         std::string(s.site.file) + ":" + std::to_string(s.site.line) + " vs line " +
         std::to_string(site.line) + ")");
  u32 bank = s.gen & 1;
  std::memcpy(s.slots[bank][lane], &v, sizeof(T));
  s.arrived++;
  s.arrived_mask |= 1u << lane;
  if (s.arrived == active_lanes(g, sg)) complete_simd(g, sg, false);
  else block(FState::AtSimd, site);
  return SimdView<T>{s.slots[bank], s.mask[bank], lane};
}

// Threadgroup memory declared in a kernel body: shared per group, poisoned when a group first
// reaches the declaration, and counted against the 32 KiB limit.
inline void tg_touch(void* p, size_t n) {
  GroupCtx& g = *t_group;
  if (std::find(g.tg_seen.begin(), g.tg_seen.end(), p) != g.tg_seen.end()) return;
  g.tg_seen.push_back(p);
  g.tg_bytes += (n + 15) & ~size_t(15);
  if (g.tg_bytes > kMaxThreadgroupMemory)
    fail("threadgroup memory " + std::to_string(g.tg_bytes) + " bytes exceeds the 32 KiB limit");
  std::memset(p, g.opt->poison, n);
}

// Mirrors MTLComputeCommandEncoder plus a pipeline's function constants.
struct Encoder {
  KernelFn fn = nullptr;
  std::string name;
  std::map<u32, void*> buffers;
  std::map<u32, std::vector<unsigned char>> bytes, fconsts;
  dim3 groups, tg;

  explicit Encoder(const std::string& kernel_name) : name(kernel_name) {
    auto it = registry().find(kernel_name);
    if (it == registry().end()) throw std::runtime_error("no Metal kernel named " + kernel_name);
    fn = it->second;
  }
  void set_buffer(u32 i, void* p) {
    buffers[i] = p;
    bytes.erase(i);
  }
  void set_bytes(u32 i, const void* p, size_t n) {
    auto& b = bytes[i];
    b.assign(static_cast<const unsigned char*>(p), static_cast<const unsigned char*>(p) + n);
    b.resize(std::max<size_t>(n, 16));
    buffers.erase(i);
  }
  void set_constant_bytes(u32 i, const void* p, size_t n) {
    fconsts[i].assign(static_cast<const unsigned char*>(p), static_cast<const unsigned char*>(p) + n);
  }
  template <class T>
  void set_constant(u32 i, T v) {
    set_constant_bytes(i, &v, sizeof v);
  }
  void* arg(u32 i) const {
    if (auto it = buffers.find(i); it != buffers.end()) return it->second;
    if (auto it = bytes.find(i); it != bytes.end()) return const_cast<unsigned char*>(it->second.data());
    fail("kernel " + name + " reads [[buffer(" + std::to_string(i) + ")]] but nothing is bound there");
  }
  Result dispatch_threadgroups(dim3 grid, dim3 threads, const Options& opt = {});
};

inline void fiber_entry() {
  asan_finish_switch(nullptr, &t_group->sched_stack, &t_group->sched_stack_bytes);
  t_group->enc->fn();  // builtins and buffers reach the kernel through its default arguments
  t_group->cur->state = FState::Done;
  asan_start_switch(nullptr, t_group->sched_stack, t_group->sched_stack_bytes);
}  // returning resumes uc_link == the scheduler

inline void run_group(GroupCtx& g, dim3 tg_id, uint64_t group_linear) {
  const Encoder& e = *g.enc;
  g.tg_id = tg_id;
  g.tg_seen.clear();
  g.tg_bytes = 0;
  for (auto& s : g.sgs) s = SimdGroup{};
  for (u32 i = 0; i < g.nthreads; ++i) {
    Fiber& f = g.fibers[i];
    f.state = FState::Ready;
    f.linear = i;
    f.lid = {i % e.tg.x, (i / e.tg.x) % e.tg.y, i / (e.tg.x * e.tg.y)};
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = g.opt->stack_bytes;
    f.ctx.uc_link = &g.sched;
    makecontext(&f.ctx, fiber_entry, 0);
  }
  std::vector<u32> order(g.nthreads);
  std::iota(order.begin(), order.end(), 0u);
  if (g.opt->schedule == Schedule::Reverse) std::reverse(order.begin(), order.end());
  std::mt19937_64 rng(g.opt->seed * 0x9E3779B97F4A7C15ull + group_linear);
  // RunAhead: SIMD-groups in a seeded order, each run to its next barrier (lanes forward)
  std::vector<u32> sg_order(g.sgs.size());
  std::iota(sg_order.begin(), sg_order.end(), 0u);
  const bool run_ahead = g.opt->schedule == Schedule::RunAhead;
  auto step = [&](u32 i) {  // resume fiber i if it can run; false on a kernel error
    Fiber& f = g.fibers[i];
    if (f.state != FState::Ready) return true;
    g.cur = &f;
    g.stats.switches++;
    asan_start_switch(&g.sched_fake, f.stack, g.opt->stack_bytes);
    swapcontext(&g.sched, &f.ctx);
    asan_finish_switch(g.sched_fake, nullptr, nullptr);
    g.cur = nullptr;
    if (!g.error.empty()) return false;
    if (f.state == FState::Done) {  // an exited lane no longer counts for pending SIMD-group ops
      u32 sg = i / kSimdWidth;
      if (g.sgs[sg].arrived && g.sgs[sg].arrived == active_lanes(g, sg)) complete_simd(g, sg, false);
    }
    return true;
  };
  for (;;) {
    if (run_ahead) {
      std::shuffle(sg_order.begin(), sg_order.end(), rng);
      for (u32 sg : sg_order) {
        u32 end = std::min<u32>((sg + 1) * kSimdWidth, g.nthreads);
        for (bool ran = true; ran;) {  // until no lane of this SIMD-group can run
          ran = false;
          for (u32 i = sg * kSimdWidth; i < end; ++i) {
            ran |= g.fibers[i].state == FState::Ready;
            if (!step(i)) return;
          }
        }
      }
    } else {
      if (g.opt->schedule == Schedule::Random) std::shuffle(order.begin(), order.end(), rng);
      for (u32 i : order)
        if (!step(i)) return;
    }
    u32 ready = 0, at_barrier = 0, done = 0;
    for (auto& f : g.fibers) {
      ready += f.state == FState::Ready;
      at_barrier += f.state == FState::AtBarrier;
      done += f.state == FState::Done;
    }
    if (done == g.nthreads) return;
    if (ready) continue;
    // Nobody can run. Lanes stuck in a SIMD-group function while their siblings sit at a barrier
    // took a different branch: on the GPU those siblings are inactive, so the op completes.
    bool resolved = false;
    for (u32 sg = 0; sg < g.sgs.size(); ++sg)
      if (g.sgs[sg].arrived) {
        complete_simd(g, sg, true);
        resolved = true;
      }
    if (resolved) continue;
    // all live threads wait at a barrier (exited threads don't block, as on Apple silicon)
    if (at_barrier + done == g.nthreads) {
      const Fiber* first = nullptr;
      for (auto& f : g.fibers) {
        if (f.state != FState::AtBarrier) continue;
        if (!first) first = &f;
        else if (!(f.site == first->site)) {
          g.error = "divergent threadgroup_barrier: thread " + std::to_string(first->linear) +
                    " waits at line " + std::to_string(first->site.line) + ", thread " +
                    std::to_string(f.linear) + " at line " + std::to_string(f.site.line);
          return;
        }
      }
      for (auto& f : g.fibers)
        if (f.state == FState::AtBarrier) f.state = FState::Ready;
      g.stats.barriers++;
      continue;
    }
    g.error = "deadlock: no thread of the threadgroup can make progress";
    return;
  }
}

inline Result Encoder::dispatch_threadgroups(dim3 grid, dim3 threads, const Options& opt) {
  groups = grid;
  tg = threads;
  Result res;
  u32 nthreads = threads.x * threads.y * threads.z;
  uint64_t ngroups = uint64_t(grid.x) * grid.y * grid.z;
  if (nthreads == 0 || nthreads > kMaxThreadsPerThreadgroup || ngroups == 0)
    return Result{false, "invalid dispatch of " + name +
                             ": threads per threadgroup must be 1..1024 and the grid non-empty"};
  std::vector<uint64_t> order(ngroups);
  std::iota(order.begin(), order.end(), uint64_t(0));
  if (opt.schedule == Schedule::Reverse) std::reverse(order.begin(), order.end());
  if (opt.schedule == Schedule::Random || opt.schedule == Schedule::RunAhead)
    std::shuffle(order.begin(), order.end(), std::mt19937_64(opt.seed));
  unsigned nworkers = opt.workers ? opt.workers : std::max(1u, std::thread::hardware_concurrency());
  nworkers = unsigned(std::min<uint64_t>(nworkers, ngroups));
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  auto worker = [&] {
    GroupCtx g;
    g.enc = this;
    g.opt = &opt;
    g.nthreads = nthreads;
    g.fibers.resize(nthreads);
    g.sgs.resize((nthreads + kSimdWidth - 1) / kSimdWidth);
    const size_t page = 4096, slot = opt.stack_bytes + page;
    char* region = static_cast<char*>(mmap(nullptr, slot * nthreads, PROT_READ | PROT_WRITE,
                                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (region == MAP_FAILED) {
      std::lock_guard<std::mutex> lk(mu);
      if (!failed.exchange(true)) res.error = "cannot map fiber stacks";
      return;
    }
    for (u32 i = 0; i < nthreads; ++i) {
      mprotect(region + i * slot, page, PROT_NONE);  // guard page: a fiber stack overflow faults
      g.fibers[i].stack = region + i * slot + page;
    }
    t_group = &g;
    for (uint64_t k; !failed && (k = next++) < ngroups;) {
      uint64_t l = order[k];
      run_group(g, dim3{u32(l % grid.x), u32((l / grid.x) % grid.y), u32(l / (uint64_t(grid.x) * grid.y))}, l);
      if (!g.error.empty()) {
        std::lock_guard<std::mutex> lk(mu);
        if (!failed.exchange(true)) res.error = name + ": threadgroup " + std::to_string(l) + ": " + g.error;
      }
    }
    t_group = nullptr;
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(region, slot * nthreads);  // abandoned fibers' frames stay poisoned
#endif
    munmap(region, slot * nthreads);
    std::lock_guard<std::mutex> lk(mu);
    res.barriers += g.stats.barriers;
    res.simd_ops += g.stats.simd_ops;
    res.divergent_simd_ops += g.stats.divergent_simd_ops;
    res.switches += g.stats.switches;
  };
  if (nworkers == 1) {
    worker();  // no thread start-up for a one-group dispatch
  } else {
    std::vector<std::thread> pool;
    for (unsigned w = 0; w < nworkers; ++w) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  res.ok = !failed;
  return res;
}

// ---- what the kernel-side attribute macros expand to (see dialect.h)
inline constexpr int kZero[1] = {0};
// a [[buffer(n)]] parameter: converts to the parameter's pointer or reference type
struct ArgProxy {
  u32 index;
  ArgProxy operator[](int) const { return *this; }
  template <class T>
  operator T*() const { return static_cast<T*>(t_group->enc->arg(index)); }
  template <class T>
  operator T&() const { return *static_cast<T*>(t_group->enc->arg(index)); }
};
inline ArgProxy bind_arg(u32 i) { return ArgProxy{i}; }

// a [[function_constant(Index)]] program-scope constant: read per dispatch from the pipeline
template <class T, u32 Index>
struct FunctionConstant {
  operator T() const {
    const auto& fc = t_group->enc->fconsts;
    auto it = fc.find(Index);
    if (it == fc.end() || it->second.size() != sizeof(T))
      fail("function constant " + std::to_string(Index) + " not set (or wrong size) for this pipeline");
    T v;
    std::memcpy(&v, it->second.data(), sizeof(T));
    return v;
  }
};

inline dim3 builtin_value(Builtin b) {
  const GroupCtx& g = *t_group;
  const Encoder& e = *g.enc;
  const Fiber& f = *g.cur;
  switch (b) {
    case Builtin::bi_thread_position_in_grid:
      return {g.tg_id.x * e.tg.x + f.lid.x, g.tg_id.y * e.tg.y + f.lid.y, g.tg_id.z * e.tg.z + f.lid.z};
    case Builtin::bi_thread_position_in_threadgroup: return f.lid;
    case Builtin::bi_threadgroup_position_in_grid: return g.tg_id;
    case Builtin::bi_threads_per_threadgroup: return e.tg;
    case Builtin::bi_threadgroups_per_grid: return e.groups;
    case Builtin::bi_threads_per_grid:
      return {e.groups.x * e.tg.x, e.groups.y * e.tg.y, e.groups.z * e.tg.z};
    case Builtin::bi_thread_index_in_threadgroup: return {f.linear, 0, 0};
    case Builtin::bi_thread_index_in_simdgroup: return {f.linear % kSimdWidth, 0, 0};
    case Builtin::bi_simdgroup_index_in_threadgroup: return {f.linear / kSimdWidth, 0, 0};
    case Builtin::bi_simdgroups_per_threadgroup: return {(g.nthreads + kSimdWidth - 1) / kSimdWidth, 0, 0};
    case Builtin::bi_threads_per_simdgroup:
    case Builtin::bi_thread_execution_width: return {kSimdWidth, 0, 0};
  }
  return {};
}

}  // namespace ember::emu
