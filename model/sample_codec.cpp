#include "model/sample_codec.hpp"

#include <bit>
#include <cmath>
#include <concepts>
#include <limits>
#include <optional>

namespace cgscope::model::codec {
namespace {

std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// A double that is an exact number of hundredths (PSI averages are printed with two decimals
// by the kernel) is stored as that integer: correctly rounded k / 100.0 is the same double
// the parser produced from "k/100" in decimal.
std::optional<std::int64_t> as_hundredths(double v) {
  if (!std::isfinite(v) || std::fabs(v) >= 1e13) return std::nullopt;
  const auto k = static_cast<std::int64_t>(std::llround(v * 100.0));
  if (std::bit_cast<std::uint64_t>(static_cast<double>(k) / 100.0) != std::bit_cast<std::uint64_t>(v))
    return std::nullopt;
  return k;
}

// Sanity bounds against corrupted counts (a real sample has a handful of collectors).
constexpr std::uint64_t kMaxListSize = 4096;

// The vocabulary of field lists. The same calls encode (Encoder) and decode (Decoder):
//   num(x, b)          any integer, as the zigzag varint of its change (mod 2^64: exact)
//   flag(x, b)         bool: changed or not
//   enumeration(x, b)  enum class
//   opt(x, b)          std::optional of an integer
//   f64(x, b)          double, bit-exact (hundredths as integers)
//   str(x, b)          std::string
//   hist(x, b)         Log2Histogram: mask of changed buckets, then their changes
//   presence(x, b)     whether a std::optional<struct> is engaged; then its fields, if it is
//   list(x, b, fields) std::vector of structs, element by element
//   counters(x)        std::map<std::string, uint64> (collector drops), whole
class Encoder {
 public:
  explicit Encoder(std::string& out) : out_(out), keep_(out.size()) {}
  // Trailing zero bytes mean "same as the base" and a decoder reads past the end as zeros.
  void finish() {
    while (out_.size() > keep_ && out_.back() == '\0') out_.pop_back();
  }

