#include "model/nfs.hpp"

#include "model/nfs_hazards.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace cgscope::model {

std::string_view to_string(NfsOp op) {
  static constexpr std::array<std::string_view, kNfsOps> names = {
      "revalidate", "getattr", "access", "lookup_revalidate", "lookup", "open",   "invalidate", "fsync",
      "flush",      "commit",  "read",   "write",             "setattr", "create", "remove",    "rename"};
  const auto i = static_cast<std::size_t>(op);
  return i < names.size() ? names[i] : "unknown";
}

namespace {

std::uint64_t sub(std::uint64_t a, std::uint64_t b) { return a >= b ? a - b : a; }  // reset: take it all

NfsOpCounters delta(const NfsOpCounters& curr, const NfsOpCounters* prev) {
  // Fewer operations than before: the collector attached again and counts from zero.
  if (!prev || curr.count < prev->count) return curr;
  NfsOpCounters d;
  d.count = sub(curr.count, prev->count);
  d.time_ns = sub(curr.time_ns, prev->time_ns);
  for (std::size_t e = 0; e < kNfsErrors; ++e) d.errors[e] = sub(curr.errors[e], prev->errors[e]);
  d.time_ns_hist = curr.time_ns_hist.delta(prev->time_ns_hist);
  return d;
}

NfsFileCgroup delta(const NfsFileCgroup& curr, const NfsFileCgroup* prev) {
  if (!prev) return curr;
  NfsFileCgroup d;
  d.cgroup_id = curr.cgroup_id;
  d.dev = curr.dev;
  d.sb_instance = curr.sb_instance;
  d.written_bytes = sub(curr.written_bytes, prev->written_bytes);
  d.dirtied_pages = sub(curr.dirtied_pages, prev->dirtied_pages);
  d.reads = sub(curr.reads, prev->reads);
  d.revalidations = sub(curr.revalidations, prev->revalidations);
  d.invalidations = sub(curr.invalidations, prev->invalidations);
  return d;
}

bool wrote(const NfsFileCgroup& c) { return c.written_bytes > 0 || c.dirtied_pages > 0; }
bool read_or_revalidated(const NfsFileCgroup& c) { return c.reads > 0 || c.revalidations > 0; }

void derive_mountstats(const NfsSample& prev, const NfsSample& curr, NfsInterval& out) {
  for (const auto& m : curr.mountstats) {
    const NfsMountStats* p = nullptr;
    for (const auto& q : prev.mountstats)
      if (q.source == m.source && q.mount_point == m.mount_point && q.age_seconds <= m.age_seconds) p = &q;
    NfsMountStats d = m;
    if (p) {
      for (auto& [k, v] : d.events)
        if (auto it = p->events.find(k); it != p->events.end()) v = sub(v, it->second);
      for (auto& [k, v] : d.bytes)
        if (auto it = p->bytes.find(k); it != p->bytes.end()) v = sub(v, it->second);
      for (auto& [k, v] : d.xprt)
        if (auto it = p->xprt.find(k); it != p->xprt.end()) v = sub(v, it->second);
      for (auto& [name, op] : d.ops) {
        auto it = p->ops.find(name);
        if (it == p->ops.end()) continue;
        const auto& o = it->second;
        op.ops = sub(op.ops, o.ops);
        op.transmissions = sub(op.transmissions, o.transmissions);
        op.major_timeouts = sub(op.major_timeouts, o.major_timeouts);
        op.bytes_sent = sub(op.bytes_sent, o.bytes_sent);
        op.bytes_received = sub(op.bytes_received, o.bytes_received);
        op.queue_ms = sub(op.queue_ms, o.queue_ms);
        op.rtt_ms = sub(op.rtt_ms, o.rtt_ms);
        op.execute_ms = sub(op.execute_ms, o.execute_ms);
        if (op.errors && o.errors) op.errors = sub(*op.errors, *o.errors);
      }
    }
    out.mountstats_delta.push_back(std::move(d));
  }
}

// Per file, what each cgroup did in the interval.
void derive_files(const NfsSample& prev, const NfsSample& curr, NfsInterval& out) {
  std::map<std::pair<std::uint32_t, std::uint64_t>, const NfsFileCounters*> before;
  for (const auto& f : prev.files) before[{f.export_id, f.fileid}] = &f;
  for (const auto& f : curr.files) {
    auto it = before.find({f.export_id, f.fileid});
    NfsFileInterval d;
    d.export_id = f.export_id;
    d.fileid = f.fileid;
    for (const auto& c : f.cgroups) {
      const NfsFileCgroup* pc = nullptr;
      if (it != before.end())
        for (const auto& q : it->second->cgroups)
          if (q.cgroup_id == c.cgroup_id) pc = &q;
      NfsFileCgroup dc = delta(c, pc);
      dc.dev = c.dev;
      dc.sb_instance = c.sb_instance;
      if (wrote(dc) || read_or_revalidated(dc) || dc.invalidations > 0) d.cgroups.push_back(dc);
    }
    if (!d.cgroups.empty()) out.files.push_back(std::move(d));
  }
}

void derive_stale_names(const NfsSample& prev, const NfsSample& curr, NfsInterval& out) {
  auto key_of = [](const NfsStaleName& s) {
    return std::make_tuple(s.export_id, s.dir_fileid, s.name_hash, s.victim_cgroup_id, s.victim_dev,
                           s.victim_sb_instance);
  };
  std::map<decltype(key_of(NfsStaleName{})), std::uint64_t> before;
  for (const auto& s : prev.stale_names) before[key_of(s)] = s.count;
  for (const auto& s : curr.stale_names) {
    auto it = before.find(key_of(s));
    const std::uint64_t n = it == before.end() ? s.count : sub(s.count, it->second);
    if (n == 0) continue;
    NfsStaleName d = s;
    d.count = n;
    out.stale_names.push_back(d);
  }
}

}  // namespace

