#include "cli/host_facts.hpp"

#include <fstream>
#include <sstream>

#include "collector/cgroupfs/hierarchy.hpp"

namespace cgscope::cli {
namespace {

std::string read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::vector<std::string> words(const std::string& s, char sep = ' ') {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (std::getline(in, w, sep))
    if (!w.empty()) out.push_back(w);
  return out;
}

constexpr const char* kSysctls[] = {"vm.dirty_bytes", "vm.dirty_background_bytes", "vm.dirty_ratio",
                                    "vm.dirty_background_ratio", "vm.watermark_scale_factor"};

}  // namespace

analyzers::CgroupLayout host_layout() {
  analyzers::CgroupLayout layout;
  auto h = collector::discover_hierarchy();
  if (!h) return layout;  // the defaults: a pure v2 host, said so by known = false
  layout.known = true;
  layout.v2_root = h->v2_root;
  layout.v1_mounts = h->v1_roots;
  if (!h->v2_root.empty()) layout.v2_controllers = words(read_line(h->v2_root + "/cgroup.controllers"));
  return layout;
}

std::map<std::string, std::string> host_sysctls() {
  std::map<std::string, std::string> out;
  for (const char* key : kSysctls) {
    std::string path = "/proc/sys/" + std::string(key);
    for (char& c : path)
      if (c == '.') c = '/';
    std::ifstream in(path);
    std::string v;
    if (in && std::getline(in, v)) out[key] = v;
  }
  return out;
}

void put_host_facts(std::map<std::string, std::string>& meta) {
  const auto layout = host_layout();
  if (layout.known) {
    meta["cgroup_v2_root"] = layout.v2_root;
    std::string controllers, roots;
    for (const auto& c : layout.v2_controllers) controllers += (controllers.empty() ? "" : " ") + c;
    for (const auto& [c, root] : layout.v1_mounts) roots += (roots.empty() ? "" : ";") + c + "=" + root;
    meta["cgroup_v2_controllers"] = controllers;
    meta["cgroup_v1_roots"] = roots;
  }
  for (const auto& [k, v] : host_sysctls()) meta["sysctl." + k] = v;
}

analyzers::CgroupLayout layout_from_meta(const std::map<std::string, std::string>& meta) {
  analyzers::CgroupLayout layout;
  auto root = meta.find("cgroup_v2_root");
  if (root == meta.end()) return layout;
  layout.known = true;
  layout.v2_root = root->second;
  if (auto it = meta.find("cgroup_v2_controllers"); it != meta.end()) layout.v2_controllers = words(it->second);
  if (auto it = meta.find("cgroup_v1_roots"); it != meta.end())
    for (const auto& pair : words(it->second, ';'))
      if (auto eq = pair.find('='); eq != std::string::npos) layout.v1_mounts[pair.substr(0, eq)] = pair.substr(eq + 1);
  return layout;
}

std::map<std::string, std::string> sysctls_from_meta(const std::map<std::string, std::string>& meta) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : meta)
    if (k.rfind("sysctl.", 0) == 0) out[k.substr(7)] = v;
  return out;
}

}  // namespace cgscope::cli
