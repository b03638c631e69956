#pragma once

#include <string>

namespace cgscope::cli {

// Drops every capability from the effective, permitted and inheritable sets: once the eBPF
// programs are loaded and attached, reading their maps through the fds we hold needs none.
// Returns "" on success, else what failed.
std::string drop_all_capabilities();

}  // namespace cgscope::cli
