// Where the cgroup hierarchies are mounted: pure v2, hybrid (v1 controllers + a v2 "unified"
// mount) or pure v1. Discovered from /proc/self/mountinfo, never assumed.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "model/result.hpp"

namespace cgscope::collector {

enum class Layout { kV2, kHybrid, kV1 };
std::string_view to_string(Layout layout);

struct Hierarchy {
  Layout layout = Layout::kV2;
  std::string v2_root;  // mount point of cgroup2, "" when there is none (pure v1)
  // v1 controller name ("cpu", "cpuacct", "cpuset", "memory", "blkio", ...) -> mount point.
  // Co-mounted controllers ("cpu,cpuacct") appear under each name with the same mount point.
  std::map<std::string, std::string> v1_roots;

  // Mount point of a v1 controller, "" if not mounted.
  std::string v1_root(std::string_view controller) const;
};

// Parses mountinfo text (format of proc(5)). Mount points are returned as written there,
// prefixed with `root_prefix` (tests point it at a fixture tree). Errors: no cgroup mount at all.
Result<Hierarchy> parse_mountinfo(std::string_view mountinfo, std::string_view root_prefix = "");
Result<Hierarchy> discover_hierarchy(const std::string& mountinfo_path = "/proc/self/mountinfo",
                                     std::string_view root_prefix = "");

// Parses /proc/PID/cgroup: "hierarchy-id:controllers:path" lines. Returns controller -> path;
// the v2 line ("0::/path") is returned under the key "" ; named v1 hierarchies ("name=systemd")
// under their "name=..." key.
Result<std::map<std::string, std::string>> parse_proc_cgroup(std::string_view content);

}  // namespace cgscope::collector
