// Private roofline probes for bench/py/roofline.py:
//   _C._fma_peak_gflops(kind="f32"|"bf16", threads=0, reps=5) -> float, or None when this CPU
//       has no such instruction (bf16 dot products need AVX512_BF16)
//   _C._fma_peak_isa(kind) -> str | None: which loop that measures
//   _C._triad_gbs(n, threads=0, reps=5) -> float (STREAM triad, 12 bytes per element)
// They release the GIL and run on ember's thread pool.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "backend/cpu/roofline.h"
#include "bindings/common.h"

namespace ember::py {
namespace {

cpu::PeakKind peak_kind(const std::string& kind) {
  if (kind == "f32") return cpu::PeakKind::F32;
  if (kind == "bf16") return cpu::PeakKind::BF16;
  EMBER_VALUE_ERROR("_fma_peak_gflops: kind must be 'f32' or 'bf16', got '", kind, "'");
}

}  // namespace

void init_roofline(nb::module_& m) {
  m.def(
      "_fma_peak_gflops",
      [](const std::string& kind, int threads, int reps) -> std::optional<double> {
        EMBER_CHECK(threads >= 0 && reps >= 1, "_fma_peak_gflops: threads must be >= 0 and reps >= 1, got ",
                    threads, " and ", reps);
        const cpu::PeakKind k = peak_kind(kind);
        double g;
        {
          nb::gil_scoped_release nogil;
          g = cpu::fma_peak_gflops(k, threads, reps);
        }
        if (g < 0) return std::nullopt;
        return g;
      },
      nb::arg("kind") = "f32", nb::arg("threads") = 0, nb::arg("reps") = 5);
  m.def(
      "_fma_peak_isa",
      [](const std::string& kind) -> std::optional<std::string> {
        const char* s = cpu::fma_peak_isa(peak_kind(kind));
        if (!s) return std::nullopt;
        return std::string(s);
      },
      nb::arg("kind") = "f32");
  m.def(
      "_triad_gbs",
      [](int64_t n, int threads, int reps) {
        EMBER_CHECK(n >= 1 && threads >= 0 && reps >= 1, "_triad_gbs: n must be >= 1, threads >= 0 and reps >= 1, got ",
                    n, ", ", threads, ", ", reps);
        nb::gil_scoped_release nogil;
        return cpu::triad_gbs(n, threads, reps);
      },
      nb::arg("n"), nb::arg("threads") = 0, nb::arg("reps") = 5);
}

}  // namespace ember::py
