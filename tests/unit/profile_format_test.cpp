// Output formats of the profiler: folded stacks, pprof (read back with the protobuf classes
// generated from our profile.proto), and the SVG flame graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <regex>

#include "model/profile/flamegraph.hpp"
#include "model/profile/folded.hpp"
#include "model/profile/pprof.hpp"
#include "profile.pb.h"

using namespace cgscope;
using model::FrameKind;

namespace {

// Two cgroups; /a runs main -> spin_a (30) and main -> spin_b (10) and a read syscall (5),
// /b runs spin_c (7).
model::Profile sample_profile() {
  model::Profile p;
  p.sample_types = {{"samples", "count"}, {"cpu", "nanoseconds"}};
  p.period_type = {"cpu", "nanoseconds"};
  p.period = 20'408'163;
  auto frame = [&](std::string fn, FrameKind kind, std::string module, std::string file = "",
                   std::uint32_t line = 0) {
    model::ProfileFrame f;
    f.function = std::move(fn);
    f.kind = kind;
    f.module = std::move(module);
    f.file = std::move(file);
    f.line = line;
    f.build_id = kind == FrameKind::kUser ? "b1dc4b1a" : "";
    p.frames.push_back(f);
    return static_cast<std::uint32_t>(p.frames.size() - 1);
  };
  const auto main_f = frame("main", FrameKind::kUser, "/usr/bin/app", "app.c", 90);
  const auto a = frame("spin_a", FrameKind::kUser, "/usr/bin/app", "app.c", 31);
  const auto b = frame("spin_b", FrameKind::kUser, "/usr/bin/app", "app.c", 40);
  const auto c = frame("spin_c", FrameKind::kUser, "/usr/bin/other");
  const auto read = frame("read", FrameKind::kUser, "/usr/lib/libc.so.6");
  const auto vfs = frame("vfs_read", FrameKind::kKernel, "[kernel.kallsyms]");
  const auto entry = frame("entry_SYSCALL_64", FrameKind::kKernel, "[kernel.kallsyms]");
  auto sample = [&](std::vector<std::uint32_t> frames, std::string cgroup, std::int64_t n) {
    model::ProfileSample s;
    s.frames = std::move(frames);
    s.cgroup = std::move(cgroup);
    s.comm = "app";
    s.pid = 42;
    s.values = {n, n * p.period};
    p.samples.push_back(s);
  };
  sample({a, main_f}, "/a", 20);
  sample({a, main_f}, "/a", 10);  // same stack again (another thread): folded lines merge
  sample({b, main_f}, "/a", 10);
  sample({vfs, entry, read, main_f}, "/a", 5);
  sample({c}, "/b", 7);
  sample({b, main_f}, "/a", 0);  // nothing: left out
  return p;
}

}  // namespace

TEST(FoldedTest, OneSortedLinePerStackRootFirstWithKernelSuffix) {
  const std::string folded = model::to_folded(sample_profile());
  EXPECT_EQ(folded,
            "/a;app;main;read;entry_SYSCALL_64_[k];vfs_read_[k] 5\n"
            "/a;app;main;spin_a 30\n"
            "/a;app;main;spin_b 10\n"
            "/b;app;spin_c 7\n");
}

TEST(FoldedTest, RootFramesAreOptional) {
  model::StackOptions o;
  o.cgroup_frame = false;
  o.process_frame = false;
  o.kernel_suffix = false;
  const std::string folded = model::to_folded(sample_profile(), o);
  EXPECT_NE(folded.find("main;spin_a 30\n"), std::string::npos) << folded;
  EXPECT_NE(folded.find("main;read;entry_SYSCALL_64;vfs_read 5\n"), std::string::npos) << folded;
}

TEST(FoldedTest, NamesCannotBreakTheFormat) {
  model::Profile p = sample_profile();
  p.frames[1].function = "ns::f<a;b>(int)\nx";
  const std::string folded = model::to_folded(p);
  EXPECT_NE(folded.find("ns::f<a:b>(int) x 30\n"), std::string::npos) << folded;
  auto parsed = model::parse_folded(folded);
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->size(), 4u);
}

TEST(FoldedTest, ParsesBackWhatItWrites) {
  auto parsed = model::parse_folded(model::to_folded(sample_profile()));
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  ASSERT_EQ(parsed->size(), 4u);
  EXPECT_EQ((*parsed)[1].frames, (std::vector<std::string>{"/a", "app", "main", "spin_a"}));
  EXPECT_EQ((*parsed)[1].value, 30);
}

