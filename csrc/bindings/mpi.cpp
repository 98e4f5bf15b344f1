// ember.distributed's small-message path: MPI collectives on a tensor's memory, called from C++
// with no Python buffer objects in between (mpi4py's own path costs ~2 us of Python per call).
//
// ember is built without MPI headers and never links libmpi: the functions are looked up at run
// time (dlsym) in the MPI library that mpi4py has already loaded, and every handle (communicator,
// datatype, op, MPI_IN_PLACE) is passed in from mpi4py as an integer, so no MPI ABI constant is
// compiled in. Handles are pointers in Open MPI and ints in MPICH: `_mpi_load` is told their
// width and the calls pass them at that width.
//   _C._mpi_load(mpi4py_extension_path, handle_bytes, in_place) -> bool
//   _C._mpi_allreduce(tensor, datatype, op, comm) -> int (MPI error code, 0 on success)
//   _C._mpi_bcast(tensor, root, byte_datatype, comm) -> int
//   _C._MpiGate: the process group's "one MPI call at a time, in submission order" state, with
//     a whole synchronous all_reduce in one C++ call (see python/ember/distributed/).
#include <dlfcn.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "bindings/common.h"

namespace ember::py {
namespace {

// The MPI functions, resolved once. H is the handle type at the library's width.
template <class H> struct MpiFns {
  int (*allreduce)(const void*, void*, int, H, H, H) = nullptr;
  int (*bcast)(void*, int, H, int, H) = nullptr;
};

MpiFns<uint64_t> g_fns64;
MpiFns<uint32_t> g_fns32;
int g_width = 0;  // 0: not loaded; else the handle width in bytes (4 or 8)
void* g_in_place = nullptr;

bool mpi_load(const std::string& path, int width, intptr_t in_place) {
  EMBER_CHECK(width == 4 || width == 8, "_mpi_load: MPI handles must be 4 or 8 bytes, got ", width);
  // RTLD_NOLOAD: only mpi4py's already-loaded extension; dlsym on it also searches the
  // libraries it depends on, libmpi among them
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (lib == nullptr) return false;
  void* ar = dlsym(lib, "MPI_Allreduce");
  void* bc = dlsym(lib, "MPI_Bcast");
  dlclose(lib);  // mpi4py's import keeps it loaded; this only drops our reference
  if (ar == nullptr || bc == nullptr) return false;
  if (width == 8) {
    g_fns64.allreduce = reinterpret_cast<decltype(g_fns64.allreduce)>(ar);
    g_fns64.bcast = reinterpret_cast<decltype(g_fns64.bcast)>(bc);
  } else {
    g_fns32.allreduce = reinterpret_cast<decltype(g_fns32.allreduce)>(ar);
    g_fns32.bcast = reinterpret_cast<decltype(g_fns32.bcast)>(bc);
  }
  g_in_place = reinterpret_cast<void*>(in_place);
  g_width = width;
  return true;
}

// The tensor's memory and element count, checked: MPI reads and writes it in place.
char* dense_data(const Tensor& t, const char* op) {
  EMBER_CHECK(g_width != 0, op, ": MPI functions not loaded (call _mpi_load first)");
  EMBER_CHECK(t.device() == Device::CPU, op, ": tensor is on ", device_name(t.device()), "; MPI needs CPU tensors");
  EMBER_CHECK(t.is_contiguous(), op, ": tensor must be contiguous (shape ", t.shape(), ", strides ", t.strides(),
              ")");
  return static_cast<char*>(t.raw_data());
}

// MPI counts are ints: a larger tensor goes in chunks of whole elements.
constexpr int64_t kMaxCount = INT_MAX / 16 * 16;

template <class H> int allreduce(const MpiFns<H>& f, char* p, int64_t n, int64_t item, H dt, H op, H comm) {
  for (int64_t i = 0; i < n; i += kMaxCount) {
    const int c = int(std::min(kMaxCount, n - i));
    if (int err = f.allreduce(g_in_place, p + i * item, c, dt, op, comm)) return err;
  }
  return 0;
}

template <class H> int bcast(const MpiFns<H>& f, char* p, int64_t n, int root, H dt, H comm) {
  for (int64_t i = 0; i < n; i += kMaxCount) {
    const int c = int(std::min(kMaxCount, n - i));
    if (int err = f.bcast(p + i, c, dt, root, comm)) return err;
  }
  return 0;
}

int mpi_allreduce(const Tensor& t, uint64_t dtype, uint64_t op, uint64_t comm) {
  char* p = dense_data(t, "_mpi_allreduce");
  const int64_t n = t.numel();
  if (n == 0) return 0;
  // the GIL is let go even for a few bytes (as mpi4py does): a rank that never joins the
  // collective leaves this thread blocked, and the timeout watchdog needs the GIL to end the job
  nb::gil_scoped_release nogil;
  if (g_width == 8) return allreduce<uint64_t>(g_fns64, p, n, t.itemsize(), dtype, op, comm);
  return allreduce<uint32_t>(g_fns32, p, n, t.itemsize(), uint32_t(dtype), uint32_t(op), uint32_t(comm));
}

int mpi_bcast(const Tensor& t, int root, uint64_t byte_type, uint64_t comm) {
  char* p = dense_data(t, "_mpi_bcast");
  const int64_t n = t.numel() * t.itemsize();
  if (n == 0) return 0;
  nb::gil_scoped_release nogil;
  if (g_width == 8) return bcast<uint64_t>(g_fns64, p, n, root, byte_type, comm);
  return bcast<uint32_t>(g_fns32, p, n, root, uint32_t(byte_type), uint32_t(comm));
}

// Who may issue MPI calls now. One collective runs at a time: a synchronous call runs on the
// caller's thread when nothing is queued or running (try_claim), queued ones run on the
// process group's worker thread in order (enqueue, then acquire_queued). The watchdog reads
// current() to find a collective that runs past the timeout. all_reduce is the common
// synchronous case done entirely here: the small-message path costs one Python-to-C++ call.
class MpiGate {
 public:
  MpiGate(uint64_t comm, int64_t world_size) : comm_(comm), world_size_(world_size) {}

