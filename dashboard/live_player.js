// Plays the dashboard's MJPEG streams (api/routes.py) on canvases. Each canvas element with
// data-cctv-src=URL and data-cctv-camera=NAME shows NAME's parts (X-Camera) of one fetch() of URL
// per page, however often Streamlit redraws the element around it: the page's cameras share one
// stream, so one connection. A stream nobody shows for 10 s is closed.
// (No less-than sign before a letter or slash in this file: the page's HTML sanitizer drops a
// script whose text looks like markup.) window.cctvStats[NAME] counts
// the frames shown and their capture-to-screen latency (the benchmark and the browser test read it).
(() => {
  if (window.cctvPlayer) {
    window.cctvPlayer.scan();
    return;
  }
  const streams = {};
  const stats = (window.cctvStats = {});
  const CRLF2 = [13, 10, 13, 10];

  const indexOf = (buffer, pattern, from) => {
    outer: for (let i = from; i <= buffer.length - pattern.length; i++) {
      for (let j = 0; j < pattern.length; j++) if (buffer[i + j] !== pattern[j]) continue outer;
      return i;
    }
    return -1;
  };

  const concat = (a, b) => {
    const out = new Uint8Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };

  // The first complete part of `buffer`: {headers, body, rest}, or null until more bytes come.
  const nextPart = (buffer) => {
    const end = indexOf(buffer, CRLF2, 0);
    if (end < 0) return null;
    const headers = {};
    for (const line of new TextDecoder().decode(buffer.subarray(0, end)).split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = parseInt(headers["content-length"], 10);
    if (!(length >= 0) || buffer.length < end + 4 + length) return null;
    const body = buffer.slice(end + 4, end + 4 + length);
    return { headers, body, rest: buffer.subarray(end + 4 + length) };
  };

  const canvases = (url, camera) =>
    [...document.querySelectorAll("canvas[data-cctv-src]")].filter(
      (c) => c.dataset.cctvSrc === url && c.dataset.cctvCamera === camera
    );

  // Draws the newest part of a stream; parts that come while one is being drawn are skipped
  // but for the newest, so a slow page shows the present, not a growing backlog.
  const show = async (url, camera, stream) => {
    if (stream.drawing[camera]) return;
    stream.drawing[camera] = true;
    while (stream.pending[camera]) {
      const part = stream.pending[camera];
      stream.pending[camera] = null;
      try {
        const bitmap = await createImageBitmap(new Blob([part.body], { type: "image/jpeg" }));
        for (const canvas of canvases(url, camera)) {
          if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
            canvas.width = bitmap.width;
            canvas.height = bitmap.height;
          }
          canvas.getContext("2d").drawImage(bitmap, 0, 0);
        }
        bitmap.close();
      } catch (error) {
        continue; // an undecodable part: wait for the next
      }
      const s = (stats[camera] = stats[camera] || { frames: 0, latencies: [], lastFrameId: null });
      const frameId = part.headers["x-frame-id"];
      if (part.headers["x-stale"] !== "1" && frameId !== s.lastFrameId) {
        s.frames += 1;
        s.lastFrameId = frameId;
        s.latencies.push(Date.now() / 1000 - parseFloat(part.headers["x-frame-ts"]));
        if (s.latencies.length > 5000) s.latencies.splice(0, 1000);
      }
    }
    stream.drawing[camera] = false;
  };

  // Reads the stream, parts to each camera's pending slot. A page that falls behind (the network
  // and the kernel buffer what it has not read yet) reconnects and starts again at the newest
  // pictures: behind means a part's capture-to-now lag exceeds the least seen on this connection
  // by BEHIND_S (measured against our own clock only, so the server's may differ).
  const BEHIND_S = 1.0;
  const play = async (url) => {
    const stream = (streams[url] = { seen: Date.now(), pending: {}, drawing: {} });
    while (!stream.closed) {
      let behind = false;
      try {
        stream.connection = new AbortController();
        const reply = await fetch(url, { signal: stream.connection.signal, cache: "no-store" });
        if (!reply.ok) throw new Error(`HTTP ${reply.status}`);
        const reader = reply.body.getReader();
        let buffer = new Uint8Array(0);
        let least = Infinity;
        while (!behind) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer = concat(buffer, value);
          let part;
          while ((part = nextPart(buffer))) {
            buffer = part.rest;
            stream.pending[part.headers["x-camera"]] = part;
            if (part.headers["x-stale"] === "1") continue;
            const lag = Date.now() / 1000 - parseFloat(part.headers["x-frame-ts"]);
            least = Math.min(least, lag);
            behind = behind || lag - least > BEHIND_S;
          }
          for (const camera of Object.keys(stream.pending)) show(url, camera, stream);
        }
        if (behind) stream.connection.abort();
      } catch (error) {
        if (stream.closed) break;
      }
      if (!behind) await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  };

  const scan = () => {
    const now = Date.now();
    for (const canvas of document.querySelectorAll("canvas[data-cctv-src]")) {
      const url = canvas.dataset.cctvSrc;
      if (!streams[url]) play(url);
      streams[url].seen = now;
    }
    for (const [url, stream] of Object.entries(streams)) {
      if (now - stream.seen > 10000) {
        stream.closed = true;
        stream.connection.abort();
        delete streams[url];
      }
    }
  };

  window.cctvPlayer = { scan };
  setInterval(scan, 500);
  scan();
})();
