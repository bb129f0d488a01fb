// vigia: optional conveniences. Every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Live: reconnect an MJPEG view that dropped (server restart, network).
  for (const img of document.querySelectorAll("img.mjpeg")) {
    const src = img.getAttribute("src");
    img.addEventListener("error", () => {
      setTimeout(() => { img.src = src + "?t=" + Date.now(); }, 3000);
    });
  }
  // Capture page: keyboard seeking (j/l = -/+5 s, k = play/pause).
  const video = document.querySelector("video.clip");
  if (video) {
    document.addEventListener("keydown", (e) => {
      if (e.target instanceof HTMLInputElement || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === "j") video.currentTime = Math.max(0, video.currentTime - 5);
      else if (e.key === "l") video.currentTime = video.currentTime + 5;
      else if (e.key === "k") { if (video.paused) video.play(); else video.pause(); }
    });
  }
});
