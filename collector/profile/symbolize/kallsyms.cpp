#include "collector/profile/symbolize/kallsyms.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_map>

namespace cgscope::collector {

Result<std::unique_ptr<KernelSymbols>> KernelSymbols::parse(std::string text) {
  std::unique_ptr<KernelSymbols> ks(new KernelSymbols());
  ks->text_ = std::move(text);
  ks->modules_.push_back("");
  std::unordered_map<std::string_view, std::uint16_t> module_ids;
  const std::string_view all(ks->text_);
  std::size_t pos = 0, lines = 0;
  bool any_nonzero = false;
  while (pos < all.size()) {
    std::size_t eol = all.find('\n', pos);
    if (eol == std::string_view::npos) eol = all.size();
    std::string_view line = all.substr(pos, eol - pos);
    const std::size_t line_start = pos;
    pos = eol + 1;
    if (line.empty()) continue;
    ++lines;
    // "<hex address> <type> <name>[\t[<module>]]"
    const std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 + 3 > line.size() || line[sp1 + 2] != ' ') continue;
    const char type = line[sp1 + 1];
    if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
    std::uint64_t address = 0;
    const auto [p, ec] = std::from_chars(line.data(), line.data() + sp1, address, 16);
    if (ec != std::errc{} || p != line.data() + sp1) continue;
    if (address != 0) any_nonzero = true;
    std::string_view rest = line.substr(sp1 + 3);
    std::string_view name = rest, module;
    if (const std::size_t tab = rest.find('\t'); tab != std::string_view::npos) {
      name = rest.substr(0, tab);
      module = rest.substr(tab + 1);
      if (module.size() >= 2 && module.front() == '[' && module.back() == ']')
        module = module.substr(1, module.size() - 2);
    }
    if (name.empty() || name.size() > 0xffff) continue;
    std::uint16_t module_id = 0;
    if (!module.empty()) {
      auto [it, inserted] = module_ids.try_emplace(module, static_cast<std::uint16_t>(ks->modules_.size()));
      if (inserted) ks->modules_.push_back(module);
      module_id = it->second;
    }
    const std::size_t name_offset = line_start + static_cast<std::size_t>(name.data() - line.data());
    ks->entries_.push_back({address, static_cast<std::uint32_t>(name_offset),
                            static_cast<std::uint16_t>(name.size()), module_id});
  }
  if (ks->entries_.empty()) return Error{"kallsyms: no text symbols in " + std::to_string(lines) + " lines"};
  if (!any_nonzero)
    return Error{
        "kallsyms: every address reads 0 (kernel.kptr_restrict hides them: run as root, or "
        "sysctl kernel.kptr_restrict=0); kernel frames cannot be named"};
  std::stable_sort(ks->entries_.begin(), ks->entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.address < b.address; });
  return ks;
}

Result<std::unique_ptr<KernelSymbols>> KernelSymbols::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Error{"kallsyms: cannot open " + path};
  std::stringstream ss;
  ss << f.rdbuf();
  return parse(ss.str());
}

std::optional<KernelSymbol> KernelSymbols::lookup(std::uint64_t address) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), address,
                             [](std::uint64_t a, const Entry& e) { return a < e.address; });
  if (it == entries_.begin()) return std::nullopt;
  --it;
  const std::string_view all(text_);
  return KernelSymbol{it->address, all.substr(it->name_offset, it->name_length), modules_[it->module]};
}

}  // namespace cgscope::collector
