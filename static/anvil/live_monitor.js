// Live monitor: subscribes to the organization's call events and renders transcripts as they
// arrive. No framework, no CDN: the page must work without internet access.
(function () {
  "use strict";
  const state = document.getElementById("monitor-state");
  const grid = document.getElementById("live-calls");

  function card(sessionId) {
    let element = document.getElementById("live-call-" + sessionId);
    if (!element) {
      const empty = document.getElementById("no-live-calls");
      if (empty) empty.remove();
      element = document.createElement("div");
      element.className = "live-call";
      element.id = "live-call-" + sessionId;
      const title = document.createElement("h3");
      title.textContent = "Call " + sessionId;
      const status = document.createElement("span");
      status.className = "status";
      title.appendChild(status);
      element.appendChild(title);
      grid.prepend(element);
    }
    return element;
  }

  function render(event) {
    if (!event.sessionId) return;
    const element = card(event.sessionId);
    if (event.type === "turn") {
      // The same turn again: its text was redacted further (a number given over several
      // turns is recognised at its last group); replace the line shown.
      const shown = element.querySelector('.turn[data-index="' + String(event.index) + '"]');
      if (shown) shown.remove();
      const line = document.createElement("div");
      line.dataset.index = String(event.index);
      line.className = "turn " + event.speaker;
      const who = document.createElement("strong");
      who.textContent = (event.speaker === "agent" ? "Agent" : "Contact") + ": ";
      line.appendChild(who);
      line.appendChild(document.createTextNode(event.recognized === false ? "(not recognised)" : event.text));
      if (event.interrupted) {
        const mark = document.createElement("span");
        mark.className = "interrupted";
        mark.textContent = " (interrupted)";
        line.appendChild(mark);
      }
      // Turns arrive as they end; speakers overlap, so place each by when it began.
      line.dataset.start = String(event.startMs || 0);
      const later = Array.from(element.querySelectorAll(".turn[data-start]")).find(
        (other) => Number(other.dataset.start) > (event.startMs || 0)
      );
      if (later) element.insertBefore(line, later);
      else element.appendChild(line);
    } else if (event.type === "status") {
      element.querySelector(".status").textContent = event.status;
    }
  }

  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + window.location.host + "/ws/monitor/");
  socket.onopen = function () {
    state.textContent = "Live";
    state.dataset.state = "live";
  };
  socket.onclose = function () {
    state.textContent = "Disconnected; reload the page to reconnect.";
    state.dataset.state = "closed";
  };
  socket.onmessage = function (message) {
    render(JSON.parse(message.data));
  };
})();
