// The one binary encoding of the model (what recordings store): a CgroupSample, the
// sample-wide part of a Sample (collector status, CPU count, page size, the host-wide NFS data:
// everything but the timestamps and the cgroups) and a CgroupIdentity.
//
// A record is a flat list of fields, each encoded relative to a *base*: the same cgroup in the
// previous sample (so a counter costs the varint of its increase, an unchanged field one zero
// byte) or a default-constructed value for a key frame. Trailing zero bytes are trimmed, so an
// idle cgroup costs zero bytes.
//
// Lists of keyed rows (NFS mounts, (cgroup, mount) rows, files, ...) and maps are edit scripts
// against the base's list: runs of rows copied unchanged, rows changed (each relative to the
// base row with its key), new rows (relative to an empty one) and base rows left out. A row that
// comes or goes costs its own bytes, not a new copy of the whole list.
//
// Compatibility, so that adding a field to the model is one line (sample_codec.cpp):
//  - A new field is APPENDED at the end of its field list (cgroup_fields, sample_info_fields,
//    identity_fields, collector_fields, the nfs_*_fields); fields are never reordered or
//    removed. Bump kCodecVersion. E.g. `io.opt(x.memory_stat.anon_bytes, b.memory_stat.anon_bytes);`,
//    or for a vector of structs `io.list(x.io_stat, b.io_stat, io_stat_device_fields);` with a
//    field list of its own (the vocabulary is listed above class Encoder).
//  - A decoder reads the fields it knows. A record that ends early (written before a field
//    existed) leaves the missing fields equal to the base; bytes after the known fields
//    (written by a newer cgscope) are ignored. Elements of lists, arrays and maps of structs are
//    length-prefixed sub-records, so this holds inside them too. (A recording of a newer codec
//    is refused all the same, docs/recording.md "Versions": what it added would be missing.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "model/result.hpp"
#include "model/snapshot.hpp"

namespace cgscope::model::codec {

// History: 1 = CPU collector (eBPF counters and histograms, cpu.stat, knobs, PSI cpu).
//          2 = I/O wait; block I/O (eBPF rows, dirty throttling), io.stat, io knobs, PSI io;
//              memory (eBPF reclaim, page cache, OOM), memory.stat/knobs/events, PSI memory;
//              identities' v1 memory and blkio paths.
//          3 = the sample's page size and its NFS data (Sample::nfs: mounts, mountstats,
//              (cgroup, mount) counters, RPCs, files, stale names).
//          4 = run-delay blame (who held the CPU), CPU demand slots, memory.stat active_file and
//              inactive_file.
inline constexpr std::uint32_t kCodecVersion = 4;
// The oldest codec version this cgscope decodes (every one so far).
inline constexpr std::uint32_t kOldestCodecVersion = 1;
// Records before this one have no NFS data and no page size (decoded: empty, 0).
inline constexpr std::uint32_t kFirstNfsCodecVersion = 3;

// Every field of `value` except its identity (recordings store identities once, in their own
// table), relative to `base`. Appends to `out`.
void encode_cgroup(const CgroupSample& value, const CgroupSample& base, std::string& out);
// The inverse: sets every field of `out` except its identity. `out` may be `base` itself
// (decoding in place). Fails only on a malformed record (corruption), saying what is wrong.
Status decode_cgroup(std::string_view in, const CgroupSample& base, CgroupSample& out);

// The sample-wide fields (nr_cpus, collectors, page_size, nfs; not the timestamps, not the
// cgroups).
void encode_sample_info(const Sample& value, const Sample& base, std::string& out);
Status decode_sample_info(std::string_view in, const Sample& base, Sample& out);

// A whole identity (no base: identities are stored once).
void encode_identity(const CgroupIdentity& value, std::string& out);
Status decode_identity(std::string_view in, CgroupIdentity& out);

// LEB128 varint, used by the recording's checksum framing as well.
void put_varint(std::uint64_t value, std::string& out);

}  // namespace cgscope::model::codec
