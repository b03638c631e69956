// libFuzzer target: the parsers of cgroupfs files (cpu.stat, cpuacct.stat, cpu.max, *.pressure,
// cpuset lists, io.stat, io.max, io.weight, memory.stat-like flat keyed files, memory limits,
// v1 blkio files). The first byte picks the parser, the rest is the file's content.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "collector/cgroupfs/parse.hpp"
#include "collector/profile/cpu_list.hpp"

using namespace cgscope::collector;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 16) {
    case 0: (void)parse_cpu_stat_v2(in); break;
    case 1: (void)parse_cpu_stat_v1(in); break;
    case 2: (void)parse_cpuacct_stat_v1(in, 100); break;
    case 3: (void)parse_cpu_max(in); break;
    case 4: (void)parse_pressure(in); break;
    case 5: (void)count_cpu_list(in); break;
    case 6: (void)parse_dev(in); break;
    case 7: (void)parse_io_stat_v2(in); break;
    case 8: (void)parse_io_max(in); break;
    case 9: (void)parse_io_weight("io.weight", in); (void)parse_io_weight("io.bfq.weight", in); break;
    case 10: (void)parse_flat_keyed("memory.stat", in); break;
    case 11: (void)parse_memory_limit(in); break;
    case 12: (void)parse_u64_file(in); (void)parse_i64_file(in); break;
    case 13: (void)cgscope::collector::parse_cpu_list(in); break;
    case 14: {
      std::vector<cgscope::model::IoStatDevice> devices;
      (void)parse_blkio_rw_v1("blkio.throttle.io_service_bytes_recursive", in, true, devices);
      (void)parse_blkio_rw_v1("blkio.throttle.io_serviced_recursive", in, false, devices);
      break;
    }
    default: {
      std::vector<cgscope::model::IoDeviceLimit> limits;
      (void)parse_blkio_throttle_v1("blkio.throttle.read_bps_device", in, BlkioLimit::kReadBps, limits);
      break;
    }
  }
  return 0;
}
