#include "cli/host_facts.hpp"

#include <algorithm>
#include <charconv>
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

std::uint64_t dirtyable_memory_bytes(std::string_view meminfo) {
  std::uint64_t total = 0;
  int found = 0;
  for (std::string_view key : {"MemFree:", "Active(file):", "Inactive(file):"}) {
    std::size_t at = 0;
    while ((at = meminfo.find(key, at)) != std::string_view::npos && at != 0 && meminfo[at - 1] != '\n') ++at;
    if (at == std::string_view::npos) return 0;
    std::string_view rest = meminfo.substr(at + key.size());
    rest.remove_prefix(std::min(rest.find_first_not_of(' '), rest.size()));
    std::uint64_t kib = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), kib);
    if (ec != std::errc() || !std::string_view(end, rest.data() + rest.size()).starts_with(" kB")) return 0;
    total += kib * 1024;
    ++found;
  }
  return found == 3 ? total : 0;
}

std::uint64_t host_dirtyable_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::stringstream text;
  text << in.rdbuf();
  return in ? dirtyable_memory_bytes(text.str()) : 0;
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
  if (const auto bytes = host_dirtyable_memory_bytes()) meta["dirtyable_memory_bytes"] = std::to_string(bytes);
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

std::uint64_t dirtyable_memory_from_meta(const std::map<std::string, std::string>& meta) {
  const auto it = meta.find("dirtyable_memory_bytes");
  std::uint64_t bytes = 0;
  if (it != meta.end()) std::from_chars(it->second.data(), it->second.data() + it->second.size(), bytes);
  return bytes;
}

}  // namespace cgscope::cli
