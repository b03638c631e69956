#include "analyzers/commands.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace cgscope::analyzers {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::string join_path(const std::string& root, const std::string& path) {
  if (path.empty() || path == "/") return root;
  return root + (path.front() == '/' ? "" : "/") + path;
}

// The v1 path of a cgroup for a controller.
const std::string& v1_path(const model::CgroupIdentity& cg, const std::string& controller) {
  if (controller == "cpu" || controller == "cpuset") return cg.v1_cpu_path;
  if (controller == "memory") return cg.v1_memory_path;
  if (controller == "io") return cg.v1_blkio_path;
  return cg.v1_cpuacct_path;
}
std::string v1_controller_name(const std::string& controller) { return controller == "io" ? "blkio" : controller; }

std::string short_id(const std::string& id) { return id.substr(0, 12); }

}  // namespace

bool CgroupLayout::v2_has(const std::string& controller) const {
  if (!known) return !v2_root.empty();  // nothing read: assume a pure v2 host
  return std::find(v2_controllers.begin(), v2_controllers.end(), controller) != v2_controllers.end();
}

Manager preferred_manager(const model::CgroupIdentity& cg, const CgroupLayout& layout, const std::string& controller) {
  const auto& c = cg.container;
  if (!c.pod_uid.empty()) return Manager::kKubernetes;
  if (c.runtime == model::Runtime::kDocker) return Manager::kDocker;
  if (c.runtime == model::Runtime::kPodman) return Manager::kPodman;
  if (!c.systemd_unit.empty() && !c.is_container()) return Manager::kSystemd;
  if (!layout.v2_has(controller) && !v1_path(cg, controller).empty()) return Manager::kCgroupV1;
  return Manager::kCgroupV2;
}

std::vector<Command> knob_commands(const model::CgroupIdentity& cg, const CgroupLayout& layout,
                                   const KnobChange& change) {
  std::vector<Command> out;
  const Manager preferred = preferred_manager(cg, layout, change.controller);
  const auto& c = cg.container;
  const bool managed = preferred != Manager::kCgroupV2 && preferred != Manager::kCgroupV1;
  const std::string managed_note =
      managed ? fmt::format("{} manages this cgroup and may write the file back: use its command", to_string(preferred))
              : std::string();

  if (!change.v2_file.empty() && (layout.v2_has(change.controller) || !layout.known)) {
    out.push_back({Manager::kCgroupV2, false,
                   fmt::format("echo \"{}\" > {}/{}", change.v2_value, join_path(layout.v2_root, cg.path), change.v2_file),
                   managed_note});
  } else if (!change.v2_file.empty()) {
    out.push_back({Manager::kCgroupV2, false,
                   fmt::format("echo \"{}\" > <cgroup2 mount>{}/{}", change.v2_value, cg.path == "/" ? "" : cg.path,
                               change.v2_file),
                   fmt::format("the {} controller is not in this host's cgroup v2 hierarchy", change.controller)});
  }
  if (!change.v1_writes.empty()) {
    const std::string& rel = v1_path(cg, change.controller);
    auto mount = layout.v1_mounts.find(v1_controller_name(change.controller));
    if (!rel.empty() && mount != layout.v1_mounts.end()) {
      std::string text;
      for (const auto& [file, value] : change.v1_writes) {
        if (!text.empty()) text += "\n";
        text += fmt::format("echo {} > {}/{}", value, join_path(mount->second, rel), file);
      }
      out.push_back({Manager::kCgroupV1, false, text, managed_note});
    } else {
      std::string text;
      for (const auto& [file, value] : change.v1_writes) {
        if (!text.empty()) text += "\n";
        text += fmt::format("echo {} > /sys/fs/cgroup/{}{}/{}", value, v1_controller_name(change.controller),
                            cg.path == "/" ? "" : cg.path, file);
      }
      out.push_back({Manager::kCgroupV1, false, text, "on a host with the v1 controller (not this cgroup's layout)"});
    }
  }
  if (!change.systemd.empty()) {
    const std::string unit = !c.systemd_unit.empty() ? c.systemd_unit : (!c.systemd_slice.empty() ? c.systemd_slice : "UNIT");
    out.push_back({Manager::kSystemd, false, fmt::format("systemctl set-property {} {}", unit, change.systemd),
                   c.systemd_unit.empty() ? "for a cgroup that is a systemd unit" : "persists across restarts (drop-in)"});
  }
  const std::string id = c.is_container() ? short_id(c.container_id) : "CONTAINER";
  if (!change.docker.empty()) {
    out.push_back({Manager::kDocker, false, fmt::format("docker update {} {}", change.docker, id),
                   change.docker_note.empty() ? "kept until the container is recreated: change the compose file or "
                                                "run options too"
                                              : change.docker_note});
    out.push_back({Manager::kPodman, false, fmt::format("podman update {} {}", change.docker, id), change.docker_note});
  } else if (!change.docker_note.empty()) {
    out.push_back({Manager::kDocker, false, "", change.docker_note});
  }
  if (!change.k8s.empty()) {
    std::string head = c.pod_uid.empty() ? "# in the pod spec of the workload, container resources:\n"
                                         : fmt::format("# pod {}: in its workload's pod template, container resources:\n",
                                                       c.pod_uid);
    out.push_back({Manager::kKubernetes, false, head + change.k8s, change.k8s_note});
  } else if (!change.k8s_note.empty()) {
    out.push_back({Manager::kKubernetes, false, "", change.k8s_note});
  }
  // Preferred first, the others in the order above.
  for (auto& cmd : out) {
    cmd.preferred = cmd.manager == preferred || (preferred == Manager::kPodman && cmd.manager == Manager::kPodman);
    if (cmd.manager == preferred) cmd.note = cmd.note == managed_note ? std::string() : cmd.note;
  }
  std::stable_partition(out.begin(), out.end(), [](const Command& cmd) { return cmd.preferred; });
  return out;
}

std::vector<Command> sysctl_commands(const std::string& key, const std::string& value) {
  return {{Manager::kHost, true, fmt::format("sysctl -w {}={}", key, value), "takes effect now, until reboot"},
          {Manager::kHost, false,
           fmt::format("echo '{} = {}' > /etc/sysctl.d/90-cgscope.conf && sysctl --system", key, value),
           "persistent"}};
}

std::string bytes_knob(double bytes) {
  const double mib = std::ceil(std::max(bytes, 0.0) / kMiB);
  return fmt::format("{}", static_cast<std::uint64_t>(mib * kMiB));
}

std::string bytes_human(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

std::string k8s_memory(double bytes) { return fmt::format("{}Mi", static_cast<std::uint64_t>(std::ceil(bytes / kMiB))); }
std::string k8s_cpu(double cpus) { return fmt::format("{}m", static_cast<std::uint64_t>(std::ceil(cpus * 1000 - 1e-6))); }
std::string systemd_bytes(double bytes) { return fmt::format("{}M", static_cast<std::uint64_t>(std::ceil(bytes / kMiB))); }
std::string percent(double fraction, int decimals) { return fmt::format("{:.{}f}%", fraction * 100, decimals); }

}  // namespace cgscope::analyzers
