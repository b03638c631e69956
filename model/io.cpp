#include "model/io.hpp"

#include <map>
#include <tuple>

namespace cgscope::model {
namespace {

std::uint64_t counter_delta(std::uint64_t prev, std::uint64_t curr) { return curr >= prev ? curr - prev : curr; }

using BlockKey = std::tuple<std::uint32_t, IoOp, IoOwner>;
BlockKey key_of(const BlockIoCounters& c) { return {c.dev, c.op, c.owner}; }

}  // namespace

std::string_view to_string(IoOp op) {
  switch (op) {
    case IoOp::kRead: return "read";
    case IoOp::kWrite: return "write";
    case IoOp::kDiscard: return "discard";
    case IoOp::kFlush: return "flush";
    case IoOp::kOther: return "other";
  }
  return "other";
}

std::string_view to_string(IoOwner owner) {
  switch (owner) {
    case IoOwner::kTask: return "task";
    case IoOwner::kDirtier: return "writeback_dirtier";
    case IoOwner::kBlkcg: return "writeback_blkcg";
    case IoOwner::kKernel: return "kernel";
  }
  return "kernel";
}

std::string dev_name(std::uint32_t dev) { return std::to_string(dev >> 20) + ":" + std::to_string(dev & 0xfffff); }

void derive_io_bpf(const IoBpfCounters* prev, const IoBpfCounters& curr, IoInterval& out) {
  static const IoBpfCounters kZero;
  const IoBpfCounters& p = prev ? *prev : kZero;
  std::map<BlockKey, const BlockIoCounters*> before;
  for (const auto& c : p.block) before.emplace(key_of(c), &c);
  static const BlockIoCounters kZeroBlock;

  out.has_bpf = true;
  for (const auto& c : curr.block) {
    auto it = before.find(key_of(c));
    const BlockIoCounters& b = it == before.end() ? kZeroBlock : *it->second;
    BlockIoInterval row;
    row.dev = c.dev;
    row.op = c.op;
    row.owner = c.owner;
    row.requests = counter_delta(b.requests, c.requests);
    row.bytes = counter_delta(b.bytes, c.bytes);
    row.errors = counter_delta(b.errors, c.errors);
    row.latency_ns_sum = counter_delta(b.latency_ns_sum, c.latency_ns_sum);
    row.queue_ns_sum = counter_delta(b.queue_ns_sum, c.queue_ns_sum);
    row.queued = counter_delta(b.queued, c.queued);
    row.latency_ns = c.latency_ns.delta(b.latency_ns);
    row.queue_ns = c.queue_ns.delta(b.queue_ns);
    if (row.requests == 0 && row.bytes == 0) continue;

    out.errors += row.errors;
    if (row.owner == IoOwner::kDirtier || row.owner == IoOwner::kBlkcg ||
        (row.owner == IoOwner::kKernel && row.op == IoOp::kWrite)) {
      out.writeback_bytes += row.bytes;
    }
    switch (row.op) {
      case IoOp::kRead:
        out.read_bytes += row.bytes;
        out.read_ios += row.requests;
        out.read_latency_ns.merge(row.latency_ns);
        break;
      case IoOp::kWrite:
        out.write_bytes += row.bytes;
        out.write_ios += row.requests;
        out.write_latency_ns.merge(row.latency_ns);
        break;
      case IoOp::kDiscard: out.discard_ios += row.requests; break;
      case IoOp::kFlush: out.flush_ios += row.requests; break;
      case IoOp::kOther: break;
    }
    out.queue_ns.merge(row.queue_ns);
    out.block.push_back(std::move(row));
  }
  out.dirty_throttle_ns = counter_delta(p.dirty_throttle_ns, curr.dirty_throttle_ns);
  out.dirty_throttle_count = counter_delta(p.dirty_throttle_count, curr.dirty_throttle_count);
}

void derive_io_cgroupfs(const std::vector<IoStatDevice>* prev, const std::vector<IoStatDevice>& curr,
                        IoInterval& out) {
  if (curr.empty()) return;
  std::map<std::uint32_t, const IoStatDevice*> before;
  if (prev)
    for (const auto& d : *prev) before.emplace(d.dev, &d);
  static const IoStatDevice kZero;
  IoStatDevice total;
  for (const auto& d : curr) {
    auto it = before.find(d.dev);
    const IoStatDevice& b = it == before.end() ? kZero : *it->second;
    IoStatDevice delta;
    delta.dev = d.dev;
    delta.rbytes = counter_delta(b.rbytes, d.rbytes);
    delta.wbytes = counter_delta(b.wbytes, d.wbytes);
    delta.rios = counter_delta(b.rios, d.rios);
    delta.wios = counter_delta(b.wios, d.wios);
    delta.dbytes = counter_delta(b.dbytes, d.dbytes);
    delta.dios = counter_delta(b.dios, d.dios);
    total.rbytes += delta.rbytes;
    total.wbytes += delta.wbytes;
    total.rios += delta.rios;
    total.wios += delta.wios;
    out.stat.push_back(delta);
  }
  out.stat_rbytes = total.rbytes;
  out.stat_wbytes = total.wbytes;
  out.stat_rios = total.rios;
  out.stat_wios = total.wios;
}

}  // namespace cgscope::model
