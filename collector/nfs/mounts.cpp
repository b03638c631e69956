// Parsers for /proc/self/mountinfo (NFS superblocks and their options) and
// /proc/self/mountstats (the NFS client's per-mount counters). Pure functions of the content.
#include "collector/nfs/mounts.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "collector/cgroupfs/parse.hpp"
#include "collector/cgroupfs/parse_util.hpp"

namespace cgscope::collector {

using namespace parse_detail;

namespace {

using Options = std::map<std::string, std::string>;

constexpr std::string_view kMountinfo = "mountinfo";
constexpr std::string_view kMountstats = "mountstats";

// The kernel's defaults (fs/nfs/internal.h: NFS_DEF_ACREGMIN ... NFS_DEF_ACDIRMAX), seconds.
constexpr std::uint32_t kDefaultAcregminS = 3, kDefaultAcregmaxS = 60;
constexpr std::uint32_t kDefaultAcdirminS = 30, kDefaultAcdirmaxS = 60;

constexpr const auto& kEventNames = model::kNfsMountstatsEvents;
constexpr const auto& kBytesNames = model::kNfsMountstatsBytes;
constexpr const auto& kTcpXprtNames = model::kNfsMountstatsTcpXprt;
constexpr const auto& kUdpXprtNames = model::kNfsMountstatsUdpXprt;
constexpr std::size_t kRdmaCommonXprtFields = 10;

Error line_error(std::string_view file, int line_no, std::string_view what, std::string_view got) {
  return Error{std::string(file) + ": line " + std::to_string(line_no) + ": " + std::string(what) +
               ", got '" + std::string(got.substr(0, 80)) + "'"};
}


bool is_octal(char c) { return c >= '0' && c <= '7'; }

// The kernel escapes space, tab, newline and backslash in paths and sources as \ooo.
std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] <= '3' && is_octal(s[i + 1]) && is_octal(s[i + 2]) &&
        is_octal(s[i + 3])) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool is_nfs(std::string_view fstype) { return fstype == "nfs" || fstype == "nfs4"; }

// "server:/export" or "[v6addr]:/export".
bool split_source(std::string_view source, std::string& server, std::string& export_path) {
  std::size_t path_begin = 0;
  if (!source.empty() && source.front() == '[') {
    const auto close = source.find("]:");
    if (close == std::string_view::npos) return false;
    server = std::string(source.substr(1, close - 1));
    path_begin = close + 2;
  } else {
    const auto host_end = source.find(':');
    if (host_end == std::string_view::npos) return false;
    server = std::string(source.substr(0, host_end));
    path_begin = host_end + 1;
  }
  export_path = std::string(source.substr(path_begin));
  return !server.empty() && !export_path.empty();
}

// "a,b=1,c" -> {a: "", b: "1", c: ""}, merged into `out` (super options after the per-mount ones).
void add_options(std::string_view text, Options& out, bool super_options) {
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto opt = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (opt.empty()) continue;
    const auto eq = opt.find('=');
    std::string key(opt.substr(0, eq));
    std::string value = eq == std::string_view::npos ? std::string() : std::string(opt.substr(eq + 1));
    // The per-mount rw/ro is what applies at this mount point (a ro bind mount of a rw
    // superblock is read-only), so the superblock's does not replace it.
    if (super_options && (key == "rw" || key == "ro") && (out.count("rw") || out.count("ro"))) continue;
    out.insert_or_assign(std::move(key), std::move(value));
  }
}

// Reads options[key] as a number into `out` when present.
template <typename T>
Status option_number(const Options& options, const char* key, int line_no, std::optional<T>& out) {
  const auto it = options.find(key);
  if (it == options.end()) return {};
  T value{};
  if (!to_number(std::string_view(it->second), value))
    return line_error(kMountinfo, line_no, std::string("expected a number after ") + key + "=",
                      std::string(key) + "=" + it->second);
  out = value;
  return {};
}
template <typename T>
Status option_number(const Options& options, const char* key, int line_no, T& out) {
  std::optional<T> value;
  auto s = option_number(options, key, line_no, value);
  if (value) out = *value;
  return s;
}

