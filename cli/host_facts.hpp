// What advice needs to know about the host it is for, read live (the cgroup layout for the
// commands, the sysctls a host rule would change) and kept in recordings' meta, so that a
// replay elsewhere still gives this host's commands.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "analyzers/commands.hpp"

namespace cgscope::cli {

// The cgroup hierarchies of this host (mountinfo, and the v2 root's cgroup.controllers).
analyzers::CgroupLayout host_layout();
// vm.dirty_bytes, vm.dirty_background_bytes, vm.dirty_ratio, vm.dirty_background_ratio,
// vm.watermark_scale_factor: those that could be read.
std::map<std::string, std::string> host_sysctls();
// The memory the dirty ratios are shares of, from /proc/meminfo text: MemFree + Active(file) +
// Inactive(file), in bytes (the kernel's global_dirtyable_memory() without its reserves); 0 when
// a line is missing.
std::uint64_t dirtyable_memory_bytes(std::string_view meminfo);
// The same for this host now (0: /proc/meminfo unreadable).
std::uint64_t host_dirtyable_memory_bytes();

// To and from a recording's meta ("cgroup_v2_root", "cgroup_v2_controllers",
// "cgroup_v1_roots", "sysctl.<key>", "dirtyable_memory_bytes": at the start of the recording).
void put_host_facts(std::map<std::string, std::string>& meta);
analyzers::CgroupLayout layout_from_meta(const std::map<std::string, std::string>& meta);
std::map<std::string, std::string> sysctls_from_meta(const std::map<std::string, std::string>& meta);
std::uint64_t dirtyable_memory_from_meta(const std::map<std::string, std::string>& meta);

}  // namespace cgscope::cli
