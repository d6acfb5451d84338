// Live monitor: one card per live call, drawn by `drawCard` from the server's card dict
// (sessions/live/cards.py) whether the card came with the page or was fetched when the
// websocket first mentioned the call; transcripts stream in over the organization's socket;
// finished calls fade out. Listen-in opens a second socket per call and plays both directions
// (μ-law 8 kHz) through Web Audio. No framework, no CDN: the page must work offline.
(function () {
  "use strict";
  const state = document.getElementById("monitor-state");
  const grid = document.getElementById("live-calls");
  const empty = document.getElementById("no-live-calls");
  const config = JSON.parse(document.getElementById("monitor-config").textContent);
  const initial = JSON.parse(document.getElementById("monitor-cards").textContent);
  const finished = new Set(config.finishedStatuses);
  const cards = new Map(); // sessionId → {element, data, startedAt}
  const pending = new Map(); // sessionId → events that arrived while its card was fetched
  const csrfInput = document.querySelector("input[name=csrfmiddlewaretoken]");
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";

  function el(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function showEmpty() {
    empty.style.display = cards.size ? "none" : "";
  }

  function elapsed(startedAt) {
    if (!startedAt) return "0:00";
    const seconds = Math.max(0, Math.floor((Date.now() - startedAt) / 1000));
    const rest = String(seconds % 60).padStart(2, "0");
    return Math.floor(seconds / 60) + ":" + rest;
  }

  function setLatency(card, latency) {
    if (!latency || latency.since !== "speech_end" || typeof latency.first_frame_ms !== "number") return;
    card.element.querySelector(".latency").textContent =
      "reply in " + Math.round(latency.first_frame_ms) + " ms";
  }

  function drawTurn(card, turn) {
    const transcript = card.element.querySelector(".transcript");
    // The same turn again: its text was redacted further; replace the line shown.
    const shown = transcript.querySelector('.turn[data-index="' + String(turn.index) + '"]');
    if (shown) shown.remove();
    const line = el("div", "turn " + turn.speaker);
    line.dataset.index = String(turn.index);
    line.appendChild(el("strong", "", (turn.speaker === "agent" ? "Agent" : "Contact") + ": "));
    line.appendChild(document.createTextNode(turn.recognized === false ? "(not recognised)" : turn.text));
    if (turn.interrupted) line.appendChild(el("span", "interrupted", " (interrupted)"));
    // Turns arrive as they end; speakers overlap, so place each by when it began.
    line.dataset.start = String(turn.startMs || 0);
    const later = Array.from(transcript.querySelectorAll(".turn[data-start]")).find(
      (other) => Number(other.dataset.start) > (turn.startMs || 0)
    );
    if (later) transcript.insertBefore(line, later);
    else transcript.appendChild(line);
    transcript.scrollTop = transcript.scrollHeight;
    if (turn.speaker === "agent") setLatency(card, turn.latency);
  }

  function rank(status) {
    const index = config.statusOrder.indexOf(status);
    return index < 0 ? 0 : index;
  }

  function setStatus(card, status, initial) {
    // Events may arrive out of order (the stream's "in progress" before the carrier's
    // "ringing"): a card never moves back; every finished status ends it.
    if (!initial && !finished.has(status) && rank(status) < rank(card.data.status)) return;
    card.data.status = status;
    const label = config.statusLabels[status] || status;
    const badge = card.element.querySelector(".status");
    badge.textContent = label;
    badge.dataset.status = status;
    if (status === "in_progress" && !card.data.answered) {
      card.data.answered = true;
      card.startedAt = Date.now();
    }
    if (finished.has(status)) leave(card);
  }

  function leave(card) {
    if (card.leaving) return;
    card.leaving = true;
    stopListening(card);
    card.element.classList.add("leaving");
    card.element.dataset.state = "leaving";
    window.setTimeout(function () {
      card.element.remove();
      cards.delete(card.data.sessionId);
      showEmpty();
    }, 1500);
  }

  function button(label, testid, onClick) {
    const b = el("button", "button", label);
    b.type = "button";
    b.dataset.testid = testid;
    b.addEventListener("click", onClick);
    return b;
  }

  function drawCard(data) {
    const element = el("div", "live-call");
    element.id = "live-call-" + data.sessionId;
    element.dataset.testid = "live-call-card";
    element.dataset.sessionId = String(data.sessionId);
    element.dataset.listenFrames = "0";
    const title = el("h3");
    const link = el("a", "", data.contactName);
    link.href = data.url;
    link.dataset.testid = "live-call-session-link";
    title.appendChild(link);
    title.appendChild(el("span", "status"));
    element.appendChild(title);
    const meta = el("div", "meta");
    const number = el("span", "number", data.maskedNumber);
    number.dataset.testid = "live-call-number";
    const campaign = el("span", "campaign", data.campaign);
    campaign.dataset.testid = "live-call-campaign";
    const clock = el("span", "elapsed");
    clock.dataset.testid = "live-call-elapsed";
    const latency = el("span", "latency", "");
    meta.append(number, campaign, clock, latency);
    element.appendChild(meta);
    element.appendChild(el("div", "transcript"));
    const card = {
      element: element,
      data: data,
      startedAt: data.startedAt ? Date.parse(data.startedAt) : Date.now(),
    };
    if (data.canControl) {
      const controls = el("div", "controls");
      const message = el("span", "control-message");
      message.dataset.testid = "live-call-message";
      controls.append(
        button("Listen in", "live-call-listen", function () {
          if (card.listener) stopListening(card);
          else startListening(card);
        }),
        button("Hang up", "live-call-hang-up", function () {
          control(card, "hang-up");
        }),
        button("Transfer to me", "live-call-transfer", function () {
          control(card, "transfer-to-me");
        }),
        el("span", "listening"),
        message
      );
      element.appendChild(controls);
    }
    cards.set(data.sessionId, card);
    grid.prepend(element);
    setStatus(card, data.status, true);
    (data.turns || []).forEach(function (turn) {
      drawTurn(card, turn);
    });
    if (data.replyLatencyMs !== null && data.replyLatencyMs !== undefined) {
      latency.textContent = "reply in " + data.replyLatencyMs + " ms";
    }
    clock.textContent = elapsed(card.startedAt);
    showEmpty();
    return card;
  }

  function apply(card, event) {
    if (event.type === "turn") drawTurn(card, event);
    else if (event.type === "status") setStatus(card, event.status);
  }

  function fetchCard(sessionId) {
    pending.set(sessionId, []);
    fetch("/admin/live/" + sessionId + "/card/", { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("card " + response.status);
        return response.json();
      })
      .then(function (data) {
        const events = pending.get(sessionId) || [];
        pending.delete(sessionId);
        if (cards.has(sessionId)) return;
        const card = drawCard(data);
        events.forEach(function (event) {
          apply(card, event);
        });
      })
      .catch(function () {
        pending.delete(sessionId);
      });
  }

  // What happened between the page's render and its socket's opening was sent to nobody:
  // read each card again once subscribed (turns replace themselves; statuses never go back).
  function refreshCards() {
    cards.forEach(function (card, sessionId) {
      fetch("/admin/live/" + sessionId + "/card/", { credentials: "same-origin" })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (data) {
          if (!data || card.leaving) return;
          (data.turns || []).forEach(function (turn) {
            drawTurn(card, turn);
          });
          setStatus(card, data.status);
        })
        .catch(function () {});
    });
  }

  function render(event) {
    const sessionId = event.sessionId;
    if (!sessionId) return;
    if (config.only && sessionId !== config.only) return;
    const card = cards.get(sessionId);
    if (card) {
      apply(card, event);
    } else if (pending.has(sessionId)) {
      pending.get(sessionId).push(event);
    } else if (!(event.type === "status" && finished.has(event.status))) {
      fetchCard(sessionId);
      pending.get(sessionId).push(event);
    }
  }

  // --- controls -------------------------------------------------------------------------
  function control(card, action) {
    const message = card.element.querySelector(".control-message");
    message.textContent = "…";
    fetch("/admin/live/" + card.data.sessionId + "/" + action + "/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfInput ? csrfInput.value : "" },
    })
      .then(function (response) {
        return response.json().catch(function () {
          return { message: "Refused (" + response.status + ")." };
        });
      })
      .then(function (answer) {
        message.textContent = answer.message || "";
      })
      .catch(function () {
        message.textContent = "The server did not answer.";
      });
  }

  // --- listen in ------------------------------------------------------------------------
  let audio = null;

  // ITU-T G.711 μ-law → linear PCM, as a float in [-1, 1].
  const ULAW = new Float32Array(256);
  for (let i = 0; i < 256; i++) {
    const u = ~i & 0xff;
    let t = ((u & 0x0f) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    ULAW[i] = ((u & 0x80) ? 0x84 - t : t - 0x84) / 32768;
  }

  function play(card, direction, bytes) {
    if (!audio) return;
    const buffer = audio.createBuffer(1, bytes.length, 8000);
    const samples = buffer.getChannelData(0);
    for (let i = 0; i < bytes.length; i++) samples[i] = ULAW[bytes[i]];
    const source = audio.createBufferSource();
    source.buffer = buffer;
    source.connect(audio.destination);
    // Each direction keeps its own timeline; both play into one destination (the mix).
    const cursor = card.cursors[direction];
    const at = Math.max(cursor, audio.currentTime + 0.15);
    source.start(at);
    card.cursors[direction] = at + buffer.duration;
  }

  function startListening(card) {
    if (!audio) {
      const Context = window.AudioContext || window.webkitAudioContext;
      audio = new Context();
    }
    if (audio.state === "suspended") audio.resume();
    card.cursors = [0, 0];
    const socket = new WebSocket(scheme + window.location.host + "/ws/monitor/listen/" + card.data.sessionId + "/");
    socket.binaryType = "arraybuffer";
    card.listener = socket;
    const badge = card.element.querySelector(".listening");
    const toggle = card.element.querySelector('[data-testid="live-call-listen"]');
    toggle.textContent = "Stop listening";
    badge.textContent = "connecting…";
    socket.onopen = function () {
      badge.textContent = "listening";
      card.element.dataset.listening = "true";
    };
    socket.onmessage = function (message) {
      const bytes = new Uint8Array(message.data);
      if (bytes.length < 2) return;
      const direction = bytes[0];
      const frames = Number(card.element.dataset.listenFrames) + 1;
      card.element.dataset.listenFrames = String(frames);
      const key = direction === 0 ? "listenCaller" : "listenAgent";
      card.element.dataset[key] = String(Number(card.element.dataset[key] || 0) + 1);
      play(card, direction, bytes.subarray(1));
    };
    socket.onclose = function () {
      badge.textContent = "";
      card.element.dataset.listening = "false";
      toggle.textContent = "Listen in";
      card.listener = null;
    };
  }

  function stopListening(card) {
    if (card.listener) card.listener.close();
  }

  // --- start ----------------------------------------------------------------------------
  initial.forEach(drawCard);
  showEmpty();
  window.setInterval(function () {
    cards.forEach(function (card) {
      card.element.querySelector(".elapsed").textContent = elapsed(card.startedAt);
    });
  }, 1000);

  const socket = new WebSocket(scheme + window.location.host + "/ws/monitor/");
  socket.onopen = function () {
    state.textContent = "Live";
    state.dataset.state = "live";
    refreshCards();
  };
  socket.onclose = function () {
    state.textContent = "Disconnected; reload the page to reconnect.";
    state.dataset.state = "closed";
  };
  socket.onmessage = function (message) {
    render(JSON.parse(message.data));
  };
})();
