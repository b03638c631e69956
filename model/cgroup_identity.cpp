#include "model/cgroup_identity.hpp"

#include <algorithm>
#include <vector>

namespace cgscope::model {
namespace {

constexpr std::size_t kNoIndex = static_cast<std::size_t>(-1);

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// OCI runtimes (docker, containerd, cri-o, podman) name containers by 64 lowercase hex digits.
bool is_hex_id(std::string_view s) { return s.size() == 64 && std::all_of(s.begin(), s.end(), is_lower_hex); }

// 8-4-4-4-12 hex, separated by '-' (cgroupfs driver) or '_' (systemd driver), not mixed.
bool is_uuid_like(std::string_view s) {
  if (s.size() != 36) return false;
  const char sep = s[8];
  if (sep != '-' && sep != '_') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool is_sep_pos = i == 8 || i == 13 || i == 18 || i == 23;
    if (is_sep_pos ? s[i] != sep : !is_lower_hex(s[i])) return false;
  }
  return true;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view x) {
  return s.size() >= x.size() && s.substr(s.size() - x.size()) == x;
}

// "<prefix><64hex><suffix>" -> the id, or "".
std::string_view strip_id(std::string_view s, std::string_view prefix, std::string_view suffix) {
  if (s.size() != prefix.size() + 64 + suffix.size() || !starts_with(s, prefix) || !ends_with(s, suffix)) {
    return {};
  }
  const auto id = s.substr(prefix.size(), 64);
  return is_hex_id(id) ? id : std::string_view{};
}

// Non-empty components; "//a///b/" -> {"a", "b"}.
std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const auto part = path.substr(0, slash);
    if (!part.empty()) out.push_back(part);
    if (slash == std::string_view::npos) break;
    path = path.substr(slash + 1);
  }
  return out;
}

// The kubelet's top cgroup: "kubepods" (cgroupfs driver), "kubepods.slice" (systemd driver), or
// "<root>-kubepods.slice" when the kubelet runs with --cgroup-root (kind: "kubelet-kubepods.slice").
bool is_kubepods(std::string_view c) {
  return c == "kubepods" || c == "kubepods.slice" || ends_with(c, "-kubepods.slice");
}

// QoS cgroup right under kubepods: "burstable" or "kubepods-burstable.slice" (and besteffort).
// Guaranteed pods have no QoS cgroup: their pod cgroup sits directly under kubepods.
QosClass qos_of(std::string_view c) {
  if (c == "burstable" || ends_with(c, "kubepods-burstable.slice")) return QosClass::kBurstable;
  if (c == "besteffort" || ends_with(c, "kubepods-besteffort.slice")) return QosClass::kBestEffort;
  return QosClass::kNone;
}

// Pod cgroup: "pod<uid>" (cgroupfs driver) or "kubepods[-<qos>]-pod<uid_with_underscores>.slice"
// (systemd driver, which cannot use '-' inside a slice name component). Returns the canonical
// dashed UID, or "".
std::string pod_uid_of(std::string_view c) {
  constexpr std::size_t kUuidLen = 36;
  std::string_view uid;
  if (starts_with(c, "pod")) {
    uid = c.substr(3);
  } else if (ends_with(c, ".slice") && c.size() >= kUuidLen + 4 + 6) {
    const auto at = c.size() - 6 - kUuidLen - 4;
    if (c.substr(at, 4) != "-pod" || c.find("kubepods") == std::string_view::npos) return {};
    uid = c.substr(at + 4, kUuidLen);
  }
  if (!is_uuid_like(uid)) return {};
  std::string out(uid);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

// Container cgroups whose own name says the runtime: "<prefix><64hex><suffix>". ".scope" is the
// systemd driver (docker, containerd CRI, cri-o, podman also rootless), no suffix the cgroupfs
// driver. Conmon (the cri-o / podman monitor) gets its own cgroup next to the container: same id,
// same runtime.
Runtime named_container(std::string_view c, std::string& id) {
  struct Pattern {
    std::string_view prefix, suffix;
    Runtime runtime;
  };
  static constexpr Pattern kPatterns[] = {
      {"docker-", ".scope", Runtime::kDocker},
      {"cri-containerd-", ".scope", Runtime::kContainerd},
      {"crio-", ".scope", Runtime::kCrio},
      {"crio-", "", Runtime::kCrio},
      {"crio-conmon-", ".scope", Runtime::kCrio},
      {"crio-conmon-", "", Runtime::kCrio},
      {"libpod-", ".scope", Runtime::kPodman},
      {"libpod-", "", Runtime::kPodman},
      {"libpod-conmon-", ".scope", Runtime::kPodman},
  };
  for (const auto& p : kPatterns) {
    if (const auto found = strip_id(c, p.prefix, p.suffix); !found.empty()) {
      id = std::string(found);
      return p.runtime;
    }
  }
  return Runtime::kNone;
}

// LXC 4+ and LXD: "lxc.payload.<name>" (payload) and "lxc.monitor.<name>" (its monitor, counted
// as the container); older LXC/LXD: "lxc/<name>"; some setups: "lxc.payload/<name>".
std::string_view lxc_name(std::string_view c, std::string_view parent) {
  if (parent == "lxc" || parent == "lxc.payload") return c;
  for (const std::string_view prefix : {"lxc.payload.", "lxc.monitor."}) {
    if (starts_with(c, prefix)) return c.substr(prefix.size());  // "" if nothing follows
  }
  return {};
}

}  // namespace

