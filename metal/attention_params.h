// attention_params.h -- parameters of metal/attention.metal, shared with
// csrc/backend/metal/attention.cpp. Element strides of the [N, H, L|S, E] operands (last stride 1).
#pragma once

#if !defined(__METAL_VERSION__)
typedef unsigned int uint;  // MSL spelling, for the host and the emulator (same type as theirs)
#endif

#define EMBER_ATTN_MAX_E 128  // head dims up to this (per-thread accumulators: 128 / 32)

struct AttnParams {
  uint N, H, Hk, L, S, E, Ev;
  float scale;
  uint causal, has_mask;
  int q_n, q_h, q_l;
  int k_n, k_h, k_s;
  int v_n, v_h, v_s;
  int m_n, m_h, m_l, m_s;  // additive mask [N, H, L, S] (0 for broadcast dims)
  int g_n, g_h, g_l;       // backward: the incoming gradient and out are contiguous
  // dropout: score (row, j) is kept (scaled by keep_scale) iff its hash >= drop_threshold, the
  // counter-based draw of backend/kernels_attention.h, so the CPU kernels drop the same scores
  uint has_dropout, drop_threshold, seed_lo, seed_hi;
  float keep_scale;
};
