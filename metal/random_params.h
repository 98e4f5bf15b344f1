#pragma once
// Shared by metal/random.metal and csrc/backend/metal/random.cpp: plain 32-bit members (see
// ember_kernel.h), so host and MSL layouts agree.

// What random_T writes to element i (u: uniform in [0, 1) from the element's 32 random bits,
// z: a standard normal from a Box-Muller pair).
enum RandomKind {
  RANDOM_UNIFORM = 0,         // a + (b - a) * u
  RANDOM_NORMAL = 1,          // a + b * z
  RANDOM_BERNOULLI = 2,       // u < a ? 1 : 0
  RANDOM_BERNOULLI_TENSOR = 3,  // u < probs[i] ? 1 : 0
};

struct RandomParams {
  unsigned int key0, key1;  // the Philox key (the 64 bits drawn from the generator)
  unsigned int n;           // elements (out and probs contiguous)
  unsigned int kind;        // RandomKind
  unsigned int bits;        // random bits per uniform: 24 (float32), 11 (float16), 8 (bfloat16)
  float a, b;
};
