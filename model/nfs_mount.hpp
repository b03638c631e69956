// NFS mounts as the kernel describes them: /proc/self/mountinfo (which superblock, which
// options) and /proc/self/mountstats (the client's own per-mount counters). The eBPF NFS
// collector keys its numbers by superblock device (dev_t); these say what that device is.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cgscope::model {

// One NFS superblock (a mount point; bind mounts of the same superblock share `dev`).
//
// A superblock is (dev, sb_instance): the kernel reuses the anonymous dev of an unmounted NFS
// superblock for the next mount, so a remount within one interval gets the same dev. The
// instance (the inode number of the superblock's /sys/class/bdi/MAJ:MIN directory, which the
// eBPF side reads as sb->s_bdi->dev->kobj.sd->id) is never reused while the host runs.
struct NfsMount {
  std::uint32_t dev = 0;        // kernel dev_t (major << 20 | minor), as the eBPF side sees it
  std::uint32_t sb_instance = 0;  // low 32 bits of the bdi's kernfs id; 0 = unknown
  std::uint32_t mount_id = 0;     // mountinfo's mount id of `mount_point`
  bool vanished = false;          // unmounted since the previous sample: kept for that interval
  std::string mount_point;      // first mount point of this superblock in mountinfo
  std::string source;           // "server:/export"
  std::string server;           // "server" ("[::1]" keeps its brackets off: "::1")
  std::string export_path;      // "/export"
  std::string fstype;           // "nfs" or "nfs4"
  std::string vers;             // "3", "4.2", ... (from vers= in the super options)
  // Options in force: per-mount options (rw, relatime, ...) and super options (vers, rsize,
  // wsize, namlen, hard, proto, timeo, retrans, sec, clientaddr, local_lock, addr, lookupcache,
  // actimeo/acregmin/..., nocto, noac, nconnect, ...). Flags without a value map to "".
  std::map<std::string, std::string> options;
  // Attribute-cache settings, resolved from the options with the kernel's defaults
  // (acregmin 3, acregmax 60, acdirmin 30, acdirmax 60 s; actimeo=N sets all four; noac = 0).
  std::uint32_t acregmin_s = 3, acregmax_s = 60, acdirmin_s = 30, acdirmax_s = 60;
  bool attribute_cache = true;   // false with noac
  bool close_to_open = true;     // false with nocto
  std::string lookupcache = "all";  // "all" (default), "positive" or "none"
  std::uint32_t nconnect = 1;
  std::optional<std::uint64_t> rsize, wsize;
  bool operator==(const NfsMount&) const = default;
};

// The counters of mountstats lines, in the kernel's order, in node_exporter's names.
// "events:" (include/linux/nfs_iostat.h):
inline constexpr std::array<std::string_view, 27> kNfsMountstatsEvents = {
    "inode_revalidate", "dentry_revalidate", "data_invalidate",  "attribute_invalidate", "vfs_open",
    "vfs_lookup",       "vfs_access",        "vfs_update_page",  "vfs_read_page",        "vfs_read_pages",
    "vfs_write_page",   "vfs_write_pages",   "vfs_getdents",     "vfs_setattr",          "vfs_flush",
    "vfs_fsync",        "vfs_lock",          "vfs_file_release", "congestion_wait",      "truncation",
    "write_extension",  "silly_rename",      "short_read",       "short_write",          "jukebox_delay",
    "pnfs_read",        "pnfs_write"};
// "bytes:":
inline constexpr std::array<std::string_view, 8> kNfsMountstatsBytes = {
    "normal_read", "normal_write", "direct_read", "direct_write",
    "server_read", "server_write", "read_pages",  "write_pages"};
// "xprt:" after the transport name (net/sunrpc/xprtsock.c, xs_{tcp,udp}_print_stats). RDMA
// prints the tcp set's first ten, then its own counters (named generically).
inline constexpr std::array<std::string_view, 13> kNfsMountstatsTcpXprt = {
    "port",     "bind_count", "connect_count", "connect_time", "idle_time", "sends",    "receives",
    "bad_xids", "req_u",      "backlog_u",     "max_slots",    "sending_u", "pending_u"};
inline constexpr std::array<std::string_view, 10> kNfsMountstatsUdpXprt = {
    "port",  "bind_count", "sends",     "receives",  "bad_xids",
    "req_u", "backlog_u",  "max_slots", "sending_u", "pending_u"};

// Per-operation RPC counters of one mount ("per-op statistics" in mountstats).
struct NfsMountOpStats {
  std::uint64_t ops = 0, transmissions = 0, major_timeouts = 0;
  std::uint64_t bytes_sent = 0, bytes_received = 0;
  std::uint64_t queue_ms = 0, rtt_ms = 0, execute_ms = 0;  // cumulative milliseconds
  std::optional<std::uint64_t> errors;                     // newer kernels only
  bool operator==(const NfsMountOpStats&) const = default;
};

// One "device ... mounted on ... with fstype nfs[4] statvers=1.1" block of mountstats.
struct NfsMountStats {
  std::string source;       // "server:/export"
  std::string mount_point;
  std::string fstype;
  std::uint64_t age_seconds = 0;
  // "events:" in node_exporter's names (inode_revalidate, dentry_revalidate, data_invalidate,
  // attribute_invalidate, vfs_open, vfs_lookup, vfs_access, vfs_update_page, vfs_read_page,
  // vfs_read_pages, vfs_write_page, vfs_write_pages, vfs_getdents, vfs_setattr, vfs_flush,
  // vfs_fsync, vfs_lock, vfs_file_release, congestion_wait, truncation, write_extension,
  // silly_rename, short_read, short_write, jukebox_delay, pnfs_read, pnfs_write).
  std::map<std::string, std::uint64_t> events;
  // "bytes:" in node_exporter's names (normal_read, normal_write, direct_read, direct_write,
  // server_read, server_write, read_pages, write_pages).
  std::map<std::string, std::uint64_t> bytes;
  // "xprt:" transport counters by name (sends, receives, bad_xids, backlog_u, ...; the set
  // depends on tcp/udp/rdma).
  std::string transport;  // "tcp", "udp", "rdma"
  std::map<std::string, std::uint64_t> xprt;
  std::map<std::string, NfsMountOpStats> ops;  // by procedure name ("GETATTR", "WRITE", ...)
  bool operator==(const NfsMountStats&) const = default;
};

}  // namespace cgscope::model
