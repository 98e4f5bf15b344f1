// Creation ops (zeros, arange, eye, ...) and random numbers (Generator, rand, randn, ...).
// Random fills run serially in element order so a seed reproduces the same tensor regardless
// of the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <numbers>
#include <vector>

#include "backend/kernels.h"
#include "backend/kernels_random.h"
#include "ops/ops.h"

namespace ember {
namespace {

// Negative sizes and sizes whose byte count overflows are ValueErrors naming op.
void check_size(const Shape& shape, const char* op, Dtype dtype) { checked_numel(shape, op, itemsize(dtype)); }

Tensor filled(const Shape& shape, const Scalar& value, Dtype dtype, const char* op, Device device) {
  check_size(shape, op, dtype);
  check_scalar_fits(value, dtype, op);
  Tensor t = empty(shape, dtype, device);
  if (t.numel() > 0) kernel::fill(t.device())(t, value);
  return t;
}

// One lock for every generator: draws are cheap next to the lock, and Python threads may share
// the default generator.
std::mutex& rng_mutex() {
  static std::mutex m;
  return m;
}
// The generator lock; kernels run meanwhile (copies into strided outputs) keep the GIL.
struct RngLock {
  GilHold hold;
  std::lock_guard<std::mutex> lock{rng_mutex()};
};

Generator& pick(Generator* gen) { return gen ? *gen : default_generator(); }

// Device tensors (Metal) draw from a counter-based Philox stream (backend/kernels_random.h): one
// 64-bit key taken from the generator per call, then every element is a function of (key,
// index), so the GPU fills them independently and a seed repeats the tensor. It is not the CPU's
// sequential stream: the same seed gives different numbers on the CPU and on a device.
void device_draw(const Tensor& x, RandomKind kind, double a, double b, Generator* gen,
                 const Tensor& probs = Tensor()) {
  if (x.numel() == 0) return;
  RandomDraw d;
  {
    RngLock lock;
    d.key = pick(gen).next();
  }
  d.kind = kind, d.a = a, d.b = b;
  Tensor out = x.is_contiguous() ? x : empty(x.shape(), x.dtype(), x.device());
  kernel::random_fill(x.device())(out, probs, d);
  if (out.impl() != x.impl()) copy_kernel_call(x, out);
}

// Calls write(T* p, n) on a contiguous buffer aliasing x's elements in logical order, then copies
// it into x when x is strided (so views get exactly their own elements).
template <class T, class W>
void write_in_order(const Tensor& x, W&& write) {
  if (x.numel() == 0) return;
  if (x.is_contiguous()) {
    write(x.data<T>(), x.numel());
    return;
  }
  Tensor tmp = empty(x.shape(), x.dtype(), x.device());
  write(tmp.data<T>(), tmp.numel());
  copy_kernel_call(x, tmp);
}

// Uniform in [0, 1) with as many random bits as the type holds, so float32 never rounds to 1.
template <class T>
acc_t<T> uniform01(Generator& g) {
  if constexpr (std::is_same_v<T, double>) return g.uniform();
  else return float(g.next() >> 40) * 0x1p-24f;
}

void check_float(Dtype d, const char* op) {
  if (!is_floating(d)) EMBER_TYPE_ERROR(op, ": expected a floating point dtype, got ", dtype_name(d));
}

void fill_uniform(const Tensor& x, double a, double b, Generator& g) {
  dispatch_floating(x.dtype(), "uniform_", [&]<class T>() {
    using A = acc_t<T>;
    const A lo = A(a), span = A(b - a);
    write_in_order<T>(x, [&](T* p, int64_t n) {
      for (int64_t i = 0; i < n; ++i) p[i] = T(lo + span * uniform01<T>(g));
    });
  });
}

// Box-Muller: each pair of uniforms gives two independent normals.
void fill_normal(const Tensor& x, double mean, double std, Generator& g) {
  dispatch_floating(x.dtype(), "normal_", [&]<class T>() {
    write_in_order<T>(x, [&](T* p, int64_t n) {
      for (int64_t i = 0; i < n; i += 2) {
        double u1 = 1.0 - g.uniform(), u2 = g.uniform();  // u1 in (0, 1]: log is finite
        double r = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * std::numbers::pi * u2;
        p[i] = T(acc_t<T>(mean + std * r * std::cos(th)));
        if (i + 1 < n) p[i + 1] = T(acc_t<T>(mean + std * r * std::sin(th)));
      }
    });
  });
}

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Inclusive range of values a dtype holds exactly as an integer (for randint/randperm checks).
std::pair<double, double> int_range(Dtype d) {
  switch (d) {
    case Dtype::Bool: return {0, 1};
    case Dtype::UInt8: return {0, 255};
    case Dtype::Int32: return {-2147483648.0, 2147483647.0};
    case Dtype::Float16: return {-2048, 2048};
    case Dtype::BFloat16: return {-256, 256};
    case Dtype::Float32: return {-16777216.0, 16777216.0};
    case Dtype::Int64: return {-9223372036854775808.0, 9223372036854775807.0};
    default: return {-9007199254740992.0, 9007199254740992.0};  // float64: exact up to 2^53
  }
}

}  // namespace

// ---- constant fills

Tensor zeros(const Shape& shape, Dtype dtype, Device device) {
  return filled(shape, Scalar(int64_t(0)), dtype, "zeros", device);
}
Tensor ones(const Shape& shape, Dtype dtype, Device device) {
  return filled(shape, Scalar(int64_t(1)), dtype, "ones", device);
}
Tensor full(const Shape& shape, const Scalar& value, Dtype dtype, Device device) {
  return filled(shape, value, dtype, "full", device);
}
Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), x.dtype(), x.device()); }

