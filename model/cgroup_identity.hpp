// Who a cgroup is: its v2 id and path, and the container / pod / systemd unit it stands for.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cgscope::model {

enum class Runtime { kNone, kDocker, kContainerd, kCrio, kPodman, kLxc, kSystemd };
enum class QosClass { kNone, kGuaranteed, kBurstable, kBestEffort };

std::string_view to_string(Runtime runtime);
std::string_view to_string(QosClass qos);

// Container identity parsed from a cgroup path alone (no runtime socket needed).
struct ContainerIdentity {
  Runtime runtime = Runtime::kNone;
  std::string container_id;  // full id as in the path (64 hex for OCI runtimes), LXC: the name
  std::string pod_uid;       // Kubernetes pod UID in its canonical dashed form, "" if not a pod
  QosClass qos = QosClass::kNone;  // Kubernetes QoS class, kNone if not a pod
  std::string systemd_unit;        // innermost ".service"/".scope" unit, "" if none
  std::string systemd_slice;       // innermost ".slice", "" if none

  bool is_container() const { return !container_id.empty(); }
  // Short human name for tables: "docker:0123456789ab", "pod:1234abcd/0123456789ab",
  // "nginx.service", "lxc:web1", or the last path component; "/" for the root.
  std::string display_name(std::string_view cgroup_path) const;
  bool operator==(const ContainerIdentity&) const = default;
};

// Parses docker (cgroupfs and systemd drivers), containerd/CRI and cri-o (Kubernetes, both
// drivers, all QoS classes), podman (system and rootless), LXC/LXD and systemd
// slices/scopes/services. Paths are relative to a hierarchy root ("/" is the root).
ContainerIdentity parse_container_identity(std::string_view cgroup_path);

struct CgroupIdentity {
  std::uint64_t id = 0;  // cgroup v2 id: inode of the directory (bpf_get_current_cgroup_id)
  std::string path;      // relative to the v2 root, "/" for the root
  ContainerIdentity container;
  // Hybrid and v1 hosts: the cgroup's counterpart in the v1 cpu, cpuacct, memory and blkio
  // hierarchies ("" = none).
  std::string v1_cpu_path;
  std::string v1_cpuacct_path;
  std::string v1_memory_path;
  std::string v1_blkio_path;

  bool operator==(const CgroupIdentity&) const = default;
  // The pseudo cgroup of I/O no cgroup can be charged with (kernel threads: journal, writeback
  // of inodes whose dirtier is unknown).
  bool is_kernel_bucket() const { return id == 0; }
  // A cgroup known only by its id (it vanished before a scan found it): "cgroup#<id>".
  std::string display_name() const {
    if (is_kernel_bucket()) return "[kernel I/O]";
    return path.empty() ? "cgroup#" + std::to_string(id) : container.display_name(path);
  }
};

}  // namespace cgscope::model
