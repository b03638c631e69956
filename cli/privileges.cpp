#include "cli/privileges.hpp"

#include <sys/capability.h>
#include <sys/prctl.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <vector>

namespace cgscope::cli {

namespace {

// Leaves exactly `keep` in the effective and permitted sets (nothing inheritable), and keeps
// it that way across execve of anything we might start. "" on success, else what failed.
std::string keep_only(std::initializer_list<cap_value_t> keep) {
  cap_t caps = cap_init();  // all sets empty
  if (!caps) return std::string("cap_init: ") + std::strerror(errno);
  std::vector<cap_value_t> values(keep);
  if (!values.empty()) {
    const int n = static_cast<int>(values.size());
    cap_set_flag(caps, CAP_EFFECTIVE, n, values.data(), CAP_SET);
    cap_set_flag(caps, CAP_PERMITTED, n, values.data(), CAP_SET);
  }
  const int rc = cap_set_proc(caps);
  const int err = errno;
  cap_free(caps);
  if (rc != 0) return std::string("cap_set_proc: ") + std::strerror(err);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  return {};
}

}  // namespace

std::string drop_all_capabilities() { return keep_only({}); }

std::string keep_only_bpf_capabilities() { return keep_only({CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON}); }

}  // namespace cgscope::cli
