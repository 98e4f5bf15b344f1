#include "ops/autocast.h"

#include "ops/ops.h"

namespace ember::autocast {
namespace {

struct Entry {
  std::string_view name;
  Policy policy;
};
#define EMBER_AUTOCAST_ENTRY(name, pol) Entry{#name, Policy::pol},
constexpr Entry kTable[] = {EMBER_AUTOCAST_OPS(EMBER_AUTOCAST_ENTRY)};
#undef EMBER_AUTOCAST_ENTRY

struct State {
  bool enabled[kNumDevices] = {false, false};
  Dtype dtype[kNumDevices] = {Dtype::BFloat16, Dtype::Float16};
};
thread_local State g_state;

}  // namespace

Policy policy(std::string_view op) {
  for (const Entry& e : kTable)
    if (e.name == op) return e.policy;
  return Policy::None;
}

bool is_enabled(Device d) { return g_state.enabled[int(d)]; }
void set_enabled(Device d, bool on) { g_state.enabled[int(d)] = on; }
Dtype dtype(Device d) { return g_state.dtype[int(d)]; }
void set_dtype(Device d, Dtype dt) {
  if (dt != Dtype::Float16 && dt != Dtype::BFloat16)
    EMBER_VALUE_ERROR("autocast: dtype must be float16 or bfloat16, got ", dtype_name(dt));
  g_state.dtype[int(d)] = dt;
}
bool any_enabled() { return g_state.enabled[0] || g_state.enabled[1]; }

Tensor arg(std::string_view op, const Tensor& x) {
  if (!any_enabled() || !x.defined() || !is_enabled(x.device())) return x;
  const Dtype dt = x.dtype();
  if (dt != Dtype::Float32 && dt != Dtype::Float16 && dt != Dtype::BFloat16) return x;
  const Policy p = policy(op);
  if (p == Policy::None) return x;
  return to_dtype(x, p == Policy::Lower ? dtype(x.device()) : Dtype::Float32);
}

}  // namespace ember::autocast
