// The NFS part of the history window's intervals (model/window_nfs.hpp).
//
// An active interval is stored as a shape and one byte string. The shape (the mounts, and per
// mount the source, mount point, fstype, transport and the names of its mountstats counters) is
// shared with the interval before while none of it changed, i.e. almost always. The byte string
// holds every number of the interval as a LEB128 varint (a zero delta takes one byte), in the
// order of the field lists below: the mountstats deltas (their names come from the shape), the
// (cgroup, mount) rows with only the operations that have a count, a time or an error, the RPC
// rows, files, stale names and hazards. Histograms are not stored: the latency of each cgroup's
// NFS waits is in the window's kNfsLatency histogram series.
//
// One field list per struct serves both directions (Encoder and Decoder), so that encoding and
// decoding cannot drift apart: a field added to the model is one more name in its list.
#include "model/window_nfs.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

namespace cgscope::model::window_detail {

// The names of one mount's mountstats; the numbers are in the interval's byte string.
struct NfsMountstatsNames {
  std::string source, mount_point, fstype, transport;
  std::vector<std::string> events, bytes, xprt, ops;  // the maps' keys, in their order
};

struct NfsShape {
  std::vector<NfsMount> mounts;
  std::vector<NfsMountstatsNames> mountstats;  // one per NfsInterval::mountstats_delta
  std::size_t bytes = 0;                       // allocated for it, for memory_bytes()
};

namespace {

// ---- the two directions ----

class Encoder {
 public:
  static constexpr bool kDecoding = false;
  explicit Encoder(std::vector<std::uint8_t>& out) : out_(out) {}

