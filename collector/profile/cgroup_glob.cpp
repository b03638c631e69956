#include "collector/profile/cgroup_glob.hpp"

#include <fnmatch.h>

#include <unordered_set>

namespace cgscope::collector {

bool cgroup_matches(std::string_view pattern, const model::CgroupIdentity& cgroup) {
  const std::string pat(pattern);
  auto match = [&](const std::string& candidate) {
    return !candidate.empty() && fnmatch(pat.c_str(), candidate.c_str(), 0) == 0;
  };
  const std::string& path = cgroup.path;
  if (match(path)) return true;
  if (path.size() > 1 && path.front() == '/' && match(path.substr(1))) return true;
  if (const std::size_t slash = path.rfind('/');
      slash != std::string::npos && slash + 1 < path.size() && match(path.substr(slash + 1)))
    return true;
  if (match(cgroup.display_name())) return true;
  return match(cgroup.container.container_id);
}

std::vector<std::uint64_t> match_cgroups(const std::vector<std::string>& patterns,
                                         const std::vector<model::CgroupIdentity>& cgroups) {
  std::vector<std::uint64_t> out;
  std::unordered_set<std::uint64_t> seen;
  for (const auto& cg : cgroups) {
    for (const auto& p : patterns) {
      if (cgroup_matches(p, cg) && seen.insert(cg.id).second) out.push_back(cg.id);
    }
  }
  return out;
}

}  // namespace cgscope::collector
