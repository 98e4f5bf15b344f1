// Metal launch code of the indexing family (metal/index.metal): index checks / offsets (their
// errors are reported after a synchronize, naming the same element and value as the CPU kernel),
// gather of any dtype, scatter and scatter-add of floating dtypes.
#include <cstring>

#include "backend/kernels_index.h"
#include "backend/metal/family_util.h"
#include "index_params.h"

namespace ember::metal {
namespace {

// fills the walk over `shape` for operands a, b, c (c may be undefined). Scatter (serial_on_a0):
// dims where a has stride 0 -- where writes may collide -- go last and are walked serially.
bool make_walk(IndexParams& p, const Tensor& a, const Tensor& b, const Tensor& c,
               bool serial_on_a0) {
  const int nd = int(a.dim());
  if (nd > EMBER_INDEX_MAX_DIMS || a.numel() >= (int64_t(1) << 31)) return false;
  for (const Tensor* t : {&a, &b, &c})
    if (t->defined() && !offsets_fit_int32(*t)) return false;
  std::vector<int> order;  // parallel dims first, then (scatter) the serial ones, each in dim order
  for (int d = 0; d < nd; ++d)
    if (!(serial_on_a0 && a.strides()[d] == 0)) order.push_back(d);
  for (int d = 0; d < nd && serial_on_a0; ++d)
    if (a.strides()[d] == 0) order.push_back(d);
  p.ndim = uint(nd);
  p.npar = 0;
  p.par_count = p.ser_count = 1;
  for (int i = 0; i < nd; ++i) {
    int d = order[i];
    bool serial = serial_on_a0 && a.strides()[d] == 0;
    if (!serial) p.npar = uint(i + 1);
    p.shape[i] = uint(a.shape()[d]);
    p.sa[i] = int(a.strides()[d]);
    p.sb[i] = b.defined() ? int(b.strides()[d]) : 0;
    p.sc[i] = c.defined() ? int(c.strides()[d]) : 0;
    (serial ? p.ser_count : p.par_count) *= p.shape[i];
  }
  return true;
}

void set_size(IndexParams& p, int64_t size) {
  p.size_lo = int(uint32_t(uint64_t(size)));
  p.size_hi = int(size >> 32);
}

// runs a checking kernel and throws IndexError for the first bad element it flagged
template <class Launch>
void checked(const Tensor& index, int64_t size, const char* op, int64_t dim, Launch launch) {
  Scratch err(sizeof(uint32_t));
  synchronize();  // the scratch word is written by the host before the kernel reads it
  std::memset(err.p, 0xFF, sizeof(uint32_t));
  launch(err.p);
  synchronize();
  uint32_t e;
  std::memcpy(&e, err.p, sizeof e);
  if (e == 0xFFFFFFFFu) return;
  int64_t off = 0, rem = e;
  for (int d = int(index.dim()) - 1; d >= 0; --d) {
    off += (rem % index.shape()[d]) * index.strides()[d];
    rem /= index.shape()[d];
  }
  const int64_t v = index.data<int64_t>()[off];
  EMBER_INDEX_ERROR(op, ": index ", v, " is out of bounds for dimension ", dim, " with size ",
                    size);
}

const char* check_declines(const Tensor& index, int64_t, const char*, int64_t) {
  IndexParams p{};
  return make_walk(p, index, index, Tensor(), false) ? nullptr : "index_check";
}
void check_metal(const Tensor& index, int64_t size, const char* op, int64_t dim) {
  IndexParams p{};
  make_walk(p, index, index, Tensor(), false);
  set_size(p, size);
  checked(index, size, op, dim, [&](void* err) {
    Dispatch("index_check")
        .buffer(0, index.raw_data())
        .buffer(1, err)
        .value(2, p)
        .threadgroups({(p.par_count + 255) / 256, 1, 1}, {256, 1, 1});
  });
}

const char* offsets_declines(const Tensor& offs, const Tensor& index, int64_t, int64_t stride, bool,
                             const char*, int64_t) {
  IndexParams p{};
  return make_walk(p, offs, index, Tensor(), false) && fits_int32(stride) ? nullptr
                                                                          : "index_offsets";
}
void offsets_metal(const Tensor& offs, const Tensor& index, int64_t size, int64_t stride, bool add,
                   const char* op, int64_t dim) {
  if (offs.numel() == 0) return;
  IndexParams p{};
  make_walk(p, offs, index, Tensor(), false);
  set_size(p, size);
  p.stride = int(stride);
  p.add = add;
  checked(index, size, op, dim, [&](void* err) {
    Dispatch("index_to_offsets")
        .buffer(0, offs.raw_data())
        .buffer(1, index.raw_data())
        .buffer(2, err)
        .value(3, p)
        .threadgroups({(p.par_count + 255) / 256, 1, 1}, {256, 1, 1});
  });
}

const char* gather_declines(const Tensor& out, const Tensor& src, const Tensor& index,
                            int64_t stride) {
  IndexParams p{};
  if (!make_walk(p, out, src, index, false) || !fits_int32(stride)) return "index_gather";
  return nullptr;
}
void gather_metal(const Tensor& out, const Tensor& src, const Tensor& index, int64_t stride) {
  if (out.numel() == 0) return;
  IndexParams p{};
  make_walk(p, out, src, index, false);
  p.stride = int(stride);
  Dispatch("index_gather_" + std::to_string(out.itemsize()))
      .buffer(0, out.raw_data())
      .buffer(1, src.raw_data())
      .buffer(2, index.raw_data())
      .value(3, p)
      .threadgroups({(p.par_count + 255) / 256, 1, 1}, {256, 1, 1});
}

const char* scatter_declines(const Tensor& dst, const Tensor& src, const Tensor& index,
                             int64_t stride, bool, const Scalar&) {
  IndexParams p{};
  if (!float_suffix(dst.dtype()) || !make_walk(p, dst, src, index, true) || !fits_int32(stride))
    return "index_scatter";
  return nullptr;
}
void scatter_metal(const Tensor& dst, const Tensor& src, const Tensor& index, int64_t stride,
                   bool accumulate, const Scalar& alpha) {
  if (dst.numel() == 0) return;
  IndexParams p{};
  make_walk(p, dst, src, index, true);
  p.stride = int(stride);
  p.add = accumulate;
  p.alpha = float(alpha.to_double());
  Dispatch(std::string("index_scatter_") + float_suffix(dst.dtype()))
      .buffer(0, dst.raw_data())
      .buffer(1, src.raw_data())
      .buffer(2, index.raw_data())
      .value(3, p)
      .threadgroups({(p.par_count + 63) / 64, 1, 1}, {64, 1, 1});
}

}  // namespace

EMBER_REGISTER_KERNEL(index_check, Metal, check_metal);
EMBER_REGISTER_DECLINES(index_check, Metal, check_declines);
EMBER_REGISTER_KERNEL(index_offsets, Metal, offsets_metal);
EMBER_REGISTER_DECLINES(index_offsets, Metal, offsets_declines);
EMBER_REGISTER_KERNEL(index_gather, Metal, gather_metal);
EMBER_REGISTER_DECLINES(index_gather, Metal, gather_declines);
EMBER_REGISTER_KERNEL(index_scatter, Metal, scatter_metal);
EMBER_REGISTER_DECLINES(index_scatter, Metal, scatter_declines);

}  // namespace ember::metal
