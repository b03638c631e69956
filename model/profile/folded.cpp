#include "model/profile/folded.hpp"

#include <algorithm>
#include <charconv>
#include <map>

namespace cgscope::model {
namespace {

std::string sanitize(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c == ';') c = ':';
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (out.empty()) out = "[unnamed]";
  return out;
}

StackElementKind kind_of(FrameKind kind) {
  switch (kind) {
    case FrameKind::kUser:
      return StackElementKind::kUser;
    case FrameKind::kKernel:
      return StackElementKind::kKernel;
    case FrameKind::kUnknown:
      return StackElementKind::kUnknown;
    case FrameKind::kLost:
      return StackElementKind::kLost;
  }
  return StackElementKind::kUnknown;
}

}  // namespace

std::vector<StackElement> render_stack(const Profile& profile, const ProfileSample& sample,
                                       const StackOptions& options) {
  std::vector<StackElement> out;
  out.reserve(sample.frames.size() + 2);
  if (options.cgroup_frame) out.push_back({sanitize(sample.cgroup), StackElementKind::kCgroup});
  if (options.process_frame) out.push_back({sanitize(sample.comm), StackElementKind::kProcess});
  for (auto it = sample.frames.rbegin(); it != sample.frames.rend(); ++it) {
    if (*it >= profile.frames.size()) continue;  // a malformed profile: skip, never index past
    const ProfileFrame& f = profile.frames[*it];
    std::string name = sanitize(f.function);
    if (options.kernel_suffix && f.kind == FrameKind::kKernel) name += "_[k]";
    out.push_back({std::move(name), kind_of(f.kind)});
  }
  return out;
}

std::string to_folded(const Profile& profile, const StackOptions& options) {
  std::map<std::string, std::int64_t> lines;
  for (const auto& s : profile.samples) {
    if (profile.default_value >= s.values.size() || s.values[profile.default_value] == 0) continue;
    std::string key;
    for (const auto& e : render_stack(profile, s, options)) {
      if (!key.empty()) key += ';';
      key += e.name;
    }
    if (key.empty()) key = "[empty]";
    lines[key] += s.values[profile.default_value];
  }
  std::string out;
  for (const auto& [stack, value] : lines) {
    out += stack;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  }
  return out;
}

Result<std::vector<FoldedLine>> parse_folded(std::string_view text) {
  std::vector<FoldedLine> out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    if (line.empty()) continue;
    const std::size_t space = line.rfind(' ');
    const auto where = "folded line " + std::to_string(line_no) + ": ";
    if (space == std::string_view::npos || space == 0)
      return Error{where + "no count after the stack (expected 'a;b;c 42')"};
    const std::string_view count = line.substr(space + 1);
    FoldedLine parsed;
    const auto [ptr, ec] = std::from_chars(count.data(), count.data() + count.size(), parsed.value);
    if (ec != std::errc{} || ptr != count.data() + count.size() || parsed.value < 0)
      return Error{where + "count '" + std::string(count) + "' is not a non-negative integer"};
    std::string_view stack = line.substr(0, space);
    while (true) {
      const std::size_t semi = stack.find(';');
      const std::string_view frame = stack.substr(0, semi);
      if (frame.empty()) return Error{where + "empty frame name"};
      parsed.frames.emplace_back(frame);
      if (semi == std::string_view::npos) break;
      stack = stack.substr(semi + 1);
    }
    out.push_back(std::move(parsed));
  }
  return out;
}

}  // namespace cgscope::model