// ---- ranges

Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, std::optional<Dtype> dtype) {
  const bool any_float = start.is_float() || end.is_float() || step.is_float();
  const Dtype dt = dtype ? *dtype : any_float ? default_dtype() : Dtype::Int64;
  if (dt == Dtype::Bool) EMBER_TYPE_ERROR("arange: not implemented for dtype bool");
  const double s = start.to_double(), e = end.to_double(), st = step.to_double();
  if (!std::isfinite(s) || !std::isfinite(e) || !std::isfinite(st))
    EMBER_VALUE_ERROR("arange: unsupported range: start=", s, ", end=", e, ", step=", st);
  if (st == 0) EMBER_VALUE_ERROR("arange: step must be nonzero");
  if ((st > 0 && e < s) || (st < 0 && e > s))
    EMBER_VALUE_ERROR("arange: upper bound and lower bound inconsistent with step sign (start=", s,
                      ", end=", e, ", step=", st, ")");
  int64_t n;
  if (!any_float) {  // exact integer ceil division (doubles lose precision past 2^53)
    int64_t d, k = step.to_int();
    if (__builtin_sub_overflow(end.to_int(), start.to_int(), &d))
      EMBER_VALUE_ERROR("arange: the range [", start.to_int(), ", ", end.to_int(), ") is too large");
    n = d / k + ((d % k) != 0 ? 1 : 0);
  } else {
    double nd = std::ceil((e - s) / st);
    if (nd > double(std::numeric_limits<int64_t>::max() / 8))
      EMBER_VALUE_ERROR("arange: the range [", s, ", ", e, ") with step ", st, " is too large");
    n = int64_t(nd);
  }
  n = std::max<int64_t>(n, 0);
  check_size({n}, "arange", dt);
  Tensor t = empty({n}, dt);
  dispatch_all(dt, [&]<class T>() {
    T* p = t.data<T>();
    if (!any_float && !is_floating(dt)) {
      const int64_t s0 = start.to_int(), k = step.to_int();
      for (int64_t i = 0; i < n; ++i) p[i] = T(s0 + k * i);
    } else {
      for (int64_t i = 0; i < n; ++i) p[i] = T(acc_t<T>(s + st * double(i)));
    }
  });
  return t;
}

