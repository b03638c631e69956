#include "collector/profile/symbolize/perf_map.hpp"

#include <charconv>
#include <iterator>

namespace cgscope::collector {
namespace {

bool parse_hex(std::string_view& s, std::uint64_t* out) {
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  if (ec != std::errc() || end == s.data()) return false;
  s.remove_prefix(static_cast<std::size_t>(end - s.data()));
  return true;
}

}  // namespace

std::size_t PerfMap::add(std::string_view text) {
  std::size_t consumed = 0;
  while (consumed < text.size()) {
    const std::size_t nl = text.find('\n', consumed);
    if (nl == std::string_view::npos) break;  // partial line: the writer is still at it
    std::string_view line = text.substr(consumed, nl - consumed);
    consumed = nl + 1;
    if (line.empty()) continue;
    std::uint64_t start = 0, size = 0;
    if (!parse_hex(line, &start) || !line.starts_with(' ')) {
      ++malformed_;
      continue;
    }
    line.remove_prefix(1);
    if (!parse_hex(line, &size) || !line.starts_with(' ') || line.size() < 2 || size == 0 ||
        start + size < start) {
      ++malformed_;
      continue;
    }
    line.remove_prefix(1);
    const std::uint64_t end = start + size;
    // Code replaced: drop what the new piece overlaps.
    auto it = symbols_.lower_bound(start);
    if (it != symbols_.begin() && std::prev(it)->second.end > start) --it;
    while (it != symbols_.end() && it->first < end) it = symbols_.erase(it);
    symbols_.emplace(start, Symbol{end, std::string(line)});
  }
  return consumed;
}

const std::string* PerfMap::lookup(std::uint64_t address) const {
  auto it = symbols_.upper_bound(address);
  if (it == symbols_.begin()) return nullptr;
  --it;
  return address < it->second.end ? &it->second.name : nullptr;
}

}  // namespace cgscope::collector
