// The style and script embedded in every flame graph SVG (see flamegraph.hpp). Frames carry
// data-x (offset), data-v (value) and data-d (depth) in profile units, so zooming re-lays
// them out exactly; names are read back from each frame's <title> ("name (details)").
#pragma once

namespace cgscope::model::flamegraph {

inline constexpr const char* kStyle = R"CSS(
text { font-family: Verdana, DejaVu Sans, sans-serif; fill: #000; }
#frames g { cursor: pointer; }
#frames g:hover rect { stroke: #000; stroke-width: 0.6; }
#frames text { pointer-events: none; }
.hide { display: none; }
.parent { opacity: 0.55; }
.button { fill: #1a3cc4; cursor: pointer; }
.button:hover { text-decoration: underline; }
)CSS";

inline constexpr const char* kScript = R"JS(
"use strict";
var W, PAD, FS, TOTAL, MINW, frames, details, matched, unzoomButton, searchButton;
var searchTerm = null;

function num(g, a) { return +g.getAttribute(a); }
function nameOf(g) {
  var t = g.querySelector("title").textContent;
  var i = t.lastIndexOf(" (");
  return i < 0 ? t : t.substring(0, i);
}
function frameOf(node) {
  while (node && node.parentNode) {
    if (node.parentNode.id === "frames") return node;
    node = node.parentNode;
  }
  return null;
}
function fit(g, w) {
  var text = g.querySelector("text"), name = nameOf(g);
  var chars = Math.floor((w - 6) / (FS * 0.59));
  if (chars < 3) text.textContent = "";
  else if (name.length <= chars) text.textContent = name;
  else text.textContent = name.substring(0, chars - 2) + "..";
}
function place(g, x, w) {
  var r = g.querySelector("rect"), text = g.querySelector("text");
  g.classList.remove("hide");
  r.setAttribute("x", x.toFixed(2));
  r.setAttribute("width", Math.max(w, 0).toFixed(2));
  text.setAttribute("x", (x + 3).toFixed(2));
  fit(g, w);
}
function hide(g) { g.classList.add("hide"); }

function zoom(z) {
  var zx = num(z, "data-x"), zv = num(z, "data-v"), zd = num(z, "data-d");
  var scale = (W - 2 * PAD) / zv;
  frames.forEach(function (f) {
    var fx = num(f, "data-x"), fv = num(f, "data-v"), fd = num(f, "data-d");
    if (fd < zd) {
      if (fx <= zx && fx + fv >= zx + zv) { place(f, PAD, W - 2 * PAD); f.classList.add("parent"); }
      else hide(f);
    } else if (fx >= zx && fx + fv <= zx + zv && fv * scale >= MINW) {
      place(f, PAD + (fx - zx) * scale, fv * scale);
      f.classList.remove("parent");
    } else {
      hide(f);
    }
  });
  unzoomButton.classList.remove("hide");
  document.documentElement.setAttribute("data-zoomed", nameOf(z));
}
function unzoom() {
  var scale = (W - 2 * PAD) / TOTAL;
  frames.forEach(function (f) {
    place(f, PAD + num(f, "data-x") * scale, num(f, "data-v") * scale);
    f.classList.remove("parent");
  });
  unzoomButton.classList.add("hide");
  document.documentElement.removeAttribute("data-zoomed");
}

function search(term) {
  var re;
  try { re = new RegExp(term); } catch (e) { matched.textContent = "bad regex: " + e.message; return; }
  searchTerm = term;
  var spans = [];
  frames.forEach(function (f) {
    var r = f.querySelector("rect");
    if (!r.hasAttribute("data-fill")) r.setAttribute("data-fill", r.getAttribute("fill"));
    if (re.test(nameOf(f))) {
      r.setAttribute("fill", "rgb(230,0,230)");
      f.setAttribute("data-match", "1");
      spans.push([num(f, "data-x"), num(f, "data-v")]);
    } else {
      r.setAttribute("fill", r.getAttribute("data-fill"));
      f.removeAttribute("data-match");
    }
  });
  // A match inside another match counts once.
  spans.sort(function (a, b) { return a[0] - b[0]; });
  var sum = 0, end = -1;
  spans.forEach(function (s) {
    var e = s[0] + s[1];
    if (s[0] >= end) { sum += s[1]; end = e; } else if (e > end) { sum += e - end; end = e; }
  });
  matched.textContent = "Matched: " + (100 * sum / TOTAL).toFixed(1) + "% (" + spans.length + " frames)";
  searchButton.textContent = "Reset search";
}
function resetSearch() {
  frames.forEach(function (f) {
    var r = f.querySelector("rect");
    if (r.hasAttribute("data-fill")) r.setAttribute("fill", r.getAttribute("data-fill"));
    f.removeAttribute("data-match");
  });
  searchTerm = null;
  matched.textContent = " ";
  searchButton.textContent = "Search";
}
function searchPrompt() {
  if (searchTerm !== null) { resetSearch(); return; }
  var term = prompt("Search frames (regular expression):", "");
  if (term) search(term);
}

function applyHash() {
  var params = {};
  window.location.hash.substring(1).split("&").forEach(function (kv) {
    var i = kv.indexOf("=");
    if (i > 0) params[kv.substring(0, i)] = decodeURIComponent(kv.substring(i + 1));
  });
  if (params.zoom) {
    var best = null;
    frames.forEach(function (f) {
      if (nameOf(f) === params.zoom && (!best || num(f, "data-v") > num(best, "data-v"))) best = f;
    });
    if (best) zoom(best);
  }
  if (params.search) search(params.search);
}

function init() {
  var svg = document.documentElement;
  W = num(svg, "data-width"); PAD = num(svg, "data-pad"); FS = num(svg, "data-font");
  TOTAL = num(svg, "data-total"); MINW = num(svg, "data-min-width");
  frames = Array.prototype.slice.call(document.getElementById("frames").children);
  details = document.getElementById("details");
  matched = document.getElementById("matched");
  unzoomButton = document.getElementById("unzoom");
  searchButton = document.getElementById("search");
  var layer = document.getElementById("frames");
  layer.addEventListener("mouseover", function (e) {
    var g = frameOf(e.target);
    if (g) details.textContent = g.querySelector("title").textContent;
  });
  layer.addEventListener("mouseout", function () { details.textContent = " "; });
  layer.addEventListener("click", function (e) { var g = frameOf(e.target); if (g) zoom(g); });
  unzoomButton.addEventListener("click", unzoom);
  searchButton.addEventListener("click", searchPrompt);
  window.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "f") { e.preventDefault(); searchPrompt(); }
    else if (e.key === "Escape") { resetSearch(); unzoom(); }
  });
  window.addEventListener("hashchange", applyHash);
  applyHash();
  svg.setAttribute("data-ready", "1");
}
window.addEventListener("load", init);
)JS";

}  // namespace cgscope::model::flamegraph
