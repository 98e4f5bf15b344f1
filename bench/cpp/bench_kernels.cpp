// Every CPU kernel family but GEMM (bench_gemm.cpp), through the op layer or the kernel slots
// (never internal CPU functions), each with a GFLOP/s or GB/s counter:
//   conv2d (one shape per algorithm the conv slot picks: Winograd, im2col, depthwise, 1x1;
//   forward and both gradients), attention, norms, softmax, reductions, elementwise, pooling,
//   fused loss, optimizer steps.
//   build/bench/bench/cpp/bench_kernels --benchmark_filter=conv --benchmark_repetitions=5 \
//       --benchmark_report_aggregates_only=true
// GB/s counts the bytes an op must move at least once (inputs read, outputs written); GFLOP/s
// counts the multiply-adds of the textbook algorithm (2 flops each), so a faster algorithm
// (Winograd) can exceed the machine's FMA peak.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "backend/kernels_conv.h"
#include "core/tensor.h"
#include "ops/ops.h"

namespace {

using namespace ember;
using benchmark::Counter;

Counter rate(double amount) { return Counter(amount, Counter::kIsIterationInvariantRate, Counter::kIs1000); }
void set_gbs(benchmark::State& st, double bytes) { st.counters["GB/s"] = rate(bytes * 1e-9); }
void set_gflops(benchmark::State& st, double flops) { st.counters["GFLOP/s"] = rate(flops * 1e-9); }

Tensor rn(const Shape& s) { return randn(s, Dtype::Float32); }

// ---- convolution: the conv slot picks its algorithm from the shape; these shapes each take one
// (Winograd: 3x3 stride 1 with enough channels; im2col + GEMM: 3x3 stride 2 and 5x5; depthwise:
// groups == C; 1x1 stride 1: plain GEMMs).
struct ConvCase {
  const char* name;
  int64_t n, c, hw, k, ks, stride, pad, groups;
};

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> v = {
      {"winograd_3x3_64-64_32x32_N32", 32, 64, 32, 64, 3, 1, 1, 1},
      {"winograd_3x3_256-256_14x14_N16", 16, 256, 14, 256, 3, 1, 1, 1},
      {"im2col_3x3s2_64-128_32x32_N32", 32, 64, 32, 128, 3, 2, 1, 1},
      {"im2col_5x5_32-64_28x28_N32", 32, 32, 28, 64, 5, 1, 2, 1},
      {"depthwise_3x3_C128_56x56_N8", 8, 128, 56, 128, 3, 1, 1, 128},
      {"depthwise_3x3s2_C128_56x56_N8", 8, 128, 56, 128, 3, 2, 1, 128},
      {"1x1_256-256_28x28_N16", 16, 256, 28, 256, 1, 1, 0, 1},
  };
  return v;
}

ConvGeom geom(const ConvCase& c) {
  ConvGeom g;
  g.N = c.n;
  g.C = c.c;
  g.H = g.W = c.hw;
  g.K = c.k;
  g.kh = g.kw = c.ks;
  g.sh = g.sw = c.stride;
  g.ph = g.pw = c.pad;
  g.groups = c.groups;
  g.Ho = g.Wo = (c.hw + 2 * c.pad - c.ks) / c.stride + 1;
  return g;
}

double conv_flops(const ConvGeom& g) {
  return 2.0 * double(g.N * g.K * g.Ho * g.Wo) * double(g.C / g.groups * g.kh * g.kw);
}

// pass 0: forward (op), 1: input gradient (slot), 2: weight gradient (slot)
void BM_conv(benchmark::State& st, ConvCase c, int pass) {
  const ConvGeom g = geom(c);
  Tensor x = rn({g.N, g.C, g.H, g.W}), w = rn({g.K, g.C / g.groups, g.kh, g.kw}), dy = rn({g.N, g.K, g.Ho, g.Wo});
  Tensor dx = empty({g.N, g.C, g.H, g.W}, Dtype::Float32), dw = empty({g.K, g.C / g.groups, g.kh, g.kw}, Dtype::Float32);
  for (auto _ : st) {
    if (pass == 0) {
      Tensor y = conv2d(x, w, Tensor(), Dims{c.stride}, Dims{c.pad}, Dims{1}, c.groups);
      benchmark::DoNotOptimize(y.raw_data());
    } else if (pass == 1) {
      kernel::conv_grad_input(Device::CPU)(dx, dy, w, g);
    } else {
      kernel::conv_grad_weight(Device::CPU)(dw, x, dy, g);
    }
    benchmark::ClobberMemory();
  }
  set_gflops(st, conv_flops(g));
}

