// The Recordings view's player (dashboard/recordings.py). Each element with data-cctv-recording
// (JSON: camera, day [start, end] in Unix seconds, recorded ranges, events, lines, zones, token)
// gets a day timeline (recorded ranges green, gaps grey, events orange) and a video with a canvas
// over it. A click on the timeline or an event fetches PLAY_S seconds from there: the MP4 (its
// X-Start-Ts header is the Unix time of its 0 s) and the objects of each frame, both from
// /api/recordings. On every animation frame the canvas draws the objects of the newest frame
// captured at or before X-Start-Ts + video.currentTime, so seek, pause and speed stay in step.
// What it drew is in the canvas's data-drawn (JSON) and window.cctvRecordings[camera] (tests).
// (No less-than sign before a letter or slash in this file: the page's HTML sanitizer drops a
// script whose text looks like markup.)
(() => {
  const PLAY_S = 120;
  const BEFORE_S = 2;
  const STALE_S = 0.5;
  const players = (window.cctvRecordings = window.cctvRecordings || {});

  const colour = (label) => {
    let hash = 0;
    for (const c of label) hash = (hash * 31 + c.charCodeAt(0)) % 360;
    return `hsl(${hash}, 90%, 55%)`;
  };

  const frameAt = (frames, ts) => {
    let lo = 0, hi = frames.length - 1, at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (frames[mid].ts <= ts + 0.001) { at = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return at >= 0 && ts - frames[at].ts <= STALE_S ? frames[at] : null;
  };

  const setup = (root) => {
    if (root.dataset.ready) return;
    root.dataset.ready = "1";
    const state = JSON.parse(root.dataset.cctvRecording);
    const [dayStart, dayEnd] = state.day;
    const bar = document.createElement("canvas");
    bar.dataset.cctvTimeline = state.camera;
    bar.style.cssText = "width:100%;height:36px;cursor:pointer;display:block";
    const box = document.createElement("div");
    box.style.cssText = "position:relative;margin-top:8px";
    const video = document.createElement("video");
    Object.assign(video, { controls: true, muted: true, playsInline: true });
    video.style.cssText = "width:100%;display:block;background:#111";
    const overlay = document.createElement("canvas");
    overlay.dataset.cctvOverlay = state.camera;
    overlay.style.cssText = "position:absolute;left:0;top:0;pointer-events:none";
    const download = document.createElement("a");
    download.textContent = "Download (MP4)";
    download.style.display = "none";
    const info = document.createElement("div");
    info.style.cssText = "font-size:0.85em;opacity:0.8";
    box.append(video, overlay);
    root.append(bar, box, download, info);
    const player = (players[state.camera] = { startTs: null, frames: [], drawn: null });

    const drawBar = () => {
      bar.width = bar.clientWidth || 800;
      bar.height = 36;
      const g = bar.getContext("2d");
      const x = (ts) => ((ts - dayStart) / (dayEnd - dayStart)) * bar.width;
      g.fillStyle = "#555";
      g.fillRect(0, 10, bar.width, 16);
      g.fillStyle = "#2e9d4c";
      for (const [a, b] of state.ranges) g.fillRect(x(a), 10, Math.max(1, x(b) - x(a)), 16);
      g.fillStyle = "#ff9900";
      for (const e of state.events) g.fillRect(x(e.ts) - 1, 0, 3, 36);
      for (const h of [0, 6, 12, 18, 24]) {
        g.fillStyle = "#aaa";
        g.fillRect((h / 24) * bar.width, 26, 1, 10);
      }
    };

    const snap = (ts) => {
      for (const [a, b] of state.ranges) {
        if (ts >= a && ts - b < 0) return ts;
        if (a > ts) return a;
      }
      const last = state.ranges[state.ranges.length - 1];
      return last ? Math.max(last[0], last[1] - PLAY_S) : null;
    };

    const url = (path, start, end) =>
      `/api/recordings/${encodeURIComponent(state.camera)}/${path}?start=${start}&end=${end}` +
      (state.token ? `&token=${encodeURIComponent(state.token)}` : "");

    player.play = async (wanted) => {
      const ts = snap(wanted);
      if (ts === null) return;
      const start = ts - BEFORE_S;
      const end = start + PLAY_S;
      info.textContent = "loading...";
      const reply = await fetch(url("video.mp4", start, end));
      if (!reply.ok) {
        info.textContent = (await reply.json()).error;
        return;
      }
      const startTs = parseFloat(reply.headers.get("X-Start-Ts"));
      const blob = await reply.blob();
      const objects = await fetch(url("objects", startTs, end));
      player.frames = objects.ok ? (await objects.json()).objects : [];
      player.startTs = startTs;
      download.href = url("video.mp4", start, end);
      download.download = `${state.camera}-${Math.round(startTs)}.mp4`;
      download.style.display = "inline";
      video.src = URL.createObjectURL(blob);
      video.currentTime = ts - startTs;
      info.textContent = `from ${new Date(startTs * 1000).toLocaleString()}`;
      video.play().catch(() => {});
    };

    bar.addEventListener("click", (click) => {
      const r = bar.getBoundingClientRect();
      const ts = dayStart + ((click.clientX - r.left) / r.width) * (dayEnd - dayStart);
      const near = state.events.find(
        (e) => Math.abs(((e.ts - ts) / (dayEnd - dayStart)) * r.width) - 4 <= 0);
      player.play(near ? near.ts - BEFORE_S : ts);
    });

    const drawPlaces = (g, w, h) => {
      g.lineWidth = 2;
      for (const [places, closed, style] of [[state.lines, false, "#ffff00"],
                                             [state.zones, true, "#ff00ff"]]) {
        g.strokeStyle = style;
        for (const points of places) {
          g.beginPath();
          points.forEach(([px, py], i) => (i ? g.lineTo(px * w, py * h) : g.moveTo(px * w, py * h)));
          if (closed) g.closePath();
          g.stroke();
        }
      }
    };

    const tick = () => {
      requestAnimationFrame(tick);
      const w = video.clientWidth, h = video.clientHeight;
      if (overlay.width !== w || overlay.height !== h) Object.assign(overlay, { width: w, height: h });
      const g = overlay.getContext("2d");
      g.clearRect(0, 0, w, h);
      if (player.startTs === null || !video.videoWidth) return;
      drawPlaces(g, w, h);
      const frame = frameAt(player.frames, player.startTs + video.currentTime);
      const drawn = frame ? { ts: frame.ts, frame_id: frame.frame_id, boxes: frame.boxes } : null;
      g.font = "14px sans-serif";
      for (const b of drawn ? drawn.boxes : []) {
        const [x1, y1, x2, y2] = b.box;
        g.strokeStyle = g.fillStyle = colour(b.label);
        g.strokeRect(x1 * w, y1 * h, (x2 - x1) * w, (y2 - y1) * h);
        g.fillText(`#${b.track_id} ${b.label} ${b.score.toFixed(2)}`, x1 * w + 2, y1 * h - 4);
      }
      player.drawn = drawn;
      player.videoTime = video.currentTime;
      overlay.dataset.drawn = JSON.stringify({ video_time: video.currentTime, frame: drawn });
    };

    drawBar();
    new ResizeObserver(drawBar).observe(bar);
    requestAnimationFrame(tick);
  };

  document.querySelectorAll("[data-cctv-recording]").forEach(setup);
})();