// Fills the resolved caching fields of `m` from m.options.
Status resolve_options(model::NfsMount& m, int line_no) {
  const Options& o = m.options;
  if (auto it = o.find("vers"); it != o.end())
    m.vers = it->second;
  else if (auto alt = o.find("nfsvers"); alt != o.end())
    m.vers = alt->second;

  m.acregmin_s = kDefaultAcregminS;
  m.acregmax_s = kDefaultAcregmaxS;
  m.acdirmin_s = kDefaultAcdirminS;
  m.acdirmax_s = kDefaultAcdirmaxS;
  // The kernel prints the four resolved values (and only those that differ from the
  // defaults); actimeo comes from hand-written option strings. An explicit one wins over it.
  std::optional<std::uint32_t> actimeo;
  if (auto s = option_number(o, "actimeo", line_no, actimeo); !s) return s;
  if (actimeo) m.acregmin_s = m.acregmax_s = m.acdirmin_s = m.acdirmax_s = *actimeo;
  for (auto [key, field] : {std::pair{"acregmin", &m.acregmin_s}, std::pair{"acregmax", &m.acregmax_s},
                            std::pair{"acdirmin", &m.acdirmin_s}, std::pair{"acdirmax", &m.acdirmax_s}}) {
    if (auto s = option_number(o, key, line_no, *field); !s) return s;
  }
  if (o.count("noac")) {
    m.attribute_cache = false;
    m.acregmin_s = m.acregmax_s = m.acdirmin_s = m.acdirmax_s = 0;
  }
  if (o.count("nocto")) m.close_to_open = false;

  if (auto it = o.find("lookupcache"); it != o.end()) {
    const std::string& v = it->second;
    if (v == "all")
      m.lookupcache = "all";
    else if (v == "pos" || v == "positive")
      m.lookupcache = "positive";
    else if (v == "none")
      m.lookupcache = "none";
    else
      return line_error(kMountinfo, line_no, "expected lookupcache=all, pos, positive or none",
                        "lookupcache=" + v);
  }
  if (auto s = option_number(o, "nconnect", line_no, m.nconnect); !s) return s;
  if (auto s = option_number(o, "rsize", line_no, m.rsize); !s) return s;
  if (auto s = option_number(o, "wsize", line_no, m.wsize); !s) return s;
  return {};
}

// Parses numbers[i] into out under names[i], or "<prefix>_<i>" past the known names.
template <std::size_t N>
Status named_numbers(const std::vector<std::string_view>& numbers, std::size_t first,
                     const std::array<std::string_view, N>& names, std::size_t known, std::string_view prefix,
                     std::string_view line_key, int line_no, std::map<std::string, std::uint64_t>& out) {
  out.clear();
  for (std::size_t i = first; i < numbers.size(); ++i) {
    const std::size_t pos = i - first;
    std::uint64_t v = 0;
    if (!to_number(numbers[i], v))
      return line_error(
          kMountstats, line_no,
          "expected a number as field " + std::to_string(pos + 1) + " of " + std::string(line_key),
          numbers[i]);
    std::string name =
        pos < known ? std::string(names[pos]) : std::string(prefix) + "_" + std::to_string(pos);
    out.insert_or_assign(std::move(name), v);
  }
  return {};
}

// One more connection's xprt: counters into the mount's (nconnect > 1 prints one per connection).
void merge_xprt(std::map<std::string, std::uint64_t>& total,
                const std::map<std::string, std::uint64_t>& conn) {
  for (const auto& [name, v] : conn) {
    auto [it, inserted] = total.emplace(name, v);
    if (inserted || name == "port") continue;
    if (name == "max_slots")
      it->second = std::max(it->second, v);
    else if (name == "idle_time")
      it->second = std::min(it->second, v);
    else
      it->second += v;
  }
}

