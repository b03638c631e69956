// Helpers shared by the cgroupfs parsers (internal).
#pragma once

#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "model/result.hpp"

namespace cgscope::collector::parse_detail {

inline std::string_view trim(std::string_view s) {
  const auto ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Calls f(line_number, line) for each non-empty trimmed line (numbers count blank lines too).
template <typename F>
Status for_each_line(std::string_view content, F&& f) {
  int line_no = 0;
  while (!content.empty()) {
    const auto nl = content.find('\n');
    const std::string_view line = trim(content.substr(0, nl));
    content = nl == std::string_view::npos ? std::string_view{} : content.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    if (auto s = f(line_no, line); !s) return s;
  }
  return {};
}

// Splits "a b  c" on blanks.
inline std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    const auto b = line.find_first_not_of(" \t");
    if (b == std::string_view::npos) break;
    line = line.substr(b);
    const auto e = line.find_first_of(" \t");
    out.push_back(line.substr(0, e));
    line = e == std::string_view::npos ? std::string_view{} : line.substr(e);
  }
  return out;
}

template <typename T>
bool to_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

inline bool to_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Calls f(line_number, key, value_text) for each "key value" line; errors name the line.
template <typename F>
Status for_each_key_value(std::string_view file, std::string_view content, F&& f) {
  int line_no = 0;
  while (!content.empty()) {
    const auto nl = content.find('\n');
    std::string_view line = trim(content.substr(0, nl));
    content = nl == std::string_view::npos ? std::string_view{} : content.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    const auto sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos)
      return Error{std::string(file) + ": line " + std::to_string(line_no) + ": expected '<key> <value>', got '" +
                   std::string(line) + "'"};
    if (auto s = f(line_no, line.substr(0, sp), trim(line.substr(sp + 1))); !s) return s;
  }
  return {};
}

inline Error bad_value(std::string_view file, int line_no, std::string_view key, std::string_view value) {
  return Error{std::string(file) + ": line " + std::to_string(line_no) + ": expected '<key> <u64>', got '" +
               std::string(key) + " " + std::string(value) + "'"};
}

}  // namespace cgscope::collector::parse_detail
