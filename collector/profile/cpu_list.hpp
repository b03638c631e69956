// CPU lists as the kernel writes them (/sys/devices/system/cpu/online: "0-3,8,10-11").
#pragma once

#include <string_view>
#include <vector>

#include "model/result.hpp"

namespace cgscope::collector {

Result<std::vector<int>> parse_cpu_list(std::string_view text);

}  // namespace cgscope::collector
