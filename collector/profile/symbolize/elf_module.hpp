// One binary or shared library, opened with elfutils (libdwfl): its build id, loadable
// segments, function symbols (.symtab, else .dynsym, or those of its separate debuginfo
// file / MiniDebugInfo) and DWARF line information where present.
#pragma once

#include <elfutils/libdwfl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "collector/profile/symbolize/unwind.hpp"

#include "model/result.hpp"

namespace cgscope::collector {

class ElfModule {
 public:
  // `path` is where to read the file now (e.g. "/proc/PID/root/usr/lib/libc.so.6"); `name` is
  // how the process sees it. `debuginfo_path` tells libdwfl where separate debuginfo lives
  // (its syntax: ":.debug:/usr/lib/debug"; "" = that default), so files inside a container
  // find the container's /usr/lib/debug.
  static Result<std::unique_ptr<ElfModule>> open(const std::string& path, const std::string& name,
                                                 const std::string& debuginfo_path = "");
  ~ElfModule();
  ElfModule(const ElfModule&) = delete;
  ElfModule& operator=(const ElfModule&) = delete;

  const std::string& name() const { return name_; }
  const std::string& build_id() const { return build_id_; }  // hex, "" if the file has none

  // The ELF virtual address of a file offset (inside a PT_LOAD segment), and back.
  std::optional<std::uint64_t> vaddr_of_file_offset(std::uint64_t offset) const;
  std::optional<std::uint64_t> file_offset_of_vaddr(std::uint64_t vaddr) const;

  struct Function {
    const char* name;  // points into the ELF string table (lives as long as the module)
    std::uint64_t start;
    std::uint64_t size;  // 0: unknown, covers up to the next symbol
  };
  // The function whose symbol covers `vaddr`, or nullptr (in no function's bounds).
  const Function* function_at(std::uint64_t vaddr) const;

  struct SourceLine {
    const char* file = nullptr;
    int line = 0;
  };
  SourceLine source_line(std::uint64_t vaddr) const;  // {} without DWARF line info

  // The call frame rules at `vaddr`, from .eh_frame, else .debug_frame (separate debuginfo
  // included); nullopt when neither covers it. Cached per address.
  const std::optional<FrameRules>& frame_rules(std::uint64_t vaddr) const;
  // The start of the function whose FDE covers `vaddr` (from .eh_frame_hdr's search table),
  // for naming code no symbol covers; nullopt when unknown.
  std::optional<std::uint64_t> cfi_function_start(std::uint64_t vaddr) const;
  // Drops the cached rules (no process maps the binary any more); they are rebuilt on demand.
  // Returns whether there were any.
  bool release_frame_rules() const;

  const std::vector<Function>& functions() const { return functions_; }  // sorted by start
  bool has_dwarf() const { return has_dwarf_; }

 private:
  ElfModule() = default;

  struct Segment {
    std::uint64_t offset, file_size, vaddr;
  };
  Dwfl_Callbacks callbacks_{};
  std::string debuginfo_path_;
  char* debuginfo_path_ptr_ = nullptr;  // libdwfl reads the path through a char**
  Dwfl* dwfl_ = nullptr;
  Dwfl_Module* module_ = nullptr;
  std::uint64_t bias_ = 0;  // libdwfl address = vaddr + bias
  std::string name_, build_id_;
  std::vector<Segment> segments_;
  std::vector<Function> functions_;  // sorted by start
  bool has_dwarf_ = false;
  // CFI, looked up on first use (the file stays open, so this works after the process exits).
  mutable bool cfi_loaded_ = false;
  mutable struct Cfi {
    Dwarf_CFI* cfi;
    std::uint64_t bias;
  } cfi_[2] = {};
  mutable std::unordered_map<std::uint64_t, std::optional<FrameRules>> rules_cache_;
  void load_cfi() const;
  void load_fde_starts(Elf* elf) const;
  mutable bool fde_starts_loaded_ = false;
  mutable std::vector<std::uint64_t> fde_starts_;  // sorted
};

}  // namespace cgscope::collector
