// field_count<T>(): the number of members of an aggregate (C++20: the longest brace list of
// "anything" it accepts). Tests that must cover every field of a model struct (the recording
// codec, the metrics table) compare it with their list, so that a new member fails them until
// it is handled.
#pragma once

#include <cstddef>

namespace cgscope::test {

struct AnyField {
  template <typename T>
  operator T() const;  // NOLINT(google-explicit-constructor): never defined, only for overloads
};

template <typename T, typename... A>
constexpr std::size_t field_count() {
  if constexpr (requires { T{A{}..., AnyField{}}; })
    return field_count<T, A..., AnyField>();
  else
    return sizeof...(A);
}

}  // namespace cgscope::test
