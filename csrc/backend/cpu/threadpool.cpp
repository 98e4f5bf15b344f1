#include "backend/cpu/threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>
#ifdef __linux__
#include <sched.h>
#endif

namespace ember::cpu {
namespace {

thread_local bool t_in_parallel = false;

int default_threads() {
  if (const char* s = std::getenv("EMBER_NUM_THREADS")) {
    int n = std::atoi(s);
    if (n > 0) return n;
  }
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

// One job at a time: chunks are claimed from an atomic counter by the caller and the workers.
struct Pool {
  std::vector<std::thread> workers;
  std::mutex mu, submit_mu;
  std::condition_variable cv, done_cv;
  uint64_t generation = 0;
  bool stop = false;
  int nthreads = 1;

  // current job
  const RangeFn* fn = nullptr;
  int64_t begin = 0, end = 0, chunk = 0, nchunks = 0;
  std::atomic<int64_t> next{0};
  size_t finished = 0;  // workers done with the current generation (guarded by mu)
  std::exception_ptr error;
  std::mutex error_mu;

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
    nthreads = std::max(1, n);
    for (int i = 1; i < nthreads; ++i) workers.emplace_back([this] { worker(); });
  }
  void run_chunks() {
    t_in_parallel = true;
    int64_t c;
    while ((c = next.fetch_add(1)) < nchunks) {
      int64_t b = begin + c * chunk, e = std::min(end, b + chunk);
      try {
        (*fn)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> g(error_mu);
        if (!error) error = std::current_exception();
      }
    }
    t_in_parallel = false;
  }
  void worker() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> g(mu);
        cv.wait(g, [&] { return stop || generation != seen; });
        if (stop) return;
        seen = generation;
      }
      run_chunks();
      {
        std::lock_guard<std::mutex> g(mu);
        finished++;
      }
      done_cv.notify_all();
    }
  }
  bool run(int64_t b, int64_t e, int64_t grain, const RangeFn& f) {
    std::unique_lock<std::mutex> s(submit_mu, std::try_to_lock);
    if (!s.owns_lock()) return false;  // another thread is using the pool
    int64_t n = e - b;
    int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
    nchunks = std::min<int64_t>(max_chunks, nthreads);
    chunk = (n + nchunks - 1) / nchunks;
    nchunks = (n + chunk - 1) / chunk;
    fn = &f;
    begin = b;
    end = e;
    error = nullptr;
    next.store(0);
    {
      std::lock_guard<std::mutex> g(mu);
      finished = 0;
      generation++;
    }
    cv.notify_all();
    run_chunks();
    {
      std::unique_lock<std::mutex> g(mu);
      // every worker must check in, so none straddles into the next job's fields
      done_cv.wait(g, [&] { return finished == workers.size(); });
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