  bool try_claim(std::string name) {
    std::lock_guard<std::mutex> g(mu_);
    return claim_locked(name);
  }

  void enqueue() {
    std::lock_guard<std::mutex> g(mu_);
    ++queued_;
  }

  // Run the oldest queued call: wait (without the GIL) for the running one to finish.
  void acquire_queued(std::string name) {
    nb::gil_scoped_release nogil;
    std::unique_lock<std::mutex> g(mu_);
    cv_.wait(g, [&] { return !busy_; });
    --queued_;
    start_locked(name);
  }

  void release() {
    {
      std::lock_guard<std::mutex> g(mu_);
      busy_ = false;
    }
    cv_.notify_all();
  }

  // (sequence number, collective, seconds it has run) of the running call, if any.
  std::optional<std::tuple<uint64_t, std::string, double>> current() {
    std::lock_guard<std::mutex> g(mu_);
    if (!busy_) return std::nullopt;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    return std::make_tuple(seq_, name_, s);
  }

  // Let all_reduce handle (op, dtype) with these MPI handles; avg: divide by the world size.
  void add_op(nb::object op, const PyDtype& dtype, uint64_t datatype, uint64_t mpi_op, bool avg) {
    for (const OpEntry& e : ops_)
      if (e.op.ptr() == op.ptr() && e.dtype == dtype.d) return;
    ops_.push_back({std::move(op), dtype.d, datatype, mpi_op, avg});
  }

