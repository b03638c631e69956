// A self-contained SVG flame graph (no external files, scripts or fonts): one tower per
// cgroup, frames coloured by kind, hover for details, click to zoom, search by regex
// (button or Ctrl-F; matched share shown). Opening it as "file.svg#search=REGEX" or
// "#zoom=NAME" (or both, joined by '&') applies them on load, for links and for tests.
#pragma once

#include <string>

#include "model/profile/folded.hpp"
#include "model/profile/profile.hpp"

namespace cgscope::model {

struct FlameGraphOptions {
  std::string title = "CPU flame graph";
  std::string subtitle;  // e.g. "49 Hz per CPU, 10 s, 2 CPUs"
  int width_px = 1200;
  int frame_height_px = 16;
  double font_size_px = 12;
  double min_frame_width_px = 0.1;  // narrower frames are left out (counted in the subtitle)
  StackOptions stack;
};

// Shows Profile::default_value: counts, or times when its unit is "nanoseconds".
std::string to_flamegraph_svg(const Profile& profile, const FlameGraphOptions& options = {});

// Escapes text for XML character data and attributes, and replaces bytes that are not valid
// UTF-8 (symbol names are arbitrary bytes) so that the document always parses.
std::string xml_escape(std::string_view text);

}  // namespace cgscope::model