Tensor linspace(double start, double end, int64_t steps, Dtype dtype) {
  if (steps < 0) EMBER_VALUE_ERROR("linspace: number of steps must be non-negative, got ", steps);
  check_size({steps}, "linspace", dtype);
  Tensor t = empty({steps}, dtype);
  // NumPy's formula (start + i * step, last element exactly end) so float64 matches it bit-wise.
  const double step = steps > 1 ? (end - start) / double(steps - 1) : 0.0;
  dispatch_all(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < steps; ++i) {
      double v = (i == steps - 1 && steps > 1) ? end : start + step * double(i);
      p[i] = T(acc_t<T>(v));
    }
  });
  return t;
}

Tensor eye(int64_t n, std::optional<int64_t> m, Dtype dtype) {
  const int64_t cols = m ? *m : n;
  if (n < 0 || cols < 0) EMBER_VALUE_ERROR("eye: n and m must be non-negative, got n=", n, ", m=", cols);
  check_size({n, cols}, "eye", dtype);
  Tensor t = zeros({n, cols}, dtype);
  dispatch_all(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < std::min(n, cols); ++i) p[i * cols + i] = T(acc_t<T>(1));
  });
  return t;
}

// ---- Generator (xorshift128+ seeded through splitmix64)

void Generator::manual_seed(uint64_t seed) {
  seed_ = seed;
  uint64_t s = seed;
  state[0] = splitmix64(s);
  state[1] = splitmix64(s);
  if (state[0] == 0 && state[1] == 0) state[1] = 1;  // the all-zero state is a fixed point
}

uint64_t Generator::next() {
  if (compile::g_tracing) compile::graph_break("draws random numbers (a replay would repeat them)");
  uint64_t s1 = state[0];
  const uint64_t s0 = state[1];
  const uint64_t result = s0 + s1;
  state[0] = s0;
  s1 ^= s1 << 23;
  state[1] = s1 ^ s0 ^ (s1 >> 18) ^ (s0 >> 5);
  return result;
}

double Generator::uniform() { return double(next() >> 11) * 0x1p-53; }

double Generator::normal() {
  double u1 = 1.0 - uniform(), u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

Generator& default_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) {
  RngLock lock;
  default_generator().manual_seed(seed);
}

// ---- random tensors

Tensor& uniform_(Tensor& x, double a, double b, Generator* gen) {
  check_inplace(x, "uniform_");
  check_float(x.dtype(), "uniform_");
  if (!(a <= b)) EMBER_VALUE_ERROR("uniform_: expects to return a [from, to) range, but found from=", a, " > to=", b);
  if (x.device() != Device::CPU) {
    device_draw(x, RandomKind::Uniform, a, b, gen);
  } else {
    RngLock lock;
    fill_uniform(x, a, b, pick(gen));
  }
  x.bump_version();
  return x;
}

Tensor& normal_(Tensor& x, double mean, double std, Generator* gen) {
  check_inplace(x, "normal_");
  check_float(x.dtype(), "normal_");
  if (!(std >= 0)) EMBER_VALUE_ERROR("normal_: expects std >= 0.0, but found std ", std);
  if (x.device() != Device::CPU) {
    device_draw(x, RandomKind::Normal, mean, std, gen);
  } else {
    RngLock lock;
    fill_normal(x, mean, std, pick(gen));
  }
  x.bump_version();
  return x;
}

Tensor rand(const Shape& shape, Dtype dtype, Generator* gen, Device device) {
  check_size(shape, "rand", dtype);
  check_float(dtype, "rand");
  Tensor t = empty(shape, dtype, device);
  if (device != Device::CPU) {
    device_draw(t, RandomKind::Uniform, 0.0, 1.0, gen);
    return t;
  }
  RngLock lock;
  fill_uniform(t, 0.0, 1.0, pick(gen));
  return t;
}

