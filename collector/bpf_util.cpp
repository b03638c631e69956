#include "collector/bpf_util.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace cgscope::collector {
namespace {

bool g_libbpf_verbose = false;  // libbpf's print callback has no user pointer

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !g_libbpf_verbose) return 0;
  // libbpf's INFO level is chatty during feature probing; only show it when verbose.
  if (level == LIBBPF_INFO && !g_libbpf_verbose) return 0;
  return std::vfprintf(stderr, format, args);
}

}  // namespace

void setup_libbpf_logging(bool verbose) {
  g_libbpf_verbose = verbose;
  libbpf_set_print(libbpf_print);
}

std::string bpf_error_message(int err) {
  if (err < 0) err = -err;
  std::string msg = std::strerror(err);
  switch (err) {
    case EPERM:
    case EACCES:
      msg += " (need CAP_BPF and CAP_PERFMON, or run as root)";
      break;
    case ENOENT:
      msg += " (the kernel lacks this probe point or BTF for it)";
      break;
    case ENOTSUP:
    case EINVAL:
      msg += " (the kernel does not support this program or map type)";
      break;
    case E2BIG:
    case ENOSPC:
      msg += " (map is full: raise its size)";
      break;
    case ENOMEM:
      msg += " (out of memory or locked memory: check ulimit -l and the memory cgroup)";
      break;
    default:
      break;
  }
  return msg;
}

std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + ts.tv_nsec;
}

bool lookup_percpu(int map_fd, const void* key, std::size_t value_size, std::vector<std::uint8_t>& out) {
  const int cpus = libbpf_num_possible_cpus();
  const std::size_t stride = (value_size + 7) & ~std::size_t{7};
  out.resize(stride * static_cast<std::size_t>(cpus > 0 ? cpus : 1));
  return bpf_map_lookup_elem(map_fd, key, out.data()) == 0;
}

ProgramStats program_stats(int prog_fd) {
  ProgramStats stats;
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return stats;
  stats.id = info.id;
  stats.name = info.name;
  stats.run_cnt = info.run_cnt;
  stats.run_time_ns = info.run_time_ns;
  stats.recursion_misses = info.recursion_misses;
  return stats;
}

}  // namespace cgscope::collector
