// The page's transport, one small interface for the two ways a page reaches its session:
//   send(text)            a JSON message to the session
//   open                  whether messages can be sent now
//   onopen(), onmessage(data), onclose(reason)   set by main.js; data: a string (JSON) or an
//                         ArrayBuffer (a binary frame, frames.js)
//   start()               called by main.js once its handlers are set
// The same page modules run over either: a WebSocket to the playground server, or the
// notebook widget's comm on the kernel's own channel (anywidget's model.send / "msg:custom",
// frames as binary buffers), which works wherever the notebook runs (Colab, JupyterHub, VS Code).

export function webSocketTransport(url) {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const t = {
    onopen: null, onmessage: null, onclose: null,
    get open() { return ws.readyState === WebSocket.OPEN; },
    send: (text) => ws.send(text),
    start: () => {},
  };
  ws.addEventListener("open", () => t.onopen?.());
  ws.addEventListener("message", (event) => t.onmessage?.(event.data));
  ws.addEventListener("close", (event) => t.onclose?.(event.reason));
  return t;
}

export function commTransport(model) {
  const t = {
    onopen: null, onmessage: null, onclose: null, open: true,
    send: (text) => { if (t.open) model.send({text}); },
    // the kernel (re)starts this page's connection on "ready" and answers with "hello"
    start: () => { model.send({ready: true}); t.onopen?.(); },
    dispose: () => { t.open = false; model.off("msg:custom", onCustom); },
  };
  let greeted = false;
  function onCustom(content, buffers) {
    if (typeof content.text === "string") {
      // every view of the widget hears every message: a later view's hello (the kernel's
      // answer to its "ready") is not for a view that has its page already
      if (content.text.startsWith('{"type": "hello"')) { if (greeted) return; greeted = true; }
      t.onmessage?.(content.text);
    }
    else if (content.binary && buffers?.length) {
      const b = buffers[0];     // a DataView on the kernel's bytes: the frame's own ArrayBuffer
      t.onmessage?.(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    } else if (content.closed !== undefined) { t.open = false; t.onclose?.(content.closed); }
  }
  model.on("msg:custom", onCustom);
  return t;
}
