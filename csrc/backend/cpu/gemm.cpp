// ISA dispatch of the GEMM engine and its `gemm` kernel slot (tensors -> GemmDesc). Engine:
// gemm_impl.h, compiled per ISA by cmake/isa.cmake.
#include "backend/cpu/dense.h"
#include "backend/cpu/gemm.h"

#include "backend/kernels_gemm.h"

namespace ember::cpu {

void gemm_run(const GemmDesc& d, Isa isa) { EMBER_ISA_SELECT(isa, gemm_run)(d); }  // base: NEON on arm64

void gemm_run(const GemmDesc& d) {
  static const auto run = EMBER_ISA_PICK(gemm_run);
  run(d);
}

namespace {

GemmIn gemm_in(Dtype t) {
  switch (t) {
    case Dtype::Float32: return GemmIn::F32;
    case Dtype::Float64: return GemmIn::F64;
    case Dtype::Float16: return GemmIn::F16;
    case Dtype::BFloat16: return GemmIn::BF16;
    default: EMBER_TYPE_ERROR("matmul: the GEMM engine does not handle dtype ", dtype_name(t));
  }
}

void cpu_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const kernel::GemmEpilogue& e) {
  const Dtype t = out.dtype();
  const int64_t B = out.shape()[0], M = out.shape()[1], N = out.shape()[2];
  if (B == 0 || M == 0 || N == 0) return;
  const bool reduced = is_reduced_float(t);
  const Dtype acc = t == Dtype::Float64 ? Dtype::Float64 : Dtype::Float32;
  // 16-bit outputs accumulate in a float32 temporary
  Tensor c = out;
  if (reduced) {
    c = empty({B, M, N}, acc);
    if (e.beta != 0) kernel::copy(Device::CPU)(c, out);
  }
  Tensor bias;
  if (e.bias.defined()) bias = dense(e.bias, acc);

  GemmDesc d;
  d.in = gemm_in(t);
  d.batch = B;
  d.m = M;
  d.n = N;
  d.k = a.shape()[2];
  d.a = a.raw_data();
  d.a_bs = a.strides()[0];
  d.a_rs = a.strides()[1];
  d.a_cs = a.strides()[2];
  d.b = b.raw_data();
  d.b_bs = b.strides()[0];
  d.b_rs = b.strides()[1];
  d.b_cs = b.strides()[2];
  d.c = c.raw_data();
  d.c_bs = c.strides()[0];
  d.c_rs = c.strides()[1];
  d.c_cs = c.strides()[2];
  d.alpha = e.alpha;
  d.beta = e.beta;
  d.bias = bias.defined() ? bias.raw_data() : nullptr;
  d.act = GemmAct(e.act);
  if (e.pre.defined()) {  // ember.compile's fused bias + activation in training
    EMBER_CHECK(!reduced && e.pre.dtype() == t && e.pre.shape() == out.shape() && e.pre.strides() == out.strides(),
                "gemm: pre must be float32 or float64 with out's shape and strides");
    // both have out's strides: pre's elements sit a fixed distance from out's
    d.pre_act = (reinterpret_cast<intptr_t>(e.pre.raw_data()) - reinterpret_cast<intptr_t>(c.raw_data())) /
                intptr_t(itemsize(t));
  }
  gemm_run(d);
  if (!c.same(out)) kernel::copy(Device::CPU)(out, c);
}

}  // namespace

EMBER_REGISTER_KERNEL(gemm, CPU, &cpu_gemm);

}  // namespace ember::cpu
