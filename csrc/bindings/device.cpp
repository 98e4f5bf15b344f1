// Devices: transfers (.to / .cpu), synchronize, the Metal backend's queries and its test hooks
// (fallback counts, executed kernels, the emulator's schedule and poison). Private entry points;
// the API is python/ember/_device.py and python/ember/metal.py.
#include <nanobind/stl/map.h>
#include <nanobind/stl/set.h>

#include "bindings/common.h"
#if defined(EMBER_METAL)
#include "backend/metal/runtime.h"
#endif

namespace ember::py {

void init_device(nb::module_& m) {
  m.def("_device_available", [](const std::string& d) {
    try {
      return device_available(parse_device(d));
    } catch (const Error&) {
      return false;
    }
  });
  m.def("_parse_device", [](const std::string& d) { return device_str(parse_device(d)); });
  m.def("_synchronize", [](const std::string& d) {
    nb::gil_scoped_release unlocked;  // kernels may run now
    synchronize(parse_device(d));
  });
  m.def("_to_device", [](const Tensor& t, const std::string& d, std::optional<Dtype> dtype, bool copy) {
    return to_device(t, parse_device(d), dtype, copy);
  }, "tensor"_a, "device"_a, "dtype"_a = nb::none(), "copy"_a = false);
  m.def("_fallback_counts", [] { return fallback_counts(); });
  m.def("_reset_fallback_counts", [] { reset_fallback_counts(); });
#if defined(EMBER_METAL)
  m.def("_metal_built", [] { return true; });
  m.def("_metal_runtime_name", [] { return std::string(metal::runtime_name()); });
  m.def("_metal_executed_kernels", [] { return metal::executed_kernels(); });
  m.def("_metal_clear_executed_kernels", [] { metal::clear_executed_kernels(); });
  m.def("_metal_registered_kernels", [] { return metal::registered_kernels(); });
  m.def("_metal_set_emulator_options", [](int schedule, uint64_t seed, int poison) {
    metal::set_emulator_options(schedule, seed, poison);
  }, "schedule"_a, "seed"_a = 1, "poison"_a = 0xFF);
#else
  m.def("_metal_built", [] { return false; });
#endif
}

}  // namespace ember::py
