// The voice page's "Preview" box: speaks the typed text with this voice and plays it in the
// page (voices.admin.VoiceAdmin.preview_view answers with the stored preview's audio URL).
// No framework, no CDN.
(function () {
  "use strict";

  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (field) return field.value;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function setUp(box) {
    const text = box.querySelector("textarea");
    const button = box.querySelector("button");
    const status = box.querySelector("[data-role=status]");
    const audio = box.querySelector("audio");
    button.addEventListener("click", async function () {
      button.disabled = true;
      status.textContent = "Speaking…";
      const body = new URLSearchParams({ text: text.value });
      try {
        const answer = await fetch(box.dataset.url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
          body: body,
        });
        const data = await answer.json();
        if (!answer.ok) {
          status.textContent = data.error || "The preview could not be made.";
          return;
        }
        audio.hidden = false;
        audio.src = data.url;
        audio.dataset.previewId = data.previewId;
        status.textContent = data.durationSeconds.toFixed(1) + " s";
        try {
          await audio.play();
        } catch (blocked) {
          // Autoplay refused: the player is there to press.
        }
      } catch (failed) {
        status.textContent = "The preview could not be made; try again.";
      } finally {
        button.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-voice-preview]").forEach(setUp);
  });
})();
