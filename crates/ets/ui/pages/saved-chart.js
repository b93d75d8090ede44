// One saved chart: drawn by the server from the runs' current data (or its snapshot), its
// definition, exports, and delete.

import { del, get } from "../api.js";
import { errorBox, go } from "../app.js";
import { fill, h, heading, time } from "../dom.js";
import { chartCard } from "./views.js";

export async function render(main, [id]) {
  const chart = await get(`/api/v1/visualizations/charts/${encodeURIComponent(id)}`);
  const message = h("div", { "aria-live": "polite" });
  const definition = { ...chart };
  for (const key of ["id", "project_id", "created_at", "updated_at", "created_by"]) delete definition[key];
  fill(
    main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/dashboards" }, "Dashboards and charts"), " / ", chart.name),
    heading(chart.name),
    chart.description ? h("p", {}, chart.description) : null,
    chartCard(chart, { link: false }),
    h(
      "p",
      { class: "muted" },
      chart.snapshot_at ? `Snapshot of ${time(Date.parse(chart.snapshot_at))}.` : "Live: drawn from the runs' current data at every view.",
    ),
    h("h2", {}, "Definition"),
    h("pre", { class: "preview", tabindex: "0", "aria-label": "Chart definition (JSON)" }, JSON.stringify(definition, null, 2)),
    h(
      "button",
      {
        type: "button",
        class: "secondary",
        onclick: async () => {
          if (!confirm(`Delete the chart "${chart.name}"? Dashboards showing it lose it.`)) return;
          try {
            await del(`/api/v1/visualizations/charts/${encodeURIComponent(id)}`);
            go("/dashboards");
          } catch (error) {
            fill(message, errorBox(error));
          }
        },
      },
      "Delete chart",
    ),
    message,
  );
}
