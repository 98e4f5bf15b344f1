// GEMM engine microbenchmarks: GFLOP/s per shape, dtype and ISA, straight into the engine
// (gemm_run with an explicit ISA) and through the op layer (ember::matmul / linear).
//   build/bench/bench/cpp/bench_gemm --benchmark_filter=square --benchmark_repetitions=5 \
//       --benchmark_report_aggregates_only=true
// EMBER_NUM_THREADS sets the pool size (default: the CPUs this process may use).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "backend/cpu/gemm.h"
#include "backend/cpu/isa.h"
#include "ops/ops.h"

namespace {

using ember::cpu::GemmDesc;
using ember::cpu::GemmIn;
using ember::cpu::Isa;

struct Shape3 {
  const char* name;
  int64_t batch, m, k, n;
  bool ta = false, tb = false;  // operands stored transposed (column-major)
};

// The shapes of bench/py/compare.py plus a few classic ones.
const std::vector<Shape3>& shapes() {
  static const std::vector<Shape3> s = {
      {"square128", 1, 128, 128, 128},
      {"square256", 1, 256, 256, 256},
      {"square512", 1, 512, 512, 512},
      {"square1024", 1, 1024, 1024, 1024},
      {"square2048", 1, 2048, 2048, 2048},
      {"mlp_fc1_128x784x512", 1, 128, 784, 512},
      {"mlp_fc1_dX_128x512x784^T", 1, 128, 512, 784, false, true},
      {"mlp_fc1_dW_784^Tx128x512", 1, 784, 128, 512, true, false},
      {"mlp_fc2_128x512x10", 1, 128, 512, 10},
      {"mlp_fc2_dX_128x10x512^T", 1, 128, 10, 512, false, true},
      {"mlp_fc2_dW_512^Tx128x10", 1, 512, 128, 10, true, false},
      {"linear_128x784x512^T", 1, 128, 784, 512, false, true},
      {"bmm_64x128x64x128", 64, 128, 64, 128},
      {"gemv_1x4096x4096", 1, 1, 4096, 4096},
      {"gemv_4096x4096x1", 1, 4096, 4096, 1},
      {"odd_17x1023x513", 1, 17, 1023, 513},
      {"small_64x64x64", 1, 64, 64, 64},
      {"narrow_4096x1024x10", 1, 4096, 1024, 10},  // N < NR: the dot-product path
      {"narrow_128x512x7^T", 1, 128, 512, 7, false, true},
      // GPT step (bench/py/workloads_lm.py): the linears x @ W^T, their dX = dY @ W and
      // dW = dY^T @ X
      {"gpt_qkv_2048x128x384^T", 1, 2048, 128, 384, false, true},
      {"gpt_proj_2048x128x128^T", 1, 2048, 128, 128, false, true},
      {"gpt_fc1_2048x128x512^T", 1, 2048, 128, 512, false, true},
      {"gpt_fc2_2048x512x128^T", 1, 2048, 512, 128, false, true},
      {"gpt_fc1_dX_2048x512x128", 1, 2048, 512, 128},
      {"gpt_fc2_dX_2048x128x512", 1, 2048, 128, 512},
      {"gpt_fc1_dW_512^Tx2048x128", 1, 512, 2048, 128, true, false},
      {"gpt_fc2_dW_128^Tx2048x512", 1, 128, 2048, 512, true, false},
      // LSTM step (bench/py/workloads_rnn.py: batch 20, hidden 256): h @ W_hh^T for the 4 gates,
      // and its backward dh = dgates @ W_hh
      {"lstm_gates_20x256x1024^T", 1, 20, 256, 1024, false, true},
      {"lstm_dh_20x1024x256", 1, 20, 1024, 256},
  };
  return s;
}

template <class T>
std::vector<T> filled(size_t n, float scale) {
  std::vector<T> v(n);
  uint32_t x = 12345;
  for (auto& e : v) {
    x = x * 1664525u + 1013904223u;
    e = T((float(x >> 8) / float(1 << 24) - 0.5f) * scale);
  }
  return v;
}

// Storage element of each input dtype (16-bit floats as raw bits: the engine only reads them).
template <GemmIn In> struct Storage { using type = float; };
template <> struct Storage<GemmIn::F64> { using type = double; };
template <> struct Storage<GemmIn::F16> { using type = uint16_t; };
template <> struct Storage<GemmIn::BF16> { using type = uint16_t; };

template <GemmIn In>
void BM_engine(benchmark::State& state, Shape3 s, Isa isa) {
  using S = typename Storage<In>::type;
  using C = std::conditional_t<In == GemmIn::F64, double, float>;
  // 16-bit inputs: 0x3c00 / 0x3f80 patterns (1.0) are fine for timing
  auto a = In == GemmIn::F16 || In == GemmIn::BF16 ? std::vector<S>(size_t(s.batch * s.m * s.k), S(0x3c00))
                                                   : filled<S>(size_t(s.batch * s.m * s.k), 1.0f);
  auto b = In == GemmIn::F16 || In == GemmIn::BF16 ? std::vector<S>(size_t(s.batch * s.k * s.n), S(0x3c00))
                                                   : filled<S>(size_t(s.batch * s.k * s.n), 1.0f);
  std::vector<C> c(size_t(s.batch * s.m * s.n));
  GemmDesc d;
  d.in = In;
  d.batch = s.batch;
  d.m = s.m;
  d.n = s.n;
  d.k = s.k;
  d.a = a.data();
  d.a_bs = s.m * s.k;
  d.a_rs = s.ta ? 1 : s.k;
  d.a_cs = s.ta ? s.m : 1;
  d.b = b.data();
  d.b_bs = s.k * s.n;
  d.b_rs = s.tb ? 1 : s.n;
  d.b_cs = s.tb ? s.k : 1;
  d.c = c.data();
  d.c_bs = s.m * s.n;
  d.c_rs = s.n;
  for (auto _ : state) {
    ember::cpu::gemm_run(d, isa);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(s.batch) * double(s.m) * double(s.n) * double(s.k);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Through the op layer: allocation, dispatch and views included.
void BM_op_matmul(benchmark::State& state, Shape3 s) {
  using namespace ember;
  Tensor a = randn({s.batch, s.ta ? s.k : s.m, s.ta ? s.m : s.k}, Dtype::Float32);
  Tensor b = randn({s.batch, s.tb ? s.n : s.k, s.tb ? s.k : s.n}, Dtype::Float32);
  if (s.ta) a = matrix_mT(a);
  if (s.tb) b = matrix_mT(b);
  for (auto _ : state) {
    Tensor c = matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  const double flops = 2.0 * double(s.batch) * double(s.m) * double(s.n) * double(s.k);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_op_linear(benchmark::State& state, int64_t rows, int64_t in, int64_t out) {
  using namespace ember;
  Tensor x = randn({rows, in}, Dtype::Float32), w = randn({out, in}, Dtype::Float32), b = randn({out}, Dtype::Float32);
  for (auto _ : state) {
    Tensor y = linear(x, w, b);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(rows * in * out) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

int register_all() {
  std::vector<Isa> isas;
  const Isa hw = ember::cpu::cpu_isa();  // already lowered by EMBER_CPU_ISA
  if (hw == Isa::Avx512) isas.push_back(Isa::Avx512);
  if (hw == Isa::Avx512 || hw == Isa::Avx2) isas.push_back(Isa::Avx2);
  isas.push_back(hw == Isa::Neon ? Isa::Neon : Isa::Scalar);
  for (Isa isa : isas) {
    const std::string tag = std::string("/") + ember::cpu::isa_name(isa);
    for (const Shape3& s : shapes()) {
      // the portable path is slow: only the small shapes
      if (isa == Isa::Scalar && 2.0 * s.batch * s.m * s.n * s.k > 3e9) continue;
      benchmark::RegisterBenchmark(("gemm_f32/" + std::string(s.name) + tag).c_str(), BM_engine<GemmIn::F32>, s, isa)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
    const Shape3 sq{"square1024", 1, 1024, 1024, 1024};
    const Shape3 sq512{"square512", 1, 512, 512, 512};
    benchmark::RegisterBenchmark(("gemm_f64/square1024" + tag).c_str(), BM_engine<GemmIn::F64>, sq, isa)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("gemm_bf16/square512" + tag).c_str(), BM_engine<GemmIn::BF16>, sq512, isa)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("gemm_f16/square512" + tag).c_str(), BM_engine<GemmIn::F16>, sq512, isa)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  }
  for (const Shape3& s : shapes())
    benchmark::RegisterBenchmark(("op_matmul_f32/" + std::string(s.name)).c_str(), BM_op_matmul, s)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  benchmark::RegisterBenchmark("op_linear_f32/128x784->512", BM_op_linear, 128, 784, 512)
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
