// CPU cumsum / cumprod. The op hands over a contiguous x of the output dtype, so both tensors
// are [outer, n, inner] row-major; the scan runs along n while `inner` neighbours are updated
// together (unit stride, vectorizable), in blocks of columns spread over the thread pool.
#include <algorithm>
#include <type_traits>

#include "backend/cpu/threadpool.h"
#include "backend/kernels.h"

namespace ember::cpu {
namespace {

// Accumulator: float for f16/bf16 (brief/DESIGN), double for f32/f64 like PyTorch's CPU scans,
// int64 for integer and bool outputs (the cast back wraps/truncates like PyTorch).
template <class T>
using scan_acc_t = std::conditional_t<std::is_same_v<acc_t<T>, float> && !std::is_same_v<T, float>, float,
                                      std::conditional_t<std::is_floating_point_v<T>, double, int64_t>>;

constexpr int64_t kBlock = 256;  // columns per work item

template <class T>
void scan_typed(ScanOp op, const Tensor& out, const Tensor& x, int64_t dim) {
  using Acc = scan_acc_t<T>;
  const Shape& shape = x.shape();
  int64_t outer = 1, inner = 1, n = x.dim() ? shape[dim] : 1;
  for (int64_t d = 0; d < dim; ++d) outer *= shape[d];
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= shape[d];
  const int64_t nblocks = (inner + kBlock - 1) / kBlock;
  const T* src = x.data<T>();
  T* dst = out.data<T>();
  const Acc init = op == ScanOp::Sum ? Acc(0) : Acc(1);
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(n * std::min(inner, kBlock), 1));

  parallel_for(0, outer * nblocks, grain, [&](int64_t b, int64_t e) {
    Acc acc[kBlock];
    for (int64_t w = b; w < e; ++w) {
      const int64_t o = w / nblocks, j0 = (w % nblocks) * kBlock, m = std::min(kBlock, inner - j0);
      const T* s = src + o * n * inner + j0;
      T* t = dst + o * n * inner + j0;
      std::fill(acc, acc + m, init);
      for (int64_t k = 0; k < n; ++k, s += inner, t += inner) {
        if (op == ScanOp::Sum) {
          for (int64_t j = 0; j < m; ++j) acc[j] += Acc(s[j]);
        } else {
          for (int64_t j = 0; j < m; ++j) acc[j] *= Acc(s[j]);
        }
        for (int64_t j = 0; j < m; ++j) t[j] = T(acc[j]);
      }
    }
  });
}

void cpu_scan(ScanOp op, const Tensor& out, const Tensor& x, int64_t dim) {
  EMBER_CHECK(x.is_contiguous() && out.is_contiguous() && x.dtype() == out.dtype(),
              "scan: expected contiguous input and output of the same dtype");
  if (out.numel() == 0) return;
  dispatch_all(out.dtype(), [&]<class T>() { scan_typed<T>(op, out, x, dim); });
}

}  // namespace

EMBER_REGISTER_KERNEL(scan, CPU, &cpu_scan);

}  // namespace ember::cpu
