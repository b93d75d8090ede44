// Shared by the dashboard and chart pages: a saved chart drawn by the server (the same SVG
// the visualization API exports), with its export links.

import { h } from "../dom.js";

const FORMATS = [
  ["png", "PNG"],
  ["svg", "SVG"],
  ["pdf", "PDF"],
  ["html", "HTML"],
  ["json", "Plotly JSON"],
];

/** The URL of a saved chart in `format` at `width` × `height`. */
export function chartUrl(id, format, width = 900, height = 500) {
  return `/api/v1/visualizations/charts/${encodeURIComponent(id)}?format=${format}&width=${width}&height=${height}`;
}

/** A card with the chart's SVG, its name (a link to its page) and its downloads. */
export function chartCard(chart, { width = 900, height = 500, link = true } = {}) {
  const title = link ? h("a", { href: `#/charts/${encodeURIComponent(chart.id)}` }, chart.name) : chart.name;
  return h(
    "figure",
    { class: "card chart-card", dataset: { chartId: chart.id } },
    h("img", {
      src: chartUrl(chart.id, "svg", width, height),
      alt: `${chart.type} chart "${chart.name}"${chart.metrics ? ` of ${chart.metrics.join(", ")}` : ""}`,
      width,
      height,
      loading: "lazy",
    }),
    h("figcaption", {}, h("strong", {}, title), " ", downloads(`/api/v1/visualizations/charts/${encodeURIComponent(chart.id)}`, chart.name)),
  );
}

/** Download links of a chart or dashboard at `path` in every format. */
export function downloads(path, name, formats = FORMATS) {
  return h(
    "span",
    { class: "downloads" },
    formats.map(([format, label]) =>
      h("a", { href: `${path}?format=${format}`, download: "", "aria-label": `${name} as ${label}` }, label),
    ),
  );
}
