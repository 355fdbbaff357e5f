// Live gradebook: listens on ws/gradebook/<slug>/ for "submission" events (sent by
// the server after each state change) and updates the trainee's row in place, or
// reloads a submission page whose state changed. No polling.
(function () {
  "use strict";
  const table = document.getElementById("gradebook");
  const single = document.getElementById("submission-live");
  const box = table || single;
  if (!box || !window.WebSocket) return;

  const labelsNode = document.getElementById("gradebook-labels");
  const labels = labelsNode ? JSON.parse(labelsNode.textContent) : { status: {} };

  function points(value) {
    return value === null || value === undefined ? "—" : String(Number(value));
  }

  function badge(text, extra) {
    const span = document.createElement("span");
    span.className = "badge" + (extra ? " " + extra : "");
    span.textContent = text;
    return span;
  }

  function statusCell(cell, data) {
    const state = document.createElement("span");
    state.className = "gradebook-status status-" + data.status;
    state.textContent = labels.status[data.status] || data.status;
    const parts = [state];
    if (data.status === "graded" && data.needs_manual_grade) {
      parts.push(badge(labels.manual));
    } else if (data.passed === true) {
      parts.push(badge(labels.passed, "pass"));
    } else if (data.passed === false) {
      parts.push(badge(labels.not_passed));
    }
    cell.replaceChildren();
    parts.forEach(function (part, index) {
      if (index) cell.append(" ");
      cell.append(part);
    });
  }

  function updateRow(row, data) {
    const shown = Number(row.dataset.attempt || 0);
    if (data.attempt < shown) return; // an older attempt: the row shows the latest
    const field = function (name) {
      return row.querySelector('[data-field="' + name + '"]');
    };
    if (data.attempt > shown) {
      row.dataset.attempt = String(data.attempt);
      const attempts = field("attempts");
      attempts.textContent = String(Math.max(Number(attempts.textContent) || 0, data.attempt));
      field("submitted").textContent = labels.just_now;
      const link = document.createElement("a");
      link.href = table.dataset.submissionUrl.replace("/0/", "/" + data.id + "/");
      link.textContent = (labels.open || "").replace("%(n)s", data.attempt);
      field("link").replaceChildren(link);
    }
    statusCell(field("status"), data);
    field("score").textContent =
      data.score === null ? "—" : points(data.score) + " / " + points(data.max_score);
    if (data.status === "graded" && data.score !== null) {
      const best = field("best");
      const current = Number(best.textContent);
      if (best.textContent === "—" || Number.isNaN(current) || data.score > current) {
        best.textContent = points(data.score);
      }
    }
    row.classList.remove("gradebook-updated");
    void row.offsetWidth; // restart the highlight
    row.classList.add("gradebook-updated");
  }

  function onSubmission(data) {
    if (single) {
      if (String(data.id) === single.dataset.id && data.status !== single.dataset.status) {
        window.location.reload();
      }
      return;
    }
    const row = table.querySelector('tr[data-user="' + data.user + '"]');
    if (row) {
      updateRow(row, data);
    } else {
      const notice = document.getElementById("gradebook-live");
      if (notice) notice.hidden = false;
    }
  }

  let delay = 1000;
  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + box.dataset.ws);
    socket.onopen = function () {
      delay = 1000;
    };
    socket.onmessage = function (event) {
      const message = JSON.parse(event.data);
      if (message.type === "submission" && message.data) onSubmission(message.data);
    };
    socket.onclose = function (event) {
      if (event.code === 4401 || event.code === 4403 || event.code === 4404) return;
      window.setTimeout(connect, delay); // reconnect after a restart, backing off
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
