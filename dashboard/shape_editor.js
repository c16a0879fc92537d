// The line, zone and mask editor (dashboard/shape_editor.py). Each element with
// data-cctv-editor=CAMERA gets a toolbar, a canvas showing data-image (the camera's latest frame)
// with its shapes (data-shapes: {lines, zones, masks}, points as fractions of the frame), and a
// list of the shapes. Clicks add points: a line ends at its second point, a zone or mask when
// "Close shape" is pressed or its first point clicked again. A point is dragged to move it. Save
// PATCHes data-patch with {lines, zones, counting: {masks}} and shows the answer.
// (No less-than sign before a letter or slash in this file: the page's HTML sanitizer drops a
// script whose text looks like markup.)
(() => {
  if (window.cctvShapeEditor) {
    window.cctvShapeEditor.scan();
    return;
  }
  const KINDS = { lines: "line", zones: "zone", masks: "mask" };
  const COLOURS = { lines: "#ffd400", zones: "#00d0ff", masks: "#ff4060" };
  const GRAB_PX = 10;

  const make = (tag, props, parent) => {
    const element = Object.assign(document.createElement(tag), props);
    if (parent) parent.appendChild(element);
    return element;
  };
  const clamp = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;

  const setUp = (root) => {
    root.dataset.ready = "1";
    const shapes = JSON.parse(root.dataset.shapes);
    let drawing = null; // {kind, points} while a shape is drawn
    let dragging = null; // the [x, y] point being moved
    let frameShown = false;

    const bar = make("div", { style: "display:flex;gap:8px;align-items:center;margin:4px 0" }, root);
    const kind = make("select", { title: "Shape to draw" }, bar);
    for (const [value, label] of Object.entries(KINDS)) make("option", { value, textContent: label }, kind);
    const name = make("input", { placeholder: "name", title: "Name of the next shape" }, bar);
    const close = make("button", { textContent: "Close shape", type: "button" }, bar);
    const cancel = make("button", { textContent: "Cancel shape", type: "button" }, bar);
    const save = make("button", { textContent: "Save shapes", type: "button" }, bar);
    const status = make("span", { className: "cctv-editor-status" }, bar);
    const canvas = make("canvas", { style: "width:100%;cursor:crosshair;background:#333" }, root);
    const list = make("ul", { className: "cctv-editor-list" }, root);
    const context = canvas.getContext("2d");
    const image = new Image();

    const say = (text, bad) => {
      status.textContent = text;
      status.style.color = bad ? "#d33" : "";
    };

    const draw = () => {
      const w = canvas.width, h = canvas.height, unit = Math.max(2, w / 320);
      if (frameShown) context.drawImage(image, 0, 0, w, h);
      else {
        context.fillStyle = "#333";
        context.fillRect(0, 0, w, h);
        context.fillStyle = "#ccc";
        context.font = `${8 * unit}px sans-serif`;
        context.fillText("no frame yet: shapes are drawn as fractions of the frame", 8 * unit, 16 * unit);
      }
      const path = (points, closed, colour) => {
        context.beginPath();
        points.forEach(([x, y], i) => (i ? context.lineTo(x * w, y * h) : context.moveTo(x * w, y * h)));
        if (closed) {
          context.closePath();
          context.fillStyle = colour + "40";
          context.fill();
        }
        context.strokeStyle = colour;
        context.lineWidth = unit;
        context.stroke();
        context.fillStyle = colour;
        for (const [x, y] of points) {
          context.beginPath();
          context.arc(x * w, y * h, 2 * unit, 0, 2 * Math.PI);
          context.fill();
        }
      };
      for (const group of Object.keys(KINDS)) {
        for (const shape of shapes[group]) {
          path(shape.points, group !== "lines", COLOURS[group]);
          context.font = `${7 * unit}px sans-serif`;
          context.fillText(shape.name, shape.points[0][0] * w + 3 * unit, shape.points[0][1] * h - 3 * unit);
        }
      }
      if (drawing) path(drawing.points, false, "#ffffff");
    };

    const renderList = () => {
      list.replaceChildren();
      for (const group of Object.keys(KINDS)) {
        shapes[group].forEach((shape, index) => {
          const item = make("li", { textContent: `${KINDS[group]} ${shape.name} ` }, list);
          item.dataset.shape = `${group}:${shape.name}`;
          make("button", { textContent: "Delete", type: "button", onclick: () => {
            shapes[group].splice(index, 1);
            renderList();
            draw();
            say("not saved yet");
          } }, item);
        });
      }
    };

    const unusedName = (group) => {
      const taken = new Set(shapes[group].map((s) => s.name));
      let n = shapes[group].length + 1;
      while (taken.has(`${KINDS[group]}${n}`)) n += 1;
      return `${KINDS[group]}${n}`;
    };

    const finish = () => {
      const group = drawing.kind;
      shapes[group].push({ name: name.value.trim() || unusedName(group), points: drawing.points });
      drawing = null;
      name.value = "";
      renderList();
      draw();
      say("not saved yet");
    };

    const at = (event) => {
      const box = canvas.getBoundingClientRect();
      return { box, point: [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)] };
    };
    const near = (box, a, b) => Math.hypot((a[0] - b[0]) * box.width, (a[1] - b[1]) * box.height) <= GRAB_PX;

    canvas.addEventListener("mousedown", (event) => {
      const { box, point } = at(event);
      if (drawing) {
        if (drawing.kind !== "lines" && drawing.points.length >= 3 && near(box, point, drawing.points[0])) return finish();
        drawing.points.push(point);
        if (drawing.kind === "lines" && drawing.points.length === 2) finish();
        else draw();
        return;
      }
      for (const group of Object.keys(KINDS)) {
        for (const shape of shapes[group]) {
          dragging = shape.points.find((p) => near(box, point, p)) || null;
          if (dragging) return;
        }
      }
      drawing = { kind: kind.value, points: [point] };
      draw();
    });
    canvas.addEventListener("mousemove", (event) => {
      if (!dragging) return;
      const { point } = at(event);
      dragging[0] = point[0];
      dragging[1] = point[1];
      draw();
    });
    window.addEventListener("mouseup", () => {
      if (!dragging) return;
      dragging = null;
      say("not saved yet");
    });

    close.onclick = () => {
      if (drawing && drawing.kind !== "lines" && drawing.points.length >= 3) finish();
      else say("a zone or mask needs 3 points or more", true);
    };
    cancel.onclick = () => {
      drawing = null;
      draw();
    };
    save.onclick = async () => {
      say("saving...");
      const body = { lines: shapes.lines, zones: shapes.zones, counting: { masks: shapes.masks } };
      try {
        const reply = await fetch(root.dataset.patch, {
          method: "PATCH",
          headers: { "Content-Type": "application/merge-patch+json" },
          body: JSON.stringify(body),
        });
        const answer = await reply.json();
        if (!reply.ok) return say(answer.error || `error ${reply.status}`, true);
        shapes.lines = answer.lines;
        shapes.zones = answer.zones;
        shapes.masks = answer.counting.masks;
        renderList();
        draw();
        say("saved: the running services apply it within seconds");
      } catch (error) {
        say(`not saved: ${error}`, true);
      }
    };

    image.onload = () => {
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
      frameShown = true;
      draw();
    };
    image.onerror = () => {
      canvas.width = 640;
      canvas.height = 360;
      draw();
    };
    image.src = root.dataset.image;
    renderList();
  };

  const scan = () => document.querySelectorAll("[data-cctv-editor]:not([data-ready])").forEach(setUp);
  window.cctvShapeEditor = { scan };
  new MutationObserver(scan).observe(document.body, { childList: true, subtree: true });
  scan();
})();
