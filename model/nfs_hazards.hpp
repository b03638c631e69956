// NFS hazards of one interval: what in the interval's deltas (NfsInterval::files,
// ::stale_names) means a container may read stale data or be told a file does not exist, and
// what to change. Pure functions of the interval: the analyzers turn them into rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/nfs.hpp"

namespace cgscope::model {

// Files written by one cgroup and read or revalidated by another in the interval, by bytes
// written (at most max_files; the rest are counted in *not_shown).
std::vector<NfsSharedWriterHazard> find_shared_writers(const NfsInterval& interval, std::size_t max_files,
                                                       std::uint64_t* not_shown);
// Cached negative dentries trusted for names another cgroup had created, per (victim, creator,
// victim's superblock), most stale lookups first.
std::vector<NfsNegativeLookupHazard> find_negative_lookups(const NfsInterval& interval);
// Both, into interval.shared_writers / shared_files_not_shown / negative_lookups.
void find_nfs_hazards(NfsInterval& interval, std::size_t max_files);

// Bytes a cgroup wrote to a file: WRITE RPCs, or the pages it dirtied when they were not
// written back yet.
std::uint64_t nfs_written_bytes(const NfsFileCgroup& c, std::uint32_t page_size);

// What to do about a negative-lookup hazard, one sentence: "Fix: mount with
// lookupcache=positive on /mnt/b." — or, when the victim's mount was replaced during the
// interval by one that no longer trusts negative dentries, that the fix is in place since.
std::string negative_lookup_remedy(const NfsInterval& interval, const NfsNegativeLookupHazard& hazard);

}  // namespace cgscope::model
