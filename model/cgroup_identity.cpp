#include "model/cgroup_identity.hpp"

#include <algorithm>
#include <vector>

namespace cgscope::model {
namespace {

bool is_hex_id(std::string_view s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_uuid_like(std::string_view s) {  // 8-4-4-4-12 hex with '-' or '_'
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-' && c != '_') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view x) {
  return s.size() >= x.size() && s.substr(s.size() - x.size()) == x;
}

// "<prefix><64hex><suffix>" -> the id, or "".
std::string_view strip_id(std::string_view s, std::string_view prefix, std::string_view suffix) {
  if (!starts_with(s, prefix) || !ends_with(s, suffix)) return {};
  const auto id = s.substr(prefix.size(), s.size() - prefix.size() - suffix.size());
  return is_hex_id(id) ? id : std::string_view{};
}

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

// Kubernetes pod cgroup: "pod<uid>" (cgroupfs driver) or "kubepods-<qos>-pod<uid_>.slice" /
// "kubepods-pod<uid_>.slice" (systemd driver). Returns the canonical dashed UID or "".
std::string pod_uid_of(std::string_view c) {
  std::string_view uid;
  if (starts_with(c, "pod")) {
    uid = c.substr(3);
  } else if (starts_with(c, "kubepods-") && ends_with(c, ".slice")) {
    const auto pos = c.rfind("pod");
    if (pos == std::string_view::npos) return {};
    uid = c.substr(pos + 3, c.size() - pos - 3 - 6);
  }
  if (!is_uuid_like(uid)) return {};
  std::string out(uid);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

QosClass qos_of(std::string_view c) {
  if (c == "burstable" || c == "kubepods-burstable.slice") return QosClass::kBurstable;
  if (c == "besteffort" || c == "kubepods-besteffort.slice") return QosClass::kBestEffort;
  return QosClass::kNone;
}

// A container cgroup component: returns the runtime and sets id, or kNone.
Runtime container_of(std::string_view c, std::string_view parent, bool in_pod, std::string& id) {
  struct Pattern {
    std::string_view prefix, suffix;
    Runtime runtime;
  };
  static constexpr Pattern kPatterns[] = {
      {"docker-", ".scope", Runtime::kDocker},
      {"cri-containerd-", ".scope", Runtime::kContainerd},
      {"crio-conmon-", ".scope", Runtime::kCrio},
      {"crio-", ".scope", Runtime::kCrio},
      {"crio-", "", Runtime::kCrio},
      {"libpod-conmon-", ".scope", Runtime::kPodman},
      {"libpod-", ".scope", Runtime::kPodman},
      {"libpod-", "", Runtime::kPodman},
  };
  for (const auto& p : kPatterns) {
    if (auto found = strip_id(c, p.prefix, p.suffix); !found.empty()) {
      id = std::string(found);
      return p.runtime;
    }
  }
  if (is_hex_id(c)) {
    id = std::string(c);
    if (parent == "docker") return Runtime::kDocker;
    // Under a pod with the cgroupfs driver the path does not say which runtime: containerd
    // is the common default, so that is what we assume.
    (void)in_pod;
    return Runtime::kContainerd;  // also ctr outside Kubernetes: /default/<id>
  }
  return Runtime::kNone;
}

}  // namespace

std::string_view to_string(Runtime runtime) {
  switch (runtime) {
    case Runtime::kNone: return "none";
    case Runtime::kDocker: return "docker";
    case Runtime::kContainerd: return "containerd";
    case Runtime::kCrio: return "crio";
    case Runtime::kPodman: return "podman";
    case Runtime::kLxc: return "lxc";
    case Runtime::kSystemd: return "systemd";
  }
  return "none";
}

std::string_view to_string(QosClass qos) {
  switch (qos) {
    case QosClass::kNone: return "";
    case QosClass::kGuaranteed: return "guaranteed";
    case QosClass::kBurstable: return "burstable";
    case QosClass::kBestEffort: return "besteffort";
  }
  return "";
}

ContainerIdentity parse_container_identity(std::string_view cgroup_path) {
  ContainerIdentity out;
  const auto parts = components(cgroup_path);
  bool in_kubepods = false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto c = parts[i];
    const auto parent = i > 0 ? parts[i - 1] : std::string_view{};
    if (c == "kubepods" || c == "kubepods.slice") {
      in_kubepods = true;
      continue;
    }
    if (in_kubepods) {
      if (auto q = qos_of(c); q != QosClass::kNone) {
        out.qos = q;
        continue;
      }
      if (auto uid = pod_uid_of(c); !uid.empty()) {
        out.pod_uid = uid;
        if (out.qos == QosClass::kNone) out.qos = QosClass::kGuaranteed;
        continue;
      }
    }
    // LXC / LXD: /lxc/<name>, /lxc.payload.<name>, /lxc.payload/<name>, /lxc.monitor.<name>
    if ((parent == "lxc" || parent == "lxc.payload") && out.container_id.empty()) {
      out.runtime = Runtime::kLxc;
      out.container_id = std::string(c);
      continue;
    }
    for (std::string_view prefix : {"lxc.payload.", "lxc.monitor."}) {
      if (starts_with(c, prefix) && c.size() > prefix.size() && out.container_id.empty()) {
        out.runtime = Runtime::kLxc;
        out.container_id = std::string(c.substr(prefix.size()));
      }
    }
    if (out.runtime == Runtime::kLxc) continue;

    std::string id;
    if (const Runtime r = container_of(c, parent, !out.pod_uid.empty(), id); r != Runtime::kNone) {
      out.runtime = r;
      out.container_id = std::move(id);
      continue;
    }
    if (!out.container_id.empty()) continue;  // e.g. podman's "container" child: same container
    if (ends_with(c, ".slice")) {
      out.systemd_slice = std::string(c);
    } else if (ends_with(c, ".service") || ends_with(c, ".scope")) {
      out.systemd_unit = std::string(c);
    }
  }
  if (out.runtime == Runtime::kNone && !out.systemd_unit.empty()) out.runtime = Runtime::kSystemd;
  return out;
}

std::string ContainerIdentity::display_name(std::string_view cgroup_path) const {
  const std::string short_id = container_id.substr(0, 12);
  if (!pod_uid.empty()) {
    return container_id.empty() ? "pod:" + pod_uid.substr(0, 8) : "pod:" + pod_uid.substr(0, 8) + "/" + short_id;
  }
  if (!container_id.empty()) {
    if (runtime == Runtime::kLxc) return "lxc:" + container_id;
    return std::string(to_string(runtime)) + ":" + short_id;
  }
  if (!systemd_unit.empty()) return systemd_unit;
  const auto parts = components(cgroup_path);
  return parts.empty() ? "/" : std::string(parts.back());
}

}  // namespace cgscope::model
