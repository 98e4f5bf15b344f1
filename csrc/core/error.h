#pragma once
// Errors carry a Python exception kind; the bindings translate each to the matching Python
// exception (ValueError, TypeError, IndexError, RuntimeError). Messages start with the op name.
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember {

enum class ErrorKind { Value, Type, Index, Runtime, NotImplemented };

struct Error : std::runtime_error {
  ErrorKind kind;
  Error(ErrorKind k, const std::string& msg) : std::runtime_error(msg), kind(k) {}
};

namespace detail {
inline void put(std::ostringstream& os, const std::vector<int64_t>& v) {
  os << '[';
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << ']';
}
template <class T> void put(std::ostringstream& os, const T& x) { os << x; }
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (put(os, args), ...);
  return os.str();
}
}  // namespace detail

template <class... Args>
[[noreturn]] void throw_error(ErrorKind k, const Args&... args) {
  throw Error(k, detail::cat(args...));
}

}  // namespace ember

#define EMBER_VALUE_ERROR(...) ::ember::throw_error(::ember::ErrorKind::Value, __VA_ARGS__)
#define EMBER_TYPE_ERROR(...) ::ember::throw_error(::ember::ErrorKind::Type, __VA_ARGS__)
#define EMBER_INDEX_ERROR(...) ::ember::throw_error(::ember::ErrorKind::Index, __VA_ARGS__)
#define EMBER_RUNTIME_ERROR(...) ::ember::throw_error(::ember::ErrorKind::Runtime, __VA_ARGS__)
// EMBER_CHECK(cond, "op: message", shape...) -> ValueError when cond is false.
#define EMBER_CHECK(cond, ...) \
  do { if (!(cond)) EMBER_VALUE_ERROR(__VA_ARGS__); } while (0)
#define EMBER_CHECK_KIND(cond, kind, ...) \
  do { if (!(cond)) ::ember::throw_error(::ember::ErrorKind::kind, __VA_ARGS__); } while (0)
