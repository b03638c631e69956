// Parsers for the kernel's descriptions of NFS mounts: /proc/self/mountinfo (which superblock,
// which options) and /proc/self/mountstats (the NFS client's own per-mount counters). Pure
// functions of the file content: no I/O, no exceptions. Malformed content gives an Error naming
// the line ("mountstats: line 12: expected ..., got '...'"); other filesystems and lines the
// kernel added after these parsers were written are skipped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/nfs_mount.hpp"
#include "model/result.hpp"

namespace cgscope::collector {

// The nfs and nfs4 mounts of a mountinfo, one per superblock in the order of the file (the
// first mount point of a superblock wins: bind mounts share its dev; nosharecache mounts of
// one export are separate superblocks with their own dev). Per-mount options are merged with
// the super options (the per-mount rw/ro wins: a read-only bind mount of a rw superblock is
// read-only), and the attribute-cache, lookupcache, cto, nconnect, rsize and wsize fields
// are resolved from them with the kernel's defaults.
Result<std::vector<model::NfsMount>> parse_nfs_mountinfo(std::string_view mountinfo);

// The nfs and nfs4 blocks of a mountstats ("device ... with fstype nfs statvers=1.1" and the
// indented lines up to the next "device" line). events:, bytes: and xprt: fields are named
// as in the model's comments; counters past the known ones are kept as event_N / bytes_N /
// xprt_N (N = 0-based position). With nconnect > 1 the kernel prints one xprt: line per
// connection: their counters are summed (port is the first one's, max_slots the largest,
// idle_time the smallest).
Result<std::vector<model::NfsMountStats>> parse_nfs_mountstats(std::string_view mountstats);

// The mount with this superblock device, or nullptr.
const model::NfsMount* find_mount_by_dev(const std::vector<model::NfsMount>& mounts, std::uint32_t dev);

// The options that decide what the client caches, in one line:
// "vers=4.2 ac acregmin=3 acregmax=60 acdirmin=30 acdirmax=60 lookupcache=all cto nconnect=1
// rsize=1048576 wsize=1048576" ("noac" replaces the ac part, "nocto" the cto; rsize/wsize and
// vers are left out when unknown).
std::string nfs_mount_options_summary(const model::NfsMount& mount);

// Whether auto trusts nfs_lookup_revalidate_exit to fire for cache hits on this kernel release
// (uname -r): the 6.1 series, where the vm suite verified it (6.12 does not fire it; see
// docs/collectors.md).
bool nfs_revalidate_exit_covers_cache_hits(const std::string& release);

}  // namespace cgscope::collector
