// pool.metal -- 2-D max / avg pooling over contiguous [P, H, W] planes, float32, driven by the
// op's window tables (regular and adaptive pools alike). Forward: one thread per output element.
// Backward: the avg scatter and the max-index scatter run one thread per plane, adding in window
// order, so overlapping windows accumulate deterministically (no atomics); gather is elementwise.
#include "ember_kernel.h"
#include "pool_params.h"

using namespace metal;

// max: a tap wins when larger than the running max or NaN (the first maximum or the last NaN, as
// on the CPU)
[[kernel]] void max_pool_fwd(const device float* x [[buffer(0)]], device float* out [[buffer(1)]],
                             device long* idx [[buffer(2)]], const device int* tab [[buffer(3)]],
                             constant PoolParams& p [[buffer(4)]],
                             constant uint& want_idx [[buffer(5)]],
                             uint e [[thread_position_in_grid]]) {
  if (e >= p.P * p.OH * p.OW) {
    return;
  }
  const uint ow = e % p.OW, oh = (e / p.OW) % p.OH, pl = e / (p.OW * p.OH);
  const device int* bh = tab;
  const device int* ch = tab + p.OH;
  const device int* bw = tab + 3 * p.OH;
  const device int* cw = tab + 3 * p.OH + p.OW;
  const device float* xp = x + size_t(pl) * p.H * p.W;
  float best = -numeric_limits<float>::infinity();
  long bi = -1;
  for (int th = 0; th < ch[oh]; ++th) {
    const int h = bh[oh] + th * int(p.step_h);
    for (int tw = 0; tw < cw[ow]; ++tw) {
      const int w = bw[ow] + tw * int(p.step_w);
      const float v = xp[h * int(p.W) + w];
      if (bi < 0 || v > best || isnan(v)) {
        best = v;
        bi = long(h) * p.W + w;
      }
    }
  }
  out[e] = best;
  if (want_idx != 0) {
    idx[e] = bi;
  }
}

[[kernel]] void avg_pool_fwd(const device float* x [[buffer(0)]], device float* out [[buffer(1)]],
                             const device int* tab [[buffer(2)]],
                             constant PoolParams& p [[buffer(3)]],
                             uint e [[thread_position_in_grid]]) {
  if (e >= p.P * p.OH * p.OW) {
    return;
  }
  const uint ow = e % p.OW, oh = (e / p.OW) % p.OH, pl = e / (p.OW * p.OH);
  const device int* bh = tab;
  const device int* ch = tab + p.OH;
  const device int* dh = tab + 2 * p.OH;
  const device int* bw = tab + 3 * p.OH;
  const device int* cw = tab + 3 * p.OH + p.OW;
  const device int* dw = tab + 3 * p.OH + 2 * p.OW;
  const device float* xp = x + size_t(pl) * p.H * p.W;
  float s = 0.0f;
  for (int th = 0; th < ch[oh]; ++th) {
    for (int tw = 0; tw < cw[ow]; ++tw) {
      s += xp[(bh[oh] + th * int(p.step_h)) * int(p.W) + bw[ow] + tw * int(p.step_w)];
    }
  }
  const float div =
      p.divisor_override > 0 ? float(p.divisor_override) : float(dh[oh]) * float(dw[ow]);
  out[e] = s / div;
}

// gx[plane] = sum over windows of g / divisor at each tap (one thread per plane)
[[kernel]] void avg_pool_bwd(device float* gx [[buffer(0)]], const device float* g [[buffer(1)]],
                             const device int* tab [[buffer(2)]],
                             constant PoolParams& p [[buffer(3)]],
                             uint pl [[thread_position_in_grid]]) {
  if (pl >= p.P) {
    return;
  }
  const device int* bh = tab;
  const device int* ch = tab + p.OH;
  const device int* dh = tab + 2 * p.OH;
  const device int* bw = tab + 3 * p.OH;
  const device int* cw = tab + 3 * p.OH + p.OW;
  const device int* dw = tab + 3 * p.OH + 2 * p.OW;
  device float* gp = gx + size_t(pl) * p.H * p.W;
  for (uint i = 0; i < p.H * p.W; ++i) {
    gp[i] = 0.0f;
  }
  for (uint oh = 0; oh < p.OH; ++oh) {
    for (uint ow = 0; ow < p.OW; ++ow) {
      const float div =
          p.divisor_override > 0 ? float(p.divisor_override) : float(dh[oh]) * float(dw[ow]);
      const float v = g[(size_t(pl) * p.OH + oh) * p.OW + ow] / div;
      for (int th = 0; th < ch[oh]; ++th) {
        for (int tw = 0; tw < cw[ow]; ++tw) {
          gp[(bh[oh] + th * int(p.step_h)) * int(p.W) + bw[ow] + tw * int(p.step_w)] += v;
        }
      }
    }
  }
}

// out[p, i] = x[p, idx[p, i]] (0 outside the plane)
[[kernel]] void pool_gather(device float* out [[buffer(0)]], const device float* x [[buffer(1)]],
                            const device long* idx [[buffer(2)]],
                            constant PoolParams& p [[buffer(3)]],
                            uint e [[thread_position_in_grid]]) {
  if (e >= p.P * p.L) {
    return;
  }
  const long k = idx[e];
  out[e] = (k >= 0 && k < long(p.S)) ? x[size_t(e / p.L) * p.S + size_t(k)] : 0.0f;
}

// gx = 0, then gx[p, idx[p, i]] += g[p, i] in index order (one thread per plane)
[[kernel]] void pool_scatter(device float* gx [[buffer(0)]], const device float* g [[buffer(1)]],
                             const device long* idx [[buffer(2)]],
                             constant PoolParams& p [[buffer(3)]],
                             uint pl [[thread_position_in_grid]]) {
  if (pl >= p.P) {
    return;
  }
  device float* gp = gx + size_t(pl) * p.S;
  for (uint i = 0; i < p.S; ++i) {
    gp[i] = 0.0f;
  }
  for (uint i = 0; i < p.L; ++i) {
    const long k = idx[size_t(pl) * p.L + i];
    if (k >= 0 && k < long(p.S)) {
      gp[k] += g[size_t(pl) * p.L + i];
    }
  }
}

EMBER_EXPORT(max_pool_fwd)
EMBER_EXPORT(avg_pool_fwd)
EMBER_EXPORT(avg_pool_bwd)
EMBER_EXPORT(pool_gather)
EMBER_EXPORT(pool_scatter)
