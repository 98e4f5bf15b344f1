// Metal launch code of the GEMM family (metal/gemm.metal): matmul / bmm / addmm / linear with the
// bias and activation epilogue, operands read through their strides (transposes and broadcast
// batches need no copy). 32x32 output tiles, 128 threads (4 SIMD-groups) per threadgroup.
#include "backend/kernels_gemm.h"
#include "backend/metal/family_util.h"
#include "gemm_params.h"

namespace ember::metal {
namespace {

bool gemm_supported(const Tensor& out, const Tensor& a, const Tensor& b) {
  if (!float_suffix(out.dtype()) || a.dtype() != out.dtype() || b.dtype() != out.dtype())
    return false;
  if (out.dim() != 3 || a.dim() != 3 || b.dim() != 3) return false;
  if (out.strides()[2] != 1 && out.shape()[2] > 1) return false;
  if (out.shape()[0] > 65535) return false;
  return offsets_fit_int32(a) && offsets_fit_int32(b) && offsets_fit_int32(out);
}

void launch(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta,
            const Tensor& bias, GemmActivation act) {
  const int64_t B = out.shape()[0], M = out.shape()[1], N = out.shape()[2], K = a.shape()[2];
  if (out.numel() == 0) return;
  GemmParams p{};
  p.M = uint(M), p.N = uint(N), p.K = uint(K), p.batch = uint(B);
  p.a_b = int(a.strides()[0]), p.a_m = int(a.strides()[1]), p.a_k = int(a.strides()[2]);
  p.b_b = int(b.strides()[0]), p.b_k = int(b.strides()[1]), p.b_n = int(b.strides()[2]);
  p.o_b = int(out.strides()[0]), p.o_m = int(out.strides()[1]);
  p.alpha = float(alpha), p.beta = float(beta);
  p.has_bias = bias.defined();
  p.act = uint(act);
  // with K == 0 the operands may have no storage: bind out (never read then)
  const void* ap = K > 0 ? a.raw_data() : unused_binding(out);
  const void* bp = K > 0 ? b.raw_data() : unused_binding(out);
  Dispatch(std::string("gemm_tiled_") + float_suffix(out.dtype()))
      .buffer(0, ap)
      .buffer(1, bp)
      .buffer(2, out.raw_data())
      .buffer(3, bias.defined() ? bias.raw_data() : unused_binding(out))
      .value(4, p)
      .threadgroups({uint32_t((N + 31) / 32), uint32_t((M + 31) / 32), uint32_t(B)}, {128, 1, 1});
}

const char* matmul_declines(const Tensor& out, const Tensor& a, const Tensor& b) {
  return gemm_supported(out, a, b) ? nullptr : "matmul";
}
void matmul_metal(const Tensor& out, const Tensor& a, const Tensor& b) {
  launch(out, a, b, 1.0, 0.0, Tensor(), GemmActivation::None);
}

const char* gemm_declines(const Tensor& out, const Tensor& a, const Tensor& b,
                          const kernel::GemmEpilogue& e) {
  if (!gemm_supported(out, a, b)) return "gemm";
  if (e.bias.defined() &&
      (e.bias.dtype() != out.dtype() || (e.bias.dim() == 1 && e.bias.strides()[0] != 1)))
    return "gemm_bias";
  return nullptr;
}
void gemm_metal(const Tensor& out, const Tensor& a, const Tensor& b,
                const kernel::GemmEpilogue& e) {
  launch(out, a, b, e.alpha, e.beta, e.bias, e.act);
}

}  // namespace

EMBER_REGISTER_KERNEL(matmul, Metal, matmul_metal);
EMBER_REGISTER_DECLINES(matmul, Metal, matmul_declines);
EMBER_REGISTER_KERNEL(gemm, Metal, gemm_metal);
EMBER_REGISTER_DECLINES(gemm, Metal, gemm_declines);

}  // namespace ember::metal
