// libFuzzer target: /proc/self/mountinfo and /proc/self/mountstats as the NFS collector parses
// them. The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "collector/nfs/mounts.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    auto mounts = cgscope::collector::parse_nfs_mountinfo(in);
    if (mounts.ok())
      for (const auto& m : *mounts) (void)cgscope::collector::nfs_mount_options_summary(m);
  } else {
    (void)cgscope::collector::parse_nfs_mountstats(in);
  }
  return 0;
}
