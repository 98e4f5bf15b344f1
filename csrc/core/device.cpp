#include "core/device.h"

#include <mutex>

namespace ember {
namespace {
const DeviceRuntime* g_runtimes[kNumDevices] = {};

struct Fallbacks {
  std::mutex mu;
  std::map<std::string, int64_t> counts;
};
Fallbacks& fallbacks() {
  static auto* f = new Fallbacks();  // leaked: kernels may run during static destruction
  return *f;
}
}  // namespace

void register_device_runtime(Device d, const DeviceRuntime* rt) { g_runtimes[int(d)] = rt; }
const DeviceRuntime* device_runtime(Device d) { return g_runtimes[int(d)]; }
bool device_available(Device d) { return d == Device::CPU || g_runtimes[int(d)]; }

void synchronize(Device d) {
  if (const DeviceRuntime* rt = g_runtimes[int(d)]) rt->synchronize();
}

Device parse_device(const std::string& s) {
  if (s == "cpu" || s == "cpu:0") return Device::CPU;
  if (s == "metal" || s == "metal:0" || s == "mps" || s == "mps:0") {
    if (!device_available(Device::Metal))
      EMBER_RUNTIME_ERROR("device '", s,
                          "': the Metal backend is not built into this ember (build on macOS, where "
                          "-DEMBER_METAL=ON is the default, or on Linux with the CPU emulator: "
                          "EMBER_METAL_EMULATOR=1 bash scripts/dev_build.sh / "
                          "-DEMBER_METAL_EMULATOR=ON); use device='cpu'");
    return Device::Metal;
  }
  EMBER_VALUE_ERROR("device: unknown device '", s, "' (expected 'cpu', 'metal' or 'mps')");
}

void count_fallback(const char* slot, const char* op) {
  std::string key = op && *op ? std::string(slot) + "/" + op : std::string(slot);
  auto& f = fallbacks();
  std::lock_guard<std::mutex> g(f.mu);
  f.counts[key]++;
}
std::map<std::string, int64_t> fallback_counts() {
  auto& f = fallbacks();
  std::lock_guard<std::mutex> g(f.mu);
  return f.counts;
}
void reset_fallback_counts() {
  auto& f = fallbacks();
  std::lock_guard<std::mutex> g(f.mu);
  f.counts.clear();
}

}  // namespace ember
