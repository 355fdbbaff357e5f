// Tells the trainee, on the dashboard and the certificates page, when a
// certificate has just been issued (ws/notifications/ sends kind "certificate").
// The notice is a polite live region with a link to the new certificate.
(function () {
  const notice = document.getElementById("certificate-live");
  if (!notice || !("WebSocket" in window)) return;
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  let socket;
  let delay = 1000;

  function connect() {
    socket = new WebSocket(scheme + window.location.host + "/ws/notifications/");
    socket.onopen = function () { delay = 1000; };
    socket.onmessage = function (event) {
      const message = JSON.parse(event.data);
      const data = message.data || {};
      if (data.kind !== "certificate") return;
      const link = notice.querySelector("a");
      notice.querySelector("[data-text]").textContent = data.text;
      link.href = data.url;
      notice.hidden = false;
    };
    socket.onclose = function (event) {
      if (event.code === 4401) return; // signed out
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
