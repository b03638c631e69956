#include "collector/profile/symbolize/elf_module.hpp"

#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace cgscope::collector {

Result<std::unique_ptr<ElfModule>> ElfModule::open(const std::string& path, const std::string& name,
                                                   const std::string& debuginfo_path) {
  std::unique_ptr<ElfModule> m(new ElfModule());
  m->name_ = name;
  m->debuginfo_path_ = debuginfo_path;
  m->debuginfo_path_ptr_ = m->debuginfo_path_.empty() ? nullptr : m->debuginfo_path_.data();
  m->callbacks_.find_elf = dwfl_build_id_find_elf;
  m->callbacks_.find_debuginfo = dwfl_standard_find_debuginfo;
  m->callbacks_.section_address = dwfl_offline_section_address;
  m->callbacks_.debuginfo_path = &m->debuginfo_path_ptr_;

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{"opening " + path + ": " + std::strerror(errno)};
  m->dwfl_ = dwfl_begin(&m->callbacks_);
  if (!m->dwfl_) {
    close(fd);
    return Error{std::string("libdwfl: ") + dwfl_errmsg(-1)};
  }
  dwfl_report_begin(m->dwfl_);
  // Base 0 relative to p_vaddr: libdwfl addresses are the file's own virtual addresses.
  m->module_ = dwfl_report_elf(m->dwfl_, name.c_str(), path.c_str(), fd, 0, true);
  if (!m->module_) {
    close(fd);  // consumed only on success
    return Error{"reading ELF " + path + ": " + dwfl_errmsg(-1)};
  }
  dwfl_report_end(m->dwfl_, nullptr, nullptr);

  Dwarf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(m->module_, &bias);
  if (!elf) return Error{"reading ELF " + path + ": " + dwfl_errmsg(-1)};
  m->bias_ = bias;
  std::size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) == 0) {
    for (std::size_t i = 0; i < phnum; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD)
        m->segments_.push_back({ph.p_offset, ph.p_filesz, ph.p_vaddr});
    }
  }
  if (m->segments_.empty()) return Error{path + ": no loadable segments (not an executable or library)"};

  const unsigned char* bits = nullptr;
  GElf_Addr note_vaddr = 0;
  const int len = dwfl_module_build_id(m->module_, &bits, &note_vaddr);
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < len; ++i) {
    m->build_id_ += kHex[bits[i] >> 4];
    m->build_id_ += kHex[bits[i] & 0xf];
  }

  // Load everything now, while the file (and a container's debuginfo) is reachable: the
  // process may be gone by the time its stacks are symbolized.
  Dwarf_Addr dwarf_bias = 0;
  m->has_dwarf_ = dwfl_module_getdwarf(m->module_, &dwarf_bias) != nullptr;
  const int n = dwfl_module_getsymtab(m->module_);
  for (int i = 1; i < n; ++i) {
    GElf_Sym sym;
    GElf_Addr addr = 0;
    GElf_Word shndx = 0;
    Elf* sym_elf = nullptr;
    Dwarf_Addr sym_bias = 0;
    const char* sym_name = dwfl_module_getsym_info(m->module_, i, &sym, &addr, &shndx, &sym_elf, &sym_bias);
    if (!sym_name || !*sym_name || shndx == SHN_UNDEF) continue;
    const int type = GELF_ST_TYPE(sym.st_info);
    if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
    m->functions_.push_back({sym_name, addr - m->bias_, sym.st_size});
  }
  // Aliases share an address: keep one (the sized one, so bounds are known).
  std::sort(m->functions_.begin(), m->functions_.end(), [](const Function& a, const Function& b) {
    return a.start != b.start ? a.start < b.start : a.size > b.size;
  });
  m->functions_.erase(std::unique(m->functions_.begin(), m->functions_.end(),
                                  [](const Function& a, const Function& b) { return a.start == b.start; }),
                      m->functions_.end());
  return m;
}

ElfModule::~ElfModule() {
  if (dwfl_) dwfl_end(dwfl_);  // closes the file
}

std::optional<std::uint64_t> ElfModule::vaddr_of_file_offset(std::uint64_t offset) const {
  for (const Segment& s : segments_)
    if (offset >= s.offset && offset < s.offset + s.file_size) return offset - s.offset + s.vaddr;
  return std::nullopt;
}

std::optional<std::uint64_t> ElfModule::file_offset_of_vaddr(std::uint64_t vaddr) const {
  for (const Segment& s : segments_)
    if (vaddr >= s.vaddr && vaddr < s.vaddr + s.file_size) return vaddr - s.vaddr + s.offset;
  return std::nullopt;
}

const ElfModule::Function* ElfModule::function_at(std::uint64_t vaddr) const {
  auto it = std::upper_bound(functions_.begin(), functions_.end(), vaddr,
                             [](std::uint64_t a, const Function& f) { return a < f.start; });
  if (it == functions_.begin()) return nullptr;
  --it;
  // Past the end of the closest symbol: code no symbol describes (PLT stubs, stripped local
  // functions). Better unknown than the wrong name.
  if (it->size != 0 && vaddr >= it->start + it->size) return nullptr;
  return &*it;
}

ElfModule::SourceLine ElfModule::source_line(std::uint64_t vaddr) const {
  if (!has_dwarf_) return {};
  Dwfl_Line* line = dwfl_module_getsrc(module_, vaddr + bias_);
  if (!line) return {};
  Dwarf_Addr addr = 0;
  int lineno = 0;
  const char* file = dwfl_lineinfo(line, &addr, &lineno, nullptr, nullptr, nullptr);
  return {file, lineno};
}

}  // namespace cgscope::collector
