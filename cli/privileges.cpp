#include "cli/privileges.hpp"

#include <sys/capability.h>
#include <sys/prctl.h>

#include <cerrno>
#include <cstring>

namespace cgscope::cli {

std::string drop_all_capabilities() {
  cap_t caps = cap_init();  // all sets empty
  if (!caps) return std::string("cap_init: ") + std::strerror(errno);
  const int rc = cap_set_proc(caps);
  const int err = errno;
  cap_free(caps);
  if (rc != 0) return std::string("cap_set_proc: ") + std::strerror(err);
  // Keep it that way across execve of anything we might start.
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  return {};
}

std::string keep_only_bpf_capabilities() {
  cap_t caps = cap_init();
  if (!caps) return std::string("cap_init: ") + std::strerror(errno);
  cap_value_t keep[] = {CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON};
  const int n = sizeof keep / sizeof keep[0];
  cap_set_flag(caps, CAP_EFFECTIVE, n, keep, CAP_SET);
  cap_set_flag(caps, CAP_PERMITTED, n, keep, CAP_SET);
  const int rc = cap_set_proc(caps);
  const int err = errno;
  cap_free(caps);
  if (rc != 0) return std::string("cap_set_proc: ") + std::strerror(err);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  return {};
}

}  // namespace cgscope::cli