  template <std::integral T>
  void num(const T& v, T b) {
    const auto change = static_cast<std::uint64_t>(v) - static_cast<std::uint64_t>(b);
    put_varint(zigzag(static_cast<std::int64_t>(change)), out_);
  }
  void flag(const bool& v, bool b) { out_.push_back(v != b ? 1 : 0); }
  template <typename E>
  void enumeration(const E& v, E b) {
    num(static_cast<std::int64_t>(v), static_cast<std::int64_t>(b));
  }
  // 0: same as base; 1: nullopt; 2: the value follows; 3 + zigzag(change from the base).
  template <std::integral T>
  void opt(const std::optional<T>& v, const std::optional<T>& b) {
    if (v == b) {
      out_.push_back(0);
    } else if (!v) {
      out_.push_back(1);
    } else {
      const auto change = static_cast<std::uint64_t>(*v) - static_cast<std::uint64_t>(b.value_or(T{}));
      const std::uint64_t z = zigzag(static_cast<std::int64_t>(change));
      if (z <= std::numeric_limits<std::uint64_t>::max() - 3) {
        put_varint(3 + z, out_);
      } else {  // a jump too large for the combined tag: the value itself
        out_.push_back(2);
        put_varint(static_cast<std::uint64_t>(*v), out_);
      }
    }
  }
  // 0: same as base; odd: hundredths (1 + 2 * zigzag(k)); 2: raw IEEE bits follow.
  void f64(const double& v, double b) {
    if (std::bit_cast<std::uint64_t>(v) == std::bit_cast<std::uint64_t>(b)) {
      out_.push_back(0);
    } else if (auto k = as_hundredths(v)) {
      put_varint(1 + 2 * zigzag(*k), out_);
    } else {
      out_.push_back(2);
      put_varint(std::bit_cast<std::uint64_t>(v), out_);
    }
  }
  // 0: same as base; else length + 1, then the bytes (never trimmed).
  void str(const std::string& v, const std::string& b) {
    if (v == b) {
      out_.push_back(0);
      return;
    }
    put_varint(v.size() + 1, out_);
    out_.append(v);
    keep_ = out_.size();
  }
  void hist(const Log2Histogram& v, const Log2Histogram& b) {
    std::uint64_t mask = 0;
    for (std::size_t i = 0; i < kLog2Buckets; ++i)
      if (v.buckets()[i] != b.buckets()[i]) mask |= std::uint64_t{1} << i;
    put_varint(mask, out_);
    for (std::size_t i = 0; i < kLog2Buckets; ++i)
      if (mask >> i & 1) num(v.buckets()[i], b.buckets()[i]);
  }
  template <typename T>
  void presence(const std::optional<T>& v, const std::optional<T>& b) {
    out_.push_back(v.has_value() != b.has_value() ? 1 : 0);
  }
  // 0: same as base; 1: as many elements as the base, each relative to the base's element at
  // its index; n + 2: n elements, each relative to an empty one. Each element is a
  // length-prefixed sub-record, so that an older decoder skips the fields it does not know.
  template <typename T, typename F>
  void list(const std::vector<T>& v, const std::vector<T>& b, F&& element_fields) {
    if (v == b) {
      out_.push_back(0);
      return;
    }
    const bool pairwise = v.size() == b.size();
    put_varint(pairwise ? 1 : v.size() + 2, out_);
    static const T kEmpty{};
    std::string sub;
    for (std::size_t i = 0; i < v.size(); ++i) {
      sub.clear();
      Encoder enc(sub);
      element_fields(enc, v[i], pairwise ? b[i] : kEmpty);
      enc.finish();
      put_varint(sub.size(), out_);
      out_.append(sub);
      keep_ = out_.size();
    }
  }
  void counters(const std::map<std::string, std::uint64_t>& v) {
    put_varint(v.size(), out_);
    static const std::string kNone;
    for (const auto& [key, value] : v) {
      str(key, kNone);
      num(value, std::uint64_t{0});
    }
  }

 private:
  std::string& out_;
  std::size_t keep_;  // bytes before this are never trimmed (strings, sub-records)
};

class Decoder {
 public:
  explicit Decoder(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}
  Status status() const { return error_.empty() ? Status{} : Status{Error{error_}}; }

