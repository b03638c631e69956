// Parsers for the io.* / blkio.* and memory.* cgroupfs files. Pure functions of the content.
#include <algorithm>

#include "collector/cgroupfs/parse.hpp"
#include "collector/cgroupfs/parse_util.hpp"

namespace cgscope::collector {

using namespace parse_detail;

namespace {


Error line_error(std::string_view file, int line_no, std::string_view what, std::string_view line) {
  return Error{std::string(file) + ": line " + std::to_string(line_no) + ": " + std::string(what) + ", got '" +
               std::string(line.substr(0, 60)) + "'"};
}

template <typename T>
T& entry_for(std::vector<T>& v, std::uint32_t dev) {
  auto it = std::find_if(v.begin(), v.end(), [&](const T& x) { return x.dev == dev; });
  if (it != v.end()) return *it;
  v.push_back(T{});
  v.back().dev = dev;
  return v.back();
}

// "max" -> nullopt, else a number.
bool limit_value(std::string_view text, std::optional<std::uint64_t>& out) {
  if (text == "max") {
    out.reset();
    return true;
  }
  std::uint64_t v = 0;
  if (!to_number(text, v)) return false;
  out = v;
  return true;
}

}  // namespace

Result<std::uint32_t> parse_dev(std::string_view text) {
  const auto colon = text.find(':');
  std::uint32_t major = 0, minor = 0;
  if (colon == std::string_view::npos || !to_number(text.substr(0, colon), major) ||
      !to_number(text.substr(colon + 1), minor) || major >= (1u << 12) || minor >= (1u << 20)) {
    return Error{"expected a device 'MAJ:MIN', got '" + std::string(text.substr(0, 40)) + "'"};
  }
  return model::make_dev(major, minor);
}

Result<std::vector<model::IoStatDevice>> parse_io_stat_v2(std::string_view content) {
  std::vector<model::IoStatDevice> out;
  auto s = for_each_line(content, [&](int n, std::string_view line) -> Status {
    const auto w = words(line);
    auto dev = parse_dev(w[0]);
    if (!dev) return line_error("io.stat", n, "expected 'MAJ:MIN key=value ...'", line);
    auto& d = entry_for(out, *dev);
    for (std::size_t i = 1; i < w.size(); ++i) {
      const auto eq = w[i].find('=');
      if (eq == std::string_view::npos) return line_error("io.stat", n, "expected key=value", line);
      const auto key = w[i].substr(0, eq), value = w[i].substr(eq + 1);
      std::uint64_t* field = key == "rbytes" ? &d.rbytes
                             : key == "wbytes" ? &d.wbytes
                             : key == "rios"   ? &d.rios
                             : key == "wios"   ? &d.wios
                             : key == "dbytes" ? &d.dbytes
                             : key == "dios"   ? &d.dios
                                               : nullptr;
      if (!field) continue;  // io.cost, io.latency and future keys
      if (!to_number(value, *field)) return line_error("io.stat", n, "expected a number after " + std::string(key) + "=", line);
    }
    return {};
  });
  if (!s) return Error{s.error()};
  return out;
}

Status parse_blkio_rw_v1(std::string_view file, std::string_view content, bool bytes,
                         std::vector<model::IoStatDevice>& devices) {
  return for_each_line(content, [&](int n, std::string_view line) -> Status {
    const auto w = words(line);
    std::uint64_t value = 0;
    if (w.size() == 2 && w[0] == "Total" && to_number(w[1], value)) return {};
    if (w.size() != 3 || !to_number(w[2], value)) return line_error(file, n, "expected 'MAJ:MIN <Op> <count>'", line);
    auto dev = parse_dev(w[0]);
    if (!dev) return line_error(file, n, "expected a device 'MAJ:MIN' first", line);
    auto& d = entry_for(devices, *dev);
    if (w[1] == "Read") (bytes ? d.rbytes : d.rios) = value;
    else if (w[1] == "Write") (bytes ? d.wbytes : d.wios) = value;
    else if (w[1] == "Discard") (bytes ? d.dbytes : d.dios) = value;
    return {};  // Sync, Async, Total of a device: sums of the above
  });
}

Result<std::vector<model::IoDeviceLimit>> parse_io_max(std::string_view content) {
  std::vector<model::IoDeviceLimit> out;
  auto s = for_each_line(content, [&](int n, std::string_view line) -> Status {
    const auto w = words(line);
    auto dev = parse_dev(w[0]);
    if (!dev) return line_error("io.max", n, "expected 'MAJ:MIN rbps=.. wbps=.. riops=.. wiops=..'", line);
    auto& l = entry_for(out, *dev);
    for (std::size_t i = 1; i < w.size(); ++i) {
      const auto eq = w[i].find('=');
      if (eq == std::string_view::npos) return line_error("io.max", n, "expected key=value", line);
      const auto key = w[i].substr(0, eq), value = w[i].substr(eq + 1);
      std::optional<std::uint64_t>* field = key == "rbps"    ? &l.rbps
                                            : key == "wbps"  ? &l.wbps
                                            : key == "riops" ? &l.riops
                                            : key == "wiops" ? &l.wiops
                                                             : nullptr;
      if (field && !limit_value(value, *field)) return line_error("io.max", n, "expected a number or 'max'", line);
    }
    return {};
  });
  if (!s) return Error{s.error()};
  return out;
}

Result<std::uint64_t> parse_io_weight(std::string_view file, std::string_view content) {
  std::optional<std::uint64_t> weight;
  auto s = for_each_line(content, [&](int n, std::string_view line) -> Status {
    const auto w = words(line);
    std::uint64_t v = 0;
    if (w.size() == 1 && to_number(w[0], v)) weight = v;  // v1: a bare number
    else if (w.size() == 2 && w[0] == "default" && to_number(w[1], v)) weight = v;
    else if (!(w.size() == 2 && parse_dev(w[0]).ok() && to_number(w[1], v)))
      return line_error(file, n, "expected 'default <weight>' or 'MAJ:MIN <weight>'", line);
    return {};
  });
  if (!s) return Error{s.error()};
  if (!weight) return Error{std::string(file) + ": no default weight"};
  return *weight;
}

Status parse_blkio_throttle_v1(std::string_view file, std::string_view content, BlkioLimit which,
                               std::vector<model::IoDeviceLimit>& limits) {
  // Into a copy: a file with a bad line changes nothing.
  std::vector<model::IoDeviceLimit> merged = limits;
  auto s = for_each_line(content, [&](int n, std::string_view line) -> Status {
    const auto w = words(line);
    std::uint64_t v = 0;
    if (w.size() != 2 || !to_number(w[1], v)) return line_error(file, n, "expected 'MAJ:MIN <limit>'", line);
    auto dev = parse_dev(w[0]);
    if (!dev) return line_error(file, n, "expected a device 'MAJ:MIN' first", line);
    auto& l = entry_for(merged, *dev);
    switch (which) {
      case BlkioLimit::kReadBps: l.rbps = v; break;
      case BlkioLimit::kWriteBps: l.wbps = v; break;
      case BlkioLimit::kReadIops: l.riops = v; break;
      case BlkioLimit::kWriteIops: l.wiops = v; break;
    }
    return {};
  });
  if (s) limits = std::move(merged);
  return s;
}

Result<std::map<std::string, std::uint64_t, std::less<>>> parse_flat_keyed(std::string_view file,
                                                                           std::string_view content) {
  std::map<std::string, std::uint64_t, std::less<>> out;
  auto s = for_each_key_value(file, content, [&](int n, std::string_view k, std::string_view v) -> Status {
    std::uint64_t x = 0;
    if (!to_number(v, x)) return bad_value(file, n, k, v);
    out.emplace(std::string(k), x);
    return {};
  });
  if (!s) return Error{s.error()};
  return out;
}

Result<std::optional<std::uint64_t>> parse_memory_limit(std::string_view content) {
  const auto t = trim(content);
  std::optional<std::uint64_t> v;
  if (!limit_value(t, v)) return Error{"expected a byte count or 'max', got '" + std::string(t.substr(0, 40)) + "'"};
  if (v && *v >= (std::uint64_t{1} << 62)) v.reset();  // v1: PAGE_COUNTER_MAX pages = unlimited
  return v;
}

model::MemoryStat memory_stat_from(const std::map<std::string, std::uint64_t, std::less<>>& keys, bool v1) {
  auto get = [&](std::string_view key) -> std::optional<std::uint64_t> {
    auto it = keys.find(key);
    return it == keys.end() ? std::nullopt : std::optional<std::uint64_t>(it->second);
  };
  model::MemoryStat st;
  st.anon_bytes = get(v1 ? "rss" : "anon");
  st.file_bytes = get(v1 ? "cache" : "file");
  st.file_dirty_bytes = get(v1 ? "dirty" : "file_dirty");
  st.file_writeback_bytes = get(v1 ? "writeback" : "file_writeback");
  st.shmem_bytes = get("shmem");
  st.pgfault = get("pgfault");
  st.pgmajfault = get("pgmajfault");
  st.workingset_refault_anon = get("workingset_refault_anon");
  st.workingset_refault_file = get("workingset_refault_file");
  if (!st.workingset_refault_file) st.workingset_refault_file = get("workingset_refault");  // before 5.9
  st.active_file_bytes = get("active_file");  // the same key in v1 and v2
  st.inactive_file_bytes = get("inactive_file");
  return st;
}

}  // namespace cgscope::collector
