// Bindings for language-model ops: the fused LSTM / GRU cells (private; nn.LSTM, nn.GRU and the
// cell modules call them) and multinomial sampling.
#include "bindings/common.h"

namespace ember::py {

void init_rnn(nb::module_& m) {
  m.def("_lstm_cell", &lstm_cell_pointwise, "gates"_a, "cx"_a,
        "LSTM step after the gate GEMMs: gates [B, 4H] (i, f, g, o), cx [B, H] -> (h, c).");
  m.def("_gru_cell", &gru_cell_pointwise, "input_gates"_a, "hidden_gates"_a, "hx"_a,
        "GRU step after the gate GEMMs: input/hidden gates [B, 3H] (r, z, n), hx [B, H] -> h.");
  m.def("_lstm_sequence", &lstm_sequence, "xw"_a, "h0"_a, "c0"_a, "w_hh"_a, "reverse"_a,
        "A whole LSTM layer direction: xw [T, B, 4H] (input projection, both biases), h0, c0 [B, "
        "H], w_hh [4H, H] "
        "-> [out, cs (every c_t), h_T, c_T].");
  auto draw = [](const Tensor& input, int64_t num_samples, bool replacement, nb::handle g) {
    return multinomial(input, num_samples, replacement,
                       g.is_none() ? nullptr : nb::cast<Generator*>(g));
  };
  const char* doc =
      "Draws num_samples category indices (int64) from each row of the non-negative weights input "
      "[C] or "
      "[B, C], with or without replacement.";
  m.def("multinomial", draw, "input"_a, "num_samples"_a, "replacement"_a = false, nb::kw_only(),
        "generator"_a = nb::none(), doc);
  nb::cpp_function_def(draw, nb::is_method(), nb::name("multinomial"),
                       nb::scope(nb::type<Tensor>()), "num_samples"_a, "replacement"_a = false,
                       nb::kw_only(), "generator"_a = nb::none(), doc);
}

}  // namespace ember::py