TEST(FoldedTest, RejectsMalformedLinesNamingTheLine) {
  for (const char* bad : {"a;b\n", "a;b x\n", "a;;b 3\n", "ok 1\na;b -2\n", " 5\n"}) {
    auto r = model::parse_folded(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().find("folded line"), std::string::npos) << r.error();
    }
  }
  auto two = model::parse_folded("ok 1\na;b -2\n");
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().find("line 2"), std::string::npos) << two.error();
}

TEST(PprofTest, GzipRoundTrip) {
  const std::string data(100000, 'x');
  auto z = model::gzip_compress(data);
  ASSERT_TRUE(z.ok());
  ASSERT_GE(z->size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>((*z)[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>((*z)[1]), 0x8b);
  auto back = model::gzip_decompress(*z);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(*back, data);
  EXPECT_FALSE(model::gzip_decompress(z->substr(0, z->size() / 2)).ok());
  EXPECT_FALSE(model::gzip_decompress("not gzip").ok());
}

TEST(PprofTest, ProfileReadsBackWithNamesValuesAndLabels) {
  auto bytes = model::to_pprof(sample_profile());
  ASSERT_TRUE(bytes.ok()) << bytes.error();
  auto raw = model::gzip_decompress(*bytes);
  ASSERT_TRUE(raw.ok()) << raw.error();
  perftools::profiles::Profile pb;
  ASSERT_TRUE(pb.ParseFromString(*raw));
  const auto& st = pb.string_table();
  ASSERT_GT(st.size(), 0);
  EXPECT_EQ(st[0], "");  // required by the format
  auto str = [&](std::int64_t i) { return st.at(static_cast<int>(i)); };

  ASSERT_EQ(pb.sample_type_size(), 2);
  EXPECT_EQ(str(pb.sample_type(0).type()), "samples");
  EXPECT_EQ(str(pb.sample_type(1).unit()), "nanoseconds");
  EXPECT_EQ(str(pb.default_sample_type()), "samples");
  EXPECT_EQ(pb.period(), 20'408'163);

  std::map<std::uint64_t, std::string> fn_names;
  for (const auto& f : pb.function()) {
    EXPECT_NE(f.id(), 0u);
    fn_names[f.id()] = str(f.name());
  }
  std::map<std::uint64_t, std::string> loc_names;
  for (const auto& l : pb.location()) {
    EXPECT_NE(l.id(), 0u);
    ASSERT_EQ(l.line_size(), 1);
    loc_names[l.id()] = fn_names.at(l.line(0).function_id());
  }
  for (const auto& m : pb.mapping()) {
    EXPECT_NE(m.id(), 0u);
    EXPECT_TRUE(m.has_functions());  // readers must not try to symbolize again
  }
  // Leaf first: the samples of spin_a total 30 and 30 x period ns, labelled with the cgroup.
  std::int64_t spin_a = 0, spin_a_ns = 0;
  for (const auto& s : pb.sample()) {
    ASSERT_EQ(s.value_size(), 2);
    ASSERT_GT(s.location_id_size(), 0);
    if (loc_names.at(s.location_id(0)) != "spin_a") continue;
    spin_a += s.value(0);
    spin_a_ns += s.value(1);
    EXPECT_EQ(loc_names.at(s.location_id(1)), "main");
    std::map<std::string, std::string> labels;
    for (const auto& l : s.label()) labels[str(l.key())] = l.str() ? str(l.str()) : std::to_string(l.num());
    EXPECT_EQ(labels["cgroup"], "/a");
    EXPECT_EQ(labels["comm"], "app");
    EXPECT_EQ(labels["pid"], "42");
  }
  EXPECT_EQ(spin_a, 30);
  EXPECT_EQ(spin_a_ns, 30 * 20'408'163LL);
}

TEST(PprofTest, InconsistentProfileIsAnErrorNotACrash) {
  model::Profile p = sample_profile();
  p.samples[0].values.pop_back();
  EXPECT_FALSE(model::to_pprof(p).ok());
  p = sample_profile();
  p.samples[0].frames.push_back(999);
  EXPECT_FALSE(model::to_pprof(p).ok());
}

namespace {

// Tags open and close in order (the document is well formed as far as elements go).
bool balanced(const std::string& svg) {
  std::vector<std::string> stack;
  const std::regex tag(R"(<(/?)([a-zA-Z]+)[^>]*?(/?)>)");
  const std::size_t body = svg.find("<svg");
  std::string rest = svg.substr(body);
  // Skip CDATA sections (style and script).
  for (std::size_t a; (a = rest.find("<![CDATA[")) != std::string::npos;) {
    const std::size_t b = rest.find("]]>", a);
    if (b == std::string::npos) return false;
    rest.erase(a, b + 3 - a);
  }
  for (auto it = std::sregex_iterator(rest.begin(), rest.end(), tag); it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    if (m[3] == "/") continue;  // self-closing
    if (m[1] == "/") {
      if (stack.empty() || stack.back() != m[2]) return false;
      stack.pop_back();
    } else {
      stack.push_back(m[2]);
    }
  }
  return stack.empty();
}

}  // namespace

TEST(FlameGraphTest, OneFramePerNodeWithValuesAndSharesInTitles) {
  const std::string svg = model::to_flamegraph_svg(sample_profile());
  EXPECT_TRUE(balanced(svg));
  EXPECT_NE(svg.find("<title>all (52 samples, 100.00%)</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>/a (45 samples, 86.54%)</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>spin_a (30 samples, 57.69%)</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>vfs_read_[k] (5 samples, 9.62%)</title>"), std::string::npos);
  // all, 2 cgroups, 2 processes, main, spin_a, spin_b, read, entry, vfs_read, spin_c.
  const std::regex frame("<g data-x=");
  EXPECT_EQ(std::distance(std::sregex_iterator(svg.begin(), svg.end(), frame), std::sregex_iterator()), 12);
  // Self-contained: nothing loaded from elsewhere.
  EXPECT_EQ(svg.find("href"), std::string::npos);
  EXPECT_EQ(svg.find("http://", svg.find("xmlns=") + 40), std::string::npos);
}

TEST(FlameGraphTest, ChildrenSitInsideTheirParentAndSiblingsDoNotOverlap) {
  const std::string svg = model::to_flamegraph_svg(sample_profile());
  const std::regex g(R"re(<g data-x="(\d+)" data-v="(\d+)" data-d="(\d+)"><title>([^<]*) \()re");
  struct F {
    long x, v, d;
    std::string name;
  };
  std::vector<F> frames;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), g); it != std::sregex_iterator(); ++it)
    frames.push_back({std::stol((*it)[1]), std::stol((*it)[2]), std::stol((*it)[3]), (*it)[4]});
  ASSERT_FALSE(frames.empty());
  for (const auto& f : frames) {
    if (f.d == 0) continue;
    int parents = 0;
    for (const auto& p : frames)
      if (p.d == f.d - 1 && p.x <= f.x && f.x + f.v <= p.x + p.v) ++parents;
    EXPECT_EQ(parents, 1) << f.name;
    for (const auto& s : frames) {
      if (&s != &f && s.d == f.d) {
        EXPECT_TRUE(s.x + s.v <= f.x || f.x + f.v <= s.x) << f.name << " / " << s.name;
      }
    }
  }
}

