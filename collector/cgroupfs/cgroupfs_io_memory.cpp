// The io.* / blkio.* and memory.* files of a cgroup, from v2 and/or v1 (see cgroupfs.hpp).
#include <unistd.h>

#include "collector/cgroupfs/cgroupfs.hpp"
#include "collector/cgroupfs/parse.hpp"

namespace cgscope::collector {

void Cgroupfs::read_io(model::CgroupSample& sample) {
  const auto& id = sample.identity;
  const std::string v2 = v2_dir(id);
  std::string content;

  if (!v2.empty()) {
    if (const auto path = v2 + "/io.stat"; read_file(path, content)) {
      auto st = parse_io_stat_v2(content);
      if (st) sample.io_stat = std::move(*st);
      else parse_error(path, st.error());
    }
    if (const auto path = v2 + "/io.max"; read_file(path, content)) {
      auto m = parse_io_max(content);
      if (m) sample.io_knobs.limits = std::move(*m);
      else parse_error(path, m.error());
    }
    for (const char* file : {"io.weight", "io.bfq.weight"}) {
      const auto path = v2 + "/" + file;
      if (!read_file(path, content)) continue;
      auto w = parse_io_weight(file, content);
      if (!w) {
        parse_error(path, w.error());
        continue;
      }
      sample.io_knobs.weight = *w;
      sample.io_knobs.weight_file = file;
      break;
    }
    std::string pressure = v2 + "/io.pressure";
    if (id.path == "/" && ::access(pressure.c_str(), F_OK) != 0) pressure = options_.proc_root + "/pressure/io";
    if (read_file(pressure, content)) {
      auto p = parse_pressure(content);
      if (p) sample.io_pressure = *p;
      else parse_error(pressure, p.error());
    }
  }

  // v1 blkio (hybrid and v1 hosts). The throttle files count every I/O only where a throttle
  // rule exists on some kernels: cgscope's eBPF numbers do not depend on them.
  const std::string v1 = v1_dir("blkio", id.v1_blkio_path);
  if (v1.empty()) return;
  if (sample.io_stat.empty()) {
    std::vector<model::IoStatDevice> devices;
    bool ok = true, any = false;
    for (bool bytes : {true, false}) {
      const char* file = bytes ? "blkio.throttle.io_service_bytes_recursive" : "blkio.throttle.io_serviced_recursive";
      const auto path = v1 + "/" + file;
      if (!read_file(path, content)) continue;
      any = true;
      if (auto s = parse_blkio_rw_v1(file, content, bytes, devices); !s) {
        parse_error(path, s.error());
        ok = false;
      }
    }
    if (any && ok) sample.io_stat = std::move(devices);
  }
  if (sample.io_knobs.limits.empty()) {
    const std::pair<const char*, BlkioLimit> files[] = {
        {"blkio.throttle.read_bps_device", BlkioLimit::kReadBps},
        {"blkio.throttle.write_bps_device", BlkioLimit::kWriteBps},
        {"blkio.throttle.read_iops_device", BlkioLimit::kReadIops},
        {"blkio.throttle.write_iops_device", BlkioLimit::kWriteIops}};
    for (const auto& [file, which] : files) {
      const auto path = v1 + "/" + file;
      if (!read_file(path, content)) continue;
      if (auto s = parse_blkio_throttle_v1(file, content, which, sample.io_knobs.limits); !s)
        parse_error(path, s.error());
    }
  }
  if (!sample.io_knobs.weight) {
    for (const char* file : {"blkio.bfq.weight", "blkio.weight"}) {
      const auto path = v1 + "/" + file;
      if (!read_file(path, content)) continue;
      auto w = parse_io_weight(file, content);
      if (!w) {
        parse_error(path, w.error());
        continue;
      }
      sample.io_knobs.weight = *w;
      sample.io_knobs.weight_file = file;
      break;
    }
  }
}

void Cgroupfs::read_memory(model::CgroupSample& sample) {
  const auto& id = sample.identity;
  const std::string v2 = v2_dir(id);
  std::string content;
  auto& knobs = sample.memory_knobs;

  auto read_u64 = [&](const std::string& path, std::optional<std::uint64_t>& out) {
    if (!read_file(path, content)) return;
    auto v = parse_u64_file(content);
    if (v) out = *v;
    else parse_error(path, v.error());
  };
  auto read_limit = [&](const std::string& path, std::optional<std::uint64_t>& out) -> bool {
    if (!read_file(path, content)) return false;
    auto v = parse_memory_limit(content);
    if (!v) return parse_error(path, v.error()), false;
    out = *v;
    return true;
  };
  auto read_keyed = [&](const std::string& path) -> std::optional<std::map<std::string, std::uint64_t, std::less<>>> {
    if (!read_file(path, content)) return std::nullopt;
    const auto slash = path.rfind('/');
    auto keys = parse_flat_keyed(path.substr(slash + 1), content);
    if (!keys) return parse_error(path, keys.error()), std::nullopt;
    return std::move(*keys);
  };
  auto get = [](const std::map<std::string, std::uint64_t, std::less<>>& m, const char* key) {
    auto it = m.find(key);
    return it == m.end() ? std::nullopt : std::optional<std::uint64_t>(it->second);
  };

  bool v2_memory = false;
  if (!v2.empty()) {
    read_u64(v2 + "/memory.current", knobs.current_bytes);
    // The memory controller is on for this cgroup; the v2 root has only memory.stat.
    v2_memory = knobs.current_bytes.has_value();
    if (!v2_memory && id.path == "/") {
      if (auto keys = read_keyed(v2 + "/memory.stat")) {
        sample.memory_stat = memory_stat_from(*keys, false);
        v2_memory = true;
      }
    }
    if (knobs.current_bytes) {
      read_u64(v2 + "/memory.peak", knobs.peak_bytes);
      knobs.limits_known = read_limit(v2 + "/memory.max", knobs.max_bytes);
      read_limit(v2 + "/memory.high", knobs.high_bytes);
      read_limit(v2 + "/memory.low", knobs.low_bytes);
      read_limit(v2 + "/memory.min", knobs.min_bytes);
      read_limit(v2 + "/memory.swap.max", knobs.swap_max_bytes);
      if (auto keys = read_keyed(v2 + "/memory.stat")) sample.memory_stat = memory_stat_from(*keys, false);
      if (auto ev = read_keyed(v2 + "/memory.events")) {
        sample.memory_events = {get(*ev, "low"), get(*ev, "high"), get(*ev, "max"), get(*ev, "oom"),
                                get(*ev, "oom_kill")};
      }
    }
    std::string pressure = v2 + "/memory.pressure";
    if (id.path == "/" && ::access(pressure.c_str(), F_OK) != 0) pressure = options_.proc_root + "/pressure/memory";
    if (read_file(pressure, content)) {
      auto p = parse_pressure(content);
      if (p) sample.memory_pressure = *p;
      else parse_error(pressure, p.error());
    }
  }
  if (v2_memory) return;

  // v1 memory controller (hybrid and v1 hosts).
  const std::string v1 = v1_dir("memory", id.v1_memory_path);
  if (v1.empty()) return;
  knobs.v1 = true;
  read_u64(v1 + "/memory.usage_in_bytes", knobs.current_bytes);
  read_u64(v1 + "/memory.max_usage_in_bytes", knobs.peak_bytes);
  knobs.limits_known = read_limit(v1 + "/memory.limit_in_bytes", knobs.max_bytes);
  read_limit(v1 + "/memory.soft_limit_in_bytes", knobs.low_bytes);
  if (auto keys = read_keyed(v1 + "/memory.stat")) {
    // Hierarchical totals where the kernel gives them, like v2's memory.stat.
    std::map<std::string, std::uint64_t, std::less<>> merged = *keys;
    for (const auto& [k, v] : *keys)
      if (k.rfind("total_", 0) == 0) merged[k.substr(6)] = v;
    sample.memory_stat = memory_stat_from(merged, true);
  }
  if (auto oom = read_keyed(v1 + "/memory.oom_control")) sample.memory_events.oom_kill = get(*oom, "oom_kill");
  read_u64(v1 + "/memory.failcnt", sample.memory_events.max);
}

}  // namespace cgscope::collector
