// A small, dependency-free reader of the OpenAPI document (nothing is loaded from the internet).
"use strict";

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function resolve(doc, schema) {
  if (schema && schema.$ref) {
    return doc.components.schemas[schema.$ref.split("/").pop()];
  }
  return schema;
}

function schemaText(doc, schema) {
  return JSON.stringify(resolve(doc, schema), null, 2);
}

function renderOperation(doc, path, method, op) {
  const body = element("div", { class: "body" });
  if (op.summary) body.append(element("p", {}, op.summary));
  if (op.parameters && op.parameters.length) {
    const rows = op.parameters.map((p) =>
      element("tr", {},
        element("td", {}, element("code", {}, p.name)),
        element("td", {}, p.in),
        element("td", {}, p.required ? "required" : "optional"),
        element("td", {}, p.description || JSON.stringify(p.schema || {}))));
    body.append(element("h4", {}, "Parameters"),
      element("table", {}, element("tr", {}, element("th", {}, "name"), element("th", {}, "in"),
        element("th", {}, ""), element("th", {}, "description")), ...rows));
  }
  const requestBody = op.requestBody && op.requestBody.content["application/json"];
  if (requestBody) {
    body.append(element("h4", {}, "Request body"), element("pre", {}, schemaText(doc, requestBody.schema)));
  }
  const responses = Object.entries(op.responses || {}).map(([status, response]) =>
    element("tr", {}, element("td", {}, status), element("td", {}, response.description || "")));
  body.append(element("h4", {}, "Responses"), element("table", {}, ...responses));
  const summary = element("summary", {},
    element("span", { class: "method " + method }, method),
    element("span", { class: "path" }, path));
  return element("details", { class: "op" }, summary, body);
}

async function main() {
  // Relative to this page (/docs/reference), so a mounted app finds its own document.
  const response = await fetch(new URL("../api/openapi.json", document.baseURI));
  const doc = await response.json();
  document.title = doc.info.title + " — API docs";
  document.getElementById("title").textContent = doc.info.title;
  document.getElementById("description").textContent = doc.info.description || "";
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(renderOperation(doc, path, method, op));
    }
  }
  const main = document.getElementById("operations");
  main.replaceChildren();
  for (const [tag, operations] of byTag) {
    main.append(element("section", { class: "tag" }, element("h2", {}, tag), ...operations));
  }
}

main().catch((error) => {
  document.getElementById("operations").textContent = "Could not load the API description: " + error;
});
