// Autocast state (ember.amp / ember.autocast): private entry points; the Python context manager
// in python/ember/amp is the API. The state is thread-local in the core (ops/autocast.h).
#include "bindings/common.h"
#include "ops/autocast.h"

namespace ember::py {

namespace {
Device autocast_device(const std::string& device_type) {
  if (device_type == "cpu") return Device::CPU;
  if (device_type == "mps" || device_type == "metal") return Device::Metal;
  EMBER_VALUE_ERROR("autocast: device_type must be 'cpu' or 'mps', got '", device_type, "'");
}
}  // namespace

void init_amp(nb::module_& m) {
  m.def("_autocast_is_enabled", [](const std::string& d) { return autocast::is_enabled(autocast_device(d)); },
        "device_type"_a = "cpu");
  m.def("_autocast_set_enabled", [](const std::string& d, bool on) { autocast::set_enabled(autocast_device(d), on); },
        "device_type"_a, "enabled"_a);
  m.def("_autocast_get_dtype", [](const std::string& d) { return autocast::dtype(autocast_device(d)); },
        "device_type"_a = "cpu");
  m.def("_autocast_set_dtype", [](const std::string& d, Dtype dt) { autocast::set_dtype(autocast_device(d), dt); },
        "device_type"_a, "dtype"_a);
  m.def("_autocast_policy",
        [](const std::string& op) {
          switch (autocast::policy(op)) {
            case autocast::Policy::Lower: return "lower";
            case autocast::Policy::Fp32: return "fp32";
            default: return "none";
          }
        },
        "op"_a, "The op's autocast policy: 'lower', 'fp32' or 'none'.");
  m.def("_autocast_arg", [](const std::string& op, const Tensor& x) { return autocast::arg(op, x); }, "op"_a, "x"_a,
        "x as op runs it under the current autocast state (a differentiable cast, or x itself).");
  m.def("_autocast_any_enabled", &autocast::any_enabled);
}

}  // namespace ember::py
