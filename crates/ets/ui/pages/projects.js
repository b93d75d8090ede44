// The projects the viewer may see, each a link into the project.

import { all } from "../api.js";
import { fill, h, heading, time } from "../dom.js";

export async function render(main) {
  const projects = await all("/api/v1/projects", { sort: "name" });
  const table = h(
    "table",
    { class: "list" },
    h("caption", { class: "sr-only" }, "Projects"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Project"), h("th", { scope: "col" }, "Description"), h("th", { scope: "col" }, "Created"))),
    h(
      "tbody",
      {},
      projects.map((p) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/projects/${encodeURIComponent(p.id)}` }, p.name)),
          h("td", {}, p.description || ""),
          h("td", {}, time(Date.parse(p.created_at))),
        ),
      ),
    ),
  );
  fill(
    main,
    heading("Projects"),
    projects.length ? table : h("p", { class: "muted" }, "No project yet. Create one with POST /api/v1/projects (see ", h("a", { href: "/docs" }, "the API docs"), ")."),
  );
}
