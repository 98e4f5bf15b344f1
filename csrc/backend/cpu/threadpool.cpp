#include "backend/cpu/threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#ifdef __linux__
#include <sched.h>
#endif

namespace ember::cpu {
namespace {

thread_local bool t_in_parallel = false;

// Waiting for a job, or for a job's chunks to finish, spins for a while before blocking: a
// condition-variable wake-up costs tens of microseconds (hundreds on a loaded machine), which
// back-to-back parallel ops (or a 256x256 GEMM) would pay on every call; after kSpinFor without
// work a worker sleeps. For the first kBusyFor the spin keeps the CPU: under load, sched_yield
// puts a thread behind every other runnable one for a whole time slice (milliseconds), so a
// worker that yielded at once missed every short GEMM and the caller did all the work alone.
// Past kBusyFor, or throughout when the pool has more threads than CPUs, each round yields, so
// a waiting thread does not hold a CPU that other work needs.
constexpr auto kSpinFor = std::chrono::microseconds(300);
constexpr auto kBusyFor = std::chrono::microseconds(100);
constexpr int kPauseSpins = 64;  // spins between clock reads

int cpu_count() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

std::atomic<bool> g_oversubscribed{false};  // set when the pool has more threads than CPUs

int current_cpu() {
#ifdef __linux__
  return sched_getcpu();
#else
  return -1;
#endif
}

// Moves the calling thread to an allowed CPU outside `taken` (n entries, -1 = unknown) and
// leaves it free to run anywhere again. Linux may wake a pool worker on the CPU of the thread
// that woke it and, on a VM whose other CPU is idle, leave both there for many milliseconds:
// the pair then runs at half speed (and the worker's spin takes time from the caller).
void move_off(const int* taken, int n) {
#ifdef __linux__
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &allowed) || std::find(taken, taken + n, c) != taken + n) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(c, &one);
    if (sched_setaffinity(0, sizeof(one), &one) == 0) sched_setaffinity(0, sizeof(allowed), &allowed);
    return;
  }
#else
  (void)taken, (void)n;
#endif
}

inline void cpu_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until pred() holds or kSpinFor passes; true if it holds.
template <class Pred>
bool spin_until(Pred pred) {
  const bool oversubscribed = g_oversubscribed.load(std::memory_order_relaxed);
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < kPauseSpins; ++i) {
      if (pred()) return true;
      cpu_pause();
    }
    const auto waited = std::chrono::steady_clock::now() - start;
    if (waited >= kSpinFor) return pred();
    if (oversubscribed || waited >= kBusyFor) std::this_thread::yield();
  }
}

int default_threads() {
  if (const char* s = std::getenv("EMBER_NUM_THREADS")) {
    int n = std::atoi(s);
    if (n > 0) return n;
  }
  return cpu_count();
}

// One job at a time. Chunks are claimed by the caller and the workers through one atomic ticket
// holding (job generation, chunk count, next chunk): a claim succeeds only while its job is
// still running, so a worker that wakes late never touches a finished job and the caller only
// waits for claimed chunks, never for sleeping or descheduled workers.
struct Pool {
  static constexpr int kChunkBits = 16;  // chunks per job < 65536
  static constexpr uint64_t kChunkMask = (uint64_t(1) << kChunkBits) - 1;

  std::vector<std::thread> workers;
  std::mutex mu, submit_mu;
  std::condition_variable cv, done_cv;
  std::atomic<uint64_t> ticket{0};  // generation << 32 | nchunks << 16 | next chunk
  std::atomic<bool> stop{false};
  std::atomic<bool> caller_sleeping{false};
  std::atomic<int> nthreads{1};  // read by num_threads() from any thread while another resizes
  // the CPU each participant was last seen on (slot 0: the caller of the current job)
  std::unique_ptr<std::atomic<int>[]> cpus;

  // current job (atomics: a late worker may read them while the next job is set up; it then
  // fails to claim and drops what it read)
  std::atomic<const RangeFn*> fn{nullptr};
  std::atomic<int64_t> begin{0}, end{0}, chunk{0};
  std::atomic<int64_t> done_chunks{0};
  std::exception_ptr error;
  std::mutex error_mu;

  static uint64_t gen_of(uint64_t t) { return t >> 32; }
  static uint64_t count_of(uint64_t t) { return (t >> kChunkBits) & kChunkMask; }
  static uint64_t index_of(uint64_t t) { return t & kChunkMask; }

  explicit Pool(int n) { resize(n); }
  ~Pool() { shutdown(); }