  // A synchronous all_reduce, when this path can do it: returns -1 when it cannot (the Python
  // path then does the call and raises any argument error), else MPI's error code (0: done).
  int all_reduce(nb::handle tensor, nb::handle op) {
    Tensor* t = nullptr;
    if (checks || g_width == 0 || !nb::try_cast<Tensor*>(tensor, t) || t == nullptr) return -1;
    if (t->device() != Device::CPU || !t->is_contiguous()) return -1;
    const OpEntry* e = nullptr;
    for (const OpEntry& x : ops_)
      if (x.op.ptr() == op.ptr() && x.dtype == t->dtype()) e = &x;
    if (e == nullptr || (e->avg && t->dtype() != Dtype::Float32 && t->dtype() != Dtype::Float64)) return -1;
    // copied while the GIL is held: another thread's add_op may grow ops_ (moving *e) meanwhile
    const uint64_t datatype = e->datatype, mpi_op = e->mpi_op;
    const bool avg = e->avg;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!claim_locked("all_reduce")) return -1;
    }
    char* p = static_cast<char*>(t->raw_data());
    const int64_t n = t->numel();
    int err = 0;
    {
      // the GIL is let go even for a few bytes (as mpi4py does): a rank that never joins
      // leaves this thread blocked, and the timeout watchdog needs the GIL to end the job
      nb::gil_scoped_release nogil;
      if (n > 0) {
        err = g_width == 8 ? allreduce<uint64_t>(g_fns64, p, n, t->itemsize(), datatype, mpi_op, comm_)
                           : allreduce<uint32_t>(g_fns32, p, n, t->itemsize(), uint32_t(datatype),
                                                 uint32_t(mpi_op), uint32_t(comm_));
      }
      if (err == 0 && avg) {
        if (t->dtype() == Dtype::Float32) divide(reinterpret_cast<float*>(p), n);
        else divide(reinterpret_cast<double*>(p), n);
      }
      release();
    }
    return err;
  }

  bool checks = false;  // EMBER_DISTRIBUTED_CHECKS: the Python path verifies the ranks agree

 private:
  struct OpEntry {
    nb::object op;
    Dtype dtype;
    uint64_t datatype, mpi_op;
    bool avg;
  };

  bool claim_locked(const std::string& name) {
    if (busy_ || queued_ > 0) return false;
    start_locked(name);
    return true;
  }

  void start_locked(const std::string& name) {
    busy_ = true;
    ++seq_;
    name_ = name;
    start_ = std::chrono::steady_clock::now();
  }

  template <class T> void divide(T* p, int64_t n) const {
    const T s = T(world_size_);
    for (int64_t i = 0; i < n; ++i) p[i] /= s;
  }

  uint64_t comm_;
  int64_t world_size_;
  std::vector<OpEntry> ops_;  // a few (op, dtype) pairs: a linear search is the fastest lookup
  std::mutex mu_;
  std::condition_variable cv_;
  bool busy_ = false;
  int64_t queued_ = 0;
  uint64_t seq_ = 0;
  std::string name_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

void init_mpi(nb::module_& m) {
  nb::class_<MpiGate>(m, "_MpiGate")
      .def(nb::init<uint64_t, int64_t>(), "comm"_a, "world_size"_a)
      .def("try_claim", &MpiGate::try_claim)
      .def("enqueue", &MpiGate::enqueue)
      .def("acquire_queued", &MpiGate::acquire_queued)
      .def("release", &MpiGate::release)
      .def("current", &MpiGate::current)
      .def("add_op", &MpiGate::add_op)
      .def("all_reduce", &MpiGate::all_reduce)
      .def_rw("checks", &MpiGate::checks);
  m.def("_mpi_load", &mpi_load, "path"_a, "handle_bytes"_a, "in_place"_a,
        "Resolve MPI_Allreduce/MPI_Bcast in the MPI library loaded by mpi4py's extension at `path`.");
  m.def("_mpi_allreduce", &mpi_allreduce, "tensor"_a, "datatype"_a, "op"_a, "comm"_a,
        "MPI_Allreduce in place on a contiguous CPU tensor (handles from mpi4py); returns MPI's error code.");
  m.def("_mpi_bcast", &mpi_bcast, "tensor"_a, "root"_a, "byte_datatype"_a, "comm"_a,
        "MPI_Bcast of a contiguous CPU tensor's bytes (handles from mpi4py); returns MPI's error code.");
}

}  // namespace ember::py
