#include "model/metrics.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace cgscope::model;

TEST(MetricsTest, NamesAreUniqueAndCarryTheirUnit) {
  std::set<std::string_view> names;
  for (const auto& m : kMetrics) {
    EXPECT_TRUE(names.insert(m.name).second) << "duplicate " << m.name;
    EXPECT_EQ(m.name.rfind("cgscope_", 0), 0u) << m.name;
    EXPECT_FALSE(m.help.empty()) << m.name;
    const std::string name(m.name);
    if (m.kind == MetricKind::kCounter) {
      EXPECT_TRUE(name.ends_with("_total")) << name;
    } else {
      EXPECT_FALSE(name.ends_with("_total")) << name;
    }
    if (m.unit == "seconds") {
      EXPECT_NE(name.find("_seconds"), std::string::npos) << name;
    }
  }
}
