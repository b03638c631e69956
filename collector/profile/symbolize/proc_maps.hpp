// /proc/PID/maps: the executable mappings of a process, for turning user addresses into
// (binary, file offset).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/result.hpp"

namespace cgscope::collector {

struct Mapping {
  std::uint64_t start = 0, end = 0;  // [start, end)
  std::uint64_t offset = 0;          // file offset of start
  std::uint32_t dev_major = 0, dev_minor = 0;
  std::uint64_t inode = 0;
  bool executable = false;
  std::string path;      // "/usr/lib/x.so", "[vdso]", "[anon:name]", "//anon", "" (anonymous), ...
  bool deleted = false;  // the path ended in " (deleted)" (stripped from `path`)

  // A regular file (not anonymous memory, JIT code, [vdso], memfd:, SysV shm, /dev/zero).
  bool is_file() const;
};

// Parses maps text (proc(5)); lines that do not parse are counted in `bad_lines`.
std::vector<Mapping> parse_proc_maps(std::string_view text, std::size_t* bad_lines = nullptr);

// Name of a mapping for "[unknown] (name)" frames: the file's base name, or the pseudo path.
std::string mapping_display_name(const Mapping& m);

}  // namespace cgscope::collector