  template <typename... T>
  void operator()(const T&... v) {
    (put(static_cast<std::uint64_t>(v)), ...);
  }
  void text(const std::string& s) {
    put(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void optional(const std::optional<std::uint64_t>& v) {
    put(v.has_value());
    if (v) put(*v);
  }
  template <typename T, typename Fields>
  void list(const std::vector<T>& v, Fields&& fields) {
    put(v.size());
    for (const T& e : v) fields(e);
  }
  // A map whose keys are `names` (the shape was made from this map or one with the same keys).
  template <typename V, typename Fields>
  void values(const std::map<std::string, V>& m, const std::vector<std::string>&, Fields&& fields) {
    for (const auto& [name, v] : m) fields(v);
  }

 private:
  void put(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  std::vector<std::uint8_t>& out_;
};

// Reads what Encoder wrote. The bytes are the window's own: a list never claims more elements
// than there are bytes left, and reading past the end gives zeros, whatever they hold.
class Decoder {
 public:
  static constexpr bool kDecoding = true;
  explicit Decoder(const std::vector<std::uint8_t>& in) : p_(in.data()), end_(in.data() + in.size()) {}

  template <typename... T>
  void operator()(T&... v) {
    ((v = static_cast<T>(get())), ...);
  }
  void text(std::string& s) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(get(), left()));
    s.assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
  }
  void optional(std::optional<std::uint64_t>& v) {
    if (get()) {
      v = get();
    } else {
      v.reset();
    }
  }
  template <typename T, typename Fields>
  void list(std::vector<T>& v, Fields&& fields) {
    v.resize(static_cast<std::size_t>(std::min<std::uint64_t>(get(), left())));
    for (T& e : v) fields(e);
  }
  template <typename V, typename Fields>
  void values(std::map<std::string, V>& m, const std::vector<std::string>& names, Fields&& fields) {
    m.clear();
    for (const std::string& name : names) fields(m.emplace_hint(m.end(), name, V{})->second);
  }

 private:
  std::uint64_t left() const { return static_cast<std::uint64_t>(end_ - p_); }
  std::uint64_t get() {
    std::uint64_t v = 0;
    for (int shift = 0; p_ < end_ && shift < 64; shift += 7) {
      const std::uint8_t byte = *p_++;
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
    }
    return v;
  }
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

// ---- field lists (X is the struct, const when encoding) ----

template <typename Io, typename X>
void file_cgroup_fields(Io& io, X& x) {
  io(x.cgroup_id, x.dev, x.sb_instance, x.written_bytes, x.dirtied_pages, x.reads, x.revalidations,
     x.invalidations);
}

bool has_numbers(const NfsOpCounters& op) {
  return op.count || op.time_ns || std::any_of(op.errors.begin(), op.errors.end(), [](auto e) { return e; });
}

// A (cgroup, mount) row: a mask of the operations stored, then theirs only.
template <typename Io, typename X>
void cgroup_mount_fields(Io& io, X& x) {
  io(x.cgroup_id, x.dev, x.sb_instance, x.read_bytes, x.write_bytes, x.dirtied_pages, x.invalidated_pages,
     x.lookup_negative, x.negative_trusted, x.negative_rejected, x.negative_stale, x.silly_renames);
  static_assert(kNfsOps <= 64);
  std::uint64_t stored = 0;
  if constexpr (!Io::kDecoding) {
    for (std::size_t i = 0; i < kNfsOps; ++i)
      if (has_numbers(x.ops[i])) stored |= std::uint64_t{1} << i;
  }
  io(stored);
  if constexpr (kNfsOps < 64) stored &= (std::uint64_t{1} << kNfsOps) - 1;
  for (std::uint64_t m = stored; m != 0; m &= m - 1) {
    auto& op = x.ops[static_cast<std::size_t>(std::countr_zero(m))];
    io(op.count, op.time_ns);
    for (auto& e : op.errors) io(e);
  }
}

template <typename Io, typename X>
void rpc_fields(Io& io, X& x) {
  io(x.cgroup_id, x.prog, x.vers);
  io.text(x.procedure);
  io(x.count, x.rtt_us, x.execute_us, x.retransmits, x.timeouts);
}

template <typename Io, typename X>
void file_fields(Io& io, X& x) {
  io(x.export_id, x.fileid);
  io.list(x.cgroups, [&](auto& c) { file_cgroup_fields(io, c); });
}

template <typename Io, typename X>
void stale_name_fields(Io& io, X& x) {
  io(x.export_id, x.dir_fileid, x.name_hash, x.victim_cgroup_id, x.creator_cgroup_id, x.victim_dev,
     x.victim_sb_instance, x.count);
}

template <typename Io, typename X>
void shared_writer_fields(Io& io, X& x) {
  io.text(x.export_name);
  io(x.fileid);
  io.list(x.writers, [&](auto& c) { file_cgroup_fields(io, c); });
  io.list(x.readers, [&](auto& c) { file_cgroup_fields(io, c); });
}

template <typename Io, typename X>
void negative_lookup_fields(Io& io, X& x) {
  io.text(x.export_name);
  io(x.victim_cgroup_id, x.creator_cgroup_id, x.victim_dev, x.victim_sb_instance, x.stale_lookups, x.names,
     x.directories);
}

// The numbers of one mount's mountstats, in the order of its names.
template <typename Io, typename X>
void mountstats_fields(Io& io, X& x, const NfsMountstatsNames& names) {
  io(x.age_seconds);
  io.values(x.events, names.events, [&](auto& v) { io(v); });
  io.values(x.bytes, names.bytes, [&](auto& v) { io(v); });
  io.values(x.xprt, names.xprt, [&](auto& v) { io(v); });
  io.values(x.ops, names.ops, [&](auto& op) {
    io(op.ops, op.transmissions, op.major_timeouts, op.bytes_sent, op.bytes_received, op.queue_ms, op.rtt_ms,
       op.execute_ms);
    io.optional(op.errors);
  });
}

// Everything of an active interval but its shape (`active` is implied).
template <typename Io, typename X>
void interval_fields(Io& io, X& x, const NfsShape& shape) {
  io(x.negative_lookups_visible, x.page_size, x.shared_files_not_shown);
  for (std::size_t m = 0; m < shape.mountstats.size(); ++m)
    mountstats_fields(io, x.mountstats_delta[m], shape.mountstats[m]);
  io.list(x.cgroups, [&](auto& r) { cgroup_mount_fields(io, r); });
  io.list(x.rpc, [&](auto& r) { rpc_fields(io, r); });
  io.list(x.files, [&](auto& f) { file_fields(io, f); });
  io.list(x.stale_names, [&](auto& s) { stale_name_fields(io, s); });
  io.list(x.shared_writers, [&](auto& h) { shared_writer_fields(io, h); });
  io.list(x.negative_lookups, [&](auto& h) { negative_lookup_fields(io, h); });
}

// A field added to one of these needs its place in the field lists above and in the round trip
// of tests/unit/window_test.cpp (NfsPartRoundTrips); their sizes (64-bit libstdc++) catch most.
#if defined(__GLIBCXX__) && UINTPTR_MAX == UINT64_MAX
static_assert(sizeof(NfsInterval) == 216 && sizeof(NfsCgroupMountInterval) == 9304 &&
                  sizeof(NfsOpCounters) == 576 && sizeof(NfsRpcInterval) == 1112 &&
                  sizeof(NfsFileInterval) == 40 && sizeof(NfsFileCgroup) == 56 &&
                  sizeof(NfsStaleName) == 56 && sizeof(NfsSharedWriterHazard) == 88 &&
                  sizeof(NfsNegativeLookupHazard) == 80 && sizeof(NfsMountStats) == 328 &&
                  sizeof(NfsMountOpStats) == 80,
              "an NFS interval struct changed: update the window's field lists (window_nfs.cpp)");
#endif

// ---- shapes ----

template <typename M>
std::vector<std::string> keys_of(const M& m) {
  std::vector<std::string> keys;
  keys.reserve(m.size());
  for (const auto& [k, v] : m) keys.push_back(k);
  return keys;
}

template <typename M>
bool same_keys(const M& m, const std::vector<std::string>& keys) {
  return m.size() == keys.size() &&
         std::equal(m.begin(), m.end(), keys.begin(),
                    [](const auto& kv, const std::string& k) { return kv.first == k; });
}

bool fits(const NfsShape& shape, const NfsInterval& nfs) {
  if (shape.mounts != nfs.mounts || shape.mountstats.size() != nfs.mountstats_delta.size()) return false;
  for (std::size_t m = 0; m < shape.mountstats.size(); ++m) {
    const NfsMountstatsNames& n = shape.mountstats[m];
    const NfsMountStats& st = nfs.mountstats_delta[m];
    if (n.source != st.source || n.mount_point != st.mount_point || n.fstype != st.fstype ||
        n.transport != st.transport || !same_keys(st.events, n.events) || !same_keys(st.bytes, n.bytes) ||
        !same_keys(st.xprt, n.xprt) || !same_keys(st.ops, n.ops))
      return false;
  }
  return true;
}

// A node of a libstdc++ std::map: colour and three pointers, then the value.
template <typename M>
std::size_t map_node_bytes(const M& m) {
  return m.size() * (4 * sizeof(void*) + sizeof(typename M::value_type));
}

std::size_t strings_bytes(const std::vector<std::string>& v) {
  std::size_t bytes = v.capacity() * sizeof(std::string);
  for (const std::string& s : v) bytes += string_heap_bytes(s);
  return bytes;
}

std::size_t shape_bytes(const NfsShape& shape) {
  // std::make_shared: the object and its use counts (and vtable pointer) in one block.
  std::size_t bytes = sizeof(NfsShape) + 2 * sizeof(void*);
  bytes += shape.mounts.capacity() * sizeof(NfsMount);
  for (const NfsMount& m : shape.mounts) {
    for (const std::string* s :
         {&m.mount_point, &m.source, &m.server, &m.export_path, &m.fstype, &m.vers, &m.lookupcache})
      bytes += string_heap_bytes(*s);
    bytes += map_node_bytes(m.options);
    for (const auto& [k, v] : m.options) bytes += string_heap_bytes(k) + string_heap_bytes(v);
  }
  bytes += shape.mountstats.capacity() * sizeof(NfsMountstatsNames);
  for (const NfsMountstatsNames& n : shape.mountstats) {
    for (const std::string* s : {&n.source, &n.mount_point, &n.fstype, &n.transport})
      bytes += string_heap_bytes(*s);
    for (const auto* keys : {&n.events, &n.bytes, &n.xprt, &n.ops}) bytes += strings_bytes(*keys);
  }
  return bytes;
}

std::shared_ptr<const NfsShape> make_shape(const NfsInterval& nfs) {
  auto shape = std::make_shared<NfsShape>();
  shape->mounts = nfs.mounts;
  shape->mountstats.reserve(nfs.mountstats_delta.size());
  for (const NfsMountStats& st : nfs.mountstats_delta)
    shape->mountstats.push_back({st.source, st.mount_point, st.fstype, st.transport, keys_of(st.events),
                                 keys_of(st.bytes), keys_of(st.xprt), keys_of(st.ops)});
  shape->bytes = shape_bytes(*shape);
  return shape;
}

}  // namespace

// ---- NfsStore ----

void NfsStore::push_back(const NfsInterval& nfs) {
  Stored& s = intervals_.emplace_back();
  if (!nfs.active) return;
  if (!last_shape_ || !fits(*last_shape_, nfs)) last_shape_ = make_shape(nfs);
  s.shape = last_shape_;
  scratch_.clear();
  Encoder io(scratch_);
  interval_fields(io, nfs, *s.shape);
  s.numbers.assign(scratch_.begin(), scratch_.end());  // exactly its size
}

void NfsStore::pop_front() {
  intervals_.pop_front();
  if (last_shape_.use_count() == 1) last_shape_.reset();  // no interval has it any more
}

void NfsStore::rebuild(std::size_t i, NfsInterval& out) const {
  const Stored& s = intervals_[i];
  out = NfsInterval{};
  if (!s.shape) return;
  const NfsShape& shape = *s.shape;
  out.active = true;
  out.mounts = shape.mounts;
  out.mountstats_delta.resize(shape.mountstats.size());
  for (std::size_t m = 0; m < shape.mountstats.size(); ++m) {
    const NfsMountstatsNames& n = shape.mountstats[m];
    NfsMountStats& st = out.mountstats_delta[m];
    st.source = n.source;
    st.mount_point = n.mount_point;
    st.fstype = n.fstype;
    st.transport = n.transport;
  }
  Decoder io(s.numbers);
  interval_fields(io, out, shape);
}

std::size_t NfsStore::memory_bytes() const {
  std::size_t bytes = deque_bytes<Stored>(intervals_.size()) + scratch_.capacity();
  const NfsShape* counted = nullptr;  // shapes are shared by consecutive intervals only
  for (const Stored& s : intervals_) {
    bytes += s.numbers.capacity();
    if (s.shape && s.shape.get() != counted) {
      bytes += s.shape->bytes;
      counted = s.shape.get();
    }
  }
  return bytes;
}

}  // namespace cgscope::model::window_detail
