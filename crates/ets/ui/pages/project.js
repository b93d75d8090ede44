// A project: its experiments.

import { all, get } from "../api.js";
import { fill, h, heading, status, time } from "../dom.js";

export async function render(main, [id]) {
  const [project, experiments] = await Promise.all([
    get(`/api/v1/projects/${encodeURIComponent(id)}`),
    all("/api/v1/experiments", { project_id: id, sort: "name" }),
  ]);
  fill(
    main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Projects"), " / ", project.name),
    heading(project.name),
    project.description ? h("p", {}, project.description) : null,
    h("h2", {}, "Experiments"),
    experiments.length
      ? h(
          "table",
          { class: "list" },
          h("thead", {}, h("tr", {}, ["Experiment", "Status", "Description", "Created"].map((c) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            {},
            experiments.map((e) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/experiments/${encodeURIComponent(e.id)}` }, e.name)),
                h("td", {}, status(e.status)),
                h("td", {}, e.description || ""),
                h("td", {}, time(Date.parse(e.created_at))),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, "No experiment in this project yet."),
  );
}
