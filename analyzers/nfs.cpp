// NFS rules: stale negative lookups of names another container created, files written by one
// container and read by another across NFS clients, revalidation storms, ESTALE and
// silly-renamed files, slow or retransmitted RPCs. Evidence: the NFS part of each interval.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "analyzers/rule_util.hpp"
#include "model/nfs_hazards.hpp"

namespace cgscope::analyzers {
namespace {

using namespace detail;

constexpr std::uint64_t kStaleCritical = 3;    // stale lookups: each one is a request that failed
constexpr double kRevalidationShare = 0.5;     // of a cgroup's NFS wait spent revalidating
constexpr double kRevalidationWarning = 0.05;  // NFS revalidation wait, of wall time
constexpr double kRpcRttWarningMs = 20;        // average round trip per RPC
constexpr std::uint64_t kRpcMinOps = 100;      // RPCs on the mount before its latency means anything

// Identity of a cgroup for a finding: from the window, or by id.
model::CgroupIdentity identity_of(const RuleContext& ctx, std::uint64_t id) {
  if (const auto* i = ctx.window.identity(id)) return *i;
  model::CgroupIdentity none;
  none.id = id;
  return none;
}

Finding nfs_finding(const RuleContext& ctx, std::string_view rule, std::uint64_t cgroup_id,
                    const std::string& extra) {
  Finding f;
  f.rule = std::string(rule);
  f.cgroup_id = cgroup_id;
  f.identity = identity_of(ctx, cgroup_id);
  f.key = fmt::format("{}/{}/{}", rule,
                      f.identity.path.empty() ? fmt::format("cgroup#{}", cgroup_id) : f.identity.path, extra);
  return f;
}

// The options of a mount with some changed: removes `drop` keys, adds `add` ("k=v" or "k").
std::string options_with(const model::NfsMount& m, const std::vector<std::string>& drop,
                         const std::string& add) {
  std::string s;
  // Options the kernel fills in itself (addresses, ports, the MOUNT protocol it negotiated)
  // do not belong in a mount command.
  static const std::vector<std::string> kKernel = {"addr",       "clientaddr", "mountaddr", "mountport",
                                                   "mountproto", "mountvers",  "namlen"};
  for (const auto& [k, v] : m.options) {
    if (std::find(kKernel.begin(), kKernel.end(), k) != kKernel.end() ||
        std::find(drop.begin(), drop.end(), k) != drop.end())
      continue;
    if (!s.empty()) s += ",";
    s += v.empty() ? k : k + "=" + v;
  }
  return s.empty() ? add : s + "," + add;
}

// Commands that remount an NFS mount with other options: now, in fstab, and in Kubernetes.
std::vector<Command> mount_commands(const model::NfsMount& m, const std::vector<std::string>& drop,
                                    const std::string& add, bool pod) {
  const std::string opts = options_with(m, drop, add);
  std::vector<Command> out;
  out.push_back(
      {Manager::kHost, !pod,
       fmt::format("umount {0} && mount -t {1} -o {2} {3} {0}", m.mount_point,
                   m.fstype.empty() ? "nfs" : m.fstype, opts, m.source),
       "the NFS client does not change cache options on a remount: unmount first (stop what uses it)"});
  out.push_back({Manager::kHost, false,
                 fmt::format("# /etc/fstab\n{} {} {} {} 0 0", m.source, m.mount_point,
                             m.fstype.empty() ? "nfs" : m.fstype, opts),
                 "persistent"});
  out.push_back(
      {Manager::kKubernetes, pod,
       fmt::format("# the PersistentVolume of {}:\nspec:\n  mountOptions:\n    - {}", m.source, add),
       "mountOptions apply when a pod mounts the volume: restart the pods that use it"});
  std::stable_partition(out.begin(), out.end(), [](const Command& c) { return c.preferred; });
  return out;
}

struct Counts {
  std::uint64_t revalidations = 0, getattrs = 0, lookup_revalidations = 0, lookups = 0, negative_trusted = 0;
  std::uint64_t revalidation_ns = 0, stall_ns = 0;
  std::uint64_t estale = 0, silly_renames = 0;

