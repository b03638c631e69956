// NFS client stalls per cgroup and mount, RPCs per procedure, files shared between cgroups and
// cached negative lookups of names another cgroup created: raw cumulative counters (what the
// NFS collector reads) and one derived interval with the hazards found in it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/histogram.hpp"
#include "model/nfs_mount.hpp"

namespace cgscope::model {

// Same order as enum nfs_op in collector/nfs/nfs.h.
enum class NfsOp : std::uint8_t {
  kRevalidate, kGetattr, kAccess, kLookupRevalidate, kLookup, kOpen, kInvalidate, kFsync, kFlush,
  kCommit, kRead, kWrite, kSetattr, kCreate, kRemove, kRename,
};
inline constexpr std::size_t kNfsOps = 16;
std::string_view to_string(NfsOp op);
// The operations a task waits for (stall time); not the READ/WRITE/COMMIT RPCs, which mostly
// run asynchronously on behalf of the cgroup.
inline constexpr std::array<NfsOp, 13> kNfsStallOps = {
    NfsOp::kRevalidate, NfsOp::kGetattr, NfsOp::kAccess,  NfsOp::kLookupRevalidate, NfsOp::kLookup,
    NfsOp::kOpen,       NfsOp::kInvalidate, NfsOp::kFsync, NfsOp::kFlush,           NfsOp::kSetattr,
    NfsOp::kCreate,     NfsOp::kRemove,  NfsOp::kRename};
// Same order as enum nfs_err.
inline constexpr std::size_t kNfsErrors = 6;
inline constexpr std::array<std::string_view, kNfsErrors> kNfsErrorNames = {"ENOENT", "ESTALE", "EIO",
                                                                            "EACCES", "EBUSY", "other"};

struct NfsOpCounters {
  std::uint64_t count = 0;
  std::uint64_t time_ns = 0;
  std::array<std::uint64_t, kNfsErrors> errors{};
  Log2Histogram time_ns_hist;
  bool operator==(const NfsOpCounters&) const = default;
};
// Time in the operations of kNfsStallOps (cumulative counters or an interval's deltas).
std::uint64_t nfs_stall_ns(const std::array<NfsOpCounters, kNfsOps>& ops);

// One (cgroup, NFS superblock); cumulative. A superblock is (dev, sb_instance): see NfsMount.
struct NfsCgroupMountCounters {
  std::uint64_t cgroup_id = 0;
  std::uint32_t dev = 0;
  std::uint32_t sb_instance = 0;
  std::array<NfsOpCounters, kNfsOps> ops{};
  std::uint64_t read_bytes = 0, write_bytes = 0, dirtied_pages = 0, invalidated_pages = 0;
  std::uint64_t lookup_negative = 0;    // LOOKUP RPCs that found nothing
  std::uint64_t negative_trusted = 0;   // cached negative dentries believed, no RPC
  std::uint64_t negative_rejected = 0;  // cached negative dentries looked up again
  std::uint64_t negative_stale = 0;     // trusted for a name another cgroup had created
  std::uint64_t silly_renames = 0;
  bool operator==(const NfsCgroupMountCounters&) const = default;
};

// One (cgroup, RPC program/version/procedure); cumulative.
struct NfsRpcCounters {
  std::uint64_t cgroup_id = 0;
  std::uint32_t prog = 0, vers = 0;
  std::string procedure;
  std::uint64_t count = 0, rtt_us = 0, execute_us = 0, retransmits = 0, timeouts = 0;
  Log2Histogram rtt_us_hist, execute_us_hist;
  bool operator==(const NfsRpcCounters&) const = default;
};

struct NfsFileCgroup {
  std::uint64_t cgroup_id = 0;
  std::uint32_t dev = 0;  // the superblock it used the file through (the last one)
  std::uint32_t sb_instance = 0;
  std::uint64_t written_bytes = 0, dirtied_pages = 0, reads = 0, revalidations = 0, invalidations = 0;
  bool operator==(const NfsFileCgroup&) const = default;
};

// One NFS file (export, i.e. the server's fsid, + the server's fileid: the same file on every
// client); cumulative.
struct NfsFileCounters {
  std::uint32_t export_id = 0;
  std::uint64_t fileid = 0;
  std::vector<NfsFileCgroup> cgroups;
  std::uint64_t overflow = 0;  // events of cgroups beyond the per-file cap
  bool operator==(const NfsFileCounters&) const = default;
};

// A cached negative dentry `victim` trusted for a name `creator` had created; cumulative.
struct NfsStaleName {
  std::uint32_t export_id = 0;
  std::uint64_t dir_fileid = 0;
  std::uint32_t name_hash = 0;
  std::uint64_t victim_cgroup_id = 0, creator_cgroup_id = 0;
  std::uint32_t victim_dev = 0;  // the superblock the victim looked the name up on
  std::uint32_t victim_sb_instance = 0;
  std::uint64_t count = 0;
  bool operator==(const NfsStaleName&) const = default;
};

struct NfsSample {
  bool active = false;  // the collector is attached
  std::vector<NfsMount> mounts;
  std::vector<NfsMountStats> mountstats;
  // Sorted, so that consecutive samples line up (recordings encode each row against the same
  // row before): by (cgroup_id, dev, sb_instance); (cgroup_id, prog, vers, procedure);
  // (export_id, fileid); and the whole key of a stale name.
  std::vector<NfsCgroupMountCounters> cgroups;
  std::vector<NfsRpcCounters> rpc;
  std::vector<NfsFileCounters> files;
  std::vector<NfsStaleName> stale_names;
  bool negative_lookups_visible = false;  // the kernel let us see cached negative dentries
  bool operator==(const NfsSample&) const = default;
};

// ---- one interval ----

struct NfsCgroupMountInterval {
  std::uint64_t cgroup_id = 0;
  std::uint32_t dev = 0;
  std::uint32_t sb_instance = 0;
  std::array<NfsOpCounters, kNfsOps> ops{};  // deltas
  std::uint64_t read_bytes = 0, write_bytes = 0, dirtied_pages = 0, invalidated_pages = 0;
  std::uint64_t lookup_negative = 0, negative_trusted = 0, negative_rejected = 0, negative_stale = 0;
  std::uint64_t silly_renames = 0;
  std::uint64_t stall_ns() const;  // time in the operations a task waits for
};

struct NfsRpcInterval {
  std::uint64_t cgroup_id = 0;
  std::uint32_t prog = 0, vers = 0;
  std::string procedure;
  std::uint64_t count = 0, rtt_us = 0, execute_us = 0, retransmits = 0, timeouts = 0;
  Log2Histogram rtt_us_hist, execute_us_hist;
};

// One NFS file in one interval: what each cgroup did to it (deltas; cgroups that did nothing
// are left out).
struct NfsFileInterval {
  std::uint32_t export_id = 0;
  std::uint64_t fileid = 0;
  std::vector<NfsFileCgroup> cgroups;
};

// A file written by one cgroup and read or revalidated by another under client caching: reads
// may be stale within the attribute timeout.
struct NfsSharedWriterHazard {
  std::string export_name;  // "server:/export"
  std::uint64_t fileid = 0;
  std::vector<NfsFileCgroup> writers;  // interval deltas, on any client of the export
  std::vector<NfsFileCgroup> readers;  // their superblock: the mount whose options matter
};

// Names `victim` was told do not exist (from its negative dentry cache) after `creator` made them.
struct NfsNegativeLookupHazard {
  std::string export_name;
  std::uint64_t victim_cgroup_id = 0, creator_cgroup_id = 0;
  std::uint32_t victim_dev = 0;
  std::uint32_t victim_sb_instance = 0;
  std::uint64_t stale_lookups = 0;  // in this interval
  std::uint64_t names = 0;          // distinct names
  std::uint64_t directories = 0;
};

struct NfsInterval {
  bool active = false;
  bool negative_lookups_visible = false;
  // Every superblock of the interval: mounted at its end, and those unmounted during it
  // (`vanished`), so that each row names the mount its events happened on.
  std::vector<NfsMount> mounts;
  std::vector<NfsMountStats> mountstats_delta;  // per mount: counters in this interval
  std::vector<NfsCgroupMountInterval> cgroups;  // only rows with activity
  std::vector<NfsRpcInterval> rpc;
  std::vector<NfsFileInterval> files;               // files with activity (the hazards' evidence)
  std::vector<NfsStaleName> stale_names;            // counts: in this interval
  // Hazards found in the interval (model/nfs_hazards.hpp).
  std::vector<NfsSharedWriterHazard> shared_writers;  // by bytes written, at most max_files
  std::uint64_t shared_files_not_shown = 0;
  std::vector<NfsNegativeLookupHazard> negative_lookups;
  std::uint32_t page_size = 4096;  // of the host, for pages -> bytes
  // The mount of a superblock (see find_nfs_mount), or nullptr.
  const NfsMount* mount(std::uint32_t dev, std::uint32_t sb_instance) const;
};

NfsInterval derive_nfs(const NfsSample& prev, const NfsSample& curr, std::size_t max_files = 64,
                       std::uint32_t page_size = 4096);
// The mount of superblock (dev, sb_instance): the exact one; with an unknown instance (0, e.g.
// a recording of an older cgscope) the mount of `dev` still mounted, else any of `dev`; with a
// known instance that no mount has, the mount of `dev` whose instance is unknown. nullptr when
// none fits (a superblock mounted and unmounted between two samples).
const NfsMount* find_nfs_mount(const std::vector<NfsMount>& mounts, std::uint32_t dev, std::uint32_t sb_instance);
// "server:/export" of a superblock ("dev 0:53" when not in mountinfo).
std::string nfs_export_name(const std::vector<NfsMount>& mounts, std::uint32_t dev, std::uint32_t sb_instance);

}  // namespace cgscope::model