  template <std::integral T>
  void num(T& v, T b) {
    v = static_cast<T>(static_cast<std::uint64_t>(b) + static_cast<std::uint64_t>(unzigzag(varint())));
  }
  void flag(bool& v, bool b) {
    const std::uint64_t t = varint();
    if (t > 1) fail("flag " + std::to_string(t));
    v = t == 1 ? !b : b;
  }
  template <typename E>
  void enumeration(E& v, E b) {
    std::int64_t wide = 0;
    num(wide, static_cast<std::int64_t>(b));
    v = static_cast<E>(wide);
  }
  template <std::integral T>
  void opt(std::optional<T>& v, const std::optional<T>& b) {
    const std::uint64_t t = varint();
    if (t == 0) {
      v = b;
    } else if (t == 1) {
      v.reset();
    } else if (t == 2) {
      v = static_cast<T>(varint());
    } else {
      const auto base = static_cast<std::uint64_t>(b.value_or(T{}));
      v = static_cast<T>(base + static_cast<std::uint64_t>(unzigzag(t - 3)));
    }
  }
  void f64(double& v, double b) {
    const std::uint64_t t = varint();
    if (t == 0) {
      v = b;
    } else if (t & 1) {
      v = static_cast<double>(unzigzag((t - 1) / 2)) / 100.0;
    } else if (t == 2) {
      v = std::bit_cast<double>(varint());
    } else {
      fail("number tag " + std::to_string(t));
    }
  }
  void str(std::string& v, const std::string& b) {
    const std::uint64_t t = varint();
    if (t == 0) {
      if (&v != &b) v = b;
      return;
    }
    const std::uint64_t len = t - 1;
    if (len > static_cast<std::uint64_t>(end_ - p_)) {
      fail("string of " + std::to_string(len) + " bytes with " + std::to_string(end_ - p_) + " left");
      return;
    }
    v.assign(p_, len);
    p_ += len;
  }
  void hist(Log2Histogram& v, const Log2Histogram& b) {
    const std::uint64_t mask = varint();
    if (&v != &b) v = b;
    for (std::size_t i = 0; i < kLog2Buckets; ++i)
      if (mask >> i & 1) v.add_to_bucket(i, static_cast<std::uint64_t>(unzigzag(varint())));
  }
  template <typename T>
  void presence(std::optional<T>& v, const std::optional<T>& b) {
    const std::uint64_t t = varint();
    if (t > 1) fail("presence " + std::to_string(t));
    const bool present = b.has_value() != (t == 1);
    if (present && !v) v.emplace();
    if (!present) v.reset();
  }
  template <typename T, typename F>
  void list(std::vector<T>& v, const std::vector<T>& b, F&& element_fields) {
    const std::uint64_t t = varint();
    if (t == 0) {
      if (&v != &b) v = b;
      return;
    }
    const bool pairwise = t == 1;
    const std::uint64_t n = pairwise ? b.size() : t - 2;
    if (n > kMaxListSize) {
      fail("list of " + std::to_string(n) + " elements");
      return;
    }
    static const T kEmpty{};
    if (pairwise) {
      if (&v != &b) v = b;  // then each element is decoded over itself
    } else {
      v.assign(n, T{});
    }
    for (T& e : v) {
      const std::uint64_t len = varint();
      if (len > static_cast<std::uint64_t>(end_ - p_)) {
        fail("sub-record of " + std::to_string(len) + " bytes with " + std::to_string(end_ - p_) + " left");
        return;
      }
      Decoder sub(std::string_view(p_, len));
      element_fields(sub, e, pairwise ? e : kEmpty);
      if (!sub.error_.empty()) {
        fail(sub.error_);
        return;
      }
      p_ += len;
    }
  }
  void counters(std::map<std::string, std::uint64_t>& v) {
    const std::uint64_t n = varint();
    if (n > kMaxListSize) {
      fail("map of " + std::to_string(n) + " entries");
      return;
    }
    v.clear();
    static const std::string kNone;
    for (std::uint64_t i = 0; i < n && error_.empty(); ++i) {
      std::string key;
      std::uint64_t value = 0;
      str(key, kNone);
      num(value, std::uint64_t{0});
      v[std::move(key)] = value;
    }
  }

 private:
  // Past the end reads as zeros (trimmed trailing zeros, or fields of an older writer).
  std::uint64_t varint() {
    if (p_ != end_ && !(static_cast<std::uint8_t>(*p_) & 0x80)) return static_cast<std::uint8_t>(*p_++);
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return v;
      const auto byte = static_cast<std::uint8_t>(*p_++);
      if (shift == 63 && byte > 1) break;
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
    fail("varint longer than 64 bits");
    return 0;
  }
  void fail(const std::string& what) {
    if (error_.empty()) error_ = "malformed record: " + what;
    p_ = end_;
  }

