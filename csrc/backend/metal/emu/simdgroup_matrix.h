// simdgroup_matrix.h -- MSL's simdgroup_matrix<T, 8, 8> for the emulator. Each of the 32 lanes of a
// SIMD-group holds two elements of the 8x8 fragment, (row, col) and (row, col + 1), with Apple's
// lane mapping (also in MLX's steel mma.h):
//   q = lane / 4;  row = (q & 4) + (lane / 2) % 4;  col = (q & 2) * 2 + (lane % 2) * 2.
// load / store / multiply(-accumulate) are SIMD-group collectives: they rendezvous like simd_*
// and fail unless all 32 lanes take part (a partial or divergent SIMD-group is a kernel bug).
// Products accumulate in float in k order. Included by msl_emu_dialect.h after the simd_*
// functions.
#pragma once
#include <source_location>
#include <string>

namespace metal {
using ulong = unsigned long;
using ulong2 = vec<ulong, 2>;

namespace emu_sgm {
inline uint lane_id() {
  return ::ember::emu::builtin_value(::ember::emu::Builtin::bi_thread_index_in_simdgroup).x;
}
inline uint lane_row(uint lane) { return ((lane / 4) & 4) + (lane / 2) % 4; }
inline uint lane_col(uint lane) { return ((lane / 4) & 2) * 2 + (lane % 2) * 2; }
template <class V>
void require_all_lanes(const V& s, const char* op, const std::source_location& loc) {
  if (s.mask != 0xFFFFFFFFu)
    ::ember::emu::fail(std::string(op) + " at line " + std::to_string(loc.line()) +
                       ": every lane of the SIMD-group must take part (some lanes exited, diverged "
                       "or the group is partial)");
}
}  // namespace emu_sgm

template <class T, int Rows, int Cols>
struct simdgroup_matrix {
  static_assert(Rows == 8 && Cols == 8, "the emulator supports 8x8 simdgroup matrices");
  vec<T, 2> e{};  // this lane's two elements
  simdgroup_matrix() = default;
  explicit simdgroup_matrix(T diagonal) {  // diagonal matrix, as MSL's scalar constructor
    uint lane = emu_sgm::lane_id(), r = emu_sgm::lane_row(lane), c = emu_sgm::lane_col(lane);
    e = vec<T, 2>(T(r == c ? float(diagonal) : 0.0f), T(r == c + 1 ? float(diagonal) : 0.0f));
  }
  vec<T, 2>& thread_elements() { return e; }
  const vec<T, 2>& thread_elements() const { return e; }
};
using simdgroup_float8x8 = simdgroup_matrix<float, 8, 8>;
using simdgroup_half8x8 = simdgroup_matrix<half, 8, 8>;
using simdgroup_bfloat8x8 = simdgroup_matrix<bfloat, 8, 8>;

template <class T, int R, int C>
simdgroup_matrix<T, R, C> make_filled_simdgroup_matrix(T value) {
  simdgroup_matrix<T, R, C> m;
  m.e = vec<T, 2>(value, value);
  return m;
}

// element (r, c) <- src[(origin.y + r) * elements_per_row + origin.x + c] (r and c swapped when
// transposed)
template <class T, class U>
void simdgroup_load(simdgroup_matrix<T, 8, 8>& d, const U* src, ulong elements_per_row = 8,
                    ulong2 matrix_origin = ulong2(0, 0), bool transpose_matrix = false,
                    std::source_location loc = std::source_location::current()) {
  uint lane = emu_sgm::lane_id(), r = emu_sgm::lane_row(lane), c = emu_sgm::lane_col(lane);
  for (uint i = 0; i < 2; ++i) {
    ulong row = transpose_matrix ? c + i : r, col = transpose_matrix ? r : c + i;
    d.e[i] = T(src[(matrix_origin.y + row) * elements_per_row + matrix_origin.x + col]);
  }
  emu_sgm::require_all_lanes(::ember::emu::simd_exchange(char(0), loc), "simdgroup_load", loc);
}

template <class T, class U>
void simdgroup_store(const simdgroup_matrix<T, 8, 8>& a, U* dst, ulong elements_per_row = 8,
                     ulong2 matrix_origin = ulong2(0, 0), bool transpose_matrix = false,
                     std::source_location loc = std::source_location::current()) {
  uint lane = emu_sgm::lane_id(), r = emu_sgm::lane_row(lane), c = emu_sgm::lane_col(lane);
  for (uint i = 0; i < 2; ++i) {
    ulong row = transpose_matrix ? c + i : r, col = transpose_matrix ? r : c + i;
    dst[(matrix_origin.y + row) * elements_per_row + matrix_origin.x + col] = U(a.e[i]);
  }
  emu_sgm::require_all_lanes(::ember::emu::simd_exchange(char(0), loc), "simdgroup_store", loc);
}

// d = a * b + c over the whole SIMD-group; each lane then keeps its own two elements of d
template <class T, class Ta, class Tb, class Tc>
void simdgroup_multiply_accumulate(simdgroup_matrix<T, 8, 8>& d,
                                   const simdgroup_matrix<Ta, 8, 8>& a,
                                   const simdgroup_matrix<Tb, 8, 8>& b,
                                   const simdgroup_matrix<Tc, 8, 8>& c,
                                   std::source_location loc = std::source_location::current()) {
  struct Pack {
    vec<Ta, 2> a;
    vec<Tb, 2> b;
    vec<Tc, 2> c;
  };
  auto s = ::ember::emu::simd_exchange(Pack{a.e, b.e, c.e}, loc);
  emu_sgm::require_all_lanes(s, "simdgroup_multiply_accumulate", loc);
  float A[8][8], B[8][8], Cm[8][8];
  for (uint l = 0; l < 32; ++l) {
    Pack p = s.get(l);
    uint r = emu_sgm::lane_row(l), col = emu_sgm::lane_col(l);
    for (uint i = 0; i < 2; ++i) {
      A[r][col + i] = float(p.a[i]);
      B[r][col + i] = float(p.b[i]);
      Cm[r][col + i] = float(p.c[i]);
    }
  }
  uint lane = s.lane, r = emu_sgm::lane_row(lane), col = emu_sgm::lane_col(lane);
  for (uint i = 0; i < 2; ++i) {
    float acc = Cm[r][col + i];
    for (uint k = 0; k < 8; ++k) acc = std::fma(A[r][k], B[k][col + i], acc);
    d.e[i] = T(acc);
  }
}

template <class T, class Ta, class Tb>
void simdgroup_multiply(simdgroup_matrix<T, 8, 8>& d, const simdgroup_matrix<Ta, 8, 8>& a,
                        const simdgroup_matrix<Tb, 8, 8>& b,
                        std::source_location loc = std::source_location::current()) {
  simdgroup_multiply_accumulate(d, a, b, make_filled_simdgroup_matrix<T, 8, 8>(T(0)), loc);
}
}  // namespace metal
