// The backforge admin dashboard: a page that works through the API as an admin.
// No framework and no build step; elements are made with h(), never from HTML strings, so no
// record's value can become markup. The credential lives in this tab's sessionStorage and
// travels as a bearer header (no cookie: another site cannot make the browser use it).
"use strict";

(() => {
  const TOKEN_KEY = "backforge.dashboard.token";
  const WHO_KEY = "backforge.dashboard.who";
  const PAGE_SIZES = [20, 50, 100];
  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    who: sessionStorage.getItem(WHO_KEY) || "",
    schema: null,
    flash: null, // a notice for the next page drawn ("Created.")
  };
  const root = document.getElementById("app");

  // -- elements -----------------------------------------------------------------------------

  function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
      else if (name === "value") element.value = value;
      else if (name === "checked") element.checked = Boolean(value);
      else element.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }

  function show(...children) {
    root.replaceChildren(...children);
  }

  // -- the API ------------------------------------------------------------------------------

  class Problem extends Error {
    constructor(status, body) {
      const detail = body && typeof body === "object" ? body.detail || body.title : body;
      super(detail || `the server answered ${status}`);
      this.status = status;
      this.body = body && typeof body === "object" ? body : {};
    }
  }

  async function api(method, path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    const init = { method, headers, credentials: "omit" };
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.json);
    } else if (options.form) {
      init.body = options.form;
    }
    const response = await fetch(path, init);
    if (options.raw && response.ok) return response;
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    const body = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      if (response.status === 401 && state.token && !options.quiet) {
        signOut("The credential was refused (expired or revoked): sign in again.");
      }
      throw new Problem(response.status, body);
    }
    return body;
  }

  function problemBox(error) {
    return h("div", { class: "problem", role: "alert" }, error.message || String(error));
  }

  // -- signing in ---------------------------------------------------------------------------

  function signOut(message) {
    state.token = null;
    state.schema = null;
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(WHO_KEY);
    loginView(message);
  }

  async function accountCollections() {
    try {
      const document_ = await api("GET", "/api/openapi.json", { quiet: true });
      return Object.keys(document_.paths || {})
        .map((path) => /^\/api\/auth\/([^/]+)\/login$/.exec(path))
        .filter(Boolean)
        .map((match) => match[1]);
    } catch {
      return [];
    }
  }

  async function loginView(message) {
    const accounts = await accountCollections();
    const feedback = h("div", { id: "login-feedback" }, message ? problemBox(new Error(message)) : null);
    const tokenForm = h(
      "form",
      { id: "token-form", onsubmit: (event) => signIn(event, tokenForm, feedback) },
      h("label", { for: "admin-token" }, "Admin token"),
      h("input", { id: "admin-token", name: "token", type: "password", autocomplete: "off", required: true }),
      h("p", { class: "meta" }, "The server's BACKFORGE_ADMIN_TOKEN."),
      h("button", { class: "primary", type: "submit" }, "Sign in"),
    );
    const accountForm = h(
      "form",
      { id: "account-form", hidden: true, onsubmit: (event) => signIn(event, accountForm, feedback) },
      h("label", { for: "account-collection" }, "Accounts"),
      h("select", { id: "account-collection", name: "collection" }, accounts.map((name) => h("option", { value: name }, name))),
      h("label", { for: "account-email" }, "Email"),
      h("input", { id: "account-email", name: "email", type: "email", autocomplete: "username", required: true }),
      h("label", { for: "account-password" }, "Password"),
      h("input", { id: "account-password", name: "password", type: "password", autocomplete: "current-password", required: true }),
      h("p", { class: "meta" }, "An account with admin rights."),
      h("button", { class: "primary", type: "submit" }, "Sign in"),
    );
    const tabs = [
      h("button", { type: "button", "aria-selected": "true", id: "tab-token" }, "Admin token"),
      accounts.length ? h("button", { type: "button", "aria-selected": "false", id: "tab-account" }, "Admin account") : null,
    ].filter(Boolean);
    tabs.forEach((tab, index) =>
      tab.addEventListener("click", () => {
        tabs.forEach((other, otherIndex) => other.setAttribute("aria-selected", String(otherIndex === index)));
        tokenForm.hidden = index !== 0;
        accountForm.hidden = index !== 1;
      }),
    );
    show(h("div", { class: "login" }, h("h1", {}, "backforge dashboard"), h("div", { class: "tabs" }, tabs), feedback, tokenForm, accountForm));
    document.getElementById("admin-token").focus();
  }

  async function signIn(event, form, feedback) {
    event.preventDefault();
    const data = new FormData(form);
    feedback.replaceChildren();
    let token;
    let who;
    try {
      if (form.id === "token-form") {
        token = String(data.get("token")).trim();
        who = "admin token";
      } else {
        const collection = String(data.get("collection"));
        state.token = null;
        const answer = await api("POST", `/api/auth/${encodeURIComponent(collection)}/login`, {
          json: { email: data.get("email"), password: data.get("password") },
          quiet: true,
        });
        if (!answer || !answer.access_token) throw new Error("This login needs another step (two-factor): use the admin token.");
        token = answer.access_token;
        who = String(data.get("email"));
      }
      state.token = token;
      await loadSchema();
    } catch (error) {
      state.token = null;
      const refused = error instanceof Problem && (error.status === 401 || error.status === 403);
      const text = refused && form.id === "token-form" ? "This is not the admin token." : refused && error.status === 403 ? "This account is not an admin: the dashboard is for admins." : error.message;
      feedback.replaceChildren(problemBox(new Error(text)));
      return;
    }
    state.who = who;
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(WHO_KEY, who);
    route();
  }

  async function loadSchema() {
    state.schema = await api("GET", "/api/admin/schema", { quiet: true });
  }

  // -- the frame ----------------------------------------------------------------------------

  function frame(current, ...content) {
    const schema = state.schema;
    const link = (href, label, id) => h("a", { href, id, class: current === href ? "current" : null }, label);
    const nav = h(
      "nav",
      {},
      h("button", { type: "button", class: "menu-toggle", onclick: () => nav.classList.toggle("open") }, "☰ Menu"),
      h("div", { class: "who" }, `${schema.name} · ${state.who}`),
      h(
        "div",
        { class: "links" },
        h("h2", {}, "Collections"),
        schema.collections.map((c) => link(`#/c/${c.name}`, c.name, `nav-${c.name}`)),
        h("h2", {}, "System"),
        schema.jobs ? link("#/jobs", "Jobs", "nav-jobs") : null,
        schema.webhooks ? link("#/webhooks", "Webhook deliveries", "nav-webhooks") : null,
        link("#/migrations", "Migrations", "nav-migrations"),
        link("#/rules", "Try a rule", "nav-rules"),
        h("h2", {}, "Session"),
        h("a", { href: "#", id: "sign-out", onclick: (event) => { event.preventDefault(); signOut(); } }, "Sign out"),
      ),
    );
    show(h("div", { class: "shell" }, nav, h("main", { id: "main" }, content)));
  }

  function collectionOf(name) {
    return state.schema.collections.find((c) => c.name === name);
  }

  // -- a collection's records ---------------------------------------------------------------

  function columnsOf(collection) {
    return collection.fields.filter((f) => f.type !== "json").slice(0, 5);
  }

  function cell(field, value) {
    if (value === null || value === undefined) return "";
    if (Array.isArray(value)) return value.join(", ");
    if (typeof value === "object") return JSON.stringify(value);
    if (field && field.type === "bool") return value ? "yes" : "no";
    return String(value);
  }

  async function listView(name, params) {
    const collection = collectionOf(name);
    if (!collection) return notFound();
    const filter = params.get("filter") || "";
    const sort = params.get("sort") || "-created";
    const limit = Number(params.get("limit")) || PAGE_SIZES[0];
    const cursors = (params.get("after") || "").split(" ").filter(Boolean);
    const columns = columnsOf(collection);
    const go = (changes) => {
      const next = new URLSearchParams({ filter, sort, limit: String(limit), after: cursors.join(" ") });
      for (const [key, value] of Object.entries(changes)) next.set(key, value);
      for (const [key, value] of [...next.entries()]) if (!value) next.delete(key);
      location.hash = `#/c/${name}?${next}`;
    };
    const filterInput = h("input", { name: "filter", id: "filter", value: filter, placeholder: "filter, e.g. price > 10 && name ~ 'lamp'", "aria-label": "Filter" });
    const toolbar = h(
      "form",
      { class: "toolbar", onsubmit: (event) => { event.preventDefault(); go({ filter: filterInput.value.trim(), after: "" }); } },
      filterInput,
      h("button", { type: "submit", id: "apply-filter" }, "Filter"),
      h("select", { "aria-label": "Page size", onchange: (event) => go({ limit: event.target.value, after: "" }) }, PAGE_SIZES.map((size) => h("option", { value: size, selected: size === limit }, `${size} a page`))),
      collection.serves.includes("create") ? h("button", { type: "button", class: "primary", id: "new-record", onclick: () => { location.hash = `#/c/${name}/new`; } }, "New record") : null,
    );
    frame(`#/c/${name}`, h("h1", {}, name), toolbar, h("p", { class: "meta" }, "Loading…"));
    if (!collection.serves.includes("list")) {
      document.getElementById("main").append(problemBox(new Error(`${name} serves no list route.`)));
      return;
    }
    const query = new URLSearchParams({ sort, limit: String(limit), total: "true" });
    if (filter) query.set("filter", filter);
    if (cursors.length) query.set("cursor", cursors[cursors.length - 1]);
    const main = document.getElementById("main");
    let page;
    try {
      page = await api("GET", `/api/${name}?${query}`);
    } catch (error) {
      main.lastChild.replaceWith(problemBox(error));
      return;
    }
    const sortButton = (field) => {
      const ascending = sort === field;
      const descending = sort === `-${field}`;
      const arrow = ascending ? " ▲" : descending ? " ▼" : "";
      return h("button", { type: "button", onclick: () => go({ sort: ascending ? `-${field}` : field, after: "" }) }, field + arrow);
    };
    const sortable = (field) => field.type !== "json" && !(field.type === "file" && field.multiple);
    const table = h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: "records" },
        h("thead", {}, h("tr", {}, h("th", {}, sortButton("id")), columns.map((f) => h("th", {}, sortable(f) ? sortButton(f.name) : f.name)), h("th", {}, sortButton("created")))),
        h(
          "tbody",
          {},
          page.items.map((record) =>
            h(
              "tr",
              { "data-id": record.id, onclick: () => { location.hash = `#/c/${name}/r/${record.id}`; } },
              h("td", { class: "mono" }, record.id),
              columns.map((f) => h("td", {}, cell(f, record[f.name]))),
              h("td", {}, (record.created || "").replace("T", " ").slice(0, 19)),
            ),
          ),
        ),
      ),
    );
    const pager = h(
      "div",
      { class: "pager" },
      h("span", { id: "total" }, `${page.total ?? page.items.length} records`),
      cursors.length ? h("button", { type: "button", id: "previous-page", onclick: () => go({ after: cursors.slice(0, -1).join(" ") }) }, "Previous") : null,
      page.next_cursor ? h("button", { type: "button", id: "next-page", onclick: () => go({ after: [...cursors, page.next_cursor].join(" ") }) }, "Next") : null,
    );
    main.lastChild.replaceWith(page.items.length ? table : h("p", { class: "meta", id: "empty" }, "No records."), pager);
  }

  // -- one record ---------------------------------------------------------------------------

  function inputFor(field, value) {
    const id = `field-${field.name}`;
    const common = { id, name: field.name, "data-type": field.type };
    switch (field.type) {
      case "bool":
        return h("input", { ...common, type: "checkbox", checked: value === true });
      case "int":
      case "float":
        return h("input", { ...common, type: "number", step: field.type === "int" ? "1" : "any", value: value ?? "" });
      case "decimal":
        return h("input", { ...common, type: "text", inputmode: "decimal", value: value ?? "" });
      case "date":
        return h("input", { ...common, type: "date", value: value ?? "" });
      case "datetime":
        return h("input", { ...common, type: "datetime-local", step: "1", value: value ? String(value).replace(/Z$|[+-]00:00$/, "").slice(0, 19) : "" });
      case "json":
        return h("textarea", { ...common, value: value === null || value === undefined ? "" : JSON.stringify(value, null, 2) });
      case "select":
        return h("select", common, h("option", { value: "" }, "—"), (field.values || []).map((v) => h("option", { value: v, selected: v === value }, v)));
      case "file":
        return h("input", { ...common, type: "file", multiple: Boolean(field.multiple), accept: (field.accept || []).join(",") || null });
      case "email":
        return h("input", { ...common, type: "email", value: value ?? "" });
      default:
        return h("input", { ...common, type: "text", value: value ?? "" });
    }
  }

  function valueOf(field, input) {
    const raw = input.value;
    switch (field.type) {
      case "bool":
        return input.checked;
      case "int":
      case "float":
        return raw === "" ? null : Number(raw);
      case "json":
        if (raw.trim() === "") return null;
        try {
          return JSON.parse(raw);
        } catch {
          throw new FieldError(field.name, "not valid JSON");
        }
      case "datetime":
        return raw === "" ? null : `${raw.length === 16 ? `${raw}:00` : raw}Z`;
      default:
        return raw === "" ? null : raw;
    }
  }

  class FieldError extends Error {
    constructor(field, message) {
      super(message);
      this.field = field;
    }
  }

  // An image's bytes for an <img> (which runs nothing), as a blob: URL freed once shown.
  async function imageSource(collection, recordId, name, thumb) {
    const query = thumb ? `?thumb=${encodeURIComponent(thumb)}` : "";
    const response = await api("GET", `/api/${collection}/${recordId}/files/${name}${query}`, { raw: true });
    return URL.createObjectURL(await response.blob());
  }

  // A file opens through a signed link: the server's own headers (attachment unless shown
  // inline, a sandboxing CSP) then govern it, never a blob: page of this origin.
  async function openFile(collection, recordId, name) {
    const link = await api("POST", `/api/${collection}/${recordId}/files/${name}/link?expires_in=60`);
    window.open(link.url, "_blank", "noopener");
  }

  function filesOf(collection, record, field, kept) {
    const names = record ? [].concat(record[field.name] || []) : [];
    if (!names.length) return null;
    return h(
      "div",
      { class: "files" },
      names.map((name) => {
        const box = h("div", { class: "file", "data-file": name });
        const isImage = /\.(png|jpe?g|gif|webp|bmp)$/i.test(name);
        const open = h("a", { href: "#", onclick: async (event) => {
          event.preventDefault();
          await openFile(collection.name, record.id, name);
        } }, name);
        const keep = h("input", { type: "checkbox", checked: true, "aria-label": `Keep ${name}`, onchange: (event) => { if (event.target.checked) kept.add(name); else kept.delete(name); } });
        kept.add(name);
        box.append(open, h("label", {}, keep, " keep"));
        if (isImage) {
          const thumb = (field.thumbs || [])[0];
          imageSource(collection.name, record.id, name, thumb)
            .then((url) => box.prepend(h("img", { src: url, alt: name, onload: () => URL.revokeObjectURL(url) })))
            .catch(() => {});
        }
        return box;
      }),
    );
  }

  async function recordView(name, recordId) {
    const collection = collectionOf(name);
    if (!collection) return notFound();
    const creating = recordId === null;
    frame(`#/c/${name}`, h("h1", {}, creating ? `New record in ${name}` : `${name} / ${recordId}`), h("p", { class: "meta" }, "Loading…"));
    const main = document.getElementById("main");
    let record = null;
    if (!creating) {
      try {
        record = await api("GET", `/api/${name}/${recordId}`);
      } catch (error) {
        main.lastChild.replaceWith(problemBox(error));
        return;
      }
    }
    const feedback = h("div", { id: "feedback" }, state.flash ? h("div", { class: "notice", role: "status" }, state.flash) : null);
    state.flash = null;
    const kept = {};
    const fields = collection.fields.map((field) => {
      kept[field.name] = new Set();
      const hint = [field.type, field.to ? `→ ${field.to}` : null, field.required ? "required" : null, field.readonly ? "read-only for others" : null, field.accept ? field.accept.join(", ") : null].filter(Boolean).join(" · ");
      return h(
        "div",
        { class: "field", "data-field": field.name },
        h("label", { for: `field-${field.name}` }, field.name),
        field.type === "file" ? filesOf(collection, record, field, kept[field.name]) : null,
        field.serial ? h("div", { class: "mono" }, cell(field, record && record[field.name])) : inputFor(field, record ? record[field.name] : field.default),
        h("div", { class: "hint" }, field.description ? `${hint} — ${field.description}` : hint),
        h("div", { class: "error" }),
      );
    });
    const stored = collection.relations.filter((r) => r.stored).map((relation) =>
      h(
        "div",
        { class: "field", "data-field": relation.name },
        h("label", { for: `field-${relation.name}` }, relation.name),
        h("input", { id: `field-${relation.name}`, type: "text", "data-list": "true", value: record ? (record[relation.name] || []).join(", ") : "" }),
        h("div", { class: "hint" }, `${relation.to} (${relation.key || "ids"}), separated by commas`),
        h("div", { class: "error" }),
      ),
    );
    const password = collection.auth
      ? h(
          "div",
          { class: "field", "data-field": "password" },
          h("label", { for: "field-password" }, creating ? "password" : "new password"),
          h("input", { id: "field-password", type: "password", autocomplete: "new-password" }),
          h("div", { class: "hint" }, creating ? "" : "leave empty to keep the password"),
          h("div", { class: "error" }),
        )
      : null;
    const form = h(
      "form",
      { class: "record", id: "record-form", novalidate: true },
      fields,
      stored,
      password,
      h(
        "div",
        { class: "actions" },
        h("button", { class: "primary", type: "submit", id: "save" }, creating ? "Create" : "Save"),
        !creating && collection.serves.includes("delete") ? h("button", { class: "danger", type: "button", id: "delete", onclick: () => remove(collection, record, feedback) }, "Delete") : null,
        h("button", { type: "button", onclick: () => { location.hash = `#/c/${name}`; } }, "Back"),
      ),
    );
    form.addEventListener("submit", (event) => save(event, collection, record, form, feedback, kept));
    const meta = record ? h("p", { class: "meta" }, `version ${record.version} · created ${record.created} · updated ${record.updated}`) : null;
    main.lastChild.replaceWith(feedback, meta || "", form, collection.auth && record ? accountPanel(collection, record) : "");
  }

  function showErrors(form, feedback, error) {
    for (const box of form.querySelectorAll(".field")) {
      box.classList.remove("invalid");
      box.querySelector(".error").textContent = "";
    }
    const errors = (error.body && error.body.errors) || (error instanceof FieldError ? [{ path: `/${error.field}`, message: error.message }] : []);
    const unplaced = [];
    for (const item of errors) {
      const name = String(item.path || "").split("/")[1];
      const box = name ? form.querySelector(`.field[data-field="${CSS.escape(name)}"]`) : null;
      if (box) {
        box.classList.add("invalid");
        box.querySelector(".error").textContent = item.message;
      } else {
        unplaced.push(`${item.path || "body"}: ${item.message}`);
      }
    }
    feedback.replaceChildren(problemBox(new Error([error.message, ...unplaced].join(" — "))));
  }

  async function save(event, collection, record, form, feedback, kept) {
    event.preventDefault();
    const values = {};
    const uploads = [];
    try {
      for (const field of collection.fields) {
        if (field.serial) continue;
        const input = form.querySelector(`#field-${CSS.escape(field.name)}`);
        if (field.type === "file") {
          for (const file of input.files) uploads.push([field.name, file]);
          const held = record ? [].concat(record[field.name] || []) : [];
          const keep = held.filter((n) => kept[field.name].has(n));
          if (held.length !== keep.length) values[field.name] = field.multiple ? keep : keep[0] ?? null;
          continue;
        }
        const value = valueOf(field, input);
        const before = record ? record[field.name] ?? null : null;
        if (record && JSON.stringify(value) === JSON.stringify(before)) continue;
        if (!record && value === null) continue; // the field's default, if it has one
        values[field.name] = value;
      }
      for (const relation of collection.relations.filter((r) => r.stored)) {
        const text = form.querySelector(`#field-${CSS.escape(relation.name)}`).value;
        const list = text.split(",").map((s) => s.trim()).filter(Boolean);
        if (!record || JSON.stringify(list) !== JSON.stringify(record[relation.name] || [])) values[relation.name] = list;
      }
      const password = form.querySelector("#field-password");
      if (password && password.value) values.password = password.value;
    } catch (error) {
      showErrors(form, feedback, error);
      return;
    }
    const path = record ? `/api/${collection.name}/${record.id}` : `/api/${collection.name}`;
    const headers = record ? { "If-Match": `"${record.version}"` } : {};
    const options = { headers };
    if (uploads.length) {
      const body = new FormData();
      for (const [name, value] of Object.entries(values)) {
        if (Array.isArray(value)) value.forEach((item) => body.append(name, item));
        else if (value !== null && typeof value === "object") body.append(name, JSON.stringify(value));
        else body.append(name, value === null ? "" : String(value));
      }
      for (const [name, file] of uploads) body.append(name, file, file.name);
      options.form = body;
    } else {
      options.json = values;
    }
    try {
      const saved = await api(record ? "PATCH" : "POST", path, options);
      state.flash = record ? "Saved." : "Created.";
      if (record) await recordView(collection.name, saved.id);
      else location.hash = `#/c/${collection.name}/r/${saved.id}`;
    } catch (error) {
      showErrors(form, feedback, error);
    }
  }

  async function remove(collection, record, feedback) {
    if (!window.confirm(`Delete ${collection.name} ${record.id}? This cannot be undone.`)) return;
    try {
      await api("DELETE", `/api/${collection.name}/${record.id}`, { headers: { "If-Match": `"${record.version}"` } });
      location.hash = `#/c/${collection.name}`;
    } catch (error) {
      feedback.replaceChildren(problemBox(error));
    }
  }

  function accountPanel(collection, record) {
    const feedback = h("div", {});
    const keys = h("div", { id: "api-keys" }, h("p", { class: "meta" }, "Loading API keys…"));
    const base = `/api/admin/accounts/${collection.name}/${record.id}`;
    const act = async (work, done) => {
      try {
        await work();
        feedback.replaceChildren(h("div", { class: "notice", role: "status" }, done));
      } catch (error) {
        feedback.replaceChildren(problemBox(error));
      }
    };
    const loadKeys = async () => {
      try {
        const answer = await api("GET", `${base}/keys`);
        keys.replaceChildren(
          answer.items.length
            ? h("table", {}, h("tbody", {}, answer.items.map((key) => h("tr", {}, h("td", {}, key.name), h("td", { class: "mono" }, key.prefix || key.id), h("td", {}, (key.scopes || []).join(" ")), h("td", {}, h("button", { type: "button", class: "danger", onclick: () => act(async () => { await api("DELETE", `${base}/keys/${key.id}`); await loadKeys(); }, "The key is revoked.") }, "Revoke"))))))
            : h("p", { class: "meta" }, "No API keys."),
        );
      } catch (error) {
        keys.replaceChildren(problemBox(error));
      }
    };
    loadKeys();
    return h(
      "section",
      { class: "panel", id: "account" },
      h("h2", {}, "Account"),
      feedback,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", id: "end-logins", onclick: () => act(() => api("POST", `${base}/logout`), "Every login of this account has ended.") }, "End all logins"),
        record.email ? h("button", { type: "button", id: "send-reset", onclick: () => act(() => api("POST", `/api/auth/${collection.name}/request-password-reset`, { json: { email: record.email } }), "A password reset email is on its way (when mail is configured).") }, "Send password reset") : null,
      ),
      h("h3", {}, "API keys"),
      keys,
    );
  }

  // -- system pages -------------------------------------------------------------------------

  async function jobsView(params) {
    const status = params.get("status") || "";
    frame("#/jobs", h("h1", {}, "Jobs"), h("p", { class: "meta" }, "Loading…"));
    const main = document.getElementById("main");
    try {
      const answer = await api("GET", `/api/admin/jobs${status ? `?status=${encodeURIComponent(status)}` : ""}`);
      const counts = h("div", { class: "toolbar" }, h("a", { href: "#/jobs" }, h("span", { class: "badge" }, "all")), Object.entries(answer.counts).map(([name, count]) => h("a", { href: `#/jobs?status=${name}` }, h("span", { class: "badge" }, `${name}: ${count}`))));
      const rows = answer.items.map((job) =>
        h("tr", {}, h("td", {}, job.name), h("td", {}, job.kind), h("td", {}, job.status), h("td", {}, `${job.attempts}/${job.max_attempts}`), h("td", { title: job.last_error || "" }, job.last_error || ""), h("td", {}, (job.created || "").slice(0, 19)), h("td", {}, job.status === "dead" ? h("button", { type: "button", onclick: async (event) => { event.stopPropagation(); try { await api("POST", `/api/admin/jobs/${encodeURIComponent(job.id)}/retry`); jobsView(params); } catch (error) { main.prepend(problemBox(error)); } } }, "Retry") : "")),
      );
      main.lastChild.replaceWith(counts, rows.length ? h("div", { class: "table-wrap" }, h("table", { id: "jobs" }, h("thead", {}, h("tr", {}, ["name", "kind", "status", "attempts", "last error", "created", ""].map((t) => h("th", {}, t)))), h("tbody", {}, rows))) : h("p", { class: "meta" }, "No jobs."));
    } catch (error) {
      main.lastChild.replaceWith(problemBox(error));
    }
  }

  async function webhooksView() {
    frame("#/webhooks", h("h1", {}, "Webhook deliveries"), h("p", { class: "meta" }, "Loading…"));
    const main = document.getElementById("main");
    try {
      const answer = await api("GET", "/api/admin/webhooks/deliveries");
      const rows = answer.items.map((d) => h("tr", {}, h("td", {}, d.webhook), h("td", {}, d.attempt), h("td", {}, d.status_code ?? ""), h("td", {}, d.error || ""), h("td", {}, (d.created || "").slice(0, 19))));
      main.lastChild.replaceWith(rows.length ? h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, ["webhook", "attempt", "status", "error", "when"].map((t) => h("th", {}, t)))), h("tbody", {}, rows))) : h("p", { class: "meta" }, "No deliveries yet."));
    } catch (error) {
      main.lastChild.replaceWith(problemBox(error));
    }
  }

  async function migrationsView() {
    frame("#/migrations", h("h1", {}, "Migrations"), h("p", { class: "meta" }, "Loading…"));
    const main = document.getElementById("main");
    try {
      const status = await api("GET", "/api/admin/migrations");
      const list = (title, items) => (items.length ? [h("h2", {}, title), h("ul", {}, items.map((item) => h("li", {}, item)))] : []);
      main.lastChild.replaceWith(
        h("div", { class: status.up_to_date ? "notice" : "problem", id: "migration-status" }, status.up_to_date ? "The database matches the declaration." : "The database is behind the declaration: run backforge migrate plan, review, then backforge migrate apply."),
        h("section", { class: "panel" }, list("Pending plans", status.pending), list("Changed since applied", status.modified), list("What the database lacks", status.drift), list("Applied", status.applied.map((m) => `${m.name} (${m.applied_at.slice(0, 19)})`))),
      );
    } catch (error) {
      main.lastChild.replaceWith(problemBox(error));
    }
  }

  function rulesView() {
    const schema = state.schema;
    const result = h("div", { id: "verdict" });
    const form = h(
      "form",
      { class: "panel", id: "explain-form" },
      h("div", { class: "field" }, h("label", { for: "rule-collection" }, "Collection"), h("select", { id: "rule-collection", name: "collection" }, schema.collections.map((c) => h("option", { value: c.name }, c.name)))),
      h("div", { class: "field" }, h("label", { for: "rule-operation" }, "Operation"), h("select", { id: "rule-operation", name: "operation" }, ["list", "view", "create", "update", "delete"].map((o) => h("option", { value: o }, o)))),
      h("div", { class: "field" }, h("label", { for: "rule-record" }, "Record id"), h("input", { id: "rule-record", name: "record", type: "text" }), h("div", { class: "hint" }, "optional: judge the rule on this record")),
      h("div", { class: "field" }, h("label", { for: "rule-caller-collection" }, "As an account of"), h("select", { id: "rule-caller-collection", name: "caller_collection" }, h("option", { value: "" }, "nobody (anonymous)"), schema.accounts.map((a) => h("option", { value: a }, a)))),
      h("div", { class: "field" }, h("label", { for: "rule-caller" }, "Account id"), h("input", { id: "rule-caller", name: "caller", type: "text" })),
      h("button", { class: "primary", type: "submit", id: "explain" }, "Explain"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const query = new URLSearchParams();
      for (const [key, value] of new FormData(form)) if (value) query.set(key, value);
      try {
        const verdict = await api("GET", `/api/admin/explain?${query}`);
        const mark = (value) => (value === true ? h("span", { class: "verdict-yes" }, "yes") : value === false ? h("span", { class: "verdict-no" }, "no") : "?");
        result.replaceChildren(
          h(
            "section",
            { class: "panel" },
            h("p", {}, h("strong", {}, "Rule: "), h("code", {}, verdict.rule ?? "none (admins only)")),
            h("p", {}, "Admitted: ", mark(verdict.admitted), " — ", verdict.reason),
            (verdict.parts || []).length ? h("ul", {}, verdict.parts.map((part) => h("li", {}, mark(part.result), " ", h("code", {}, part.expression)))) : null,
          ),
        );
      } catch (error) {
        result.replaceChildren(problemBox(error));
      }
    });
    frame("#/rules", h("h1", {}, "Try a rule"), h("p", { class: "meta" }, "How a collection's rule judges a caller, part by part."), form, result);
  }

  function notFound() {
    frame("", h("h1", {}, "Not found"), h("p", {}, "Nothing here. ", h("a", { href: "#/" }, "Back to the start")));
  }

  // -- routing ------------------------------------------------------------------------------

  async function route() {
    if (!state.token) return loginView();
    if (!state.schema) {
      try {
        await loadSchema();
      } catch (error) {
        if (error.status === 403) return signOut("This credential is not an admin's: the dashboard is for admins.");
        if (error.status !== 401) show(problemBox(error));
        return;
      }
    }
    const [path, query] = location.hash.replace(/^#/, "").split("?");
    const params = new URLSearchParams(query || "");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    if (parts[0] === "c" && parts.length === 2) return listView(parts[1], params);
    if (parts[0] === "c" && parts[2] === "new") return recordView(parts[1], null);
    if (parts[0] === "c" && parts[2] === "r" && parts[3]) return recordView(parts[1], parts[3]);
    if (parts[0] === "jobs") return jobsView(params);
    if (parts[0] === "webhooks") return webhooksView();
    if (parts[0] === "migrations") return migrationsView();
    if (parts[0] === "rules") return rulesView();
    if (!parts.length && state.schema.collections.length) {
      location.replace(`#/c/${state.schema.collections[0].name}`);
      return undefined;
    }
    return notFound();
  }

  window.addEventListener("hashchange", route);
  route();
})();
