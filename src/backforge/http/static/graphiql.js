// The GraphQL console: GraphiQL (shipped in the package) posting to this API's /graphql.
"use strict";
(function () {
  function cookie(name) {
    var found = document.cookie.split("; ").find(function (c) { return c.startsWith(name + "="); });
    return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
  }
  function fetcher(params, options) {
    var headers = Object.assign({ "Content-Type": "application/json", Accept: "application/json" },
      (options && options.headers) || {});
    var csrf = cookie("bf_csrf");  // a cookie session's writes carry its CSRF token
    if (csrf && !headers["X-CSRF-Token"]) headers["X-CSRF-Token"] = csrf;
    return fetch("graphql", {
      method: "POST", headers: headers, body: JSON.stringify(params), credentials: "same-origin",
    }).then(function (response) { return response.json(); });
  }
  // /graphql?query=… opened in a browser: the console, with that query in its editor — not a
  // mutation, which a link from elsewhere would have one click run with this session's rights.
  var asked = new URLSearchParams(location.search).get("query");
  if (asked && /\bmutation\b/.test(asked)) asked = null;
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    query: asked || undefined,
    defaultEditorToolsVisibility: true,
    shouldPersistHeaders: false,
  }));
})();
