#include "model/nfs_hazards.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace cgscope::model {
namespace {

bool wrote(const NfsFileCgroup& c) { return c.written_bytes > 0 || c.dirtied_pages > 0; }
bool read_or_revalidated(const NfsFileCgroup& c) { return c.reads > 0 || c.revalidations > 0; }

}  // namespace

std::uint64_t nfs_written_bytes(const NfsFileCgroup& c, std::uint32_t page_size) {
  return std::max(c.written_bytes, c.dirtied_pages * page_size);
}

std::vector<NfsSharedWriterHazard> find_shared_writers(const NfsInterval& interval, std::size_t max_files,
                                                       std::uint64_t* not_shown) {
  std::vector<NfsSharedWriterHazard> hazards;
  for (const auto& f : interval.files) {
    NfsSharedWriterHazard h;
    h.fileid = f.fileid;
    for (const auto& c : f.cgroups)
      if (wrote(c)) h.writers.push_back(c);
    if (h.writers.empty()) continue;
    for (const auto& c : f.cgroups) {
      const bool other = std::any_of(h.writers.begin(), h.writers.end(),
                                     [&](const NfsFileCgroup& w) { return w.cgroup_id != c.cgroup_id; });
      if (read_or_revalidated(c) && other) h.readers.push_back(c);
    }
    if (h.readers.empty()) continue;
    h.export_name = nfs_export_name(interval.mounts, h.writers.front().dev, h.writers.front().sb_instance);
    hazards.push_back(std::move(h));
  }
  auto written = [&](const NfsSharedWriterHazard& h) {
    std::uint64_t b = 0;
    for (const auto& w : h.writers) b += nfs_written_bytes(w, interval.page_size);
    return b;
  };
  std::sort(hazards.begin(), hazards.end(), [&](const auto& a, const auto& b) {
    return std::make_tuple(written(a), b.fileid) > std::make_tuple(written(b), a.fileid);
  });
  if (not_shown) *not_shown = 0;
  if (hazards.size() > max_files) {
    if (not_shown) *not_shown = hazards.size() - max_files;
    hazards.resize(max_files);
  }
  return hazards;
}

std::vector<NfsNegativeLookupHazard> find_negative_lookups(const NfsInterval& interval) {
  struct Acc {
    NfsNegativeLookupHazard h;
    std::set<std::pair<std::uint64_t, std::uint32_t>> names;
    std::set<std::uint64_t> dirs;
  };
  std::map<std::tuple<std::uint64_t, std::uint64_t, std::uint32_t, std::uint32_t>, Acc> acc;
  for (const auto& s : interval.stale_names) {
    if (s.count == 0) continue;
    auto& a = acc[{s.victim_cgroup_id, s.creator_cgroup_id, s.victim_dev, s.victim_sb_instance}];
    a.h.export_name = nfs_export_name(interval.mounts, s.victim_dev, s.victim_sb_instance);
    a.h.victim_cgroup_id = s.victim_cgroup_id;
    a.h.creator_cgroup_id = s.creator_cgroup_id;
    a.h.victim_dev = s.victim_dev;
    a.h.victim_sb_instance = s.victim_sb_instance;
    a.h.stale_lookups += s.count;
    a.names.insert({s.dir_fileid, s.name_hash});
    a.dirs.insert(s.dir_fileid);
  }
  std::vector<NfsNegativeLookupHazard> out;
  for (auto& [k, a] : acc) {
    a.h.names = a.names.size();
    a.h.directories = a.dirs.size();
    out.push_back(a.h);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.stale_lookups > b.stale_lookups; });
  return out;
}

void find_nfs_hazards(NfsInterval& interval, std::size_t max_files) {
  interval.shared_writers = find_shared_writers(interval, max_files, &interval.shared_files_not_shown);
  interval.negative_lookups = find_negative_lookups(interval);
}

std::string negative_lookup_remedy(const NfsInterval& interval, const NfsNegativeLookupHazard& hazard) {
  const NfsMount* victim = interval.mount(hazard.victim_dev, hazard.victim_sb_instance);
  if (!victim) return "Fix: mount with lookupcache=positive on the victim's mount.";
  if (victim->vanished) {
    // The lookups happened on a mount that is gone: say what replaced it, if anything.
    for (const auto& m : interval.mounts) {
      if (m.vanished || m.mount_point != victim->mount_point) continue;
      if (m.lookupcache != "all")
        return "This mount was replaced during the interval by one with lookupcache=" + m.lookupcache +
               ": the fix is in place since.";
      return "This mount was replaced during the interval by one that still trusts negative lookups "
             "(lookupcache=all). Fix: mount with lookupcache=positive on " + m.mount_point + ".";
    }
    return "Fix: mount with lookupcache=positive on " + victim->mount_point + " (unmounted since).";
  }
  return "Fix: mount with lookupcache=positive on " + victim->mount_point + ".";
}

}  // namespace cgscope::model