bool is_op_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Status parse_op_line(std::string_view name, std::string_view rest, int line_no, std::string_view line,
                     model::NfsMountStats& stats) {
  const auto w = words(rest);
  if (w.size() < 8)
    return line_error(kMountstats, line_no,
                      "expected '<OP>: <ops> <trans> <timeouts> <bytes_sent> <bytes_recv> <queue> <rtt> "
                      "<execute> [<errors>]'",
                      line);
  std::array<std::uint64_t, 9> v{};
  const std::size_t n = std::min<std::size_t>(w.size(), v.size());  // later kernels may add fields
  for (std::size_t i = 0; i < n; ++i) {
    if (!to_number(w[i], v[i]))
      return line_error(
          kMountstats, line_no,
          "expected a number as field " + std::to_string(i + 1) + " of " + std::string(name) + ":", w[i]);
  }
  model::NfsMountOpStats op{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], std::nullopt};
  if (n == 9) op.errors = v[8];
  stats.ops.insert_or_assign(std::string(name), op);
  return {};
}

}  // namespace

Result<std::vector<model::NfsMount>> parse_nfs_mountinfo(std::string_view mountinfo) {
  std::vector<model::NfsMount> out;
  auto s = for_each_line(mountinfo, [&](int n, std::string_view line) -> Status {
    // id parent MAJ:MIN root mount-point options [optional fields...] - fstype source super-options
    const auto w = words(line);
    std::size_t sep = 6;
    while (sep < w.size() && w[sep] != "-") ++sep;
    if (w.size() < 6 || sep + 3 >= w.size())
      return line_error(kMountinfo, n,
                        "expected '<id> <parent> <MAJ:MIN> <root> <mount point> <options> [<optional>...] - "
                        "<fstype> <source> <super options>'",
                        line);
    const std::string_view fstype = w[sep + 1];
    if (!is_nfs(fstype)) return {};  // ext4, overlay, nfsd, rpc_pipefs, ...
    auto dev = parse_dev(w[2]);
    if (!dev) return line_error(kMountinfo, n, "expected a device 'MAJ:MIN' as field 3", w[2]);
    if (find_mount_by_dev(out, *dev)) return {};  // a bind mount: the first mount point wins

    model::NfsMount m;
    m.dev = *dev;
    if (std::uint64_t id = 0; to_number(w[0], id)) m.mount_id = static_cast<std::uint32_t>(id);
    m.mount_point = unescape(w[4]);
    m.source = unescape(w[sep + 2]);
    m.fstype = std::string(fstype);
    if (!split_source(m.source, m.server, m.export_path))
      return line_error(kMountinfo, n, "expected an NFS source 'server:/export' or '[v6addr]:/export'",
                        w[sep + 2]);
    add_options(w[5], m.options, false);
    add_options(w[sep + 3], m.options, true);
    if (auto r = resolve_options(m, n); !r) return r;
    out.push_back(std::move(m));
    return {};
  });
  if (!s) return Error{s.error()};
  return out;
}

