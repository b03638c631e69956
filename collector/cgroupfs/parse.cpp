#include "collector/cgroupfs/parse.hpp"

#include <string>

#include "collector/cgroupfs/parse_util.hpp"

namespace cgscope::collector {

using namespace parse_detail;

Result<std::uint64_t> parse_u64_file(std::string_view content) {
  std::uint64_t v = 0;
  const auto t = trim(content);
  if (!to_number(t, v)) return Error{"expected an unsigned integer, got '" + std::string(t.substr(0, 40)) + "'"};
  return v;
}

Result<std::int64_t> parse_i64_file(std::string_view content) {
  std::int64_t v = 0;
  const auto t = trim(content);
  if (!to_number(t, v)) return Error{"expected an integer, got '" + std::string(t.substr(0, 40)) + "'"};
  return v;
}

Result<model::CpuStat> parse_cpu_stat_v2(std::string_view content) {
  model::CpuStat st;
  auto s = for_each_key_value("cpu.stat", content, [&](int n, std::string_view k, std::string_view v) -> Status {
    std::optional<std::uint64_t>* field = nullptr;
    if (k == "usage_usec") field = &st.usage_usec;
    else if (k == "user_usec") field = &st.user_usec;
    else if (k == "system_usec") field = &st.system_usec;
    else if (k == "nr_periods") field = &st.nr_periods;
    else if (k == "nr_throttled") field = &st.nr_throttled;
    else if (k == "throttled_usec") field = &st.throttled_usec;
    std::uint64_t x = 0;
    if (!to_number(v, x)) return bad_value("cpu.stat", n, k, v);  // every key is numeric
    if (field) *field = x;
    return {};
  });
  if (!s) return Error{s.error()};
  return st;
}

Result<model::CpuStat> parse_cpu_stat_v1(std::string_view content) {
  model::CpuStat st;
  auto s = for_each_key_value("cpu.stat", content, [&](int n, std::string_view k, std::string_view v) -> Status {
    std::uint64_t x = 0;
    if (!to_number(v, x)) return bad_value("cpu.stat", n, k, v);
    if (k == "nr_periods") st.nr_periods = x;
    else if (k == "nr_throttled") st.nr_throttled = x;
    else if (k == "throttled_time") st.throttled_usec = x / 1000;  // ns
    return {};
  });
  if (!s) return Error{s.error()};
  return st;
}

Result<model::CpuStat> parse_cpuacct_stat_v1(std::string_view content, long user_hz) {
  model::CpuStat st;
  if (user_hz <= 0) user_hz = 100;
  const std::uint64_t usec_per_tick = 1'000'000 / static_cast<std::uint64_t>(user_hz);
  auto s = for_each_key_value("cpuacct.stat", content, [&](int n, std::string_view k, std::string_view v) -> Status {
    std::uint64_t x = 0;
    if (!to_number(v, x)) return bad_value("cpuacct.stat", n, k, v);
    if (k == "user") st.user_usec = x * usec_per_tick;
    else if (k == "system") st.system_usec = x * usec_per_tick;
    return {};
  });
  if (!s) return Error{s.error()};
  return st;
}

Result<CpuMax> parse_cpu_max(std::string_view content) {
  const auto t = trim(content);
  const auto sp = t.find(' ');
  CpuMax m;
  const auto quota = t.substr(0, sp);
  if (quota != "max") {
    std::int64_t q = 0;
    if (!to_number(quota, q) || q <= 0)
      return Error{"cpu.max: expected 'max' or a positive quota, got '" + std::string(t.substr(0, 40)) + "'"};
    m.quota_usec = q;
  }
  if (sp != std::string_view::npos) {
    std::uint64_t period = 0;
    if (!to_number(trim(t.substr(sp + 1)), period) || period == 0)
      return Error{"cpu.max: expected '<quota> <period>', got '" + std::string(t.substr(0, 40)) + "'"};
    m.period_usec = period;
  }
  return m;
}

Result<model::Pressure> parse_pressure(std::string_view content) {
  model::Pressure p;
  int line_no = 0;
  while (!content.empty()) {
    const auto nl = content.find('\n');
    std::string_view line = trim(content.substr(0, nl));
    content = nl == std::string_view::npos ? std::string_view{} : content.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    const auto sp = line.find(' ');
    const auto kind = line.substr(0, sp);
    if (kind != "some" && kind != "full")
      return Error{"pressure: line " + std::to_string(line_no) + ": expected 'some' or 'full', got '" +
                   std::string(line.substr(0, 40)) + "'"};
    model::PsiLine psi;
    int fields = 0;
    std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
    while (!rest.empty()) {
      const auto next = rest.find(' ');
      const auto item = rest.substr(0, next);
      rest = next == std::string_view::npos ? std::string_view{} : trim(rest.substr(next + 1));
      const auto eq = item.find('=');
      if (eq == std::string_view::npos) continue;
      const auto key = item.substr(0, eq), value = item.substr(eq + 1);
      bool ok = true;
      if (key == "avg10") ok = to_double(value, psi.avg10), ++fields;
      else if (key == "avg60") ok = to_double(value, psi.avg60), ++fields;
      else if (key == "avg300") ok = to_double(value, psi.avg300), ++fields;
      else if (key == "total") ok = to_number(value, psi.total_usec), ++fields;
      if (!ok)
        return Error{"pressure: line " + std::to_string(line_no) + ": bad value in '" + std::string(item) + "'"};
    }
    if (fields < 4)
      return Error{"pressure: line " + std::to_string(line_no) + ": expected avg10, avg60, avg300 and total"};
    (kind == "some" ? p.some : p.full) = psi;
  }
  return p;
}

Result<int> count_cpu_list(std::string_view content) {
  const auto t = trim(content);
  int count = 0;
  std::string_view rest = t;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const auto dash = item.find('-');
    int lo = 0, hi = 0;
    if (dash == std::string_view::npos) {
      if (!to_number(item, lo)) return Error{"cpu list: bad item '" + std::string(item) + "'"};
      hi = lo;
    } else if (!to_number(item.substr(0, dash), lo) || !to_number(item.substr(dash + 1), hi) || hi < lo) {
      return Error{"cpu list: bad range '" + std::string(item) + "'"};
    }
    if (lo < 0 || hi > kMaxCpuNumber) return Error{"cpu list: CPU number out of range in '" + std::string(item) + "'"};
    count += hi - lo + 1;
    if (count > kMaxCpuNumber + 1) return Error{"cpu list: more CPUs than any kernel has"};
  }
  return count;
}

}  // namespace cgscope::collector