Tensor randn(const Shape& shape, Dtype dtype, Generator* gen, Device device) {
  check_size(shape, "randn", dtype);
  check_float(dtype, "randn");
  Tensor t = empty(shape, dtype, device);
  if (device != Device::CPU) {
    device_draw(t, RandomKind::Normal, 0.0, 1.0, gen);
    return t;
  }
  RngLock lock;
  fill_normal(t, 0.0, 1.0, pick(gen));
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Dtype dtype, Generator* gen) {
  check_size(shape, "randint", dtype);
  if (low >= high)
    EMBER_VALUE_ERROR("randint: expects 'low' to be less than 'high', but got low=", low, " >= high=", high);
  auto [lo, hi] = int_range(dtype);
  if (double(low) < lo || double(high - 1) > hi)
    EMBER_VALUE_ERROR("randint: range [", low, ", ", high, ") does not fit in dtype ", dtype_name(dtype));
  Tensor t = empty(shape, dtype);
  // the span may exceed INT64_MAX (e.g. [-2^62, 2^62]); unsigned arithmetic handles it
  const uint64_t span = uint64_t(high) - uint64_t(low);
  RngLock lock;
  Generator& g = pick(gen);
  dispatch_all(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      int64_t v = int64_t(uint64_t(low) + g.next() % span);  // bias <= span / 2^64: negligible
      p[i] = T(acc_t<T>(v));
    }
  });
  return t;
}

Tensor randperm(int64_t n, Dtype dtype, Generator* gen) {
  if (n < 0) EMBER_VALUE_ERROR("randperm: n must be non-negative, got ", n);
  if (dtype == Dtype::Bool) EMBER_TYPE_ERROR("randperm: not implemented for dtype bool");
  if (n > 0 && double(n - 1) > int_range(dtype).second)
    EMBER_VALUE_ERROR("randperm: n=", n, " is too large for result dtype ", dtype_name(dtype));
  check_size({n}, "randperm", Dtype::Int64);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  {
    RngLock lock;
    Generator& g = pick(gen);
    for (int64_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[g.next() % uint64_t(i + 1)]);  // Fisher-Yates
  }
  Tensor t = empty({n}, dtype);
  dispatch_all(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = T(acc_t<T>(perm[i]));
  });
  return t;
}

Tensor bernoulli(const Tensor& p, Generator* gen) {
  check_float(p.dtype(), "bernoulli");
  Tensor probs = contiguous(alias_detached(p));  // detached: bernoulli records no graph
  Tensor out = empty(p.shape(), p.dtype(), p.device());
  if (p.device() != Device::CPU) {  // validated by device ops (one sync), then drawn there
    const Tensor ge0 = binary(BinaryOp::Ge, probs, scalar_tensor(0.0, p.dtype()));
    const Tensor le1 = binary(BinaryOp::Le, probs, scalar_tensor(1.0, p.dtype()));  // NaN: false
    if (probs.numel() > 0 && !all(binary(BinaryOp::LogicalAnd, ge0, le1)).item().to<bool>())
      EMBER_VALUE_ERROR("bernoulli: expected all probabilities in [0, 1]");
    device_draw(out, RandomKind::BernoulliTensor, 0.0, 0.0, gen, probs);
    return out;
  }
  dispatch_floating(p.dtype(), "bernoulli", [&]<class T>() {
    const T* src = probs.data<T>();
    const int64_t n = probs.numel();
    for (int64_t i = 0; i < n; ++i) {  // validate everything before drawing
      double v = double(acc_t<T>(src[i]));
      if (!(v >= 0 && v <= 1)) EMBER_VALUE_ERROR("bernoulli: expected all probabilities in [0, 1], got ", v);
    }
    T* dst = out.data<T>();
    RngLock lock;
    Generator& g = pick(gen);
    for (int64_t i = 0; i < n; ++i) dst[i] = T(acc_t<T>(g.uniform() < double(acc_t<T>(src[i])) ? 1 : 0));
  });
  return out;
}

Tensor bernoulli(const Shape& shape, double p, Dtype dtype, Device device, Generator* gen) {
  check_size(shape, "bernoulli", dtype);
  check_float(dtype, "bernoulli");
  if (!(p >= 0 && p <= 1)) EMBER_VALUE_ERROR("bernoulli: expected p in [0, 1], got ", p);
  if (device == Device::CPU) return bernoulli(full(shape, Scalar(p), dtype), gen);  // the CPU stream
  Tensor out = empty(shape, dtype, device);
  device_draw(out, RandomKind::Bernoulli, p, 0.0, gen);
  return out;
}