Result<std::vector<model::NfsMountStats>> parse_nfs_mountstats(std::string_view mountstats) {
  std::vector<model::NfsMountStats> out;
  bool in_nfs_block = false;  // the lines since the last "device" line belong to out.back()
  bool in_per_op = false;
  auto s = for_each_line(mountstats, [&](int n, std::string_view line) -> Status {
    // "device SRC mounted on MP with fstype TYPE [stats...]", or "no device mounted on ..."
    // (a filesystem without a device name).
    if (line.rfind("device ", 0) == 0 || line.rfind("no device ", 0) == 0) {
      // Both forms have "mounted" as the third word: "no device" stands where "device SRC" is.
      const auto w = words(line);
      if (w.size() < 8 || w[2] != "mounted" || w[3] != "on" || w[5] != "with" || w[6] != "fstype")
        return line_error(kMountstats, n,
                          "expected 'device <source> mounted on <mount point> with fstype <type>'", line);
      in_per_op = false;
      in_nfs_block = w[0] == "device" && is_nfs(w[7]);
      if (!in_nfs_block) return {};
      model::NfsMountStats st;
      st.source = unescape(w[1]);
      st.mount_point = unescape(w[4]);
      st.fstype = std::string(w[7]);
      out.push_back(std::move(st));
      return {};
    }
    if (!in_nfs_block) return {};
    model::NfsMountStats& st = out.back();
    if (line == "per-op statistics") {
      in_per_op = true;
      return {};
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return {};
    const std::string_view key = line.substr(0, colon), rest = trim(line.substr(colon + 1));
    if (in_per_op && is_op_name(key)) return parse_op_line(key, rest, n, line, st);
    const auto w = words(rest);
    if (key == "age") {
      if (w.size() != 1 || !to_number(w[0], st.age_seconds))
        return line_error(kMountstats, n, "expected 'age: <seconds>'", line);
      return {};
    }
    if (key == "events")
      return named_numbers(w, 0, kEventNames, kEventNames.size(), "event", "events:", n, st.events);
    if (key == "bytes")
      return named_numbers(w, 0, kBytesNames, kBytesNames.size(), "bytes", "bytes:", n, st.bytes);
    if (key == "xprt") {
      if (w.empty()) return line_error(kMountstats, n, "expected 'xprt: <transport> <counters...>'", line);
      std::map<std::string, std::uint64_t> conn;
      const std::string_view transport = w[0];
      Status r;
      if (transport == "tcp")
        r = named_numbers(w, 1, kTcpXprtNames, kTcpXprtNames.size(), "xprt", "xprt:", n, conn);
      else if (transport == "udp")
        r = named_numbers(w, 1, kUdpXprtNames, kUdpXprtNames.size(), "xprt", "xprt:", n, conn);
      else if (transport == "rdma")
        r = named_numbers(w, 1, kTcpXprtNames, kRdmaCommonXprtFields, "xprt", "xprt:", n, conn);
      else
        r = named_numbers(w, 1, kTcpXprtNames, 0, "xprt", "xprt:", n, conn);  // unknown: all by position
      if (!r) return r;
      if (st.transport.empty()) st.transport = std::string(transport);
      merge_xprt(st.xprt, conn);
      return {};
    }
    return {};  // opts:, caps:, sec:, nfsv4:, fsc:, RPC iostats version:, and what kernels add
  });
  if (!s) return Error{s.error()};
  return out;
}

const model::NfsMount* find_mount_by_dev(const std::vector<model::NfsMount>& mounts, std::uint32_t dev) {
  const auto it =
      std::find_if(mounts.begin(), mounts.end(), [&](const model::NfsMount& m) { return m.dev == dev; });
  return it == mounts.end() ? nullptr : &*it;
}

std::string nfs_mount_options_summary(const model::NfsMount& m) {
  std::string out;
  auto add = [&](const std::string& part) {
    if (!out.empty()) out += ' ';
    out += part;
  };
  if (!m.vers.empty()) add("vers=" + m.vers);
  if (m.attribute_cache) {
    add("ac acregmin=" + std::to_string(m.acregmin_s) + " acregmax=" + std::to_string(m.acregmax_s) +
        " acdirmin=" + std::to_string(m.acdirmin_s) + " acdirmax=" + std::to_string(m.acdirmax_s));
  } else {
    add("noac");
  }
  add("lookupcache=" + m.lookupcache);
  add(m.close_to_open ? "cto" : "nocto");
  add("nconnect=" + std::to_string(m.nconnect));
  if (m.rsize) add("rsize=" + std::to_string(*m.rsize));
  if (m.wsize) add("wsize=" + std::to_string(*m.wsize));
  return out;
}

bool nfs_revalidate_exit_covers_cache_hits(const std::string& release) {
  // 6.1's nfs_lookup_revalidate_done fires nfs_lookup_revalidate_exit for every revalidation,
  // cache hits of negative dentries included; 6.12's does not (B's stale ENOENT left no event
  // in the vm suite). Only the series verified to fire takes the tracepoint; elsewhere fexit
  // (or kprobes) sees what the tracepoint would.
  unsigned major = 0, minor = 0;
  if (std::sscanf(release.c_str(), "%u.%u", &major, &minor) != 2) return false;
  return major == 6 && minor == 1;
}

}  // namespace cgscope::collector
