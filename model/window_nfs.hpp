// The NFS part of the history window's intervals (model/window.hpp, "NFS"), stored compactly and
// rebuilt as NfsIntervals on demand. Shared by model/window.cpp and model/window_query.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "model/nfs.hpp"

namespace cgscope::model::window_detail {

// What consecutive intervals have in common (window_nfs.cpp): their mounts and the names in each
// mount's mountstats. Shared by every interval of a run in which neither changed.
struct NfsShape;

class NfsStore {
 public:
  // Appends interval `nfs`; an inactive one is stored as nothing.
  void push_back(const NfsInterval& nfs);
  void pop_front();
  std::size_t size() const { return intervals_.size(); }
  bool active(std::size_t i) const { return intervals_[i].shape != nullptr; }
  // Interval i (0 = the oldest held) as it was appended, except its histograms (per-operation
  // times and RPC round trips), which are left empty. i must be active.
  void rebuild(std::size_t i, NfsInterval& out) const;
  // Bytes allocated (element and heap sizes; a shape once however many intervals share it).
  std::size_t memory_bytes() const;

 private:
  struct Stored {
    std::shared_ptr<const NfsShape> shape;  // nullptr: inactive
    std::vector<std::uint8_t> numbers;      // the rest, LEB128 (window_nfs.cpp, interval_fields)
  };
  std::deque<Stored> intervals_;
  std::shared_ptr<const NfsShape> last_shape_;  // of the newest active interval still held
  std::vector<std::uint8_t> scratch_;           // encoding buffer, kept between appends
};

// Heap bytes of a string (0 when it fits in the string itself, libstdc++'s 15 characters).
inline std::size_t string_heap_bytes(const std::string& s) {
  return s.capacity() > 15 ? s.capacity() + 1 : 0;
}

// Bytes of a std::deque of n elements: libstdc++'s blocks of 512 bytes' worth of elements, and
// its map of block pointers.
template <typename T>
std::size_t deque_bytes(std::size_t n) {
  const std::size_t per_block = sizeof(T) < 512 ? 512 / sizeof(T) : 1;
  const std::size_t blocks = n / per_block + 1;
  return blocks * per_block * sizeof(T) + (blocks + 2) * sizeof(void*);
}

}  // namespace cgscope::model::window_detail
