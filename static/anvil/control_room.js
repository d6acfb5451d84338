// A campaign's control room: keeps the page current without a reload. It fetches the room's
// JSON snapshot when the live monitor's websocket reports a call event of the organization
// (a turn, a status) and every few seconds regardless (counters move without call events too:
// the dialler, retries). No framework, no CDN: the admin must work without internet access.
// Elements are found by data-testid; user data is set with textContent only.
(function () {
  "use strict";
  const room = document.querySelector('[data-testid="control-room"]');
  if (!room) return;
  const stateUrl = room.dataset.stateUrl;
  const pollMs = 1000 * Number(room.dataset.pollSeconds || 3);
  const connection = room.querySelector('[data-testid="control-room-connection"]');
  let socketLive = false;
  let pending = null;
  let inFlight = false;
  let fetchedAt = performance.now();
  let requestedAt = 0;

  function part(testid) {
    return room.querySelector('[data-testid="' + testid + '"]');
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  function cell(row, text, testid) {
    const td = document.createElement("td");
    if (testid) td.dataset.testid = testid;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function turnCell(row, call, testid) {
    const td = cell(row, "", testid);
    if (call.lastText) {
      const who = document.createElement("span");
      who.className = "speaker";
      who.textContent = call.lastSpeaker.charAt(0).toUpperCase() + call.lastSpeaker.slice(1) + ":";
      td.appendChild(who);
      td.appendChild(document.createTextNode(" " + call.lastText));
    }
  }

  function emptyRow(body, text, testid) {
    const row = document.createElement("tr");
    if (testid) row.dataset.testid = testid;
    const td = cell(row, text);
    td.colSpan = 5;
    body.appendChild(row);
  }

  function renderCalls(calls) {
    const body = part("control-room-calls");
    body.replaceChildren();
    calls.forEach(function (call) {
      const row = document.createElement("tr");
      row.dataset.testid = "control-room-call";
      row.dataset.sessionId = String(call.sessionId);
      row.dataset.elapsed = String(call.elapsedSeconds);
      cell(row, call.contactName);
      cell(row, call.number);
      cell(row, call.statusLabel);
      cell(row, duration(call.elapsedSeconds), "control-room-call-elapsed");
      turnCell(row, call, "control-room-call-turn");
      body.appendChild(row);
    });
    if (!calls.length) emptyRow(body, "No call in flight right now.", "control-room-no-calls");
  }

  function renderRecent(calls) {
    const body = part("control-room-recent");
    body.replaceChildren();
    calls.forEach(function (call) {
      const row = document.createElement("tr");
      row.dataset.testid = "control-room-recent-call";
      row.dataset.sessionId = String(call.sessionId);
      cell(row, call.contactName);
      cell(row, call.number);
      cell(row, call.outcomeLabel || call.statusLabel);
      cell(row, duration(call.elapsedSeconds));
      turnCell(row, call);
      body.appendChild(row);
    });
    if (!calls.length) emptyRow(body, "None yet: finished calls appear here.");
  }

  function renderOutcomes(outcomes) {
    const list = part("control-room-outcomes");
    list.replaceChildren();
    outcomes.forEach(function (item) {
      const li = document.createElement("li");
      li.dataset.outcome = item.outcome;
      li.textContent = item.label + ": " + item.count;
      list.appendChild(li);
    });
    // With no outcome yet the list stays empty: the outcome chart beside it says so once.
  }

  function setChart(testid, html) {
    const holder = part(testid);
    // Server-rendered SVG (anvil_voice.charts): replaced only when it changed.
    if (holder.dataset.html !== html) {
      holder.innerHTML = html;
      holder.dataset.html = html;
    }
  }

  function renderButtons(buttons) {
    buttons.forEach(function (button) {
      const element = part("control-room-" + button.verb);
      if (!element) return;
      element.disabled = !button.enabled;
      element.textContent = button.label;
    });
  }

  function render(state) {
    const status = part("control-room-status");
    status.textContent = state.statusLabel;
    status.dataset.status = state.status;
    const line = part("control-room-next-dial");
    line.textContent = state.dialling.text;
    line.dataset.reason = state.dialling.reason || "";
    const progress = state.progress;
    part("control-room-progress-bar").style.width = progress.percent + "%";
    part("control-room-progress-text").textContent =
      progress.done + " of " + progress.total + " contacts done (" + progress.percent + "%)";
    part("control-room-done").textContent = String(progress.done);
    part("control-room-pending").textContent = String(progress.pending);
    part("control-room-total").textContent = String(progress.total);
    part("control-room-in-flight").textContent = String(state.liveCalls.length);
    part("control-room-answer-rate").textContent = state.answerRatePercent.toFixed(1) + "%";
    const talk = part("control-room-talk-time");
    talk.dataset.seconds = String(state.averageTalkSeconds);
    talk.textContent = Math.round(state.averageTalkSeconds) + " s";
    renderCalls(state.liveCalls);
    renderRecent(state.recentCalls);
    renderOutcomes(state.outcomes);
    setChart("control-room-outcome-chart", state.charts.outcomes);
    setChart("control-room-hourly-chart", state.charts.hourly);
    renderButtons(state.buttons);
    room.dataset.refreshes = String(Number(room.dataset.refreshes) + 1);
  }

  function refresh() {
    if (inFlight) {
      pending = pending || setTimeout(refreshSoon, 250);
      return;
    }
    inFlight = true;
    requestedAt = performance.now();
    fetch(stateUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (state) {
        fetchedAt = performance.now();
        render(state);
        if (!socketLive) {
          connection.textContent = "Updating every " + pollMs / 1000 + " s";
          connection.dataset.state = "polling";
        }
      })
      .catch(function () {
        connection.textContent = "Cannot reach the server; retrying…";
        connection.dataset.state = "error";
      })
      .finally(function () {
        inFlight = false;
      });
  }

  function refreshSoon() {
    pending = null;
    refresh();
  }

  // Elapsed times tick between snapshots.
  setInterval(function () {
    const since = (performance.now() - fetchedAt) / 1000;
    room.querySelectorAll('[data-testid="control-room-call"]').forEach(function (row) {
      const shown = row.querySelector('[data-testid="control-room-call-elapsed"]');
      if (shown) shown.textContent = duration(Number(row.dataset.elapsed) + since);
    });
  }, 1000);
  setInterval(refresh, pollMs);

  try {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const organization = room.dataset.organization;
    const query = organization ? "?organization=" + encodeURIComponent(organization) : "";
    const socket = new WebSocket(scheme + window.location.host + "/ws/monitor/" + query);
    socket.onopen = function () {
      socketLive = true;
      connection.textContent = "Live";
      connection.dataset.state = "live";
    };
    socket.onclose = function () {
      socketLive = false;
      connection.textContent = "Updating every " + pollMs / 1000 + " s";
      connection.dataset.state = "polling";
    };
    socket.onmessage = function () {
      // Any call event of the organization may be one of ours: one fetch for a burst of them,
      // at most one a second (an organization with many calls sends many events).
      if (pending) return;
      const wait = Math.max(200, 1000 - (performance.now() - requestedAt));
      pending = setTimeout(refreshSoon, wait);
    };
  } catch (error) {
    connection.dataset.state = "polling";
  }
  refresh();
})();