TEST(FlameGraphTest, OffCpuTimesAreShownAsDurations) {
  model::Profile p = sample_profile();
  p.sample_types = {{"blocks", "count"}, {"off_cpu", "nanoseconds"}};
  p.default_value = 1;
  const std::string svg = model::to_flamegraph_svg(p);
  EXPECT_NE(svg.find("<title>spin_a (612.24 ms, 57.69%)</title>"), std::string::npos);
}

TEST(FlameGraphTest, NarrowFramesAreLeftOutAndCounted) {
  model::Profile p = sample_profile();
  p.samples[4].values = {1, 1};  // /b: 1 of 46 samples
  model::FlameGraphOptions o;
  o.width_px = 40;  // 20 px for 46 samples: /b's tower is narrower than 1 px
  o.min_frame_width_px = 1;
  const std::string svg = model::to_flamegraph_svg(p, o);
  EXPECT_EQ(svg.find("spin_c"), std::string::npos);
  EXPECT_NE(svg.find("3 frames narrower than 1 px not drawn"), std::string::npos);
  EXPECT_TRUE(balanced(svg));
}

TEST(FlameGraphTest, EscapesMarkupAndInvalidUtf8) {
  EXPECT_EQ(model::xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_EQ(model::xml_escape("caf\xc3\xa9"), "caf\xc3\xa9");  // valid UTF-8 passes
  EXPECT_EQ(model::xml_escape("bad\xff\xc3"), "bad??");
  EXPECT_EQ(model::xml_escape(std::string("nul\0x", 5)), "nul?x");
  model::Profile p = sample_profile();
  p.frames[1].function = "std::vector<int>::push_back\xff";
  const std::string svg = model::to_flamegraph_svg(p);
  EXPECT_NE(svg.find("std::vector&lt;int&gt;::push_back?"), std::string::npos);
  EXPECT_TRUE(balanced(svg));
}

TEST(FlameGraphTest, EmptyProfileIsStillAValidDocument) {
  model::Profile p;
  p.sample_types = {{"samples", "count"}};
  const std::string svg = model::to_flamegraph_svg(p);
  EXPECT_TRUE(balanced(svg));
  EXPECT_NE(svg.find("data-total=\"1\""), std::string::npos);  // no division by zero in the script
}
