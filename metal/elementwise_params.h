#pragma once
// Shared by metal/elementwise.metal and csrc/backend/metal/elementwise.cpp: plain 32-bit members
// (see ember_kernel.h), so host and MSL layouts agree. Operand k of a strided kernel reads
// element i at sum_d ((i / inner(d)) % shape[d]) * strides[k][d], with k = 0 the output.
#define EMBER_EW_MAX_DIMS 8

struct ElementwiseParams {
  unsigned int n;     // elements
  unsigned int ndim;  // dims the strided variant walks (<= EMBER_EW_MAX_DIMS)
  unsigned int shape[EMBER_EW_MAX_DIMS];
  int strides[4][EMBER_EW_MAX_DIMS];  // out, then inputs a, b, c (in elements)
  float p0, p1, p2;                   // unary op parameters (slope, bounds, exponent, ...)
};

// Function-constant indices of every elementwise kernel.
#define EMBER_EW_CONST_OP 0          // uint: the op code below
#define EMBER_EW_CONST_CONTIGUOUS 1  // bool: every operand contiguous (no index arithmetic)

// Op codes (function constant EMBER_EW_CONST_OP). The host maps ember's op enums onto them;
// ops without a code run on the CPU (per-op fallback).
enum EwUnary {
  EW_NEG, EW_ABS, EW_SIGN, EW_RECIPROCAL, EW_EXP, EW_EXP2, EW_LOG, EW_LOG2, EW_LOG1P, EW_EXPM1,
  EW_SQRT, EW_RSQRT, EW_SQUARE, EW_SIN, EW_COS, EW_TAN, EW_TANH, EW_SIGMOID, EW_FLOOR, EW_CEIL,
  EW_ROUND, EW_TRUNC, EW_RELU, EW_SILU, EW_MISH, EW_GELU_TANH, EW_LEAKY_RELU, EW_ELU, EW_SOFTPLUS,
  EW_CLAMP, EW_CLAMP_MIN, EW_CLAMP_MAX, EW_NAN_TO_NUM, EW_POW_SCALAR, EW_RPOW_SCALAR, EW_ERF, EW_GELU_ERF,
  EW_BIT_NOT,
  // predicates (bool output)
  EW_ISNAN, EW_ISINF, EW_ISFINITE, EW_ISPOSINF, EW_ISNEGINF, EW_LOGICAL_NOT,
};
enum EwBinary {
  EW_ADD, EW_SUB, EW_MUL, EW_DIV, EW_FLOOR_DIVIDE, EW_REMAINDER, EW_POW, EW_MAXIMUM, EW_MINIMUM,
  EW_ATAN2, EW_FMOD, EW_FMAX, EW_FMIN, EW_BIT_AND, EW_BIT_OR, EW_BIT_XOR,
  // comparisons and logical ops (bool output)
  EW_EQ, EW_NE, EW_LT, EW_LE, EW_GT, EW_GE, EW_LOGICAL_AND, EW_LOGICAL_OR, EW_LOGICAL_XOR,
};
