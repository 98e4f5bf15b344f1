#pragma once
#include <string>

#include "core/error.h"

namespace ember {

enum class Device : uint8_t { CPU = 0, Metal = 1 };
constexpr int kNumDevices = 2;

inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "metal"; }

// Parses "cpu", "cpu:0", "metal". Metal is rejected until its backend lands.
inline Device parse_device(const std::string& s) {
  if (s == "cpu" || s == "cpu:0") return Device::CPU;
  if (s == "metal" || s == "metal:0" || s == "mps")
    EMBER_RUNTIME_ERROR("device '", s, "': the metal backend is not built into this ember; use device='cpu'");
  EMBER_VALUE_ERROR("device: unknown device '", s, "' (expected 'cpu' or 'metal')");
}

}  // namespace ember