  Counts& operator+=(const Counts& o) {
    revalidations += o.revalidations;
    getattrs += o.getattrs;
    lookup_revalidations += o.lookup_revalidations;
    lookups += o.lookups;
    negative_trusted += o.negative_trusted;
    revalidation_ns += o.revalidation_ns;
    stall_ns += o.stall_ns;
    estale += o.estale;
    silly_renames += o.silly_renames;
    return *this;
  }
};

// A (cgroup, dev, superblock) row of the NFS intervals.
using RowKey = std::tuple<std::uint64_t, std::uint32_t, std::uint32_t>;

// The Counts of each row over a range, added up interval by interval in the one pass each rule
// makes over the range's intervals (they are rebuilt when read: model::NfsIntervals).
class RowCounts {
 public:
  void add(const model::NfsInterval& iv) {
    for (const auto& r : iv.cgroups) {
      Counts& c = rows_[{r.cgroup_id, r.dev, r.sb_instance}];
      auto op = [&](model::NfsOp o) -> const model::NfsOpCounters& {
        return r.ops[static_cast<std::size_t>(o)];
      };
      c.revalidations += op(model::NfsOp::kRevalidate).count;
      c.getattrs += op(model::NfsOp::kGetattr).count;
      c.lookup_revalidations += op(model::NfsOp::kLookupRevalidate).count;
      c.lookups += op(model::NfsOp::kLookup).count;
      c.negative_trusted += r.negative_trusted;
      c.revalidation_ns += op(model::NfsOp::kRevalidate).time_ns + op(model::NfsOp::kGetattr).time_ns +
                           op(model::NfsOp::kLookupRevalidate).time_ns + op(model::NfsOp::kAccess).time_ns;
      c.stall_ns += r.stall_ns();
      for (const auto& o : r.ops) c.estale += o.errors[1];  // kNfsErrorNames[1] = ESTALE
      c.silly_renames += r.silly_renames;
    }
  }
  // The rows of a cgroup on a device; of superblock sb, or of any when sb or the row's is 0.
  Counts of(std::uint64_t cgroup_id, std::uint32_t dev, std::uint32_t sb) const {
    Counts c;
    for (auto it = rows_.lower_bound({cgroup_id, dev, 0});
         it != rows_.end() && std::get<0>(it->first) == cgroup_id && std::get<1>(it->first) == dev; ++it) {
      const std::uint32_t row_sb = std::get<2>(it->first);
      if (sb && row_sb && row_sb != sb) continue;
      c += it->second;
    }
    return c;
  }

