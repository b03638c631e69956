// Kernel symbols from /proc/kallsyms: text symbols sorted by address, for resolving the
// kernel frames of sampled stacks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/result.hpp"

namespace cgscope::collector {

struct KernelSymbol {
  std::uint64_t address = 0;
  std::string_view name;
  std::string_view module;  // "" for the kernel image, else the module ("ext4")
};

class KernelSymbols {
 public:
  // Parses kallsyms text ("ffffffff81000000 T _stext\n..." with an optional "\t[module]").
  // Keeps text symbols (t, T, w, W). All-zero addresses (kptr_restrict hides them from this
  // reader) are an error that says so.
  static Result<std::unique_ptr<KernelSymbols>> parse(std::string text);
  static Result<std::unique_ptr<KernelSymbols>> load(const std::string& path = "/proc/kallsyms");

  // The symbol at or below `address`, if `address` lies in kernel text at all.
  std::optional<KernelSymbol> lookup(std::uint64_t address) const;
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::uint64_t address;
    std::uint32_t name_offset;
    std::uint16_t name_length;
    std::uint16_t module;  // index into modules_, 0 = the kernel image ("")
  };
  std::string text_;  // the file; names point into it
  std::vector<Entry> entries_;
  std::vector<std::string_view> modules_;
};

}  // namespace cgscope::collector