std::uint64_t nfs_stall_ns(const std::array<NfsOpCounters, kNfsOps>& ops) {
  std::uint64_t ns = 0;
  for (NfsOp op : kNfsStallOps) ns += ops[static_cast<std::size_t>(op)].time_ns;
  return ns;
}

std::uint64_t NfsCgroupMountInterval::stall_ns() const { return nfs_stall_ns(ops); }

const NfsMount* find_nfs_mount(const std::vector<NfsMount>& mounts, std::uint32_t dev, std::uint32_t sb_instance) {
  const NfsMount* current = nullptr;  // of dev, still mounted
  const NfsMount* any = nullptr;      // of dev
  const NfsMount* unknown = nullptr;  // of dev, instance unknown
  for (const auto& m : mounts) {
    if (m.dev != dev) continue;
    if (sb_instance != 0 && m.sb_instance == sb_instance) return &m;
    if (!current && !m.vanished) current = &m;
    if (!any) any = &m;
    if (!unknown && m.sb_instance == 0) unknown = &m;
  }
  if (sb_instance == 0) return current ? current : any;
  return unknown;
}

const NfsMount* NfsInterval::mount(std::uint32_t dev, std::uint32_t sb_instance) const {
  return find_nfs_mount(mounts, dev, sb_instance);
}

std::string nfs_export_name(const std::vector<NfsMount>& mounts, std::uint32_t dev, std::uint32_t sb_instance) {
  if (const NfsMount* m = find_nfs_mount(mounts, dev, sb_instance)) return m->server + ":" + m->export_path;
  // Bind mounts and other superblocks of the same export name it as well.
  for (const auto& m : mounts)
    if (m.dev == dev) return m.server + ":" + m.export_path;
  return "dev " + std::to_string(dev >> 20) + ":" + std::to_string(dev & 0xfffff);
}

NfsInterval derive_nfs(const NfsSample& prev, const NfsSample& curr, std::size_t max_files, std::uint32_t page_size) {
  NfsInterval out;
  out.page_size = page_size;
  out.active = curr.active;
  out.negative_lookups_visible = curr.negative_lookups_visible;
  out.mounts = curr.mounts;
  derive_mountstats(prev, curr, out);

  std::map<std::tuple<std::uint64_t, std::uint32_t, std::uint32_t>, const NfsCgroupMountCounters*> before;
  for (const auto& c : prev.cgroups) before[{c.cgroup_id, c.dev, c.sb_instance}] = &c;
  for (const auto& c : curr.cgroups) {
    auto it = before.find({c.cgroup_id, c.dev, c.sb_instance});
    const NfsCgroupMountCounters* p = it == before.end() ? nullptr : it->second;
    NfsCgroupMountInterval d;
    d.cgroup_id = c.cgroup_id;
    d.dev = c.dev;
    d.sb_instance = c.sb_instance;
    bool any = false;
    for (std::size_t i = 0; i < kNfsOps; ++i) {
      d.ops[i] = delta(c.ops[i], p ? &p->ops[i] : nullptr);
      any |= d.ops[i].count > 0;
    }
    auto f = [&](std::uint64_t NfsCgroupMountCounters::*field) {
      const std::uint64_t v = p ? sub(c.*field, p->*field) : c.*field;
      any |= v > 0;
      return v;
    };
    d.read_bytes = f(&NfsCgroupMountCounters::read_bytes);
    d.write_bytes = f(&NfsCgroupMountCounters::write_bytes);
    d.dirtied_pages = f(&NfsCgroupMountCounters::dirtied_pages);
    d.invalidated_pages = f(&NfsCgroupMountCounters::invalidated_pages);
    d.lookup_negative = f(&NfsCgroupMountCounters::lookup_negative);
    d.negative_trusted = f(&NfsCgroupMountCounters::negative_trusted);
    d.negative_rejected = f(&NfsCgroupMountCounters::negative_rejected);
    d.negative_stale = f(&NfsCgroupMountCounters::negative_stale);
    d.silly_renames = f(&NfsCgroupMountCounters::silly_renames);
    if (any) out.cgroups.push_back(std::move(d));
  }

  for (const auto& r : curr.rpc) {
    const NfsRpcCounters* p = nullptr;
    for (const auto& q : prev.rpc)
      if (q.cgroup_id == r.cgroup_id && q.prog == r.prog && q.vers == r.vers && q.procedure == r.procedure) p = &q;
    NfsRpcInterval d;
    d.cgroup_id = r.cgroup_id;
    d.prog = r.prog;
    d.vers = r.vers;
    d.procedure = r.procedure;
    d.count = p ? sub(r.count, p->count) : r.count;
    d.rtt_us = p ? sub(r.rtt_us, p->rtt_us) : r.rtt_us;
    d.execute_us = p ? sub(r.execute_us, p->execute_us) : r.execute_us;
    d.retransmits = p ? sub(r.retransmits, p->retransmits) : r.retransmits;
    d.timeouts = p ? sub(r.timeouts, p->timeouts) : r.timeouts;
    d.rtt_us_hist = p ? r.rtt_us_hist.delta(p->rtt_us_hist) : r.rtt_us_hist;
    d.execute_us_hist = p ? r.execute_us_hist.delta(p->execute_us_hist) : r.execute_us_hist;
    if (d.count || d.retransmits || d.timeouts) out.rpc.push_back(std::move(d));
  }
  derive_files(prev, curr, out);
  derive_stale_names(prev, curr, out);
  find_nfs_hazards(out, max_files);
  return out;
}

}  // namespace cgscope::model