// ---- attention: B x H heads of L x E, flash-style forward
void BM_attention(benchmark::State& st, int64_t b, int64_t h, int64_t l, int64_t e, bool causal) {
  Tensor q = rn({b, h, l, e}), k = rn({b, h, l, e}), v = rn({b, h, l, e});
  for (auto _ : st) {
    Tensor y = scaled_dot_product_attention(q, k, v, Tensor(), 0.0, causal, std::nullopt, false);
    benchmark::DoNotOptimize(y.raw_data());
  }
  // q @ k^T and p @ v: 2 * 2 * L * S * E per head; causal does about half
  set_gflops(st, 4.0 * double(b * h * l * l * e) * (causal ? 0.5 : 1.0));
}

// ---- norms (bytes: x read, y written)
void BM_layer_norm(benchmark::State& st, int64_t rows, int64_t d, bool rms) {
  Tensor x = rn({rows, d}), w = rn({d}), bias = rms ? Tensor() : rn({d});
  for (auto _ : st) {
    Tensor y = row_norm(x, {d}, w, bias, 1e-5, rms);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_gbs(st, 8.0 * double(rows * d));
}

void BM_batch_norm_train(benchmark::State& st, int64_t n, int64_t c, int64_t hw) {
  Tensor x = rn({n, c, hw, hw}), rm = zeros({c}, Dtype::Float32), rv = full({c}, Scalar(1.0), Dtype::Float32);
  Tensor w = rn({c}), b = rn({c});
  for (auto _ : st) {
    Tensor y = batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_gbs(st, 8.0 * double(n * c * hw * hw));  // at least one read and one write
}

// ---- softmax and reductions
void BM_softmax(benchmark::State& st, int64_t rows, int64_t d, bool log) {
  Tensor x = rn({rows, d});
  for (auto _ : st) {
    Tensor y = log ? log_softmax(x, -1) : softmax(x, -1);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_gbs(st, 8.0 * double(rows * d));
}

void BM_sum_all(benchmark::State& st, int64_t n) {
  Tensor x = rn({n});
  for (auto _ : st) {
    Tensor y = sum(x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_gbs(st, 4.0 * double(n));
}

void BM_reduce_dim(benchmark::State& st, int64_t rows, int64_t cols, int64_t dim, bool max) {
  Tensor x = rn({rows, cols});
  for (auto _ : st) {
    Tensor y = max ? amax(x, Dims{dim}) : sum(x, Dims{dim});
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_gbs(st, 4.0 * double(rows * cols));
}

// ---- elementwise (the output's allocation is part of each op, as in Python)
void BM_add(benchmark::State& st, int64_t n) {
  Tensor a = rn({n}), b = rn({n});
  for (auto _ : st) {
    Tensor y = add(a, b);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_gbs(st, 12.0 * double(n));
}

void BM_add_inplace(benchmark::State& st, int64_t n) {
  Tensor a = rn({n}), b = rn({n});
  for (auto _ : st) {
    binary_(BinaryOp::Add, a, b);
    benchmark::ClobberMemory();
  }
  set_gbs(st, 12.0 * double(n));
}

void BM_add_broadcast(benchmark::State& st, int64_t rows, int64_t cols) {
  Tensor a = rn({rows, cols}), b = rn({cols});
  for (auto _ : st) {
    Tensor y = add(a, b);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_gbs(st, 8.0 * double(rows * cols));
}

void BM_unary(benchmark::State& st, UnaryOp op, int64_t n) {
  Tensor x = rn({n});
  for (auto _ : st) {
    Tensor y = unary(op, x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_gbs(st, 8.0 * double(n));
}

// per-op overhead of the C++ op layer (the Python binding adds its own on top)
void BM_add_tiny(benchmark::State& st) {
  Tensor a = rn({4}), b = rn({4});
  for (auto _ : st) {
    Tensor y = add(a, b);
    benchmark::DoNotOptimize(y.raw_data());
  }
  st.counters["ns/op"] = Counter(1e-9, Counter::kIsIterationInvariantRate | Counter::kInvert);
}

// ---- pooling and fused loss
void BM_max_pool2d(benchmark::State& st, int64_t n, int64_t c, int64_t hw) {
  Tensor x = rn({n, c, hw, hw});
  for (auto _ : st) {
    Tensor y = max_pool2d(x, {2}, {2});
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_gbs(st, 4.0 * double(n * c * hw * hw) * 1.25);
}

void BM_cross_entropy(benchmark::State& st, int64_t n, int64_t classes) {
  Tensor logits = rn({n, classes}), target = randint(0, classes, {n}, Dtype::Int64);
  for (auto _ : st) {
    Tensor l = cross_entropy_loss(logits, target, Tensor(), 2, -100, 0.0);
    benchmark::DoNotOptimize(l.raw_data());
  }
  set_gbs(st, 4.0 * double(n * classes));
}

// ---- optimizer steps over ~10M float32 parameters in 4 tensors (multi-tensor fused kernels)
struct OptState {
  TensorList p, g, m, v, vmax, steps;
  double numel = 0;
  OptState() {
    for (Shape s : {Shape{4096, 1024}, Shape{1024, 4096}, Shape{1024, 1024}, Shape{1024}}) {
      p.push_back(rn(s));
      g.push_back(rn(s));
      m.push_back(zeros(s, Dtype::Float32));
      v.push_back(zeros(s, Dtype::Float32));
      steps.push_back(zeros({}, Dtype::Float32));
      numel += double(p.back().numel());
    }
  }
};

void BM_adamw(benchmark::State& st) {
  OptState s;
  for (auto _ : st) {
    adam_step_(s.p, s.g, s.m, s.v, s.vmax, s.steps, 1e-3, 0.9, 0.999, 1e-8, 0.01, false, false, true);
    benchmark::ClobberMemory();
  }
  set_gbs(st, 28.0 * s.numel);  // read p, g, m, v; write p, m, v
}

void BM_sgd_momentum(benchmark::State& st) {
  OptState s;
  std::vector<bool> fresh(s.p.size(), false);
  for (auto _ : st) {
    sgd_step_(s.p, s.g, s.m, fresh, 1e-2, 0.9, 0.0, 0.0, false, false);
    benchmark::ClobberMemory();
  }
  set_gbs(st, 20.0 * s.numel);  // read p, g, buf; write p, buf
}

template <class F, class... A>
void reg(const std::string& name, F f, A... a) {
  benchmark::RegisterBenchmark(name.c_str(), f, a...)->Unit(benchmark::kMicrosecond)->UseRealTime();
}

int register_all() {
  const char* passes[] = {"fwd", "grad_input", "grad_weight"};
  for (const ConvCase& c : conv_cases())
    for (int pass = 0; pass < 3; ++pass) reg(std::string("conv2d/") + c.name + "/" + passes[pass], BM_conv, c, pass);
  reg("attention/B4_H8_L512_E64", BM_attention, 4, 8, 512, 64, false);
  reg("attention/B4_H8_L512_E64_causal", BM_attention, 4, 8, 512, 64, true);
  reg("attention/B1_H16_L2048_E64_causal", BM_attention, 1, 16, 2048, 64, true);
  reg("layer_norm/8192x1024", BM_layer_norm, 8192, 1024, false);
  reg("rms_norm/8192x1024", BM_layer_norm, 8192, 1024, true);
  reg("batch_norm_train/N32_C64_32x32", BM_batch_norm_train, 32, 64, 32);
  reg("softmax/4096x1024", BM_softmax, 4096, 1024, false);
  reg("log_softmax/4096x1024", BM_softmax, 4096, 1024, true);
  reg("sum/16M", BM_sum_all, int64_t(1) << 24);
  reg("sum_dim1/4096x4096", BM_reduce_dim, 4096, 4096, 1, false);
  reg("sum_dim0/4096x4096", BM_reduce_dim, 4096, 4096, 0, false);
  reg("amax_dim1/4096x4096", BM_reduce_dim, 4096, 4096, 1, true);
  reg("add/16M", BM_add, int64_t(1) << 24);
  reg("add/64K", BM_add, int64_t(1) << 16);
  reg("add_/16M", BM_add_inplace, int64_t(1) << 24);
  reg("add_broadcast_row/4096x4096", BM_add_broadcast, 4096, 4096);
  reg("add_tiny/4", BM_add_tiny);
  reg("relu/16M", BM_unary, UnaryOp::Relu, int64_t(1) << 24);
  reg("exp/16M", BM_unary, UnaryOp::Exp, int64_t(1) << 24);
  reg("tanh/16M", BM_unary, UnaryOp::Tanh, int64_t(1) << 24);
  reg("gelu/16M", BM_unary, UnaryOp::GeluErf, int64_t(1) << 24);
  reg("max_pool2d_2x2/N32_C64_32x32", BM_max_pool2d, 32, 64, 32);
  reg("cross_entropy/4096x1000", BM_cross_entropy, 4096, 1000);
  reg("adamw_step/9.4M", BM_adamw);
  reg("sgd_momentum_step/9.4M", BM_sgd_momentum);
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
