// Saved dashboards and charts (the objects of the visualization API), and a form to make a
// dashboard from saved charts.

import { all, post } from "../api.js";
import { errorBox, go } from "../app.js";
import { fill, h, heading, time } from "../dom.js";

export async function render(main) {
  const [dashboards, charts] = await Promise.all([
    all("/api/v1/visualizations/dashboards"),
    all("/api/v1/visualizations/charts"),
  ]);
  const message = h("div", { "aria-live": "polite" });
  const name = h("input", { id: "new-dashboard-name", required: true, placeholder: "Dashboard name" });
  const picks = charts.map((c) => h("input", { type: "checkbox", value: c.id, id: `pick-${c.id}` }));
  const form = h(
    "form",
    {
      class: "new-dashboard",
      onsubmit: async (event) => {
        event.preventDefault();
        fill(message);
        const chosen = picks.filter((p) => p.checked).map((p) => p.value);
        try {
          const dashboard = await post("/api/v1/visualizations/dashboards", { name: name.value, charts: chosen });
          go(`/dashboards/${dashboard.id}`);
        } catch (error) {
          fill(message, errorBox(error));
        }
      },
    },
    h("h2", {}, "New dashboard"),
    h("label", { for: "new-dashboard-name" }, "Name"),
    " ",
    name,
    charts.length
      ? h(
          "fieldset",
          {},
          h("legend", {}, "Charts"),
          charts.map((c, i) => h("div", {}, picks[i], " ", h("label", { for: `pick-${c.id}` }, `${c.name} (${c.type})`))),
        )
      : h("p", { class: "muted" }, "Save charts first (from the compare page, or POST /api/v1/visualizations/charts)."),
    h("button", { type: "submit" }, "Create dashboard"),
    message,
  );
  fill(
    main,
    heading("Dashboards"),
    dashboards.length
      ? h(
          "table",
          { class: "list", id: "dashboards" },
          h("thead", {}, h("tr", {}, ["Dashboard", "Charts", "Description", "Updated"].map((c) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            {},
            dashboards.map((d) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/dashboards/${encodeURIComponent(d.id)}` }, d.name)),
                h("td", {}, String(d.charts.length)),
                h("td", {}, d.description || ""),
                h("td", {}, time(Date.parse(d.updated_at))),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, "No dashboard yet."),
    h("h2", {}, "Saved charts"),
    charts.length
      ? h(
          "ul",
          { class: "chart-list", id: "saved-charts" },
          charts.map((c) => h("li", {}, h("a", { href: `#/charts/${encodeURIComponent(c.id)}` }, c.name), ` — ${c.type}`)),
        )
      : h("p", { class: "muted" }, "No saved chart yet."),
    form,
  );
}