 private:
  std::map<RowKey, Counts> rows_;
};

// The intervals (indexes in the window) in which something held, as RuleContext::mark_span
// counts them: add() each interval in order, as often as it holds.
struct Span {
  std::uint64_t first = 0, last = 0;
  std::uint32_t n = 0;
  void add(std::uint64_t i) {
    if (n && last == i) return;
    if (n++ == 0) first = i;
    last = i;
  }
};

bool is_pod(const model::CgroupIdentity& id) { return !id.container.pod_uid.empty(); }

// The server a superblock talks to: the address the kernel resolved (addr=), else the name in
// the mount source; "" when the mount is not known.
std::string server_of(const model::NfsInterval& iv, std::uint32_t dev, std::uint32_t sb) {
  const model::NfsMount* m = iv.mount(dev, sb);
  if (!m) return "";
  if (auto it = m->options.find("addr"); it != m->options.end() && !it->second.empty()) return it->second;
  return m->server;
}

constexpr std::uint64_t kTcpTimeoDeciseconds = 600;  // nfs(5): the default timeo over TCP

// What to do about a mount's slow or retransmitted RPCs, consistent with its nconnect and timeo.
// timeo is per RPC, wherever the request waits: with nconnect=N the requests of all N connections
// queue at the one server, and each one's timer runs while it waits there.
Recommendation rpc_advice(const model::NfsMount& m, double rtt_ms, std::uint64_t retransmissions) {
  Recommendation r;
  r.target = m.mount_point;
  const auto proto = m.options.find("proto");
  const bool tcp = proto == m.options.end() || proto->second.starts_with("tcp");
  std::uint64_t timeo = kTcpTimeoDeciseconds;
  if (auto it = m.options.find("timeo"); it != m.options.end())
    std::from_chars(it->second.data(), it->second.data() + it->second.size(), timeo);
  const std::string shared_queue =
      m.nconnect > 1 ? fmt::format(
                           "; with nconnect={} the requests of all {} connections wait in the one server's "
                           "queue, so more connections give no request more time",
                           m.nconnect, m.nconnect)
                     : std::string();
  if (retransmissions == 0 && m.nconnect <= 1) {
    r.knob = "nconnect";
    r.current = "1";
    r.suggested = "nconnect=4";
    r.derivation = fmt::format(
        "{:.1f} ms average round trip over one connection: several connections spread the RPCs (kernel 5.3+)",
        rtt_ms);
    r.effect = "more RPCs in flight; shorter queues on the client";
    r.risk = "the server must accept several connections per client";
    r.commands = mount_commands(m, {"nconnect"}, "nconnect=4", false);
    return r;
  }
  if (retransmissions > 0 && tcp && timeo < kTcpTimeoDeciseconds) {
    r.knob = "timeo";
    r.current = fmt::format("timeo={}", timeo);
    r.suggested = fmt::format("timeo={}", kTcpTimeoDeciseconds);
    r.derivation = fmt::format(
        "the default for TCP (60 s) instead of {:.1f} s: timeo is per RPC, and a request the server is still "
        "working on is sent again when it expires, which adds to the server's load{}",
        static_cast<double>(timeo) / 10, shared_queue);
    r.effect = "fewer spurious retransmissions; check the network and server load";
    r.risk = "a dead server is noticed later";
    r.commands = mount_commands(m, {"timeo"}, r.suggested, false);
    return r;
  }
  // No mount option shortens what remains: the server's or the network's time.
  r.knob = "server";
  r.current = fmt::format("{}nconnect={}, timeo={}", tcp ? "" : proto->second + ", ", m.nconnect, timeo);
  r.suggested = "check the server (nfsd threads, its disks) and the network";
  r.derivation =
      retransmissions > 0
          ? fmt::format(
                "replies took longer than timeo ({:.1f} s, {}) or connections were lost: a longer timeo "
                "would not bring the replies{}",
                static_cast<double>(timeo) / 10,
                tcp ? std::string("already the TCP default or more") : "over " + proto->second,
                m.nconnect > 1 ? fmt::format("{}; if the server is overloaded, fewer connections "
                                             "(nconnect below {}) lower the load it is given at once",
                                             shared_queue, m.nconnect)
                               : std::string())
          : fmt::format(
                "{:.1f} ms average round trip (from sending a request to its reply, the client's own queue "
                "excluded) without retransmissions, already over {} connections: more connections or another "
                "timeo do not shorten it",
                rtt_ms, m.nconnect);
  r.effect = "-";
  r.risk = "-";
  return r;
}

}  // namespace

// ---- 8a. stale negative lookups ----

void nfs_negative_lookups(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto nfs = ctx.window.nfs(ctx.range);
  struct Acc {
    std::uint64_t victim = 0, creator = 0;
    std::uint32_t dev = 0, sb = 0;
    std::uint64_t stale = 0;
    std::set<std::pair<std::uint64_t, std::uint32_t>> names;
    std::set<std::uint64_t> dirs;
    std::size_t last = 0;  // in nfs
    std::uint64_t first_index = 0, last_index = 0;
    std::uint32_t intervals = 0;
  };
  std::map<std::tuple<std::uint64_t, std::uint64_t, std::uint32_t, std::uint32_t>, Acc> acc;
  RowCounts counts;
  for (std::size_t k = 0; k < nfs.size(); ++k) {
    const model::NfsInterval& iv = *nfs[k];
    counts.add(iv);
    std::set<std::tuple<std::uint64_t, std::uint64_t, std::uint32_t, std::uint32_t>> seen;
    for (const auto& s : iv.stale_names) {
      if (s.count == 0) continue;
      const auto key =
          std::make_tuple(s.victim_cgroup_id, s.creator_cgroup_id, s.victim_dev, s.victim_sb_instance);
      Acc& a = acc[key];
      a.victim = s.victim_cgroup_id;
      a.creator = s.creator_cgroup_id;
      a.dev = s.victim_dev;
      a.sb = s.victim_sb_instance;
      a.stale += s.count;
      a.names.insert({s.dir_fileid, s.name_hash});
      a.dirs.insert(s.dir_fileid);
      a.last = k;
      if (seen.insert(key).second) {
        if (a.intervals++ == 0) a.first_index = ctx.range.begin + k;
        a.last_index = ctx.range.begin + k;
      }
    }
  }
  for (const auto& [key, a] : acc) {
    // Valid to the end of this iteration: nothing else is read from nfs in it.
    const model::NfsInterval* last = nfs[a.last];
    const model::NfsMount* m = last->mount(a.dev, a.sb);
    const std::string victim = ctx.name(a.victim), creator = ctx.name(a.creator);
    const std::string where = m ? m->mount_point : fmt::format("dev {}:{}", a.dev >> 20, a.dev & 0xfffff);
    const std::string exp = model::nfs_export_name(last->mounts, a.dev, a.sb);
    const auto creator_identity = identity_of(ctx, a.creator);
    Finding f = nfs_finding(
        ctx, "nfs-stale-negative-lookup", a.victim,
        fmt::format("{}/{}", where,
                    creator_identity.path.empty() ? std::to_string(a.creator) : creator_identity.path));
    f.severity = a.stale >= kStaleCritical ? Severity::kCritical : Severity::kWarning;
    f.confidence = a.stale >= kStaleCritical ? Confidence::kHigh : Confidence::kMedium;
    f.confidence_basis =
        fmt::format("{} stale lookups in {} intervals (each one is a wrong answer)", a.stale, a.intervals);
    f.explains = Cause::kNone;
    f.related.push_back(a.creator);
    const Counts c = counts.of(a.victim, a.dev, a.sb);
    const double secs = std::max(ctx.seconds, 1e-9);
    f.title = fmt::format(
        "{} was told {} time(s) that {} name(s) in {} directory(ies) of {} do not exist, which {} had "
        "created",
        victim, a.stale, a.names.size(), a.dirs.size(), exp, creator);
    f.summary = fmt::format(
        "On {} ({}, lookupcache={}): {} cached negative dentries were trusted for names {} created through "
        "another NFS client or mount; the victim's mount revalidated {} dentries and {} attributes "
        "({:.0f}/s) in {:.0f} s.",
        where, exp, m ? m->lookupcache : "unknown", a.stale, creator, c.lookup_revalidations,
        c.revalidations + c.getattrs,
        static_cast<double>(c.lookup_revalidations + c.revalidations + c.getattrs) / secs, ctx.seconds);
    f.evidence = {
        {"stale_lookups", static_cast<double>(a.stale), fmt::format("{} stale lookups", a.stale)},
        {"names", static_cast<double>(a.names.size()), "distinct names"},
        {"directories", static_cast<double>(a.dirs.size()), "directories"},
        {"negative_dentries_trusted", static_cast<double>(c.negative_trusted),
         "cached negative answers believed on the mount"},
        {"revalidations", static_cast<double>(c.lookup_revalidations + c.revalidations + c.getattrs),
         "dentry and attribute revalidations on the mount"}};
    f.cause = fmt::format(
        "The NFS client caches \"no such file\" answers (negative dentries) for up to acdirmax ({} s) and "
        "trusts them while the directory looks unchanged; {} created the names through a client whose change "
        "{}'s client had not seen yet.",
        m ? m->acdirmax_s : 60, creator, victim);
    f.first_index = a.first_index;
    f.last_index = a.last_index;
    f.intervals = a.intervals;
    f.first_realtime_ns = ctx.window.interval(a.first_index).start_realtime_ns;
    f.last_realtime_ns = ctx.window.interval(a.last_index).end_realtime_ns;
    if (m) {
      Recommendation r;
      r.knob = "lookupcache";
      r.target = where;
      r.current = m->lookupcache;
      r.suggested = "positive";
      r.derivation = fmt::format(
          "the stale answers were negative lookups only: lookupcache=positive stops trusting cached negative "
          "dentries and keeps the positive ones. Cost: about {} more LOOKUP RPCs over the window ({:.1f}/s, "
          "the negative answers it now asks the server for), where actimeo=0 or noac would send one GETATTR "
          "for each of the {} revalidations ({:.0f}/s) as well",
          c.negative_trusted, static_cast<double>(c.negative_trusted) / secs,
          c.lookup_revalidations + c.revalidations + c.getattrs,
          static_cast<double>(c.lookup_revalidations + c.revalidations + c.getattrs) / secs);
      r.effect = fmt::format("{} sees names {} creates at its next lookup", victim, creator);
      r.risk = "a LOOKUP round trip for each name that does not exist (e.g. probing paths)";
      r.commands = mount_commands(*m, {"lookupcache"}, "lookupcache=positive", is_pod(f.identity));
      f.recommendations.push_back(std::move(r));
    }
    const auto victim_id = identity_of(ctx, a.victim), creator_id = identity_of(ctx, a.creator);
    if (victim_id.container.is_container() && creator_id.container.is_container()) {
      Recommendation r;
      r.knob = "routing";
      r.target = "the service in front of " + victim + " and " + creator;
      r.current = "requests of one client spread over replicas";
      r.suggested = "sticky sessions (one client's requests to one replica)";
      r.derivation =
          "when the two are replicas of one service, a client's multi-request work (an upload: create, then "
          "look up) lands on two NFS clients; on one replica it sees its own writes at once";
      r.effect = "a client's follow-up requests no longer depend on another client's cache";
      r.risk = "uneven load when few clients do most of the work";
      r.commands = {
          {Manager::kKubernetes, is_pod(victim_id),
           "# the Service in front of the replicas:\nspec:\n  sessionAffinity: ClientIP\n  "
           "sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 3600",
           "affinity by client address; behind a proxy that hides it, use the proxy's cookie affinity"},
          {Manager::kHost, !is_pod(victim_id),
           "# nginx upstream of the replicas:\nupstream registry {\n  ip_hash;\n  ...\n}",
           "or hash on a header that names the client's session"}};
      std::stable_partition(r.commands.begin(), r.commands.end(),
                            [](const Command& c) { return c.preferred; });
      f.recommendations.push_back(std::move(r));
    }
    out.push_back(std::move(f));
  }
}

// ---- 8b. shared writers across NFS clients ----

void nfs_shared_writers(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto nfs = ctx.window.nfs(ctx.range);
  // Per (reader cgroup, reader superblock): the files it read that another cgroup wrote through
  // another superblock of the same server (another NFS client: its cache does not see the
  // writes). A file is (export, fileid): the model groups files by the server's fsid and fileid,
  // and another server may reuse both, so a writer counts only through a mount of the reader's
  // server, and files are told apart by the reader's export.
  struct Acc {
    std::uint64_t reader = 0;
    std::uint32_t dev = 0, sb = 0;
    std::set<std::uint64_t> writers;
    std::set<std::pair<std::string, std::uint64_t>> files;  // (export, fileid)
    std::uint64_t written = 0, reads = 0;
    std::size_t last = 0;  // in nfs
    std::string exp;
    std::uint64_t first_index = 0, last_index = 0;
    std::uint32_t intervals = 0;
  };
  std::map<std::tuple<std::uint64_t, std::uint32_t, std::uint32_t>, Acc> acc;
  RowCounts counts;
  for (std::size_t k = 0; k < nfs.size(); ++k) {
    const model::NfsInterval& iv = *nfs[k];
    counts.add(iv);
    const auto hazards = model::find_shared_writers(iv, 1 << 20, nullptr);
    std::set<std::tuple<std::uint64_t, std::uint32_t, std::uint32_t>> seen;
    for (const auto& h : hazards)
      for (const auto& r : h.readers) {
        const std::string reader_server = server_of(iv, r.dev, r.sb_instance);
        std::set<std::uint64_t> writers;
        std::uint64_t written = 0;
        for (const auto& w : h.writers) {
          if (w.cgroup_id == r.cgroup_id) continue;
          const bool same_client =
              w.dev == r.dev && !(w.sb_instance && r.sb_instance && w.sb_instance != r.sb_instance);
          const std::string writer_server = server_of(iv, w.dev, w.sb_instance);
          const bool same_server =
              reader_server.empty() || writer_server.empty() || reader_server == writer_server;
          if (same_client || !same_server) continue;
          writers.insert(w.cgroup_id);
          written += model::nfs_written_bytes(w, iv.page_size);
        }
        if (writers.empty()) continue;
        const auto key = std::make_tuple(r.cgroup_id, r.dev, r.sb_instance);
        Acc& a = acc[key];
        a.reader = r.cgroup_id;
        a.dev = r.dev;
        a.sb = r.sb_instance;
        a.writers.insert(writers.begin(), writers.end());
        a.exp = model::nfs_export_name(iv.mounts, r.dev, r.sb_instance);
        a.files.insert({a.exp, h.fileid});
        a.written += written;
        a.reads += r.reads + r.revalidations;
        a.last = k;
        if (seen.insert(key).second) {
          if (a.intervals++ == 0) a.first_index = ctx.range.begin + k;
          a.last_index = ctx.range.begin + k;
        }
      }
  }
  for (const auto& [key, a] : acc) {
    // Valid to the end of this iteration: nothing else is read from nfs in it.
    const model::NfsMount* m = nfs[a.last]->mount(a.dev, a.sb);
    const std::string reader = ctx.name(a.reader);
    const std::string where = m ? m->mount_point : fmt::format("dev {}:{}", a.dev >> 20, a.dev & 0xfffff);
    std::string writers;
    for (std::uint64_t w : a.writers) writers += (writers.empty() ? "" : ", ") + ctx.name(w);
    Finding f = nfs_finding(ctx, "nfs-shared-writer", a.reader, where);
    f.severity = Severity::kWarning;
    f.confidence = a.intervals >= 3 ? Confidence::kHigh : Confidence::kMedium;
    f.confidence_basis = fmt::format("{} file(s) in {} intervals", a.files.size(), a.intervals);
    f.explains = Cause::kNone;
    f.related.assign(a.writers.begin(), a.writers.end());
    f.title = fmt::format("{} reads {} file(s) of {} that {} write(s) through another NFS client", reader,
                          a.files.size(), a.exp, writers);
    f.summary = fmt::format(
        "On {} (actimeo: acregmin {} s, acregmax {} s{}): {} written by {} through another mount, read or "
        "revalidated {} times by {}.",
        where, m ? m->acregmin_s : 3, m ? m->acregmax_s : 60, m && !m->close_to_open ? ", nocto" : "",
        bytes_human(static_cast<double>(a.written)), writers, a.reads, reader);
    f.evidence = {
        {"files", static_cast<double>(a.files.size()), "shared files"},
        {"written_bytes", static_cast<double>(a.written), bytes_human(static_cast<double>(a.written))},
        {"reads", static_cast<double>(a.reads), "reads and revalidations by the reader"}};
    f.cause = fmt::format(
        "Each NFS client caches file attributes and data for acregmin..acregmax seconds; {} may read data "
        "older than the last write for that long, unless it opens the file after the writer closed it "
        "(close-to-open).",
        reader);
    f.first_index = a.first_index;
    f.last_index = a.last_index;
    f.intervals = a.intervals;
    f.first_realtime_ns = ctx.window.interval(a.first_index).start_realtime_ns;
    f.last_realtime_ns = ctx.window.interval(a.last_index).end_realtime_ns;
    if (m) {
      const Counts c = counts.of(a.reader, a.dev, a.sb);
      Recommendation r;
      r.knob = "actimeo";
      r.target = where;
      r.current = fmt::format("acregmin={},acregmax={}", m->acregmin_s, m->acregmax_s);
      r.suggested = "actimeo=1";
      r.derivation = fmt::format(
          "bounds staleness to 1 s; the reader revalidated {} times in {:.0f} s now, and with actimeo=1 at "
          "most once per second per file it reads; noac (0 s) would make each of its {} reads a GETATTR "
          "round trip",
          c.revalidations + c.getattrs, ctx.seconds, a.reads);
      r.effect = fmt::format("{} sees a write within about a second", reader);
      r.risk = "more GETATTR RPCs on every file of the mount; noac also disables write caching";
      r.commands = mount_commands(*m, {"actimeo", "acregmin", "acregmax", "acdirmin", "acdirmax", "noac"},
                                  "actimeo=1", is_pod(f.identity));
      f.recommendations.push_back(std::move(r));
    }
    out.push_back(std::move(f));
  }
}

// ---- 8c. revalidation storms ----

void nfs_revalidation_storm(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto nfs = ctx.window.nfs(ctx.range);
  std::map<RowKey, std::size_t> rows;  // the last interval of each row, in nfs
  RowCounts counts;
  std::map<std::pair<std::uint64_t, std::uint32_t>, Span> present;  // (cgroup, dev): rows in intervals
  for (std::size_t k = 0; k < nfs.size(); ++k) {
    const model::NfsInterval& iv = *nfs[k];
    counts.add(iv);
    for (const auto& r : iv.cgroups) {
      rows[{r.cgroup_id, r.dev, r.sb_instance}] = k;
      present[{r.cgroup_id, r.dev}].add(ctx.range.begin + k);
    }
  }
  for (const auto& [key, last] : rows) {
    const auto [id, dev, sb] = key;
    const auto* cg = ctx.cgroup(id);
    if (!cg) continue;
    const auto idx = ctx.by_id.at(id);
    if (!ctx.enough[idx]) continue;
    const Counts c = counts.of(id, dev, sb);
    const double wall = ctx.budgets[idx].wall_seconds;
    const double reval = static_cast<double>(c.revalidation_ns) / 1e9;
    if (wall <= 0 || c.stall_ns == 0 || reval / wall < kRevalidationWarning ||
        static_cast<double>(c.revalidation_ns) < kRevalidationShare * static_cast<double>(c.stall_ns))
      continue;
    // Valid to the end of this iteration: nothing else is read from nfs in it.
    const model::NfsMount* m = nfs[last]->mount(dev, sb);
    const std::string where = m ? m->mount_point : fmt::format("dev {}:{}", dev >> 20, dev & 0xfffff);
    Finding f = nfs_finding(ctx, "nfs-revalidation-storm", id, where);
    const double fraction = reval / wall;
    f.severity = severity_for(fraction, kRevalidationWarning);
    f.confidence = ctx.cgroups[idx].intervals >= 60 ? Confidence::kHigh : Confidence::kMedium;
    f.confidence_basis = fmt::format("{} intervals", ctx.cgroups[idx].intervals);
    f.explains = Cause::kNfsStall;
    f.lost_seconds = reval;
    f.lost_fraction = fraction;
    const double n = static_cast<double>(c.revalidations + c.getattrs + c.lookup_revalidations);
    f.title = fmt::format("{} spent {} of its time revalidating NFS caches on {} ({:.0f}/s)", name_of(*cg),
                          percent(fraction), where, n / std::max(wall, 1e-9));
    f.summary = fmt::format(
        "{:.1f} s of its {:.1f} s of NFS waits were attribute and dentry revalidations ({:.0f} in {:.0f} s; "
        "thresholds {} of its NFS wait and {} of its time).",
        reval, static_cast<double>(c.stall_ns) / 1e9, n, wall, percent(kRevalidationShare),
        percent(kRevalidationWarning));
    f.evidence = {{"revalidation_seconds", reval, fmt::format("{:.1f} s revalidating", reval)},
                  {"revalidations", n, "revalidations"}};
    f.cause =
        m && (!m->attribute_cache || m->acregmax_s <= 1)
            ? "The mount's attribute cache is (nearly) off (noac / a small actimeo): every access asks the "
              "server."
            : "Its files change often or are opened often (close-to-open revalidates on every open).";
    // A mount with both (a 10 s+ attribute cache and nocto) has no cache option left to offer.
    const bool tuned = m && m->attribute_cache && m->acregmax_s >= 10 && !m->close_to_open;
    if (m && !tuned) {
      Recommendation r;
      // The attribute cache already holds for 10 s or more: the opens' revalidations are left.
      const bool opens = m->attribute_cache && m->acregmax_s >= 10;
      r.knob = opens ? "cto" : "actimeo";
      r.target = where;
      r.current = opens                ? "cto"
                  : m->attribute_cache ? fmt::format("acregmin={},acregmax={}", m->acregmin_s, m->acregmax_s)
                                       : "noac";
      r.suggested = opens ? "nocto" : "actimeo=10";
      r.derivation =
          r.suggested == "nocto"
              ? "the attribute cache is already on; the revalidations come from opens (close-to-open): "
                "nocto skips them for files no other client writes"
              : "a 10 s attribute cache removes most revalidations of files that change rarely";
      r.effect = "fewer GETATTR round trips; less time blocked in revalidation";
      r.risk =
          "another client's changes are seen later (up to the new timeout); not for files shared with "
          "writers elsewhere (see nfs-shared-writer)";
      // nocto keeps the mount's attribute-cache options; actimeo=10 replaces them.
      const std::vector<std::string> replaced =
          r.suggested == "nocto"
              ? std::vector<std::string>{"cto", "nocto"}
              : std::vector<std::string>{"actimeo", "acregmin", "acregmax", "acdirmin", "acdirmax", "noac"};
      r.commands = mount_commands(*m, replaced, r.suggested, is_pod(f.identity));
      f.recommendations.push_back(std::move(r));
    }
    const Span& span = present.at({id, dev});
    ctx.set_span(f, span.first, span.last, span.n);
    out.push_back(std::move(f));
  }
}

// ---- 8d. ESTALE and silly renames ----

void nfs_errors(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto nfs = ctx.window.nfs(ctx.range);
  std::map<RowKey, std::size_t> rows;  // the last interval of each row, in nfs
  RowCounts counts;
  std::map<std::pair<std::uint64_t, std::uint32_t>, Span> failed;  // (cgroup, dev): errors in intervals
  for (std::size_t k = 0; k < nfs.size(); ++k) {
    const model::NfsInterval& iv = *nfs[k];
    counts.add(iv);
    for (const auto& r : iv.cgroups) {
      rows[{r.cgroup_id, r.dev, r.sb_instance}] = k;
      std::uint64_t estale = 0;
      for (const auto& o : r.ops) estale += o.errors[1];
      if (r.silly_renames + estale > 0) failed[{r.cgroup_id, r.dev}].add(ctx.range.begin + k);
    }
  }
  for (const auto& [key, last] : rows) {
    const auto [id, dev, sb] = key;
    const Counts c = counts.of(id, dev, sb);
    if (c.estale == 0 && c.silly_renames == 0) continue;
    // Valid to the end of this iteration: nothing else is read from nfs in it.
    const model::NfsMount* m = nfs[last]->mount(dev, sb);
    const std::string where = m ? m->mount_point : fmt::format("dev {}:{}", dev >> 20, dev & 0xfffff);
    Finding f = nfs_finding(ctx, "nfs-errors", id, where);
    f.severity = c.estale ? Severity::kWarning : Severity::kInfo;
    f.confidence = Confidence::kHigh;
    f.confidence_basis = fmt::format("{} ESTALE, {} silly renames", c.estale, c.silly_renames);
    f.explains = Cause::kNone;
    f.title = c.estale ? fmt::format("{} got {} stale file handle error(s) (ESTALE) on {}", ctx.name(id),
                                     c.estale, where)
                       : fmt::format("{} removed {} file(s) still open on {} (silly-renamed to .nfsXXXX)",
                                     ctx.name(id), c.silly_renames, where);
    f.summary =
        fmt::format("ESTALE {}, silly renames {} over {:.0f} s.", c.estale, c.silly_renames, ctx.seconds);
    f.evidence = {{"estale", static_cast<double>(c.estale), "ESTALE errors"},
                  {"silly_renames", static_cast<double>(c.silly_renames), "files removed while open"}};
    f.cause =
        c.estale ? "A file or directory was removed or replaced on the server (by another client) while this "
                   "client still held its handle."
                 : "A file was deleted while a process still had it open: the client renames it to .nfsXXXX "
                   "until it is closed; removing its directory fails with EBUSY until then.";
    Recommendation r;
    r.knob = "application";
    r.target = ctx.name(id);
    r.current = "-";
    r.suggested = c.estale
                      ? "replace files by rename (write to a temporary name, then rename) and retry on ESTALE"
                      : "close files before removing them; retry removing the directory";
    r.derivation = "no mount option removes these: they come from how files are shared and removed";
    r.effect = "no failed operations on files another client replaced";
    r.risk = "-";
    f.recommendations.push_back(std::move(r));
    const auto span = failed.find({id, dev});
    if (span == failed.end()) {
      ctx.set_span(f, 0, 0, 0);
    } else {
      ctx.set_span(f, span->second.first, span->second.last, span->second.n);
    }
    out.push_back(std::move(f));
  }
}

// ---- 8e. slow or retransmitted RPCs ----

void nfs_slow_rpcs(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto nfs = ctx.window.nfs(ctx.range);
  struct Acc {
    std::uint64_t ops = 0, transmissions = 0, timeouts = 0, rtt_ms = 0;
    std::size_t last = 0;  // in nfs
  };
  std::map<std::string, Acc> by_mount;
  for (std::size_t k = 0; k < nfs.size(); ++k) {
    const model::NfsInterval& iv = *nfs[k];
    for (std::size_t i = 0; i < iv.mountstats_delta.size(); ++i) {
      const auto& ms = iv.mountstats_delta[i];
      Acc& a = by_mount[ms.mount_point];
      for (const auto& [proc, op] : ms.ops) {
        a.ops += op.ops;
        a.transmissions += op.transmissions;
        a.timeouts += op.major_timeouts;
        a.rtt_ms += op.rtt_ms;
      }
      a.last = k;
    }
  }
  for (const auto& [mount_point, a] : by_mount) {
    if (a.ops < kRpcMinOps) continue;
    const std::uint64_t retrans = a.transmissions > a.ops ? a.transmissions - a.ops : 0;
    const double rtt = static_cast<double>(a.rtt_ms) / static_cast<double>(a.ops);
    if (retrans == 0 && a.timeouts == 0 && rtt < kRpcRttWarningMs) continue;
    // Valid to the end of this iteration: nothing else is read from nfs in it.
    const model::NfsMount* m = nullptr;
    for (const auto& mm : nfs[a.last]->mounts)
      if (mm.mount_point == mount_point && !mm.vanished) m = &mm;
    Finding f;
    f.rule = "nfs-slow-rpc";
    f.key = "nfs-slow-rpc/" + mount_point;
    f.identity.path = "/";
    f.severity = retrans || a.timeouts ? Severity::kWarning : Severity::kInfo;
    f.confidence = a.ops >= 10 * kRpcMinOps ? Confidence::kHigh : Confidence::kMedium;
    f.confidence_basis = fmt::format("{} RPCs", a.ops);
    f.title = retrans || a.timeouts
                  ? fmt::format("NFS mount {}: {} RPC retransmission(s), {} major timeout(s)", mount_point,
                                retrans, a.timeouts)
                  : fmt::format("NFS mount {}: RPCs take {:.0f} ms on average", mount_point, rtt);
    f.summary = fmt::format(
        "{} RPCs in {:.0f} s, {} transmissions, {} major timeouts, average round trip {:.1f} ms (threshold "
        "{:.0f} ms).",
        a.ops, ctx.seconds, a.transmissions, a.timeouts, rtt, kRpcRttWarningMs);
    f.evidence = {{"rpcs", static_cast<double>(a.ops), "RPCs"},
                  {"retransmissions", static_cast<double>(retrans), "retransmissions"},
                  {"major_timeouts", static_cast<double>(a.timeouts), "major timeouts"},
                  {"rtt_ms", rtt, fmt::format("{:.1f} ms per RPC", rtt)}};
    f.cause =
        retrans || a.timeouts
            ? "Replies did not come within timeo: the server or the network drops or delays them."
        : m && m->nconnect > 1
            ? fmt::format(
                  "The server or the network is the bottleneck: the mount already spreads its RPCs over {} "
                  "connections.",
                  m->nconnect)
            : "The server or the one TCP connection is the bottleneck.";
    ctx.set_span(f, ctx.range.begin, ctx.range.end - 1, static_cast<std::uint32_t>(ctx.range.size()));
    if (m) f.recommendations.push_back(rpc_advice(*m, rtt, retrans + a.timeouts));
    out.push_back(std::move(f));
  }
}

}  // namespace cgscope::analyzers
