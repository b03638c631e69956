// Choosing cgroups by shell-style pattern (--cgroup GLOB). '*', '?' and [...] as in
// fnmatch(3); '*' also matches '/'. A cgroup matches when the pattern matches its path
// ("/system.slice/docker-0123.scope", with or without the leading '/'), its last path
// component, its display name ("docker:0123456789ab", "nginx.service") or its container id.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/cgroup_identity.hpp"

namespace cgscope::collector {

bool cgroup_matches(std::string_view pattern, const model::CgroupIdentity& cgroup);

// Ids of the cgroups that match any pattern (each once, in the order given).
std::vector<std::uint64_t> match_cgroups(const std::vector<std::string>& patterns,
                                         const std::vector<model::CgroupIdentity>& cgroups);

}  // namespace cgscope::collector