// With replacement: inverse CDF per draw (binary search in the row's running sums). Without:
// each category gets the key E / w (E ~ Exp(1)); the num_samples smallest keys are a weighted
// draw without replacement (the exponential-race form of sequential sampling).
Tensor multinomial(const Tensor& input, int64_t num_samples, bool replacement, Generator* gen) {
  const char* op = "multinomial";
  if (input.dim() != 1 && input.dim() != 2)
    EMBER_RUNTIME_ERROR(op, ": prob_dist must be 1 or 2 dim, got shape ", input.shape());
  if (!is_floating(input.dtype()))
    EMBER_RUNTIME_ERROR(op, ": only supports floating-point dtypes for input, got ", dtype_name(input.dtype()));
  if (num_samples <= 0) EMBER_RUNTIME_ERROR(op, ": cannot sample n_sample <= 0 samples, got ", num_samples);
  const int64_t C = input.shape().back(), R = input.dim() == 2 ? input.shape()[0] : 1;
  if (C == 0) EMBER_RUNTIME_ERROR(op, ": the distribution has no categories (input shape ", input.shape(), ")");
  if (!replacement && num_samples > C)
    EMBER_RUNTIME_ERROR(op, ": cannot sample n_sample > prob_dist.size(-1) samples without replacement (",
                        num_samples, " > ", C, ")");
  Tensor w = contiguous(to_dtype(detach(input), Dtype::Float64));
  const double* p = w.data<double>();
  for (int64_t r = 0; r < R; ++r) {  // validate every row before drawing
    double total = 0;
    int64_t positive = 0;
    for (int64_t j = 0; j < C; ++j) {
      double v = p[r * C + j];
      if (!std::isfinite(v) || v < 0)
        EMBER_RUNTIME_ERROR(op, ": probability tensor contains either `inf`, `nan` or element < 0 (row ", r,
                            " of input of shape ", input.shape(), ")");
      total += v;
      positive += v > 0;
    }
    if (!(total > 0))
      EMBER_RUNTIME_ERROR(op, ": invalid multinomial distribution (sum of probabilities <= 0) in row ", r);
    if (!replacement && positive < num_samples)
      EMBER_RUNTIME_ERROR(op, ": invalid multinomial distribution (with replacement=False, not enough "
                          "non-negative category to sample): row ", r, " has ", positive, " < ", num_samples);
  }
  Shape out_shape = input.dim() == 2 ? Shape{R, num_samples} : Shape{num_samples};
  Tensor out = empty(out_shape, Dtype::Int64);
  int64_t* o = out.data<int64_t>();
  std::vector<double> cdf(static_cast<size_t>(C));
  std::vector<std::pair<double, int64_t>> keys;
  std::lock_guard lock(rng_mutex());
  Generator& g = pick(gen);
  for (int64_t r = 0; r < R; ++r) {
    const double* row = p + r * C;
    int64_t* dst = o + r * num_samples;
    if (replacement) {
      double run = 0;
      for (int64_t j = 0; j < C; ++j) cdf[j] = run += row[j];
      for (int64_t s = 0; s < num_samples; ++s) {
        double u = g.uniform() * run;
        int64_t j = std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
        while (j > 0 && row[std::min(j, C - 1)] == 0) --j;  // never land on a zero-weight category
        dst[s] = std::min(j, C - 1);
      }
    } else {
      keys.clear();
      for (int64_t j = 0; j < C; ++j) {
        double e = -std::log1p(-g.uniform());  // Exp(1); uniform() < 1, so finite
        keys.emplace_back(row[j] > 0 ? e / row[j] : std::numeric_limits<double>::infinity(), j);
      }
      std::partial_sort(keys.begin(), keys.begin() + num_samples, keys.end());
      for (int64_t s = 0; s < num_samples; ++s) dst[s] = keys[s].second;
    }
  }
  return out;
}

}  // namespace ember
