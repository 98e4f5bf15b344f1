// The `matmul` slot: out[b] = a[b] @ b[b] for any input strides. Floating dtypes go to the GEMM
// engine (the `gemm` slot, backend/cpu/gemm*); integer dtypes use the portable blocked loop
// below: for each (batch, MC-row block, NC-column block) work unit, K is walked in KC steps, the
// A block and the B panel are packed into contiguous strips (converted to int64), and an MR x NR
// register tile is accumulated over the packed strips. Units are spread over the thread pool.
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "backend/cpu/threadpool.h"
#include "backend/kernels_gemm.h"

namespace ember::cpu {
namespace {

template <class T> struct gemm_acc { using type = int64_t; };

// Register tile and cache blocks (integers only: floats use the GEMM engine).
template <class Acc> struct Blocking;
template <> struct Blocking<int64_t> { static constexpr int MR = 4, NR = 4, MC = 64, KC = 256, NC = 128; };

constexpr int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// c[MR x NR] (row stride ldc) += sum over p of a-strip[p] (MR values) x b-strip[p] (NR values).
// The accumulator is a fixed-size local array so the compiler keeps it in registers.
template <class Acc, int MR, int NR>
void micro_kernel(int64_t kc, const Acc* __restrict ap, const Acc* __restrict bp, Acc* __restrict c, int64_t ldc) {
  Acc acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    const Acc* a = ap + p * MR;
    const Acc* b = bp + p * NR;
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += a[i] * b[j];
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] += acc[i][j];
}

// A view of one 2-D matrix: element (i, j) at p[i * s0 + j * s1].
template <class T>
struct Mat {
  const T* p;
  int64_t s0, s1;
  T at(int64_t i, int64_t j) const { return p[i * s0 + j * s1]; }
};

// Rows [0, mc) x cols [0, kc) of A into MR-row strips, each kc x MR (zero-padded rows).
template <class T, class Acc, int MR>
void pack_a(Mat<T> a, int64_t mc, int64_t kc, Acc* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += kc * MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - i0);
    for (int64_t p = 0; p < kc; ++p)
      for (int64_t i = 0; i < MR; ++i) dst[p * MR + i] = i < mr ? Acc(a.at(i0 + i, p)) : Acc(0);
  }
}

// Rows [0, kc) x cols [0, nc) of B into NR-column strips, each kc x NR (zero-padded cols). The
// loop order follows the smaller input stride so reads stay sequential for B and for B^T.
template <class T, class Acc, int NR>
void pack_b(Mat<T> b, int64_t kc, int64_t nc, Acc* dst) {
  const bool rows_contiguous = std::abs(b.s1) <= std::abs(b.s0);
  for (int64_t j0 = 0; j0 < nc; j0 += NR, dst += kc * NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - j0);
    if (rows_contiguous || nr < NR) {
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t j = 0; j < NR; ++j) dst[p * NR + j] = j < nr ? Acc(b.at(p, j0 + j)) : Acc(0);
    } else {
      for (int64_t j = 0; j < NR; ++j)
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = Acc(b.at(p, j0 + j));
    }
  }
}

template <class T>
void gemm(const Tensor& out, const Tensor& a, const Tensor& b) {
  using Acc = typename gemm_acc<T>::type;
  using Blk = Blocking<Acc>;
  constexpr int MR = Blk::MR, NR = Blk::NR;
  const int64_t B = out.shape()[0], M = out.shape()[1], N = out.shape()[2], K = a.shape()[2];
  T* op = out.data<T>();
  if (out.numel() == 0) return;
  if (K == 0) {
    std::fill(op, op + out.numel(), T(Acc(0)));
    return;
  }
  const T* ap = a.data<T>();
  const T* bp = b.data<T>();
  const int64_t mblocks = (M + Blk::MC - 1) / Blk::MC, nblocks = (N + Blk::NC - 1) / Blk::NC;
  const int64_t units = B * mblocks * nblocks;
  // buffers sized for the largest block this problem has
  const int64_t mc_max = round_up(std::min<int64_t>(M, Blk::MC), MR);
  const int64_t nc_max = round_up(std::min<int64_t>(N, Blk::NC), NR);
  const int64_t kc_max = std::min<int64_t>(K, Blk::KC);
  // small problems run on the calling thread: waking the pool costs more than the math
  const int64_t unit_flops = std::min<int64_t>(M, Blk::MC) * std::min<int64_t>(N, Blk::NC) * K;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 17) / std::max<int64_t>(unit_flops, 1));

  parallel_for(0, units, grain, [&](int64_t u0, int64_t u1) {
    std::vector<Acc> abuf(static_cast<size_t>(mc_max * kc_max)), bbuf(static_cast<size_t>(kc_max * nc_max)),
        cbuf(static_cast<size_t>(mc_max * nc_max));
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t bi = u / (mblocks * nblocks), rem = u % (mblocks * nblocks);
      const int64_t i0 = (rem / nblocks) * Blk::MC, j0 = (rem % nblocks) * Blk::NC;
      const int64_t mc = std::min<int64_t>(Blk::MC, M - i0), nc = std::min<int64_t>(Blk::NC, N - j0);
      const int64_t mcp = round_up(mc, MR), ncp = round_up(nc, NR);
      std::fill(cbuf.begin(), cbuf.begin() + mcp * ncp, Acc(0));
      for (int64_t p0 = 0; p0 < K; p0 += Blk::KC) {
        const int64_t kc = std::min<int64_t>(Blk::KC, K - p0);
        Mat<T> am{ap + bi * a.strides()[0] + i0 * a.strides()[1] + p0 * a.strides()[2], a.strides()[1], a.strides()[2]};
        Mat<T> bm{bp + bi * b.strides()[0] + p0 * b.strides()[1] + j0 * b.strides()[2], b.strides()[1], b.strides()[2]};
        pack_a<T, Acc, MR>(am, mc, kc, abuf.data());
        pack_b<T, Acc, NR>(bm, kc, nc, bbuf.data());
        for (int64_t js = 0; js < ncp; js += NR)
          for (int64_t is = 0; is < mcp; is += MR)
            micro_kernel<Acc, MR, NR>(kc, abuf.data() + is * kc, bbuf.data() + js * kc, cbuf.data() + is * ncp + js, ncp);
      }
      T* o = op + bi * M * N + i0 * N + j0;  // out is contiguous
      for (int64_t i = 0; i < mc; ++i)
        for (int64_t j = 0; j < nc; ++j) o[i * N + j] = T(cbuf[i * ncp + j]);
    }
  });
}

void cpu_matmul(const Tensor& out, const Tensor& a, const Tensor& b) {
  switch (out.dtype()) {
    case Dtype::UInt8: return gemm<uint8_t>(out, a, b);
    case Dtype::Int32: return gemm<int32_t>(out, a, b);
    case Dtype::Int64: return gemm<int64_t>(out, a, b);
    case Dtype::Float16:
    case Dtype::BFloat16:
    case Dtype::Float32:
    case Dtype::Float64: return kernel::gemm(Device::CPU)(out, a, b, {});
    default: EMBER_TYPE_ERROR("matmul: not implemented for dtype ", dtype_name(out.dtype()));
  }
}

}  // namespace

EMBER_REGISTER_KERNEL(matmul, CPU, &cpu_matmul);

}  // namespace ember::cpu
