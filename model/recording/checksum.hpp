// The content checksum of one sample (sample.checksum): CRC-32 over its columns (timestamps,
// key frame flag, cgroup count), its info blob and, in order, each cgroup row's ref and data. SQLite checks
// its own structure; this catches bytes changed inside blobs and rows lost or reordered, which SQLite cannot
// see.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "model/sample_codec.hpp"

namespace cgscope::model::recording {

class SampleChecksum {
 public:
  void add_row(std::int64_t ref, std::string_view data) {
    frame_.clear();
    codec::put_varint(static_cast<std::uint64_t>(ref), frame_);
    codec::put_varint(data.size(), frame_);
    add(frame_);
    add(data);
  }
  void add_header(std::uint64_t monotonic_ns, std::int64_t realtime_ns, bool keyframe, std::int64_t cgroups) {
    frame_.clear();
    codec::put_varint(monotonic_ns, frame_);
    codec::put_varint(static_cast<std::uint64_t>(realtime_ns), frame_);
    codec::put_varint(keyframe ? 1 : 0, frame_);
    codec::put_varint(static_cast<std::uint64_t>(cgroups), frame_);
    add(frame_);
  }
  void add_info(std::string_view info) {
    frame_.clear();
    codec::put_varint(info.size(), frame_);
    add(frame_);
    add(info);
  }
  std::int64_t value() const { return static_cast<std::int64_t>(crc_); }

 private:
  void add(std::string_view bytes) {
    if (bytes.empty()) return;  // crc32_z(crc, NULL, 0) would return the initial value
    crc_ = crc32_z(crc_, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size());
  }
  uLong crc_ = crc32_z(0, nullptr, 0);
  std::string frame_;
};

}  // namespace cgscope::model::recording
