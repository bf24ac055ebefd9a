// Starts GraphiQL against this server. Everything it loads comes from this server: the page
// works on networks without Internet access.
//
// URL parameters, for links and for the browser test: `query` fills the editor, `docs=1`
// opens the documentation explorer, `run=1` runs the query once the page is up.
(function () {
  const params = new URLSearchParams(window.location.search);
  const ws = new URL("/graphql/ws", window.location.href);
  ws.protocol = ws.protocol === "https:" ? "wss:" : "ws:";
  const fetcher = GraphiQL.createFetcher({
    url: new URL("/graphql", window.location.href).toString(),
    subscriptionUrl: ws.toString(),
  });
  const props = { fetcher: fetcher, defaultEditorToolsVisibility: true };
  if (params.has("query")) {
    props.query = params.get("query");
    props.defaultQuery = params.get("query");
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, props)
  );

  function whenPresent(selector, then, tries) {
    const el = document.querySelector(selector);
    if (el) return then(el);
    if (tries > 0) setTimeout(() => whenPresent(selector, then, tries - 1), 100);
  }
  if (params.get("docs") === "1") {
    whenPresent('[aria-label="Show Documentation Explorer"]', (b) => b.click(), 100);
  }
  if (params.get("run") === "1") {
    whenPresent(".graphiql-execute-button", (b) => setTimeout(() => b.click(), 300), 100);
  }
})();
