#include "collector/profile/symbolize/proc_maps.hpp"

#include <charconv>

namespace cgscope::collector {
namespace {

template <typename T>
bool hex(std::string_view s, T& out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc{} && p == s.data() + s.size();
}

// Splits off the next space-separated field.
std::string_view field(std::string_view& line) {
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  const std::size_t sp = line.find(' ');
  std::string_view f = line.substr(0, sp);
  line = sp == std::string_view::npos ? std::string_view{} : line.substr(sp);
  return f;
}

}  // namespace

std::vector<Mapping> parse_proc_maps(std::string_view text, std::size_t* bad_lines) {
  std::vector<Mapping> out;
  std::size_t bad = 0;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    if (line.empty()) continue;
    // "start-end perms offset major:minor inode   path"
    Mapping m;
    const std::string_view range = field(line), perms = field(line), offset = field(line), dev = field(line),
                           inode = field(line);
    const std::size_t dash = range.find('-'), colon = dev.find(':');
    if (dash == std::string_view::npos || colon == std::string_view::npos || perms.size() < 4 ||
        !hex(range.substr(0, dash), m.start) || !hex(range.substr(dash + 1), m.end) ||
        !hex(offset, m.offset) || !hex(dev.substr(0, colon), m.dev_major) ||
        !hex(dev.substr(colon + 1), m.dev_minor) || m.end < m.start) {
      ++bad;
      continue;
    }
    const auto [p, ec] = std::from_chars(inode.data(), inode.data() + inode.size(), m.inode);
    if (ec != std::errc{} || p != inode.data() + inode.size()) {
      ++bad;
      continue;
    }
    m.executable = perms[2] == 'x';
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    constexpr std::string_view kDeleted = " (deleted)";
    if (line.size() > kDeleted.size() && line.substr(line.size() - kDeleted.size()) == kDeleted) {
      m.deleted = true;
      line.remove_suffix(kDeleted.size());
    }
    m.path = std::string(line);
    out.push_back(std::move(m));
  }
  if (bad_lines) *bad_lines = bad;
  return out;
}

bool Mapping::is_file() const {
  if (path.empty() || path.front() != '/' || inode == 0) return false;
  for (std::string_view pseudo : {"/memfd:", "/SYSV", "/anon_hugepage", "/dev/", "/dmabuf:"})
    if (path.starts_with(pseudo)) return false;
  return true;
}

std::string mapping_display_name(const Mapping& m) {
  if (m.path.empty()) return "[anon]";
  if (m.is_file()) {
    const std::size_t slash = m.path.rfind('/');
    return slash == std::string::npos ? m.path : m.path.substr(slash + 1);
  }
  return m.path;
}

}  // namespace cgscope::collector
