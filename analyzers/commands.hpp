// Exact commands that change a knob, for each way a cgroup can be managed: the cgroup v2 file,
// the v1 file, systemd, docker, podman and Kubernetes; the one that manages this cgroup first
// (a change made around its manager is undone by it: a restart, a reconcile).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "analyzers/finding.hpp"
#include "model/cgroup_identity.hpp"

namespace cgscope::analyzers {

// Where the cgroup hierarchies are mounted on the host the advice is for.
struct CgroupLayout {
  std::string v2_root = "/sys/fs/cgroup";   // "" on a pure v1 host
  std::vector<std::string> v2_controllers;  // controllers of the v2 root (cgroup.controllers)
  std::map<std::string, std::string> v1_mounts;  // v1 controller -> mount point
  bool known = false;  // read from the host (else the defaults above: pure v2)
  bool v2_has(const std::string& controller) const;
};

// One knob change in every vocabulary. Fields left empty: that manager cannot make the change
// (its command is then a note saying so and what to do instead).
struct KnobChange {
  std::string controller;  // "cpu", "memory", "io", "cpuset"
  std::string v2_file, v2_value;
  std::vector<std::pair<std::string, std::string>> v1_writes;  // file -> value, in order
  std::string systemd;  // "CPUQuota=220% CPUQuotaPeriodSec=100ms"
  std::string docker;   // "--cpus 2.2" (docker update); podman update takes the same flags
  std::string docker_note;
  std::string k8s;      // resources YAML fragment
  std::string k8s_note;
};

// The commands of a change to one cgroup, preferred first.
std::vector<Command> knob_commands(const model::CgroupIdentity& cgroup, const CgroupLayout& layout,
                                   const KnobChange& change);

// The manager whose command comes first for a cgroup (and controller, on a hybrid host).
Manager preferred_manager(const model::CgroupIdentity& cgroup, const CgroupLayout& layout,
                          const std::string& controller);

// Value formats shared by the rules.
std::string bytes_knob(double bytes);  // kernel knob value: bytes rounded up to a MiB
std::string bytes_human(double bytes);  // "1.5 GiB"
std::string k8s_memory(double bytes);   // "512Mi"
std::string k8s_cpu(double cpus);       // "2200m"
std::string systemd_bytes(double bytes);  // "512M"
std::string percent(double fraction, int decimals = 0);  // 0.38 -> "38%"

// Host-wide changes: a sysctl, now and persistent.
std::vector<Command> sysctl_commands(const std::string& key, const std::string& value);

}  // namespace cgscope::analyzers
