// JIT symbols from perf maps: the text file /tmp/perf-PID.map that runtimes with a JIT write
// for profilers (node --perf-basic-prof, the JVM with perf-map-agent, .NET with
// DOTNET_PerfMapEnabled, LuaJIT, ...). One line per piece of code: "START SIZE name", START
// and SIZE in hex (with or without 0x). Code can be replaced at the same address: the last
// line for an address wins. The file only grows, so it is read incrementally.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace cgscope::collector {

class PerfMap {
 public:
  // Adds the complete lines of `text` (a trailing partial line is left for the next call;
  // returns how many bytes were consumed). Malformed lines are skipped and counted.
  std::size_t add(std::string_view text);
  // The symbol covering `address`, or nullptr.
  const std::string* lookup(std::uint64_t address) const;

  std::size_t size() const { return symbols_.size(); }
  std::uint64_t malformed_lines() const { return malformed_; }

 private:
  struct Symbol {
    std::uint64_t end;
    std::string name;
  };
  std::map<std::uint64_t, Symbol> symbols_;  // by start
  std::uint64_t malformed_ = 0;
};

}  // namespace cgscope::collector