  void shutdown() {
    {
      std::lock_guard<std::mutex> g(mu);
      stop = true;
    }
    cv.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
    stop = false;
  }
  void resize(int n) {
    std::lock_guard<std::mutex> s(submit_mu);
    shutdown();
    nthreads = std::max(1, std::min(n, int(kChunkMask)));
    g_oversubscribed = nthreads.load() > cpu_count();
    cpus.reset(new std::atomic<int>[size_t(nthreads.load())]);
    for (int i = 0; i < nthreads.load(); ++i) cpus[i] = -1;
    const uint64_t start = gen_of(ticket.load());
    for (int i = 1; i < nthreads.load(); ++i) workers.emplace_back([this, start, i] { worker(start, i); });
  }
  // Claims and runs chunks of job `gen` until none is left.
  void run_chunks(uint64_t gen) {
    t_in_parallel = true;
    uint64_t t = ticket.load(std::memory_order_acquire);
    while (gen_of(t) == gen && index_of(t) < count_of(t)) {
      const RangeFn* f = fn.load(std::memory_order_relaxed);
      const int64_t c = int64_t(index_of(t)), n = int64_t(count_of(t));
      const int64_t b = begin.load(std::memory_order_relaxed) + c * chunk.load(std::memory_order_relaxed);
      const int64_t e = std::min(end.load(std::memory_order_relaxed), b + chunk.load(std::memory_order_relaxed));
      if (!ticket.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      try {
        (*f)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> g(error_mu);
        if (!error) error = std::current_exception();
      }
      if (done_chunks.fetch_add(1) + 1 == n && caller_sleeping.load()) {
        std::lock_guard<std::mutex> g(mu);  // the caller is (about to be) waiting on done_cv
        done_cv.notify_all();
      }
      t = ticket.load(std::memory_order_acquire);
    }
    t_in_parallel = false;
  }
  // Worker `id` (1..) taking a job: when it shares a CPU with the caller or a lower-numbered
  // worker while the pool has no more threads than CPUs, it moves to a CPU nobody uses.
  void spread(int id) {
    const int n = nthreads.load(), cpu = current_cpu();
    if (id >= 64 || cpu < 0) return;
    int taken[64];
    bool shared = false;
    for (int j = 0; j < std::min(n, 64); ++j) {
      taken[j] = j == id ? cpu : cpus[j].load(std::memory_order_relaxed);
      shared |= j < id && taken[j] == cpu;
    }
    if (shared && !g_oversubscribed.load(std::memory_order_relaxed)) move_off(taken, std::min(n, 64));
    cpus[id].store(current_cpu(), std::memory_order_relaxed);
  }
  void worker(uint64_t seen, int id) {
    for (;;) {
      auto ready = [&] { return stop.load() || gen_of(ticket.load()) != seen; };
      if (!spin_until(ready)) {
        std::unique_lock<std::mutex> g(mu);
        cv.wait(g, ready);
      }
      if (stop) return;
      seen = gen_of(ticket.load());
      spread(id);
      run_chunks(seen);
    }
  }
  bool run(int64_t b, int64_t e, int64_t grain, const RangeFn& f) {
    std::unique_lock<std::mutex> s(submit_mu, std::try_to_lock);
    if (!s.owns_lock()) return false;  // another thread is using the pool
    const int64_t n = e - b;
    const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
    // a few chunks per thread: a worker that wakes late (or is descheduled) still takes its
    // share of what is left instead of leaving the caller to run a whole second half alone
    int64_t nch = std::min<int64_t>({max_chunks, 4 * int64_t(nthreads.load()), int64_t(kChunkMask)});
    const int64_t ch = (n + nch - 1) / nch;
    nch = (n + ch - 1) / ch;
    fn.store(&f, std::memory_order_relaxed);
    begin.store(b, std::memory_order_relaxed);
    end.store(e, std::memory_order_relaxed);
    chunk.store(ch, std::memory_order_relaxed);
    error = nullptr;
    done_chunks.store(0);
    cpus[0].store(current_cpu(), std::memory_order_relaxed);
    const uint64_t gen = (gen_of(ticket.load()) + 1) & 0xffffffffu;
    {
      std::lock_guard<std::mutex> g(mu);  // orders with a worker's check before it sleeps
      ticket.store(gen << 32 | uint64_t(nch) << kChunkBits, std::memory_order_release);
    }
    cv.notify_all();
    run_chunks(gen);
    auto done = [&] { return done_chunks.load() == nch; };
    if (!spin_until(done)) {
      std::unique_lock<std::mutex> g(mu);
      caller_sleeping = true;
      done_cv.wait(g, done);
      caller_sleeping = false;
    }
    if (error) std::rethrow_exception(error);
    return true;
  }
};

Pool& pool() {
  static Pool* p = new Pool(default_threads());  // never destroyed: workers may outlive statics
  return *p;
}

}  // namespace

int num_threads() { return pool().nthreads; }
void set_num_threads(int n) { pool().resize(n); }
bool in_parallel_region() { return t_in_parallel; }

void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, RangeFn fn) {
  if (!pool().run(begin, end, grain, fn)) fn(begin, end);
}

}  // namespace ember::cpu
