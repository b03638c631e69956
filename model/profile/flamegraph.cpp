#include "model/profile/flamegraph.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "model/profile/flamegraph_script.hpp"

namespace cgscope::model {
namespace {

constexpr double kPadPx = 10;
constexpr double kHeaderPx = 66;
constexpr double kFooterPx = 34;

struct Node {
  std::string name;
  StackElementKind kind = StackElementKind::kUser;
  std::int64_t value = 0;
  std::map<std::string, std::uint32_t> children;  // by name: siblings sorted, as flame graphs are
};

std::uint32_t hash_name(std::string_view s) {
  std::uint32_t h = 2166136261u;  // FNV-1a: stable colours for the same name across graphs
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

std::string colour(const Node& n) {
  const std::uint32_t h = hash_name(n.name);
  const double a = (h & 0xff) / 255.0, b = ((h >> 8) & 0xff) / 255.0;
  int r = 0, g = 0, bl = 0;
  switch (n.kind) {
    case StackElementKind::kUser:  // warm
      r = 205 + static_cast<int>(50 * a), g = static_cast<int>(200 * b), bl = static_cast<int>(55 * a);
      break;
    case StackElementKind::kKernel:  // teal
      r = 40 + static_cast<int>(60 * a), g = 160 + static_cast<int>(60 * b),
      bl = 170 + static_cast<int>(50 * b);
      break;
    case StackElementKind::kCgroup:
      r = 150 + static_cast<int>(30 * a), g = 150 + static_cast<int>(30 * a), bl = 220;
      break;
    case StackElementKind::kProcess:
      r = 120 + static_cast<int>(50 * a), g = 200 + static_cast<int>(40 * b), bl = 120;
      break;
    case StackElementKind::kUnknown:
    case StackElementKind::kLost:
      r = g = bl = 170 + static_cast<int>(40 * a);
      break;
  }
  return fmt::format("rgb({},{},{})", r, g, bl);
}

std::string with_commas(std::int64_t v) {
  std::string digits = std::to_string(v), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

std::string format_value(std::int64_t v, const ValueType& type) {
  if (type.unit == "nanoseconds") {
    const double ns = static_cast<double>(v);
    if (ns >= 1e9) return fmt::format("{:.2f} s", ns / 1e9);
    if (ns >= 1e6) return fmt::format("{:.2f} ms", ns / 1e6);
    if (ns >= 1e3) return fmt::format("{:.1f} us", ns / 1e3);
    return fmt::format("{} ns", v);
  }
  return with_commas(v) + " " + (type.type.empty() ? "samples" : type.type);
}

std::size_t subtree_size(const std::vector<Node>& nodes, std::uint32_t i) {
  std::size_t n = 1;
  for (const auto& [name, child] : nodes[i].children) n += subtree_size(nodes, child);
  return n;
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&apos;";
          break;
        default:
          out += (c < 0x20 && c != '\t') ? '?' : static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence passes through; anything else becomes '?'.
    const std::size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool valid = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; valid && k < len; ++k)
      valid = (static_cast<unsigned char>(text[i + k]) >> 6) == 0x2;
    if (valid) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

std::string to_flamegraph_svg(const Profile& profile, const FlameGraphOptions& options) {
  const ValueType type = profile.default_value < profile.sample_types.size()
                             ? profile.sample_types[profile.default_value]
                             : ValueType{"samples", "count"};
  std::size_t frames_total = 1;
  for (const auto& s : profile.samples) frames_total += s.frames.size() + 2;
  std::vector<Node> nodes;
  nodes.reserve(frames_total);  // an upper bound: no reallocation (and moves) while building
  nodes.emplace_back();
  nodes[0].name = "all";
  nodes[0].kind = StackElementKind::kCgroup;
  for (const auto& s : profile.samples) {
    const std::int64_t v = profile.default_value < s.values.size() ? s.values[profile.default_value] : 0;
    if (v <= 0) continue;
    nodes[0].value += v;
    std::uint32_t at = 0;
    for (auto& e : render_stack(profile, s, options.stack)) {
      auto found = nodes[at].children.find(e.name);
      std::uint32_t next;
      if (found == nodes[at].children.end()) {
        next = static_cast<std::uint32_t>(nodes.size());
        nodes[at].children.emplace(e.name, next);
        nodes.push_back(Node{std::move(e.name), e.kind, 0, {}});
      } else {
        next = found->second;
      }
      nodes[next].value += v;
      at = next;
    }
  }

  const std::int64_t total = nodes[0].value;
  const double width = options.width_px, fh = options.frame_height_px;
  const double scale = total > 0 ? (width - 2 * kPadPx) / static_cast<double>(total) : 0;

  // Lay out depth-first (iteratively: stacks can be deep): offset in profile units, depth.
  struct Placed {
    std::uint32_t node;
    std::int64_t x;
    int depth;
  };
  std::vector<Placed> placed, todo{{0, 0, 0}};
  std::size_t omitted = 0;
  int max_depth = 0;
  while (!todo.empty()) {
    const Placed p = todo.back();
    todo.pop_back();
    if (static_cast<double>(nodes[p.node].value) * scale < options.min_frame_width_px) {
      omitted += subtree_size(nodes, p.node);
      continue;
    }
    placed.push_back(p);
    max_depth = std::max(max_depth, p.depth);
    // Children pushed in reverse so they are emitted left to right.
    std::vector<Placed> kids;
    std::int64_t cx = p.x;
    for (const auto& [name, child] : nodes[p.node].children) {
      kids.push_back({child, cx, p.depth + 1});
      cx += nodes[child].value;
    }
    for (auto it = kids.rbegin(); it != kids.rend(); ++it) todo.push_back(*it);
  }

  const double height = kHeaderPx + (max_depth + 1) * fh + kFooterPx;
  std::string subtitle = options.subtitle;
  if (omitted)
    subtitle += fmt::format("{}{} frames narrower than {} px not drawn", subtitle.empty() ? "" : "; ",
                            omitted, options.min_frame_width_px);

  std::string out;
  out.reserve(placed.size() * 220 + 8192);
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n";
  out += fmt::format(
      "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" data-width=\"{0}\" data-pad=\"{2}\" data-font=\"{3}\" data-total=\"{4}\" "
      "data-min-width=\"{5}\">\n",
      options.width_px, height, kPadPx, options.font_size_px, std::max<std::int64_t>(total, 1),
      options.min_frame_width_px);
  out += "<style type=\"text/css\"><![CDATA[";
  out += flamegraph::kStyle;
  out += fmt::format("text {{ font-size: {}px; }}\n]]></style>\n", options.font_size_px);
  out += "<script type=\"text/ecmascript\"><![CDATA[";
  out += flamegraph::kScript;
  out += "]]></script>\n";
  out += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#f8f8f4\"/>\n", width, height);
  out += fmt::format(
      "<text id=\"title\" x=\"{}\" y=\"22\" text-anchor=\"middle\" style=\"font-size:17px\">{}</text>\n",
      width / 2, xml_escape(options.title));
  out +=
      fmt::format("<text id=\"subtitle\" x=\"{}\" y=\"40\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n",
                  width / 2, xml_escape(subtitle));
  out +=
      fmt::format("<text id=\"unzoom\" class=\"button hide\" x=\"{}\" y=\"22\">Reset zoom</text>\n", kPadPx);
  out += fmt::format(
      "<text id=\"search\" class=\"button\" x=\"{}\" y=\"22\" text-anchor=\"end\">Search</text>\n",
      width - kPadPx);
  out += fmt::format(
      "<text id=\"legend\" x=\"{}\" y=\"56\" text-anchor=\"middle\" fill=\"#555\" "
      "style=\"font-size:10px\">blue: cgroup, green: process, warm: user code, teal: kernel, "
      "grey: unknown or lost; click to zoom, Ctrl-F to search</text>\n",
      width / 2);
  out += fmt::format("<text id=\"details\" x=\"{}\" y=\"{}\"> </text>\n", kPadPx, height - 12);
  out += fmt::format("<text id=\"matched\" x=\"{}\" y=\"{}\" text-anchor=\"end\"> </text>\n", width - kPadPx,
                     height - 12);
  out += "<g id=\"frames\">\n";
  const double chars_per_px = 1.0 / (options.font_size_px * 0.59);
  for (const Placed& p : placed) {
    const Node& n = nodes[p.node];
    const double x = kPadPx + static_cast<double>(p.x) * scale;
    const double w = static_cast<double>(n.value) * scale;
    const double y = height - kFooterPx - (p.depth + 1) * fh;
    const std::string name = p.node == 0 ? "all" : n.name;
    const double share = total > 0 ? 100.0 * static_cast<double>(n.value) / static_cast<double>(total) : 0;
    // Label: what fits in the frame (the script redoes this after a zoom).
    const auto fits = static_cast<std::size_t>(std::max(0.0, (w - 6) * chars_per_px));
    std::string label;
    if (fits >= 3) label = name.size() <= fits ? name : name.substr(0, fits - 2) + "..";
    out += fmt::format(
        "<g data-x=\"{}\" data-v=\"{}\" data-d=\"{}\"><title>{} ({}, {:.2f}%)</title>"
        "<rect x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{:.1f}\" fill=\"{}\" rx=\"2\"/>"
        "<text x=\"{:.2f}\" y=\"{:.1f}\">{}</text></g>\n",
        p.x, n.value, p.depth, xml_escape(name), format_value(n.value, type), share, x, y, w, fh - 1,
        colour(n), x + 3, y + fh - 4.5, xml_escape(label));
  }
  out += "</g>\n</svg>\n";
  return out;
}

}  // namespace cgscope::model
