// Follows the lab server's start-up over a websocket, then opens JupyterLab.
(function () {
  const box = document.getElementById("lab-start");
  if (!box) return;
  const bar = document.getElementById("lab-progress");
  const message = document.getElementById("lab-message");
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + window.location.host + box.dataset.ws);
  let finished = false;
  function fail(text) {
    finished = true;
    document.getElementById("lab-error").textContent = text;
    document.getElementById("lab-failed").hidden = false;
  }
  socket.onmessage = function (event) {
    const data = JSON.parse(event.data);
    if (typeof data.progress === "number") bar.value = data.progress;
    if (data.message) message.textContent = data.message;
    if (data.type === "ready") {
      finished = true;
      window.location.assign(data.url || box.dataset.labUrl);
    } else if (data.type === "failed") {
      fail(data.message || "The lab could not start.");
    }
  };
  socket.onclose = function () {
    if (!finished) fail(message.textContent);
  };
})();