  const char* p_;
  const char* end_;
  std::string error_;
};

const CpuBpfCounters& bpf_base(const CgroupSample& b) {
  static const CpuBpfCounters kZero;
  return b.cpu_bpf ? *b.cpu_bpf : kZero;
}

template <typename Io, typename L>
void psi_line(Io& io, L& x, const std::optional<PsiLine>& b) {
  static const PsiLine kZero;
  io.presence(x, b);
  if (!x) return;
  const PsiLine& lb = b ? *b : kZero;
  io.f64(x->avg10, lb.avg10);
  io.f64(x->avg60, lb.avg60);
  io.f64(x->avg300, lb.avg300);
  io.num(x->total_usec, lb.total_usec);
}

template <typename Io, typename P>
void pressure(Io& io, P& x, const Pressure& b) {
  psi_line(io, x.some, b.some);
  psi_line(io, x.full, b.full);
}

// Field lists of the elements of the I/O lists (inside length-prefixed sub-records).
template <typename Io, typename E>
void block_io_fields(Io& io, E& x, const BlockIoCounters& b) {
  io.num(x.dev, b.dev);
  io.enumeration(x.op, b.op);
  io.enumeration(x.owner, b.owner);
  io.num(x.requests, b.requests);
  io.num(x.bytes, b.bytes);
  io.num(x.errors, b.errors);
  io.num(x.latency_ns_sum, b.latency_ns_sum);
  io.num(x.queue_ns_sum, b.queue_ns_sum);
  io.num(x.queued, b.queued);
  io.hist(x.latency_ns, b.latency_ns);
  io.hist(x.queue_ns, b.queue_ns);
}

template <typename Io, typename E>
void io_stat_fields(Io& io, E& x, const IoStatDevice& b) {
  io.num(x.dev, b.dev);
  io.num(x.rbytes, b.rbytes);
  io.num(x.wbytes, b.wbytes);
  io.num(x.rios, b.rios);
  io.num(x.wios, b.wios);
  io.num(x.dbytes, b.dbytes);
  io.num(x.dios, b.dios);
}

template <typename Io, typename E>
void io_limit_fields(Io& io, E& x, const IoDeviceLimit& b) {
  io.num(x.dev, b.dev);
  io.opt(x.rbps, b.rbps);
  io.opt(x.wbps, b.wbps);
  io.opt(x.riops, b.riops);
  io.opt(x.wiops, b.wiops);
}

// THE field list of a CgroupSample (identity excluded). Append new fields at the end.
template <typename Io, typename S>
void cgroup_fields(Io& io, S& x, const CgroupSample& b) {
  io.flag(x.removed, b.removed);
  io.presence(x.cpu_bpf, b.cpu_bpf);
  if (x.cpu_bpf) {
    auto& c = *x.cpu_bpf;
    const CpuBpfCounters& cb = bpf_base(b);
    io.num(c.on_cpu_ns, cb.on_cpu_ns);
    io.num(c.voluntary_switches, cb.voluntary_switches);
    io.num(c.involuntary_switches, cb.involuntary_switches);
    io.num(c.migrations, cb.migrations);
    io.num(c.wakeup_delay_ns_sum, cb.wakeup_delay_ns_sum);
    io.num(c.preempt_delay_ns_sum, cb.preempt_delay_ns_sum);
    io.hist(c.wakeup_delay_ns, cb.wakeup_delay_ns);
    io.hist(c.preempt_delay_ns, cb.preempt_delay_ns);
  }
  io.opt(x.cpu_stat.usage_usec, b.cpu_stat.usage_usec);
  io.opt(x.cpu_stat.user_usec, b.cpu_stat.user_usec);
  io.opt(x.cpu_stat.system_usec, b.cpu_stat.system_usec);
  io.opt(x.cpu_stat.nr_periods, b.cpu_stat.nr_periods);
  io.opt(x.cpu_stat.nr_throttled, b.cpu_stat.nr_throttled);
  io.opt(x.cpu_stat.throttled_usec, b.cpu_stat.throttled_usec);
  io.opt(x.cpu_knobs.quota_usec, b.cpu_knobs.quota_usec);
  io.opt(x.cpu_knobs.period_usec, b.cpu_knobs.period_usec);
  io.opt(x.cpu_knobs.weight, b.cpu_knobs.weight);
  io.opt(x.cpu_knobs.shares, b.cpu_knobs.shares);
  io.str(x.cpu_knobs.cpuset_cpus, b.cpu_knobs.cpuset_cpus);
  io.flag(x.cpu_knobs.quota_known, b.cpu_knobs.quota_known);
  pressure(io, x.cpu_pressure, b.cpu_pressure);
  // Version 2: I/O wait, block I/O, io.* and memory.*.
  if (x.cpu_bpf) {
    auto& c = *x.cpu_bpf;
    const CpuBpfCounters& cb = bpf_base(b);
    io.num(c.iowait_ns, cb.iowait_ns);
    io.num(c.iowait_count, cb.iowait_count);
  }
  io.presence(x.io_bpf, b.io_bpf);
  if (x.io_bpf) {
    static const IoBpfCounters kZero;
    const IoBpfCounters& ib = b.io_bpf ? *b.io_bpf : kZero;
    io.list(x.io_bpf->block, ib.block, [](auto& sub, auto& e, const BlockIoCounters& eb) { block_io_fields(sub, e, eb); });
    io.num(x.io_bpf->dirty_throttle_ns, ib.dirty_throttle_ns);
    io.num(x.io_bpf->dirty_throttle_count, ib.dirty_throttle_count);
  }
  io.list(x.io_stat, b.io_stat, [](auto& sub, auto& e, const IoStatDevice& eb) { io_stat_fields(sub, e, eb); });
  io.opt(x.io_knobs.weight, b.io_knobs.weight);
  io.str(x.io_knobs.weight_file, b.io_knobs.weight_file);
  io.list(x.io_knobs.limits, b.io_knobs.limits,
          [](auto& sub, auto& e, const IoDeviceLimit& eb) { io_limit_fields(sub, e, eb); });
  pressure(io, x.io_pressure, b.io_pressure);
  io.presence(x.memory_bpf, b.memory_bpf);
  if (x.memory_bpf) {
    static const MemoryBpfCounters kZero;
    const MemoryBpfCounters& mb = b.memory_bpf ? *b.memory_bpf : kZero;
    auto& m = *x.memory_bpf;
    io.num(m.direct_reclaim_ns, mb.direct_reclaim_ns);
    io.num(m.direct_reclaim_count, mb.direct_reclaim_count);
    io.num(m.memcg_reclaim_ns, mb.memcg_reclaim_ns);
    io.num(m.memcg_reclaim_count, mb.memcg_reclaim_count);
    io.num(m.reclaimed_pages, mb.reclaimed_pages);
    io.hist(m.reclaim_ns, mb.reclaim_ns);
    io.num(m.cache_accessed_pages, mb.cache_accessed_pages);
    io.num(m.cache_read_added_pages, mb.cache_read_added_pages);
    io.num(m.cache_other_added_pages, mb.cache_other_added_pages);
    io.num(m.file_faults, mb.file_faults);
    io.num(m.oom_kills, mb.oom_kills);
  }
  auto& ms = x.memory_stat;
  const auto& msb = b.memory_stat;
  io.opt(ms.anon_bytes, msb.anon_bytes);
  io.opt(ms.file_bytes, msb.file_bytes);
  io.opt(ms.file_dirty_bytes, msb.file_dirty_bytes);
  io.opt(ms.file_writeback_bytes, msb.file_writeback_bytes);
  io.opt(ms.shmem_bytes, msb.shmem_bytes);
  io.opt(ms.pgfault, msb.pgfault);
  io.opt(ms.pgmajfault, msb.pgmajfault);
  io.opt(ms.workingset_refault_anon, msb.workingset_refault_anon);
  io.opt(ms.workingset_refault_file, msb.workingset_refault_file);
  auto& mk = x.memory_knobs;
  const auto& mkb = b.memory_knobs;
  io.opt(mk.current_bytes, mkb.current_bytes);
  io.opt(mk.peak_bytes, mkb.peak_bytes);
  io.opt(mk.max_bytes, mkb.max_bytes);
  io.opt(mk.high_bytes, mkb.high_bytes);
  io.opt(mk.low_bytes, mkb.low_bytes);
  io.opt(mk.min_bytes, mkb.min_bytes);
  io.opt(mk.swap_max_bytes, mkb.swap_max_bytes);
  io.flag(mk.v1, mkb.v1);
  io.flag(mk.limits_known, mkb.limits_known);
  auto& me = x.memory_events;
  const auto& meb = b.memory_events;
  io.opt(me.low, meb.low);
  io.opt(me.high, meb.high);
  io.opt(me.max, meb.max);
  io.opt(me.oom, meb.oom);
  io.opt(me.oom_kill, meb.oom_kill);
  pressure(io, x.memory_pressure, b.memory_pressure);
  // New fields go here, e.g. `io.opt(x.memory_knobs.foo_bytes, b.memory_knobs.foo_bytes);`
}

// THE field list of one CollectorStatus (inside a length-prefixed sub-record).
template <typename Io, typename C>
void collector_fields(Io& io, C& x, const CollectorStatus& b) {
  io.str(x.name, b.name);
  io.flag(x.active, b.active);
  io.str(x.message, b.message);
  io.counters(x.drops);
  // New fields go here.
}

// THE field list of the sample-wide part of a Sample.
template <typename Io, typename S>
void sample_info_fields(Io& io, S& x, const Sample& b) {
  io.num(x.nr_cpus, b.nr_cpus);
  io.list(x.collectors, b.collectors,
          [](auto& sub, auto& e, const CollectorStatus& eb) { collector_fields(sub, e, eb); });
  // New fields go here.
}

// THE field list of a CgroupIdentity (relative to an empty identity).
template <typename Io, typename I>
void identity_fields(Io& io, I& x, const CgroupIdentity& b) {
  io.num(x.id, b.id);
  io.str(x.path, b.path);
  io.enumeration(x.container.runtime, b.container.runtime);
  io.str(x.container.container_id, b.container.container_id);
  io.str(x.container.pod_uid, b.container.pod_uid);
  io.enumeration(x.container.qos, b.container.qos);
  io.str(x.container.systemd_unit, b.container.systemd_unit);
  io.str(x.container.systemd_slice, b.container.systemd_slice);
  io.str(x.v1_cpu_path, b.v1_cpu_path);
  io.str(x.v1_cpuacct_path, b.v1_cpuacct_path);
  // Version 2.
  io.str(x.v1_memory_path, b.v1_memory_path);
  io.str(x.v1_blkio_path, b.v1_blkio_path);
  // New fields go here.
}

}  // namespace

void put_varint(std::uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void encode_cgroup(const CgroupSample& value, const CgroupSample& base, std::string& out) {
  Encoder enc(out);
  cgroup_fields(enc, value, base);
  enc.finish();
}

Status decode_cgroup(std::string_view in, const CgroupSample& base, CgroupSample& out) {
  if (in.empty() && &base == &out) return {};  // unchanged (idle cgroups): every field is the base
  Decoder dec(in);
  cgroup_fields(dec, out, base);
  return dec.status();
}

void encode_sample_info(const Sample& value, const Sample& base, std::string& out) {
  Encoder enc(out);
  sample_info_fields(enc, value, base);
  enc.finish();
}

Status decode_sample_info(std::string_view in, const Sample& base, Sample& out) {
  Decoder dec(in);
  sample_info_fields(dec, out, base);
  return dec.status();
}

void encode_identity(const CgroupIdentity& value, std::string& out) {
  static const CgroupIdentity kEmpty;
  Encoder enc(out);
  identity_fields(enc, value, kEmpty);
  enc.finish();
}

Status decode_identity(std::string_view in, CgroupIdentity& out) {
  static const CgroupIdentity kEmpty;
  Decoder dec(in);
  identity_fields(dec, out, kEmpty);
  return dec.status();
}

}  // namespace cgscope::model::codec
