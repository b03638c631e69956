#pragma once

#include <string>

namespace cgscope::cli {

// Drops every capability from the effective, permitted and inheritable sets: once the eBPF
// programs are loaded and attached, reading their maps through the fds we hold needs none.
// Returns "" on success, else what failed.
std::string drop_all_capabilities();

// Drops every capability but the ones that load and attach eBPF programs later (CAP_BPF,
// CAP_PERFMON, and CAP_SYS_ADMIN, which fetching a module's BTF needs): for a collector that
// attaches when a kernel module appears (NFS). Returns "" on success, else what failed.
std::string keep_only_bpf_capabilities();

}  // namespace cgscope::cli
