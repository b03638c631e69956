// `cgscope snapshot --view nfs`: per (cgroup, mount) NFS stalls, then the hazards of the
// interval (shared writers, stale negative lookups) with the mount options that cause them.
#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "cli/format.hpp"
#include "model/nfs_hazards.hpp"

namespace cgscope::cli {
namespace {

std::string op_cell(const model::NfsOpCounters& o) {
  if (o.count == 0) return "-";
  return fmt::format("{}/{}", o.count, format_ns(o.time_ns));
}

std::string options_of(const model::NfsMount* m) {
  if (!m) return "mounted and unmounted between two samples: options unknown";
  std::string ac = m->attribute_cache ? fmt::format("acregmin={} acregmax={} acdirmin={} acdirmax={}", m->acregmin_s,
                                                    m->acregmax_s, m->acdirmin_s, m->acdirmax_s)
                                      : "noac";
  return fmt::format("vers={} {} lookupcache={}{}{}", m->vers, ac, m->lookupcache, m->close_to_open ? "" : " nocto",
                     m->vanished ? "; unmounted during this interval" : "");
}

// The mount point, or the device when the superblock was never seen in mountinfo.
std::string where(const model::NfsMount* m, std::uint32_t dev) { return m ? m->mount_point : model::dev_name(dev); }

// The MOUNT column (16 wide): the end of a long mount point, and "(gone)" kept whole for a
// mount that was unmounted during the interval (a remount has the same mount point).
std::string mount_cell(const model::NfsMount* m, std::uint32_t dev) {
  constexpr std::size_t kWidth = 16;
  const std::string suffix = m && m->vanished ? " (gone)" : "";
  std::string path = where(m, dev);
  const std::size_t room = kWidth - suffix.size();
  if (path.size() > room) path = "…" + path.substr(path.size() - (room - 1));
  return path + suffix;
}

}  // namespace

std::string render_nfs(const model::Snapshot& snap, const TableOptions& options) {
  std::unordered_map<std::uint64_t, std::string> names;
  for (const auto& cg : snap.cgroups) names[cg.identity.id] = cg.identity.display_name();
  auto name = [&](std::uint64_t id) {
    auto it = names.find(id);
    return it != names.end() ? it->second : "cgroup#" + std::to_string(id);
  };
  const auto& n = snap.nfs;
  std::string out;
  if (!n.active) {
    out += "  no NFS activity can be shown (see the nfs collector's status above)\n";
    return out;
  }
  if (!n.negative_lookups_visible) out += "  note: cached negative lookups are not visible on this kernel\n";
  std::vector<const model::NfsCgroupMountInterval*> rows;
  for (const auto& c : n.cgroups) rows.push_back(&c);
  std::stable_sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return a->stall_ns() > b->stall_ns(); });
  if (options.top && rows.size() > options.top) rows.resize(options.top);
  using model::NfsOp;
  auto op = [](const model::NfsCgroupMountInterval& c, NfsOp o) { return c.ops[static_cast<std::size_t>(o)]; };
  out += fmt::format("{:<30} {:<16} {:>9} {:>14} {:>14} {:>14} {:>10} {:>12} {:>14} {:>14} {:>8} {:>8}\n", "CGROUP",
                     "MOUNT", "STALL", "REVALIDATE", "GETATTR", "LOOKUP", "NEG_HIT", "INVALIDATE", "FSYNC+FLUSH",
                     "COMMIT", "READ", "WRITE");
  for (const auto* c : rows) {
    const model::NfsMount* m = n.mount(c->dev, c->sb_instance);
    model::NfsOpCounters sync = op(*c, NfsOp::kFsync);
    sync.count += op(*c, NfsOp::kFlush).count;
    sync.time_ns += op(*c, NfsOp::kFlush).time_ns;
    model::NfsOpCounters lookups = op(*c, NfsOp::kLookup);
    lookups.count += op(*c, NfsOp::kLookupRevalidate).count;
    lookups.time_ns += op(*c, NfsOp::kLookupRevalidate).time_ns;
    out += fmt::format(
        "{:<30} {:<16} {:>9} {:>14} {:>14} {:>14} {:>10} {:>12} {:>14} {:>14} {:>8} {:>8}\n", name(c->cgroup_id).substr(0, 30),
        mount_cell(m, c->dev), format_ns(c->stall_ns()),
        op_cell(op(*c, NfsOp::kRevalidate)), op_cell(op(*c, NfsOp::kGetattr)), op_cell(lookups),
        n.negative_lookups_visible ? fmt::format("{}/{}", c->negative_trusted, c->negative_stale) : "?",
        fmt::format("{}/{}p", op(*c, NfsOp::kInvalidate).count, c->invalidated_pages), op_cell(sync),
        op_cell(op(*c, NfsOp::kCommit)), format_bytes(static_cast<double>(c->read_bytes)),
        format_bytes(static_cast<double>(c->write_bytes)));
  }
  for (const auto& h : n.negative_lookups) {
    const model::NfsMount* m = n.mount(h.victim_dev, h.victim_sb_instance);
    out += fmt::format(
        "  HAZARD stale negative lookups: {} was told {} time(s) that {} name(s) in {} directory(ies) of {} do not "
        "exist, which {} had created; mount {} ({}). {}\n",
        name(h.victim_cgroup_id), h.stale_lookups, h.names, h.directories, h.export_name, name(h.creator_cgroup_id),
        where(m, h.victim_dev), options_of(m), model::negative_lookup_remedy(n, h));
  }
  for (const auto& h : n.shared_writers) {
    std::string writers, readers;
    for (const auto& w : h.writers)
      writers += fmt::format("{}{} ({} written)", writers.empty() ? "" : ", ", name(w.cgroup_id),
                             format_bytes(static_cast<double>(model::nfs_written_bytes(w, n.page_size))));
    for (const auto& r : h.readers) {
      const model::NfsMount* m = n.mount(r.dev, r.sb_instance);
      readers += fmt::format("{}{} on {} ({} revalidations, {} reads, {} invalidations; {})", readers.empty() ? "" : ", ",
                             name(r.cgroup_id), where(m, r.dev), r.revalidations, r.reads, r.invalidations,
                             options_of(m));
    }
    out += fmt::format("  HAZARD shared writer: file {} of {} written by {} and read by {}: reads can be stale within "
                       "the attribute timeout.\n",
                       h.fileid, h.export_name, writers, readers);
  }
  if (n.shared_files_not_shown)
    out += fmt::format("  ... and {} more shared file(s)\n", n.shared_files_not_shown);
  return out;
}

}  // namespace cgscope::cli
