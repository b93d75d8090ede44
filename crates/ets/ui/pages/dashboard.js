// One dashboard: its charts drawn by the server, in its column layout, with exports of the
// whole dashboard (PDF report, HTML, ZIP).

import { get } from "../api.js";
import { fill, h, heading } from "../dom.js";
import { chartCard, downloads } from "./views.js";

export async function render(main, [id]) {
  const dashboard = await get(`/api/v1/visualizations/dashboards/${encodeURIComponent(id)}`);
  const columns = Math.min(Math.max(dashboard.columns || 2, 1), 4);
  const grid = h("div", { class: `dashboard-grid columns-${columns}` }, dashboard.charts.map((c) => chartCard(c, { width: columns > 2 ? 600 : 800, height: 420 })));
  fill(
    main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/dashboards" }, "Dashboards"), " / ", dashboard.name),
    heading(dashboard.name),
    dashboard.description ? h("p", {}, dashboard.description) : null,
    h(
      "p",
      { class: "toolbar" },
      "Export: ",
      downloads(`/api/v1/visualizations/dashboards/${encodeURIComponent(id)}`, dashboard.name, [
        ["pdf", "PDF report"],
        ["html", "HTML"],
        ["zip", "ZIP of PNG and SVG"],
      ]),
    ),
    dashboard.charts.length ? grid : h("p", { class: "muted" }, "This dashboard has no chart."),
  );
}
