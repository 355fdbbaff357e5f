// Keeps the live sections of the trainee's submission pages current.
// A section names its fragment URL (data-live-part) and what it follows
// (data-live-submission: a submission id, or data-live-lab: a lab slug). When
// ws/notifications/ announces a change to it, the section is fetched once again;
// nothing is fetched while nothing happens.
(function () {
  const sections = Array.from(document.querySelectorAll("[data-live-part]"));
  if (!sections.length || !("WebSocket" in window)) return;
  const announcer = document.getElementById("live-status");
  const KINDS = ["submission", "manual_grade"];

  function follows(section, data) {
    if (!KINDS.includes(data.kind)) return false;
    if (section.dataset.liveSubmission) {
      return String(data.id) === section.dataset.liveSubmission;
    }
    return Boolean(section.dataset.liveLab) && data.lab === section.dataset.liveLab;
  }

  function pending(section) {
    return section.querySelector("[data-pending]") !== null;
  }

  // One request per section at a time; an event during a request asks for one more.
  function refresh(section) {
    if (section.dataset.loading) {
      section.dataset.again = "1";
      return;
    }
    section.dataset.loading = "1";
    fetch(section.dataset.livePart, { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : Promise.reject(response.status);
      })
      .then(function (html) {
        section.innerHTML = html;
        const status = section.querySelector("[data-status-text]");
        if (announcer && status) announcer.textContent = status.dataset.statusText;
      })
      .catch(function () {})
      .finally(function () {
        delete section.dataset.loading;
        if (section.dataset.again) {
          delete section.dataset.again;
          refresh(section);
        }
      });
  }

  let delay = 1000;
  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + "/ws/notifications/");
    socket.onopen = function () {
      delay = 1000;
      // Whatever changed before the socket was open (or while it was down).
      sections.filter(pending).forEach(refresh);
    };
    socket.onmessage = function (event) {
      const message = JSON.parse(event.data);
      if (message.type !== "notify" || !message.data) return;
      sections.forEach(function (section) {
        if (follows(section, message.data)) refresh(section);
      });
    };
    socket.onclose = function (event) {
      if (event.code === 4401) return; // signed out: nothing to follow
      window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
