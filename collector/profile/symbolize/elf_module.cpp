#include "collector/profile/symbolize/elf_module.hpp"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
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
  // A stripped executable still has its entry point: name it _start where no symbol does, with
  // the bounds its CFI gives (so the stack's outermost frame is recognised as the entry).
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf, &ehdr) && ehdr.e_entry && !m->function_at(ehdr.e_entry)) {
    m->load_fde_starts(elf);
    auto next = std::upper_bound(m->fde_starts_.begin(), m->fde_starts_.end(), ehdr.e_entry);
    if (next != m->fde_starts_.begin() && *std::prev(next) == ehdr.e_entry && next != m->fde_starts_.end()) {
      const Function entry{"_start", ehdr.e_entry, *next - ehdr.e_entry};
      m->functions_.insert(std::upper_bound(m->functions_.begin(), m->functions_.end(), entry,
                                            [](const Function& x, const Function& y) { return x.start < y.start; }),
                           entry);
    }
  }
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

void ElfModule::load_cfi() const {
  if (cfi_loaded_) return;
  cfi_loaded_ = true;
  Dwarf_Addr bias = 0;
  if (Dwarf_CFI* eh = dwfl_module_eh_cfi(module_, &bias)) cfi_[0] = {eh, bias};
  if (Dwarf_CFI* debug = dwfl_module_dwarf_cfi(module_, &bias)) cfi_[1] = {debug, bias};
}

void ElfModule::load_fde_starts(Elf* elf) const {
  if (fde_starts_loaded_) return;
  fde_starts_loaded_ = true;
  // .eh_frame_hdr: version 1, three pointer encodings, the .eh_frame pointer, the FDE count,
  // then the binary search table of (function start, FDE) pairs that the C++ runtime uses to
  // find an FDE. Read when its encoding is the one toolchains write (4-byte signed offsets
  // from the section's start); otherwise no starts are known.
  std::size_t shstrndx = 0;
  if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0) return;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char* name = elf_strptr(elf, shstrndx, sh.sh_name);
    if (!name || std::strcmp(name, ".eh_frame_hdr") != 0) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data || !data->d_buf || data->d_size < 12) return;
    const auto* b = static_cast<const unsigned char*>(data->d_buf);
    constexpr unsigned char kUdata4 = 0x03, kSdata4 = 0x0b, kPcrel = 0x10, kDatarel = 0x30;
    if (b[0] != 1 || (b[1] & 0x0f) != kSdata4 || b[1] != (kPcrel | kSdata4) || b[2] != kUdata4 ||
        b[3] != (kDatarel | kSdata4))
      return;
    std::uint32_t count = 0;
    std::memcpy(&count, b + 8, 4);
    if (count > (data->d_size - 12) / 8) return;
    fde_starts_.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
      std::int32_t start = 0;
      std::memcpy(&start, b + 12 + 8 * static_cast<std::size_t>(i), 4);
      fde_starts_.push_back(sh.sh_addr + static_cast<std::uint64_t>(static_cast<std::int64_t>(start)));
    }
    std::sort(fde_starts_.begin(), fde_starts_.end());
    return;
  }
}

std::optional<std::uint64_t> ElfModule::cfi_function_start(std::uint64_t vaddr) const {
  if (!fde_starts_loaded_) {
    Dwarf_Addr bias = 0;
    load_fde_starts(dwfl_module_getelf(module_, &bias));
  }
  auto it = std::upper_bound(fde_starts_.begin(), fde_starts_.end(), vaddr);
  if (it == fde_starts_.begin()) return std::nullopt;
  return *std::prev(it);
}

bool ElfModule::release_frame_rules() const {
  const bool had = !rules_cache_.empty();
  std::unordered_map<std::uint64_t, std::optional<FrameRules>>().swap(rules_cache_);
  return had;
}

namespace {

DwarfExpr to_expr(const Dwarf_Op* ops, std::size_t n) {
  DwarfExpr e;
  e.reserve(n);
  for (std::size_t i = 0; i < n; ++i) e.push_back({ops[i].atom, ops[i].number, ops[i].number2});
  return e;
}

RegisterRule register_rule(Dwarf_Frame* frame, int regno) {
  Dwarf_Op mem[3];
  Dwarf_Op* ops = nullptr;
  std::size_t nops = 0;
  RegisterRule rule;
  if (regno < 0 || dwarf_frame_register(frame, regno, mem, &ops, &nops) != 0) return rule;  // undefined
  if (nops == 0) {
    rule.kind = ops ? RegisterRule::kUndefined : RegisterRule::kSameValue;
    return rule;
  }
  rule.expr = to_expr(ops, nops);
  const std::uint8_t last = ops[nops - 1].atom;
  if (last == DW_OP_stack_value) {
    rule.kind = RegisterRule::kValue;
    rule.expr.pop_back();
  } else if (nops == 1 && ((last >= DW_OP_reg0 && last <= DW_OP_reg31) || last == DW_OP_regx)) {
    rule.kind = RegisterRule::kValue;  // "in register R": its value
  } else {
    rule.kind = RegisterRule::kAt;
  }
  return rule;
}

}  // namespace

const std::optional<FrameRules>& ElfModule::frame_rules(std::uint64_t vaddr) const {
  if (auto it = rules_cache_.find(vaddr); it != rules_cache_.end()) return it->second;
  // Bounded (a few hundred bytes a row): 16k distinct sampled addresses per binary.
  if (rules_cache_.size() >= (1u << 14)) rules_cache_.clear();
  load_cfi();
  std::optional<FrameRules> found;
  for (const Cfi& c : cfi_) {
    if (!c.cfi) continue;
    Dwarf_Frame* frame = nullptr;
    if (dwarf_cfi_addrframe(c.cfi, vaddr + bias_ - c.bias, &frame) != 0 || !frame) continue;
    Dwarf_Op* ops = nullptr;
    std::size_t nops = 0;
    if (dwarf_frame_cfa(frame, &ops, &nops) == 0 && nops > 0) {
      FrameRules r;
      r.return_address = register_rule(frame, dwarf_frame_info(frame, nullptr, nullptr, nullptr));
      r.cfa = to_expr(ops, nops);
      r.rbx = register_rule(frame, kDwarfRbx);
      r.rbp = register_rule(frame, kDwarfRbp);
      r.r12 = register_rule(frame, 12);
      r.r13 = register_rule(frame, 13);
      r.r14 = register_rule(frame, 14);
      r.r15 = register_rule(frame, 15);
      found = std::move(r);
    }
    std::free(frame);
    if (found) break;
  }
  return rules_cache_.emplace(vaddr, std::move(found)).first->second;
}

}  // namespace cgscope::collector
