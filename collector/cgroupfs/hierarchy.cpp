#include "collector/cgroupfs/hierarchy.hpp"

#include <fstream>
#include <sstream>
#include <vector>

namespace cgscope::collector {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3') {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const auto p = s.find(sep);
    out.push_back(s.substr(0, p));
    if (p == std::string_view::npos) break;
    s = s.substr(p + 1);
  }
  return out;
}

// The kernel's v1 controllers (kernel/cgroup, cgroup_subsys.h). A whitelist: super options
// of a cgroup mount also carry mount flags (xattr, seclabel, release_agent=, ...).
bool is_v1_controller(std::string_view opt) {
  static constexpr std::string_view kControllers[] = {
      "cpuset", "cpu",  "cpuacct", "io",      "blkio", "memory", "devices", "freezer",
      "net_cls", "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc", "debug"};
  for (auto c : kControllers)
    if (opt == c) return true;
  return false;
}

}  // namespace

std::string_view to_string(Layout layout) {
  switch (layout) {
    case Layout::kV2: return "v2";
    case Layout::kHybrid: return "hybrid";
    case Layout::kV1: return "v1";
  }
  return "?";
}

std::string Hierarchy::v1_root(std::string_view controller) const {
  auto it = v1_roots.find(std::string(controller));
  return it == v1_roots.end() ? std::string() : it->second;
}

Result<Hierarchy> parse_mountinfo(std::string_view mountinfo, std::string_view root_prefix) {
  Hierarchy h;
  bool any_v1_controller = false;
  int line_no = 0;
  for (auto line : split(mountinfo, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    const auto sep = line.find(" - ");
    if (sep == std::string_view::npos) continue;  // not a mount line; tolerate
    const auto left = split(line.substr(0, sep), ' ');
    const auto right = split(line.substr(sep + 3), ' ');
    if (left.size() < 6 || right.size() < 3) continue;
    const std::string mount_point = std::string(root_prefix) + unescape(left[4]);
    const auto fstype = right[0];
    if (fstype == "cgroup2") {
      // The first cgroup2 mount wins (later ones are usually bind mounts into containers).
      if (h.v2_root.empty()) h.v2_root = mount_point;
    } else if (fstype == "cgroup") {
      const auto super = right[2];
      for (auto opt : split(super, ',')) {
        const bool named = opt.rfind("name=", 0) == 0;  // e.g. name=systemd: no controller
        if (!named && !is_v1_controller(opt)) continue;
        h.v1_roots.emplace(std::string(opt), mount_point);
        any_v1_controller = any_v1_controller || !named;
      }
    }
  }
  if (h.v2_root.empty() && !any_v1_controller)
    return Error{"no cgroup filesystem is mounted (neither cgroup2 nor v1 controllers in mountinfo): mount "
                 "cgroup2 at /sys/fs/cgroup"};
  h.layout = h.v2_root.empty() ? Layout::kV1 : any_v1_controller ? Layout::kHybrid : Layout::kV2;
  return h;
}

Result<Hierarchy> discover_hierarchy(const std::string& mountinfo_path, std::string_view root_prefix) {
  std::ifstream f(mountinfo_path);
  if (!f) return Error{"cannot read " + mountinfo_path + ": is /proc mounted?"};
  std::stringstream ss;
  ss << f.rdbuf();
  auto h = parse_mountinfo(ss.str(), root_prefix);
  if (!h) return Error{mountinfo_path + ": " + h.error()};
  return h;
}

Result<std::map<std::string, std::string>> parse_proc_cgroup(std::string_view content) {
  std::map<std::string, std::string> out;
  int line_no = 0;
  for (auto line : split(content, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    const auto c1 = line.find(':');
    const auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos)
      return Error{"cgroup: line " + std::to_string(line_no) + ": expected 'id:controllers:path', got '" +
                   std::string(line.substr(0, 60)) + "'"};
    const auto controllers = line.substr(c1 + 1, c2 - c1 - 1);
    const std::string path(line.substr(c2 + 1));
    if (controllers.empty()) {
      out[""] = path;
      continue;
    }
    for (auto c : split(controllers, ',')) out[std::string(c)] = path;
  }
  return out;
}

}  // namespace cgscope::collector
