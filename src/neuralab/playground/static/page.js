// Where the page lives and how it reaches its session. The server's page (index.html) keeps
// the defaults: the document, and a WebSocket to the server it came from (main.js makes it).
// The notebook widget (neuralab/playground/widget.py) sets them before main.js runs: its
// shadow root, its own element, the kernel's comm, and the state the notebook asked for.

export const page = {
  root: document,         // where the page's elements are found (a Document or a ShadowRoot)
  body: document.body,    // where the page's classes and temporary elements go
  transport: null,        // null: a WebSocket to this page's server (transport.js)
  hash: null,             // null: the address bar's hash sets the page up and follows it
};

export const $ = (id) => page.root.getElementById(id);