std::string_view to_string(Runtime runtime) {
  switch (runtime) {
    case Runtime::kNone:
      return "none";
    case Runtime::kDocker:
      return "docker";
    case Runtime::kContainerd:
      return "containerd";
    case Runtime::kCrio:
      return "crio";
    case Runtime::kPodman:
      return "podman";
    case Runtime::kLxc:
      return "lxc";
    case Runtime::kSystemd:
      return "systemd";
  }
  return "none";
}

std::string_view to_string(QosClass qos) {
  switch (qos) {
    case QosClass::kNone:
      return "";
    case QosClass::kGuaranteed:
      return "guaranteed";
    case QosClass::kBurstable:
      return "burstable";
    case QosClass::kBestEffort:
      return "besteffort";
  }
  return "";
}

// Walks the components root to leaf. The pod comes from the kubepods prefix; for nested
// containers (docker-in-docker, docker in an LXC container) the innermost one wins, so that
// each nested container keeps a name of its own; units and slices are likewise the innermost.
ContainerIdentity parse_container_identity(std::string_view cgroup_path) {
  ContainerIdentity out;
  const auto parts = components(cgroup_path);
  std::size_t kubepods_at = kNoIndex;
  std::size_t pod_at = kNoIndex;
  QosClass qos = QosClass::kNone;
  std::string_view unit, slice;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto c = parts[i];
    const auto parent = i > 0 ? parts[i - 1] : std::string_view{};

    if (ends_with(c, ".slice")) {
      slice = c;
    } else if (ends_with(c, ".service") || ends_with(c, ".scope")) {
      unit = c;
    }

    // Kubernetes: kubepods[/<qos>]/<pod>/<container>; only the first kubepods counts.
    if (kubepods_at == kNoIndex) {
      if (is_kubepods(c)) kubepods_at = i;
    } else if (pod_at == kNoIndex) {
      if (i == kubepods_at + 1) {
        qos = qos_of(c);
        if (qos != QosClass::kNone) continue;
      }
      const bool pod_level = i == kubepods_at + 1 || (i == kubepods_at + 2 && qos != QosClass::kNone);
      if (auto uid = pod_level ? pod_uid_of(c) : std::string{}; !uid.empty()) {
        pod_at = i;
        out.pod_uid = std::move(uid);
        out.qos = qos == QosClass::kNone ? QosClass::kGuaranteed : qos;
        continue;
      }
    }

    std::string id;
    Runtime runtime = named_container(c, id);
    if (runtime == Runtime::kNone && is_hex_id(c)) {
      // A bare id says nothing of the runtime; trust it only where the parent does.
      if (parent == "docker") {
        runtime = Runtime::kDocker;  // docker, cgroupfs driver: /docker/<id>
      } else if (pod_at != kNoIndex && i == pod_at + 1) {
        // Kubernetes, cgroupfs driver: containerd and dockershim both write a bare id under the
        // pod; cri-o would have written "crio-<id>". Containerd is the common case, so assume it.
        runtime = Runtime::kContainerd;
      } else if (i == 1 && parent == "default") {
        runtime = Runtime::kContainerd;  // ctr, default namespace: /default/<id>
      }
      if (runtime != Runtime::kNone) id = std::string(c);
    }
    if (runtime == Runtime::kNone) {
      if (const auto name = lxc_name(c, parent); !name.empty()) {
        runtime = Runtime::kLxc;
        id = std::string(name);
      }
    }
    if (runtime != Runtime::kNone) {
      out.runtime = runtime;
      out.container_id = std::move(id);
    }
  }
  out.systemd_unit = std::string(unit);
  out.systemd_slice = std::string(slice);
  if (out.runtime == Runtime::kNone && !unit.empty()) out.runtime = Runtime::kSystemd;
  return out;
}

std::string ContainerIdentity::display_name(std::string_view cgroup_path) const {
  const std::string short_id = container_id.substr(0, 12);
  if (!pod_uid.empty()) {
    const std::string pod = "pod:" + pod_uid.substr(0, 8);
    return container_id.empty() ? pod : pod + "/" + short_id;
  }
  if (!container_id.empty()) {
    if (runtime == Runtime::kLxc) return "lxc:" + container_id;
    return std::string(to_string(runtime)) + ":" + short_id;
  }
  if (!systemd_unit.empty()) return systemd_unit;
  while (!cgroup_path.empty() && cgroup_path.back() == '/') cgroup_path.remove_suffix(1);
  if (cgroup_path.empty()) return "/";
  const auto slash = cgroup_path.rfind('/');
  return std::string(slash == std::string_view::npos ? cgroup_path : cgroup_path.substr(slash + 1));
}

}  // namespace cgscope::model
