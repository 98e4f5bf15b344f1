// test_emu_ext.cpp -- checks the emulator extensions (emu_ext_checks.metal) against plain C++
// references, under several fiber schedules / poison patterns. Prints "N passed, M failed".
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/metal/emu/runtime.h"

using ember::emu::dim3;
using ember::emu::Options;
using ember::emu::Schedule;

static int g_passed = 0, g_failed = 0;
static void report(bool ok, const std::string& name, const std::string& detail) {
  std::printf("%s  %-36s %s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.c_str());
  (ok ? g_passed : g_failed)++;
}
static const Options kVariants[] = {{Schedule::Forward, 1, 0, 0xFF},
                                    {Schedule::Reverse, 1, 0, 0x7F},
                                    {Schedule::Random, 7, 0, 0xFF},
                                    {Schedule::Random, 11, 2, 0x7F}};

static uint16_t bf16_bits(float f) {  // reference rounding: nearest even, NaN quiet
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  uint64_t up = uint64_t(u) + 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(up >> 16);
}
static float bf16_float(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
static float half_float(uint16_t h) {
  _Float16 v;
  std::memcpy(&v, &h, 2);
  return float(v);
}

// element type of the inputs: 0 float32, 1 float16, 2 bfloat16
static void test_mma(const char* kname, int kind, bool transpose_b, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  std::vector<float> af(64), bf(64), c(64);
  std::vector<unsigned char> a(64 * 4), b(64 * 4);
  for (int i = 0; i < 64; ++i) {
    float x = nd(rng), y = nd(rng);
    c[i] = nd(rng);
    if (kind == 0) {
      std::memcpy(&a[i * 4], &x, 4), std::memcpy(&b[i * 4], &y, 4);
      af[i] = x, bf[i] = y;
    } else if (kind == 1) {
      _Float16 hx = _Float16(x), hy = _Float16(y);
      std::memcpy(&a[i * 2], &hx, 2), std::memcpy(&b[i * 2], &hy, 2);
      af[i] = float(hx), bf[i] = float(hy);
    } else {
      uint16_t bx = bf16_bits(x), by = bf16_bits(y);
      std::memcpy(&a[i * 2], &bx, 2), std::memcpy(&b[i * 2], &by, 2);
      af[i] = bf16_float(bx), bf[i] = bf16_float(by);
    }
  }
  double err = 0;
  bool ok = true, same = true;
  std::vector<float> first;
  std::string why;
  for (const Options& o : kVariants) {
    std::vector<float> d(64, -7.0f);
    unsigned tb = transpose_b;
    ember::emu::Encoder enc(kname);
    enc.set_buffer(0, a.data());
    enc.set_buffer(1, b.data());
    enc.set_buffer(2, c.data());
    enc.set_buffer(3, d.data());
    enc.set_bytes(4, &tb, sizeof tb);
    ember::emu::Result r = enc.dispatch_threadgroups(dim3{1, 1, 1}, dim3{32, 1, 1}, o);
    if (!r.ok) {
      ok = false;
      why = r.error;
      break;
    }
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 8; ++j) {
        double s = c[i * 8 + j];
        for (int k = 0; k < 8; ++k)
          s += double(af[i * 8 + k]) * (transpose_b ? bf[j * 8 + k] : bf[k * 8 + j]);
        err = std::max(err, std::fabs(s - d[i * 8 + j]));
      }
    if (first.empty())
      first = d;
    else
      same = same && std::memcmp(first.data(), d.data(), 256) == 0;
  }
  ok = ok && err < 1e-5 && same;
  report(ok, std::string(kname) + (transpose_b ? " B^T" : ""),
         why.empty() ? "max|err| " + std::to_string(err) + (same ? ", bit-identical" : ", RACE")
                     : why);
}

int main() {
  std::mt19937 rng(42);
  for (bool t : {false, true}) {
    test_mma("sgm_mma8_float32", 0, t, rng);
    test_mma("sgm_mma8_float16", 1, t, rng);
    test_mma("sgm_mma8_bfloat16", 2, t, rng);
  }
  {
    std::vector<float> a(64, 1.0f), d(64);
    ember::emu::Encoder enc("bad_sgm_partial");
    enc.set_buffer(0, a.data());
    enc.set_buffer(1, d.data());
    ember::emu::Result r = enc.dispatch_threadgroups(dim3{1, 1, 1}, dim3{32, 1, 1});
    report(!r.ok && r.error.find("every lane") != std::string::npos,
           "simdgroup_load refuses a partial SIMD-group", r.ok ? "no error reported" : r.error);
  }
  {  // 97 groups of 61 threads spread over 3 OS threads
    const unsigned groups = 97, tg = 61, n = groups * tg;
    std::vector<int> vals(n);
    long exact = 0;
    int vmax = -1000;
    for (unsigned i = 0; i < n; ++i) {
      vals[i] = int(rng() % 2001) - 1000;
      exact += vals[i];
      vmax = std::max(vmax, vals[i]);
    }
    bool ok = true;
    std::string detail;
    for (const Options& base : kVariants) {
      Options o = base;
      o.workers = 3;
      unsigned count = 0;
      int maxv = -1 << 30;
      float sum = 0;
      ember::emu::Encoder enc("atomic_accumulate");
      enc.set_buffer(0, &count);
      enc.set_buffer(1, &maxv);
      enc.set_buffer(2, &sum);
      enc.set_buffer(3, vals.data());
      ember::emu::Result r = enc.dispatch_threadgroups(dim3{groups, 1, 1}, dim3{tg, 1, 1}, o);
      // integers are exact; float sums of integers below 2^24 are exact in any order
      if (!r.ok || count != n || maxv != vmax || sum != float(exact)) {
        ok = false;
        detail = r.ok ? "count " + std::to_string(count) + " max " + std::to_string(maxv) +
                            " sum " + std::to_string(sum)
                      : r.error;
      }
    }
    report(ok, "atomics across 3 worker threads", ok ? "count/max/sum exact" : detail);
  }
  {
    std::vector<float> x = {1.0f,     -2.5f,     3.14159265f, 1e-40f, 65504.0f, 3.0e38f,
                            INFINITY, -INFINITY, NAN,         0.0f,   -0.0f};
    for (uint32_t u : {0x3f808000u, 0x3f818000u, 0x3f80c000u, 0x7f7fffffu,
                       0x0001ffffu}) {  // exact ties, overflow
      float f;
      std::memcpy(&f, &u, 4);
      x.push_back(f);
    }
    for (int i = 0; i < 1000; ++i)
      x.push_back(std::ldexp(float(rng()) / 4294967296.0f - 0.5f, int(rng() % 60) - 30));
    unsigned n = unsigned(x.size());
    std::vector<uint16_t> y(n);
    std::vector<float> back(n);
    ember::emu::Encoder enc("bfloat_roundtrip");
    enc.set_buffer(0, x.data());
    enc.set_buffer(1, y.data());
    enc.set_buffer(2, back.data());
    ember::emu::Result r = enc.dispatch_threadgroups(dim3{n, 1, 1}, dim3{1, 1, 1});
    unsigned bad = 0;
    for (unsigned i = 0; i < n; ++i) {
      float want = bf16_float(bf16_bits(x[i]));
      bool same = y[i] == bf16_bits(x[i]) && (std::memcmp(&back[i], &want, 4) == 0);
      bad += !same;
    }
    report(r.ok && bad == 0, "bfloat rounds to nearest even",
           r.ok ? std::to_string(bad) + " mismatches" : r.error);
  }
  (void)half_float;
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
